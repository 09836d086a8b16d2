//! Where a subscriber's stream starts, and history pages: pure logic over a `ChannelReader`.
//!
//! A resume is served only whole: if any message after the client's position is gone (the chain of
//! `prev` serials is broken, or the app no longer keeps it), the answer is `recovered: false` and
//! nothing is replayed.

use std::sync::Arc;

use super::{ChannelReader, HistoryError, NotRecovered, Position, Retention, StartFrom};
use crate::message::ChannelMessage;

/// What a new subscriber gets before the live stream: the position its stream starts after, whether
/// its resume or rewind worked, and the messages to replay (oldest first).
#[derive(Debug, Default)]
pub struct StreamStart {
    pub position: Position,
    pub recovered: Option<Result<(), NotRecovered>>,
    pub replay: Vec<Arc<ChannelMessage>>,
}

impl StreamStart {
    /// A start that replays nothing: at `position`, with `reason` when a resume or rewind failed.
    pub fn at(position: Position, reason: Option<NotRecovered>) -> Self {
        StreamStart {
            position,
            recovered: reason.map(Err),
            replay: Vec::new(),
        }
    }
}

/// Decides a subscriber's start. `upto` is the serial of the last message this node delivered on the
/// channel: the live stream continues after it, so the replay ends there. A reader that cannot
/// answer makes it `recovered: false` (`unavailable`).
pub async fn plan_start<R: ChannelReader>(
    reader: &R,
    epoch: u64,
    upto: u64,
    from: Option<StartFrom>,
    retention: Retention,
    now_ms: i64,
) -> StreamStart {
    match try_plan_start(reader, epoch, upto, from, retention, now_ms).await {
        Ok(start) => start,
        Err(e) => {
            tracing::warn!(error = %e, "history unavailable for a resume or rewind");
            StreamStart::at(Position { epoch, serial: upto }, Some(NotRecovered::Unavailable))
        }
    }
}

/// `plan_start`, handing back the reader's error (so a caller can retry, or try another reader).
pub async fn try_plan_start<R: ChannelReader>(
    reader: &R,
    epoch: u64,
    upto: u64,
    from: Option<StartFrom>,
    retention: Retention,
    now_ms: i64,
) -> Result<StreamStart, HistoryError> {
    let current = Position { epoch, serial: upto };
    let Some(from) = from else {
        return Ok(StreamStart::at(current, None));
    };
    let planned = match from {
        StartFrom::Resume(p) => resume(reader, current, p, retention, now_ms).await,
        StartFrom::RewindCount(n) => rewind(reader, upto, n as usize, i64::MIN, retention, now_ms).await,
        StartFrom::RewindSeconds(s) => {
            let since = now_ms - s as i64 * 1000;
            rewind(reader, upto, retention.max_messages, since, retention, now_ms).await
        }
    };
    Ok(match planned? {
        Ok((after, replay)) => StreamStart {
            position: Position { epoch, serial: after },
            recovered: Some(Ok(())),
            replay,
        },
        Err(reason) => StreamStart::at(current, Some(reason)),
    })
}

type Planned = Result<Result<(u64, Vec<Arc<ChannelMessage>>), NotRecovered>, HistoryError>;

async fn resume<R: ChannelReader>(
    reader: &R,
    current: Position,
    from: Position,
    retention: Retention,
    now_ms: i64,
) -> Planned {
    if from.epoch != current.epoch {
        return Ok(Err(NotRecovered::EpochChanged));
    }
    if from.serial > current.serial {
        return Ok(Err(NotRecovered::Ahead));
    }
    let mut replay = Vec::new();
    let mut after = from.serial;
    while after < current.serial {
        let Some(message) = reader.next_after(after).await? else {
            break;
        };
        if message.serial > current.serial {
            break;
        }
        // A message whose predecessor came after `after` was preceded by one that is gone; so is one
        // the app no longer keeps. (`prev < after` is fine: `from` need not be a message of this channel.)
        if message.prev > after || !retention.keeps(&message, now_ms) || replay.len() >= retention.max_messages {
            return Ok(Err(NotRecovered::Expired));
        }
        after = message.serial;
        replay.push(message);
    }
    if after != current.serial {
        return Ok(Err(NotRecovered::Expired));
    }
    Ok(Ok((from.serial, replay)))
}

