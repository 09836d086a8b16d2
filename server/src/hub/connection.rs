//! A live connection as the hub sees it: a bounded outbound queue and a way to close it.
//!
//! The session task owns the socket; everything else reaches the client only through `Connection`,
//! so a slow client can never block a publisher: when its queue is full it is closed with 4100 and
//! reconnects, rather than being silently fed less.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::metrics;
use crate::protocol::{ChannelName, CloseCode, SocketId};

/// An encoded frame: UTF-8 bytes shared by every subscriber it goes to.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// Why a connection is being closed, and the message its client sees.
#[derive(Debug, Clone)]
pub struct CloseReason {
    pub code: CloseCode,
    pub message: String,
    /// Why, when the code alone does not say (e.g. `admin`), for the lifecycle log.
    pub cause: Option<&'static str>,
}

/// What the connection registry shows of a connection that does not change while it lives.
#[derive(Debug, Default)]
pub struct ConnectionMeta {
    /// The client's address (from `X-Forwarded-For` only behind a trusted proxy).
    pub remote: Option<IpAddr>,
    pub user_agent: Option<Box<str>>,
    /// The client library and its version, as the connect URL names them (`client=js&version=8.4.0`).
    pub client: Option<Box<str>>,
    pub version: Option<Box<str>>,
    pub protocol: u8,
    pub connected_at_ms: i64,
}

/// Traffic of a connection, counted by its session.
#[derive(Debug, Default)]
pub struct Traffic {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub last_activity_ms: AtomicI64,
}

impl Traffic {
    pub fn received(&self, bytes: usize, now_ms: i64) {
        metrics::FRAMES_IN.fetch_add(1, Ordering::Relaxed);
        metrics::BYTES_IN.fetch_add(bytes as u64, Ordering::Relaxed);
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_activity_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        metrics::FRAMES_OUT.fetch_add(1, Ordering::Relaxed);
        metrics::BYTES_OUT.fetch_add(bytes as u64, Ordering::Relaxed);
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What a connection's session is subscribed to and signed in as.
#[derive(Debug, Default, Clone)]
pub struct Membership {
    pub user_id: Option<Arc<str>>,
    pub channels: Vec<ChannelName>,
}

/// The hub's handle on one connection.
pub struct Connection {
    pub socket_id: SocketId,
    pub app_id: Arc<str>,
    pub tenant_id: Arc<str>,
    /// The app key the client connected with: revoking it closes this connection.
    pub key: Arc<str>,
    pub meta: ConnectionMeta,
    pub traffic: Traffic,
    membership: Mutex<Membership>,
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
        meta: ConnectionMeta,
        capacity: usize,
    ) -> (Arc<Self>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let conn = Connection {
            socket_id,
            app_id,
            tenant_id,
            key,
            traffic: Traffic {
                last_activity_ms: AtomicI64::new(meta.connected_at_ms),
                ..Default::default()
            },
            meta,
            membership: Mutex::default(),
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
        self.close_because(code, message, None);
    }

    /// `close`, naming the cause the lifecycle log records.
    pub fn close_because(&self, code: CloseCode, message: &str, cause: Option<&'static str>) {
        let mut slot = self.close.lock();
        if slot.is_none() {
            *slot = Some(CloseReason {
                code,
                message: message.to_string(),
                cause,
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

    /// Its subscriptions and signed-in user, as its session last reported them.
    pub fn membership(&self) -> Membership {
        self.membership.lock().clone()
    }

    /// The session reports a change of subscriptions or user.
    pub fn set_membership(&self, user_id: Option<Arc<str>>, channels: Vec<ChannelName>) {
        *self.membership.lock() = Membership { user_id, channels };
    }

    /// How many frames wait in the outbound queue.
    pub fn queue_depth(&self) -> usize {
        self.outbound.max_capacity() - self.outbound.capacity()
    }
}
