//! A connection's outbound side: the bytes on their way to its socket, and the request to close it.
//!
//! Senders queue already-framed bytes (shared, never copied per connection) and never wait; the
//! connection's session writes everything queued with vectored writes, outside the lock. Writing in
//! the session rather than in the sender keeps the work on both cores and lets frames that arrive
//! while a write is in flight go out together. The queue is bounded, counting what is being written:
//! a message refused for lack of room seals the queue, so the client, closed with 4100, never sees a
//! message after one it missed (it resumes from the last one it got). A queue that never held
//! anything holds no allocation, so idle connections stay small.
//!
//! It knows sockets only as a `Sink` that writes without waiting; it does not know WebSockets.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Where the bytes go: a socket written without waiting.
pub trait Sink: Send + Sync {
    /// Writes what it can of `bufs` now: the number of bytes written, or `WouldBlock`.
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the session to write.
    Accepted,
    /// The queue holds its capacity already: nothing was queued, and nothing will be after it.
    Full,
    /// The connection is closing or gone; nothing will be written.
    Finished,
}

/// What the session is woken for.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake<C> {
    /// Bytes wait for the socket (or the socket failed): call `flush`.
    Flush,
    /// Someone asked the connection to close.
    Close(C),
}

/// What a flush did.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// All that was queued when it started is written.
    Done,
    /// The socket takes no more now: flush again once it is writable.
    Blocked,
    /// The socket failed: the connection is gone.
    Broken,
}

/// Messages and bytes (payload) written to the connection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub messages: u64,
    pub bytes: u64,
}

/// Queued bytes: a message (with its payload size, for the counts) or the WebSocket layer's own.
struct Entry {
    bytes: Bytes,
    /// 0 for control bytes (pings, pongs, close frames).
    payload: u32,
    /// Some of it is written already: dropping the rest would cut a frame in half.
    started: bool,
    /// Not counted against the capacity (a subscription's start: see `push_start`).
    exempt: bool,
}

struct State<C> {
    /// Bytes waiting, in order.
    pending: VecDeque<Entry>,
    /// The buffer `pending` is swapped with while the session writes (so neither side reallocates).
    spare: VecDeque<Entry>,
    /// Entries the session is writing now (out of `pending`, still counted against the capacity).
    in_flight: usize,
    /// Entries queued or in flight that the capacity does not count, and their bytes.
    exempt: usize,
    exempt_bytes: usize,
    close: Option<C>,
    /// No more messages: the connection is closing (its close frame may follow) or gone.
    sealed: bool,
    /// The session has ended: nothing more is written.
    finished: bool,
    /// A write failed.
    broken: bool,
    sent: Sent,
}

/// One connection's outbound bytes, with a close request of type `C`, for one session.
pub struct Outbound<C> {
    state: Mutex<State<C>>,
    wake: Notify,
    capacity: usize,
}

/// Entries handed to one vectored write (and the buffers' capacity kept after a burst).
const WRITE_SLICES: usize = 64;

/// The most bytes of subscription starts (see `push_start`) that may wait for one connection: more
/// than the largest replay the app limits allow (1,000 messages of 10 KB by default), so only a
/// client that subscribes with replays faster than it reads them reaches it.
pub const START_BYTES: usize = 16 << 20;