/// The last `count` messages at or before `upto` published at `since` or later, oldest first.
async fn rewind<R: ChannelReader>(
    reader: &R,
    upto: u64,
    count: usize,
    since: i64,
    retention: Retention,
    now_ms: i64,
) -> Planned {
    let count = count.min(retention.max_messages);
    let mut replay = Vec::new();
    let mut serial = upto;
    while replay.len() < count && serial > 0 {
        let Some(message) = reader.at(serial).await? else {
            break;
        };
        if message.published_ms < since || !retention.keeps(&message, now_ms) {
            break;
        }
        serial = message.prev;
        replay.push(message);
    }
    replay.reverse();
    let after = replay.first().map(|m| m.prev).unwrap_or(upto);
    Ok(Ok((after, replay)))
}

/// A history API request.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery {
    /// Newest first when true.
    pub backwards: bool,
    /// Continue after (forwards) or before (backwards) this serial.
    pub cursor: Option<u64>,
    /// Only messages published in `[start_ms, end_ms]`.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub limit: usize,
}

/// One page of history: the messages, and the cursor of the next page when there may be more.
#[derive(Debug, Default)]
pub struct Page {
    /// The epoch of the channel's history (set by the bus).
    pub epoch: u64,
    pub messages: Vec<Arc<ChannelMessage>>,
    pub next_cursor: Option<u64>,
}

/// Reads one page. `last` is the serial of the channel's newest message (where backwards reads start).
pub async fn page<R: ChannelReader>(
    reader: &R,
    last: u64,
    query: PageQuery,
    retention: Retention,
    now_ms: i64,
) -> Result<Page, HistoryError> {
    let floor = oldest_counted(reader, last, retention.max_messages).await?;
    let in_range = |m: &ChannelMessage| {
        retention.keeps(m, now_ms)
            && m.serial >= floor
            && query.start_ms.is_none_or(|s| m.published_ms >= s)
            && query.end_ms.is_none_or(|e| m.published_ms <= e)
    };
    let mut out = Page::default();
    if query.backwards {
        let mut serial = match query.cursor {
            Some(c) => reader.at(c).await?.map(|m| m.prev).unwrap_or(0),
            None => last,
        };
        let mut more = false;
        while serial > 0 {
            let Some(m) = reader.at(serial).await? else { break };
            if !retention.keeps(&m, now_ms) || m.serial < floor || query.start_ms.is_some_and(|s| m.published_ms < s) {
                break;
            }
            if out.messages.len() == query.limit {
                more = in_range(&m) || query.end_ms.is_some();
                break;
            }
            serial = m.prev;
            if in_range(&m) {
                out.messages.push(m);
            }
        }
        if more {
            out.next_cursor = out.messages.last().map(|m| m.serial);
        }
    } else {
        let mut after = query.cursor.unwrap_or(0).max(floor.saturating_sub(1));
        while let Some(m) = reader.next_after(after).await? {
            if query.end_ms.is_some_and(|e| m.published_ms > e) {
                break;
            }
            if out.messages.len() == query.limit {
                out.next_cursor = Some(after);
                break;
            }
            after = m.serial;
            if in_range(&m) {
                out.messages.push(m);
            }
        }
    }
    Ok(out)
}

/// The serial of the oldest of the channel's last `count` messages (walking back from `last`), so
/// reads show no more than the app keeps even while the store holds more (a cluster trims in the
/// background, and by whole records).
async fn oldest_counted<R: ChannelReader>(reader: &R, last: u64, count: usize) -> Result<u64, HistoryError> {
    let mut serial = last;
    for _ in 1..count {
        match reader.at(serial).await? {
            Some(m) if m.prev > 0 => serial = m.prev,
            _ => break,
        }
    }
    Ok(if count == 0 { u64::MAX } else { serial })
}
