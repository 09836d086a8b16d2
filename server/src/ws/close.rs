//! How a WebSocket connection ends: the close handshake (`pusher:error`, then a close frame with the
//! same code, then a bounded wait for the client's close frame) and the lifecycle event that records
//! who closed it and why.
//!
//! Owns the ending only; the session decides when a connection ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::socket::{self, Socket, WebSocket};
use crate::clock::unix_ms;
use crate::config::Config;
use crate::hub::{CloseReason, Connection, Frame, Outbound};
use crate::lifecycle::{EventKind, LifecycleEvent};
use crate::protocol::frame;
use crate::protocol::CloseCode;

/// How long to wait for the client's close frame after sending ours (and to send our answer to one).
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Refuses a connection that was never admitted: `pusher:error` with `code`, then the close handshake.
pub async fn refuse_new(stream: TcpStream, early: Bytes, config: &Config, code: CloseCode) {
    let outbound = Arc::new(Outbound::new(4));
    let (socket, mut ws) = socket::open(stream, early, outbound.clone(), config).await;
    outbound.seal(false);
    handshake(&mut ws, &outbound, &socket, code, code.message()).await;
    outbound.finish();
}

/// Ends a connection: `pusher:error` with `code`, then a close frame with the same code, behind
/// whatever was sent before (call `Outbound::seal` first), then waits (bounded) for the client's close
/// frame: dropping a socket with unread data makes the kernel reset it, and the client would lose both.
pub async fn handshake(
    ws: &mut WebSocket,
    outbound: &Outbound<CloseReason>,
    socket: &Socket,
    code: CloseCode,
    message: &str,
) {
    let error = Frame::from(frame::error(Some(code.code()), message, None));
    outbound.push_control(error.wire().clone());
    let close = CloseFrame {
        code: code.code().into(),
        reason: Utf8Bytes::from(truncate(message, 120)),
    };
    let _ = ws.close(Some(close)).await;
    let wait = async {
        // Our frames out first (the client may be slow to read them)...
        if !socket::flush_all(outbound, socket).await {
            return;
        }
        // ...then its close frame.
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
                // The socket cannot be read any more (e.g. after an oversized message): hold it open
                // until the timeout so the client reads our frames before the kernel resets it.
                Some(Err(_)) | None => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, wait).await;
}

/// Close reasons must fit a control frame (125 bytes).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The lifecycle event of a connection's end: who closed it, with which code, and why.
pub fn closed_event(conn: &Connection, user: Option<Arc<str>>, reason: Option<&CloseReason>) -> LifecycleEvent {
    let traffic = conn.traffic_totals();
    let detail = serde_json::json!({
        "by": if reason.is_some() { "server" } else { "client" },
        "cause": reason.and_then(|r| r.cause).unwrap_or_else(|| cause(reason.map(|r| r.code))),
        "duration_ms": unix_ms() - conn.meta.connected_at_ms,
        "messages_in": traffic.messages_in,
        "messages_out": traffic.messages_out,
    });
    let event = LifecycleEvent::new(EventKind::ConnectionClosed, &conn.app_id)
        .user(user)
        .detail(detail);
    match reason {
        Some(r) => event.code(r.code.code()).reason(&r.message),
        None => event.reason("The client closed the connection or went away"),
    }
}

/// Why a connection was refused at connect, before it was established: the same names as `cause`,
/// where a code means something else there (4009 is an origin refusal, not a termination; 4100 is
/// a node over capacity, not a slow consumer).
pub fn connect_cause(code: CloseCode) -> &'static str {
    match code {
        CloseCode::Unauthorized | CloseCode::UnknownApp => "auth_failure",
        CloseCode::OverCapacity | CloseCode::AppOverQuota => "over_quota",
        other => cause(Some(other)),
    }
}

/// A short, stable name for why a connection ended (what dashboards group by).
pub fn cause(code: Option<CloseCode>) -> &'static str {
    match code {
        None => "client_gone",
        Some(CloseCode::PongTimeout) => "ping_timeout",
        Some(CloseCode::OverCapacity) => "slow_consumer",
        Some(CloseCode::AppOverQuota) => "over_quota",
        Some(CloseCode::Unauthorized) => "terminated",
        Some(CloseCode::Reconnect) => "server_shutdown",
        Some(CloseCode::UnknownApp) => "auth_failure",
        Some(CloseCode::AppDisabled) => "app_disabled",
        Some(CloseCode::ClientEventRate) => "client_event_rate",
        Some(CloseCode::MessageTooBig) => "message_too_big",
        Some(_) => "protocol_error",
    }
}
