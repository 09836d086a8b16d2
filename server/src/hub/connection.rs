//! A live connection as the hub sees it: a bounded outbound queue and a way to close it.
//!
//! The session task owns the socket; everything else reaches the client only through `Connection`,
//! so a slow client can never block a publisher: when its queue is full it is closed with 4100 and
//! reconnects, rather than being silently fed less.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::outbound::{Outbound, Pushed};
use super::wire::Frame;
use crate::metrics::TrafficTotals;
use crate::protocol::{ChannelName, CloseCode, SocketId};

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

/// What a connection's session counts of its client's traffic (the only writer: the atomics are never
/// contended; the registry and `/metrics` read them). What is sent to it is counted by its `Outbound`.
#[derive(Debug, Default)]
pub struct Traffic {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub last_activity_ms: AtomicI64,
}

impl Traffic {
    pub fn received(&self, bytes: usize, now_ms: i64) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_activity_ms.store(now_ms, Ordering::Relaxed);
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
    /// The way to the client's socket, and the request to close.
    pub outbound: Arc<Outbound<CloseReason>>,
}

impl Connection {
    /// A connection whose outbound queue holds at most `capacity` waiting frames.
    pub fn new(
        socket_id: SocketId,
        app_id: Arc<str>,
        tenant_id: Arc<str>,
        key: Arc<str>,
        meta: ConnectionMeta,
        capacity: usize,
    ) -> Arc<Self> {
        Arc::new(Connection {
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
            outbound: Arc::new(Outbound::new(capacity)),
        })
    }

    /// Queues a frame for the session to write. Hot path: called once per subscriber per message,
    /// never blocks. A full queue closes the connection with 4100 so the client reconnects (and
    /// resumes from the last message it got: nothing after a refused frame is written).
    pub fn send(&self, frame: &Frame) -> bool {
        self.pushed(self.outbound.push(frame.wire(), frame.payload_len()))
    }

    /// Queues a frame of a subscription's start (confirmation, cached event, replayed history): past
    /// the queue's capacity, which is for live messages, within a bound of its own (see
    /// `Outbound::push_start`); past that bound the connection is closed as by a full queue.
    pub fn send_start(&self, frame: &Frame) -> bool {
        self.pushed(self.outbound.push_start(frame.wire(), frame.payload_len()))
    }

    /// Whether a frame was queued; a refused one closes the connection with 4100.
    fn pushed(&self, pushed: Pushed) -> bool {
        match pushed {
            Pushed::Accepted => true,
            Pushed::Full => {
                self.close(
                    CloseCode::OverCapacity,
                    "Client too slow: outbound queue full, reconnect",
                );
                false
            }
            Pushed::Finished => false,
        }
    }

    /// Asks the session to close with `code`. The first reason wins.
    pub fn close(&self, code: CloseCode, message: &str) {
        self.close_because(code, message, None);
    }

    /// `close`, naming the cause the lifecycle log records.
    pub fn close_because(&self, code: CloseCode, message: &str, cause: Option<&'static str>) {
        self.outbound.request_close(CloseReason {
            code,
            message: message.to_string(),
            cause,
        });
    }

    /// Its subscriptions and signed-in user, as its session last reported them.
    pub fn membership(&self) -> Membership {
        self.membership.lock().clone()
    }

    /// The session reports a change of subscriptions or user.
    pub fn set_membership(&self, user_id: Option<Arc<str>>, channels: Vec<ChannelName>) {
        *self.membership.lock() = Membership { user_id, channels };
    }

    /// How many writes wait for the socket.
    pub fn queue_depth(&self) -> usize {
        self.outbound.waiting()
    }

    /// Its traffic so far, both ways.
    pub fn traffic_totals(&self) -> TrafficTotals {
        let sent = self.outbound.sent();
        TrafficTotals {
            messages_in: self.traffic.messages_in.load(Ordering::Relaxed),
            bytes_in: self.traffic.bytes_in.load(Ordering::Relaxed),
            messages_out: sent.messages,
            bytes_out: sent.bytes,
        }
    }
}
