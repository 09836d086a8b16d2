//! A live connection as the hub sees it: a bounded outbound queue and a way to close it.
//!
//! The session task owns the socket; everything else reaches the client only through `Connection`,
//! so a slow client can never block a publisher: when its queue is full it is closed with 4100 and
//! reconnects, rather than being silently fed less.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::protocol::{CloseCode, SocketId};

/// An encoded frame: UTF-8 bytes shared by every subscriber it goes to.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// Why a connection is being closed, and the message its client sees.
#[derive(Debug, Clone)]
pub struct CloseReason {
    pub code: CloseCode,
    pub message: String,
}

/// The hub's handle on one connection.
pub struct Connection {
    pub socket_id: SocketId,
    pub app_id: Arc<str>,
    pub tenant_id: Arc<str>,
    /// The app key the client connected with: revoking it closes this connection.
    pub key: Arc<str>,
    outbound: mpsc::Sender<Frame>,
    close: Mutex<Option<CloseReason>>,
    closing: Notify,
}

impl Connection {
    /// A connection with an outbound queue of `capacity` frames; the receiver goes to the session.
    pub fn new(
        socket_id: SocketId,
        app_id: Arc<str>,
        tenant_id: Arc<str>,
        key: Arc<str>,
        capacity: usize,
    ) -> (Arc<Self>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let conn = Connection {
            socket_id,
            app_id,
            tenant_id,
            key,
            outbound: tx,
            close: Mutex::new(None),
            closing: Notify::new(),
        };
        (Arc::new(conn), rx)
    }

    /// Queues a frame. Hot path: called once per subscriber per message, never blocks.
    /// A full queue closes the connection with 4100 so the client reconnects (and can resume).
    pub fn send(&self, frame: Frame) -> bool {
        match self.outbound.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    CloseCode::OverCapacity,
                    "Client too slow: outbound queue full, reconnect",
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the session to close with `code`. The first reason wins.
    pub fn close(&self, code: CloseCode, message: &str) {
        let mut slot = self.close.lock();
        if slot.is_none() {
            *slot = Some(CloseReason {
                code,
                message: message.to_string(),
            });
            self.closing.notify_one();
        }
    }

    /// Completes when someone asked this connection to close; returns why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close.lock().clone() {
                return reason;
            }
            self.closing.notified().await;
        }
    }

    /// How many frames wait in the outbound queue.
    pub fn queue_depth(&self) -> usize {
        self.outbound.max_capacity() - self.outbound.capacity()
    }
}
