//! A connection's outbound side: the bytes on their way to its socket, and the request to close it.
//!
//! Senders queue already-framed bytes (shared, never copied per connection) and never wait; the
//! connection's session writes everything queued with vectored writes, outside the lock. Writing in
//! the session rather than in the sender keeps the work on both cores and lets frames that arrive
//! while a write is in flight go out together. A send to a full queue is refused, and the caller
//! closes the connection rather than dropping a frame silently. An empty queue holds no allocation,
//! so idle connections stay small.
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
    /// The queue holds its capacity already; nothing was queued.
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
    /// Nothing waits any more.
    Done,
    /// The socket takes no more now: flush again once it is writable.
    Blocked,
    /// The socket failed: the connection is gone.
    Broken,
}

/// Messages and bytes (payload) sent to the connection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub messages: u64,
    pub bytes: u64,
}

struct State<C> {
    /// Bytes waiting, in order; the first may be partly written already.
    pending: VecDeque<Bytes>,
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

/// Frames handed to one vectored write (and the queue's capacity kept after a burst).
const WRITE_SLICES: usize = 64;

impl<C: Clone> Outbound<C> {
    /// A queue of at most `capacity` waiting messages.
    pub fn new(capacity: usize) -> Self {
        Outbound {
            state: Mutex::new(State {
                pending: VecDeque::new(),
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

    /// Queues one message (`payload` bytes of it are the client's message, for the counts). Never waits.
    pub fn push(&self, wire: &Bytes, payload: usize) -> Pushed {
        let mut state = self.state.lock();
        if state.sealed {
            return Pushed::Finished;
        }
        if state.pending.len() >= self.capacity {
            return Pushed::Full;
        }
        state.sent.messages += 1;
        state.sent.bytes += payload as u64;
        self.queue(state, wire);
        Pushed::Accepted
    }

    /// Sends bytes of the WebSocket layer itself (pings, pongs, the close handshake): in order with
    /// the messages, past the capacity, and after the connection was sealed. False once it is gone.
    pub fn push_control(&self, wire: Bytes) -> bool {
        let state = self.state.lock();
        if state.finished {
            return false;
        }
        self.queue(state, &wire);
        true
    }

    /// Queues `wire`, waking the session when bytes start waiting.
    fn queue(&self, mut state: parking_lot::MutexGuard<'_, State<C>>, wire: &Bytes) {
        let was_empty = state.pending.is_empty();
        state.pending.push_back(wire.clone());
        drop(state);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Writes what waits to `sink`, as far as it takes it now. The writes happen outside the lock, so
    /// senders never wait for the socket. `batch` is the session's buffer (empty before and after): it
    /// is swapped with the queue, so in a steady state neither side allocates.
    pub fn flush(&self, sink: &dyn Sink, batch: &mut VecDeque<Bytes>) -> Flushed {
        loop {
            {
                let mut state = self.state.lock();
                if state.broken {
                    return Flushed::Broken;
                }
                if state.pending.is_empty() {
                    if state.pending.capacity() > WRITE_SLICES {
                        state.pending.shrink_to(WRITE_SLICES);
                    }
                    return Flushed::Done;
                }
                std::mem::swap(&mut state.pending, batch);
            }
            let written = write_all_now(sink, batch);
            if !batch.is_empty() {
                // What the socket did not take goes back in front of what was sent meanwhile.
                let mut state = self.state.lock();
                batch.append(&mut state.pending);
                std::mem::swap(&mut state.pending, batch);
                if written == Flushed::Broken {
                    state.broken = true;
                }
            }
            if written != Flushed::Done {
                return written;
            }
        }
    }

    /// Waits until bytes wait for the socket, the socket failed, or a close is requested.
    pub async fn next(&self) -> Wake<C> {
        loop {
            {
                let state = self.state.lock();
                if let Some(reason) = &state.close {
                    return Wake::Close(reason.clone());
                }
                if state.broken || !state.pending.is_empty() {
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
        if state.close.is_some() || state.sealed {
            return false;
        }
        state.close = Some(reason);
        drop(state);
        self.wake.notify_one();
        true
    }

    pub fn close_request(&self) -> Option<C> {
        self.state.lock().close.clone()
    }

    /// No more messages (the close frame follows, as control bytes). With `discard`, what waits is
    /// dropped first (a client too slow to keep up does not get its backlog).
    pub fn seal(&self, discard: bool) {
        let mut state = self.state.lock();
        state.sealed = true;
        if discard {
            state.pending = VecDeque::new();
        }
    }

    /// The session has ended: nothing more is written, and the socket is let go.
    pub fn finish(&self) {
        let mut state = self.state.lock();
        state.sealed = true;
        state.finished = true;
        state.pending = VecDeque::new();
    }

    /// How many writes wait for the socket.
    pub fn waiting(&self) -> usize {
        self.state.lock().pending.len()
    }

    pub fn sent(&self) -> Sent {
        self.state.lock().sent
    }
}

/// Writes `batch` to `sink` until it is empty or the socket takes no more (what was written is
/// removed from `batch`), in vectored writes of up to `WRITE_SLICES` frames.
fn write_all_now(sink: &dyn Sink, batch: &mut VecDeque<Bytes>) -> Flushed {
    while !batch.is_empty() {
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let mut count = 0;
        for (slot, bytes) in slices.iter_mut().zip(batch.iter()) {
            *slot = IoSlice::new(bytes);
            count += 1;
        }
        match sink.try_write(&slices[..count]) {
            Ok(0) => return Flushed::Blocked,
            Ok(written) => advance(batch, written),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
            Err(_) => return Flushed::Broken,
        }
    }
    Flushed::Done
}

/// Drops the first `written` bytes of the queue.
fn advance(pending: &mut VecDeque<Bytes>, mut written: usize) {
    while written > 0 {
        let Some(front) = pending.front_mut() else { return };
        if written >= front.len() {
            written -= front.len();
            pending.pop_front();
        } else {
            front.advance(written);
            written = 0;
        }
    }
}

#[cfg(test)]
mod tests;
