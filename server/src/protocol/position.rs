//! Positions in a channel's history, and what a subscriber asks to receive from it: Herald's extension
//! of the Pusher protocol (fields pusher-js ignores).
//!
//! Stored events carry `"epoch":"E","serial":N`; `subscription_succeeded` carries the position its
//! stream starts after and, when the client asked to resume or rewind, `recovered`. A `pusher:subscribe`
//! may carry `"resume":{"epoch":"E","serial":N}` or `"rewind":10` / `"rewind":"30s"`. This module reads
//! and names those; the history and the hub decide what to send.

use serde::Deserialize;
use serde_json::Value;

/// A place in a channel's history: the history's epoch (changes when history was lost) and the serial
/// of the last message before it. Serials increase within a channel but need not be contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub epoch: u64,
    pub serial: u64,
}

/// Where a subscriber's stream starts, beyond "from now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Every message after this position.
    Resume(Position),
    /// The last `n` messages.
    RewindCount(u32),
    /// The messages of the last `n` seconds.
    RewindSeconds(u32),
}

/// Why a resume or rewind could not be served; sent as `recovery_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecovered {
    /// The channel's history is not the one the position belongs to.
    EpochChanged,
    /// Messages after the position are no longer retained.
    Expired,
    /// The position is beyond anything this channel has.
    Ahead,
    /// The history store could not be read.
    Unavailable,
    /// The request was malformed.
    Invalid,
}

impl NotRecovered {
    pub fn as_str(self) -> &'static str {
        match self {
            NotRecovered::EpochChanged => "epoch_changed",
            NotRecovered::Expired => "expired",
            NotRecovered::Ahead => "ahead",
            NotRecovered::Unavailable => "unavailable",
            NotRecovered::Invalid => "invalid",
        }
    }
}

#[derive(Deserialize)]
struct WirePosition {
    epoch: Value,
    serial: u64,
}

/// Reads the optional `resume` and `rewind` fields of a subscribe; `Err` when one is present but malformed.
pub fn start_from(resume: Option<&Value>, rewind: Option<&Value>) -> Result<Option<StartFrom>, NotRecovered> {
    if let Some(resume) = resume.filter(|v| !v.is_null()) {
        let wire: WirePosition = serde_json::from_value(resume.clone()).map_err(|_| NotRecovered::Invalid)?;
        let epoch = match &wire.epoch {
            Value::String(s) => s.parse::<u64>().map_err(|_| NotRecovered::Invalid)?,
            Value::Number(n) => n.as_u64().ok_or(NotRecovered::Invalid)?,
            _ => return Err(NotRecovered::Invalid),
        };
        return Ok(Some(StartFrom::Resume(Position {
            epoch,
            serial: wire.serial,
        })));
    }
    match rewind.filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let n = n.as_u64().filter(|n| *n > 0).ok_or(NotRecovered::Invalid)?;
            Ok(Some(StartFrom::RewindCount(n.min(u32::MAX as u64) as u32)))
        }
        Some(Value::String(s)) => {
            let secs = s
                .strip_suffix('s')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .ok_or(NotRecovered::Invalid)?;
            Ok(Some(StartFrom::RewindSeconds(secs)))
        }
        Some(_) => Err(NotRecovered::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_resume_and_rewind() {
        let resume = json!({"epoch":"17","serial":5});
        assert_eq!(
            start_from(Some(&resume), Some(&json!(3))),
            Ok(Some(StartFrom::Resume(Position { epoch: 17, serial: 5 })))
        );
        assert_eq!(start_from(None, Some(&json!(3))), Ok(Some(StartFrom::RewindCount(3))));
        assert_eq!(
            start_from(None, Some(&json!("30s"))),
            Ok(Some(StartFrom::RewindSeconds(30)))
        );
        assert_eq!(start_from(None, None), Ok(None));
        assert_eq!(start_from(Some(&Value::Null), None), Ok(None));
    }

    #[test]
    fn refuses_malformed_requests() {
        for bad in [json!({"epoch":"x","serial":1}), json!({"serial":1}), json!("5")] {
            assert_eq!(start_from(Some(&bad), None), Err(NotRecovered::Invalid), "{bad}");
        }
        for bad in [json!(0), json!(-1), json!("5m"), json!("s"), json!([1])] {
            assert_eq!(start_from(None, Some(&bad)), Err(NotRecovered::Invalid), "{bad}");
        }
    }
}