impl<C: Clone> Outbound<C> {
    /// A queue of at most `capacity` waiting messages.
    pub fn new(capacity: usize) -> Self {
        Outbound {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                spare: VecDeque::new(),
                in_flight: 0,
                exempt: 0,
                exempt_bytes: 0,
                close: None,
                sealed: false,
                finished: false,
                broken: false,
                sent: Sent::default(),
            }),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues one message (`payload` bytes of it are the client's message, for the counts). Never
    /// waits. A full queue refuses it and seals itself.
    pub fn push(&self, wire: &Bytes, payload: usize) -> Pushed {
        let mut state = self.state.lock();
        if state.sealed {
            return Pushed::Finished;
        }
        if state.counted() >= self.capacity {
            state.sealed = true;
            return Pushed::Full;
        }
        self.queue(state, wire.clone(), payload, false);
        Pushed::Accepted
    }

    /// Queues one message of a subscription's start (its confirmation, cached event and replayed
    /// history): a burst the server decides, bounded by the app's history, not a sign of a slow
    /// client, so it is queued past the capacity and does not count against it while it waits. Its
    /// own bound is `START_BYTES` waiting; past it the queue is refused and sealed, as when full.
    pub fn push_start(&self, wire: &Bytes, payload: usize) -> Pushed {
        let mut state = self.state.lock();
        if state.sealed {
            return Pushed::Finished;
        }
        if state.exempt_bytes + wire.len() > START_BYTES {
            state.sealed = true;
            return Pushed::Full;
        }
        self.queue(state, wire.clone(), payload, true);
        Pushed::Accepted
    }

    /// Queues bytes of the WebSocket layer itself (pings, pongs, the close handshake): in order with
    /// the messages, and after the queue was sealed. Bounded too, at twice the capacity (a client
    /// that sends pings and reads nothing). False when refused.
    pub fn push_control(&self, wire: Bytes) -> bool {
        let state = self.state.lock();
        if state.finished || state.counted() >= 2 * self.capacity {
            return false;
        }
        self.queue(state, wire, 0, false);
        true
    }

    /// Queues the WebSocket close frame and seals the queue in one step: RFC 6455 §5.5.1, no data
    /// frame after it. Not bounded: a close must be able to follow a full queue.
    pub fn push_close(&self, wire: Bytes) -> bool {
        let mut state = self.state.lock();
        if state.finished {
            return false;
        }
        state.sealed = true;
        self.queue(state, wire, 0, false);
        true
    }

    /// Queues an entry, waking the session when bytes start waiting.
    fn queue(&self, mut state: parking_lot::MutexGuard<'_, State<C>>, bytes: Bytes, payload: usize, exempt: bool) {
        if bytes.is_empty() {
            return;
        }
        if exempt {
            state.exempt += 1;
            state.exempt_bytes += bytes.len();
        }
        let was_empty = state.pending.is_empty();
        state.pending.push_back(Entry {
            bytes,
            payload: payload.min(u32::MAX as usize) as u32,
            started: false,
            exempt,
        });
        drop(state);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Writes what waits to `sink`, as far as it takes it now (one pass: what is queued meanwhile
    /// waits for the next). The writes happen outside the lock, so senders never wait for the socket.
    pub fn flush(&self, sink: &dyn Sink) -> Flushed {
        let mut batch = {
            let mut state = self.state.lock();
            if state.broken {
                return Flushed::Broken;
            }
            if state.pending.is_empty() {
                return Flushed::Done;
            }
            let spare = std::mem::take(&mut state.spare);
            let batch = std::mem::replace(&mut state.pending, spare);
            state.in_flight = batch.len();
            batch
        };
        let mut done = Written::default();
        let written = write_now(sink, &mut batch, &mut done);
        let mut state = self.state.lock();
        state.sent.messages += done.sent.messages;
        state.sent.bytes += done.sent.bytes;
        state.exempt -= done.exempt;
        state.exempt_bytes -= done.exempt_bytes;
        state.in_flight = 0;
        if written == Flushed::Broken {
            state.broken = true;
        }
        if !batch.is_empty() {
            // What the socket did not take goes back in front of what was queued meanwhile.
            batch.append(&mut state.pending);
            std::mem::swap(&mut state.pending, &mut batch);
        }
        if batch.capacity() > WRITE_SLICES {
            batch.shrink_to(WRITE_SLICES);
        }
        state.spare = batch;
        written
    }

    /// Waits until bytes wait for the socket (only when `flush` is wanted: a session waiting for its
    /// socket to drain does not want to be woken for each new message), the socket failed, or a close
    /// is requested.
    pub async fn next(&self, flush: bool) -> Wake<C> {
        loop {
            {
                let state = self.state.lock();
                if let Some(reason) = &state.close {
                    return Wake::Close(reason.clone());
                }
                if flush && (state.broken || !state.pending.is_empty()) {
                    return Wake::Flush;
                }
            }
            // A push or close after the check stores a permit, so this cannot miss it.
            self.wake.notified().await;
        }
    }

    /// Records a close request; the first one wins. False when there was one already.
    pub fn request_close(&self, reason: C) -> bool {
        let mut state = self.state.lock();
        if state.close.is_some() || state.finished {
            return false;
        }
        state.close = Some(reason);
        drop(state);
        self.wake.notify_one();
        true
    }

    /// No more messages (the close frame follows, as control bytes). With `discard`, what waits is
    /// dropped first (a client too slow to keep up does not get its backlog), but for a frame already
    /// partly written: the client must still be able to read the close frame after it.
    pub fn seal(&self, discard: bool) {
        let mut state = self.state.lock();
        state.sealed = true;
        if discard {
            let keep = usize::from(state.pending.front().is_some_and(|e| e.started));
            state.pending.truncate(keep);
            let exempt = state.pending.iter().filter(|e| e.exempt);
            (state.exempt, state.exempt_bytes) = exempt.fold((0, 0), |(n, b), e| (n + 1, b + e.bytes.len()));
        }
    }

    /// The session has ended: nothing more is written or queued.
    pub fn finish(&self) {
        let mut state = self.state.lock();
        state.sealed = true;
        state.finished = true;
        state.pending = VecDeque::new();
        state.spare = VecDeque::new();
        state.exempt = 0;
        state.exempt_bytes = 0;
    }

    /// How many writes wait for the socket.
    pub fn waiting(&self) -> usize {
        let state = self.state.lock();
        state.pending.len() + state.in_flight
    }

    /// What was written so far.
    pub fn sent(&self) -> Sent {
        self.state.lock().sent
    }
}

impl<C> State<C> {
    /// Entries queued or in flight that count against the capacity.
    fn counted(&self) -> usize {
        self.pending.len() + self.in_flight - self.exempt
    }
}

/// What a flush wrote whole.
#[derive(Default)]
struct Written {
    sent: Sent,
    /// Entries not counted against the capacity, and their bytes (as queued).
    exempt: usize,
    exempt_bytes: usize,
}

/// Writes `batch` to `sink` until it is empty or the socket takes no more, in vectored writes of up
/// to `WRITE_SLICES` entries; what was written leaves `batch` and is counted in `done`.
fn write_now(sink: &dyn Sink, batch: &mut VecDeque<Entry>, done: &mut Written) -> Flushed {
    while !batch.is_empty() {
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let mut count = 0;
        for (slot, entry) in slices.iter_mut().zip(batch.iter()) {
            *slot = IoSlice::new(&entry.bytes);
            count += 1;
        }
        match sink.try_write(&slices[..count]) {
            // Nothing written though something was offered: the socket cannot take bytes any more.
            Ok(0) => return Flushed::Broken,
            Ok(written) => advance(batch, written, done),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
            Err(_) => return Flushed::Broken,
        }
    }
    Flushed::Done
}

/// Drops the first `written` bytes of the batch, counting the entries written whole (and the
/// bytes written of exempt ones).
fn advance(batch: &mut VecDeque<Entry>, mut written: usize, done: &mut Written) {
    while written > 0 {
        let Some(front) = batch.front_mut() else { return };
        if written >= front.bytes.len() {
            written -= front.bytes.len();
            if front.payload > 0 {
                done.sent.messages += 1;
                done.sent.bytes += u64::from(front.payload);
            }
            if front.exempt {
                done.exempt += 1;
                done.exempt_bytes += front.bytes.len();
            }
            batch.pop_front();
        } else {
            if front.exempt {
                done.exempt_bytes += written;
            }
            front.bytes.advance(written);
            front.started = true;
            written = 0;
        }
    }
}

#[cfg(test)]
mod tests;
