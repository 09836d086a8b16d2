//! One WebSocket connection, from `connection_established` to its close frame.
//!
//! A single task owns the socket: it reads client frames, writes queued frames in batches, pings an
//! idle client and closes with 4201 when no pong comes. Others reach the client only through the
//! hub's `Connection` (a bounded queue and a close request).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::sync::mpsc;

use super::client_event::RateWindow;
use super::ConnectRequest;
use crate::apps::KeyEntry;
use crate::hub::{CloseReason, Connection, ConnectionMeta, Frame, Limits};
use crate::lifecycle::{EventKind, LifecycleEvent};
use crate::message::now_ms;
use crate::protocol::close::check_protocol;
use crate::protocol::frame::{self, ClientFrame};
use crate::protocol::{ChannelName, CloseCode, SocketId};
use crate::state::AppState;
use crate::store::App;
use crate::webhooks::Observation;

/// How long to wait for the client's close frame after sending ours.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Frames written to the socket before one flush.
const WRITE_BATCH: usize = 64;

/// The signed-in user of a connection.
pub(super) struct SignedIn {
    pub id: Arc<str>,
    pub watchlist: Vec<Arc<str>>,
}

/// A connection's own state; the socket is kept apart so handlers can borrow this mutably.
pub(super) struct Session {
    pub state: AppState,
    pub conn: Arc<Connection>,
    /// The secret of the key the client connected with: channel auth and signin are signed with it.
    pub secret: Arc<str>,
    /// Subscribed channels, with the presence user id where there is one.
    pub channels: HashMap<ChannelName, Option<Arc<str>>>,
    pub user: Option<SignedIn>,
    pub rate: RateWindow,
}

impl Session {
    /// Queues a frame for this client, behind whatever is already queued.
    pub fn reply(&self, frame: String) {
        self.conn.send(Frame::from(frame));
    }

    /// Queues a `pusher:error` that does not end the connection.
    pub fn error(&self, message: &str, channel: Option<&str>) {
        self.reply(frame::error(None, message, channel));
    }

    /// The app as it is now: settings changed in the store apply to live connections.
    pub fn app(&self) -> Option<Arc<App>> {
        self.state.apps.by_id(&self.conn.app_id)
    }

    /// Handles one text frame. Client events are published before the next frame is read, so a
    /// connection's client events keep their order.
    async fn handle(&mut self, text: &str) {
        let limit = self
            .app()
            .map(|a| a.settings.max_payload_bytes as usize)
            .unwrap_or(10_240)
            + 1024;
        if text.len() > limit {
            let msg = format!(
                "Frame of {} bytes is over this app's limit of {limit} bytes; it was ignored",
                text.len()
            );
            return self.error(&msg, None);
        }
        match frame::parse(text) {
            Ok(ClientFrame::ClientEvent { event, channel, data }) => {
                let event_name = event.clone();
                if let Some(message) = self.client_event(event, &channel, data) {
                    let wanted = self.app().is_some_and(|a| !a.settings.webhooks.is_empty());
                    let observed = wanted.then(|| Observation::ClientEvent {
                        app_id: message.app_id.clone(),
                        channel: message.channel.clone(),
                        event: message.event.clone(),
                        data: message.data.as_text().to_string(),
                        socket_id: self.conn.socket_id.clone(),
                        user_id: message.user_id.clone(),
                    });
                    match self.state.publisher.publish(message, &Default::default()).await {
                        Ok(_) => {
                            if let Some(observed) = observed {
                                self.state.hub.observers.local(observed);
                            }
                            let event = LifecycleEvent::new(EventKind::ClientEvent, &self.conn.app_id)
                                .channel(&channel)
                                .detail(serde_json::json!({ "event": event_name, "bytes": text.len() }));
                            self.record(event);
                        }
                        Err(e) => self.error(&format!("Client event not delivered: {e}"), None),
                    }
                }
            }
            Ok(ClientFrame::Ping) => self.reply(frame::pong()),
            Ok(ClientFrame::Pong) => {}
            Ok(ClientFrame::Subscribe(req)) => self.subscribe(req).await,
            Ok(ClientFrame::Unsubscribe { channel }) => self.unsubscribe(&channel),
            Ok(ClientFrame::Signin { auth, user_data }) => self.signin(&auth, &user_data),
            Ok(ClientFrame::Unknown { event }) => {
                let msg = format!("Unknown event {event:?}: client events must start with \"client-\"");
                self.error(&msg, None)
            }
            Err(e) => self.error(&e.to_string(), None),
        }
    }

    fn unsubscribe(&mut self, raw: &str) {
        let Ok(channel) = ChannelName::parse(raw) else {
            return;
        };
        if self.channels.remove(&channel).is_some() {
            self.state.hub.unsubscribe(&self.conn, &channel);
            self.report_membership();
        }
    }

    /// Adds an event about this connection to the lifecycle log.
    pub(super) fn record(&self, event: LifecycleEvent) {
        self.state.events.record(event.socket(&self.conn.socket_id));
    }

    /// Tells the connection registry what this session is subscribed to and signed in as.
    pub(super) fn report_membership(&self) {
        let user = self.user.as_ref().map(|u| u.id.clone());
        self.conn.set_membership(user, self.channels.keys().cloned().collect());
    }

    /// Leaves every channel, signs out and gives back the connection slot.
    fn cleanup(&mut self) {
        for (channel, _) in self.channels.drain() {
            self.state.hub.unsubscribe(&self.conn, &channel);
        }
        if let Some(user) = self.user.take() {
            self.state.hub.sign_out(&self.conn, &user.id, &user.watchlist);
        }
        self.state.hub.release(&self.conn);
    }
}

/// Checks a new connection's protocol, app, origin and quota.
fn accept(
    state: &AppState,
    request: &ConnectRequest,
) -> Result<(KeyEntry, Arc<Connection>, mpsc::Receiver<Frame>), CloseCode> {
    let protocol = check_protocol(request.protocol.as_deref())? as u8;
    let entry = state.apps.by_key(&request.key).ok_or(CloseCode::UnknownApp)?;
    let app = &entry.app;
    if !app.settings.enabled {
        return Err(CloseCode::AppDisabled);
    }
    let allowed = &app.settings.allowed_origins;
    if !allowed.is_empty() {
        let origin = request.origin.as_deref().unwrap_or("");
        if !allowed.iter().any(|o| o == "*" || o == origin) {
            return Err(CloseCode::Unauthorized);
        }
    }
    if state.shutdown.is_stopping() {
        return Err(CloseCode::Reconnect);
    }
    let (conn, outbound) = Connection::new(
        SocketId::random(),
        Arc::from(app.id.as_str()),
        Arc::from(app.tenant_id.as_str()),
        entry.key.clone(),
        ConnectionMeta {
            remote: Some(request.remote),
            user_agent: request.user_agent.as_deref().map(Box::from),
            client: request.client.as_deref().map(Box::from),
            version: request.version.as_deref().map(Box::from),
            protocol,
            connected_at_ms: now_ms(),
        },
        state.config.outbound_queue,
    );
    let tenant_limit = state
        .apps
        .tenant(&app.tenant_id)
        .map(|t| t.limits.max_connections)
        .unwrap_or(0);
    let limits = Limits {
        node: state.config.max_connections,
        app: app.settings.max_connections as usize,
        tenant: tenant_limit.max(0) as usize,
        elsewhere: state
            .cluster
            .as_ref()
            .map(|c| c.connections_elsewhere(&app.id, &app.tenant_id))
            .unwrap_or((0, 0)),
    };
    state.hub.admit(&conn, limits)?;
    Ok((entry, conn, outbound))
}

/// Sends `pusher:error` with `code` then a close frame with the same code.
pub async fn refuse(mut socket: WebSocket, code: CloseCode, message: Option<&str>) {
    let message = message.unwrap_or(code.message());
    let _ = socket
        .send(Message::Text(frame::error(Some(code.code()), message, None).into()))
        .await;
    let close = CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from(truncate(message, 120)),
    };
    let _ = socket.send(Message::Close(Some(close))).await;
    // Wait (bounded) for the client's close frame before dropping the socket: dropping it with
    // unread data makes the kernel reset the connection, and the client would lose both frames.
    let drain = async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
                // The socket cannot be read any more (e.g. after an oversized message): hold it open
                // until the timeout so the client reads our frames before the kernel resets it.
                Some(Err(_)) | None => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
}

/// Close reasons must fit a control frame (125 bytes).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub async fn run(socket: WebSocket, state: AppState, request: ConnectRequest) {
    let (entry, conn, outbound) = match accept(&state, &request) {
        Ok(accepted) => accepted,
        Err(code) => {
            if let Some(entry) = state.apps.by_key(&request.key) {
                let refused = LifecycleEvent::new(EventKind::ConnectionClosed, &entry.app.id)
                    .code(code.code())
                    .reason(code.message())
                    .detail(
                        serde_json::json!({ "by": "server", "cause": cause(Some(code)), "phase": "connect",
                        "remote_address": request.remote.to_string() }),
                    );
                state.events.record(refused);
            }
            return refuse(socket, code, None).await;
        }
    };
    let tracker = state.shutdown.tracker().clone();
    let _guard = tracker.token();
    let mut session = Session {
        state,
        conn,
        secret: entry.secret.clone(),
        channels: HashMap::new(),
        user: None,
        rate: RateWindow::default(),
    };
    let established =
        frame::connection_established(session.conn.socket_id.as_str(), session.state.config.activity_timeout);
    session.reply(established);
    let meta = &session.conn.meta;
    let opened = LifecycleEvent::new(EventKind::ConnectionOpened, &session.conn.app_id).detail(serde_json::json!({
        "remote_address": meta.remote.map(|a| a.to_string()),
        "user_agent": meta.user_agent.as_deref(),
        "client": meta.client.as_deref(),
        "version": meta.version.as_deref(),
        "protocol": meta.protocol,
    }));
    session.record(opened);
    let reason = serve(&mut session, socket, outbound).await;
    // Recorded once the connection is released, so what the log and metrics show agrees with the
    // registry's counts.
    let closed = closed_event(&session, reason.as_ref());
    session.cleanup();
    session.record(closed);
}

/// The lifecycle event of a connection's end: who closed it, with which code, and why.
fn closed_event(session: &Session, reason: Option<&CloseReason>) -> LifecycleEvent {
    let conn = &session.conn;
    let traffic = &conn.traffic;
    let detail = serde_json::json!({
        "by": if reason.is_some() { "server" } else { "client" },
        "cause": reason.and_then(|r| r.cause).unwrap_or_else(|| cause(reason.map(|r| r.code))),
        "duration_ms": now_ms() - conn.meta.connected_at_ms,
        "messages_in": traffic.messages_in.load(std::sync::atomic::Ordering::Relaxed),
        "messages_out": traffic.messages_out.load(std::sync::atomic::Ordering::Relaxed),
    });
    let user = session.user.as_ref().map(|u| u.id.clone());
    let event = LifecycleEvent::new(EventKind::ConnectionClosed, &conn.app_id)
        .user(user)
        .detail(detail);
    match reason {
        Some(r) => event.code(r.code.code()).reason(&r.message),
        None => event.reason("The client closed the connection or went away"),
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

/// The session loop; returns why the server closed the connection (`None` when the client left).
async fn serve(
    session: &mut Session,
    mut socket: WebSocket,
    mut outbound: mpsc::Receiver<Frame>,
) -> Option<CloseReason> {
    let activity = Duration::from_secs(session.state.config.activity_timeout.max(1));
    let pong_wait = Duration::from_secs(session.state.config.pong_timeout.max(1));
    let mut last_seen = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let timer = tokio::time::sleep(activity);
    tokio::pin!(timer);
    let conn = session.conn.clone();
    let shutdown = session.state.shutdown.clone();
    let reason = loop {
        tokio::select! {
            biased;
            reason = conn.closed() => break reason,
            _ = shutdown.stopping() => break CloseReason { code: CloseCode::Reconnect, message: CloseCode::Reconnect.message().into(), cause: None },
            Some(first) = outbound.recv() => {
                if write_batch(&mut socket, &mut outbound, first, &conn).await.is_err() {
                    return None;
                }
            }
            incoming = socket.recv() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    // A message over `max_message_bytes`: answer with 1009 rather than dropping the TCP connection.
                    Some(Err(e)) if e.to_string().contains("too long") => break CloseReason {
                        code: CloseCode::MessageTooBig,
                        message: format!("Message too big: the limit is {} bytes", session.state.config.max_message_bytes),
                        cause: None,
                    },
                    _ => return None,
                };
                last_seen = Instant::now();
                ping_sent = None;
                match message {
                    Message::Text(text) => {
                        session.conn.traffic.received(text.len(), now_ms());
                        session.handle(text.as_str()).await
                    }
                    Message::Binary(_) => session.error("Binary frames are not supported: send JSON in text frames", None),
                    Message::Close(_) => return None,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            () = &mut timer => {
                let now = Instant::now();
                match ping_sent {
                    Some(sent) if now >= sent + pong_wait => {
                        break CloseReason { code: CloseCode::PongTimeout, message: CloseCode::PongTimeout.message().into(), cause: None };
                    }
                    Some(sent) => timer.as_mut().reset((sent + pong_wait).into()),
                    None if now >= last_seen + activity => {
                        if socket.send(Message::Ping(Default::default())).await.is_err() {
                            return None;
                        }
                        ping_sent = Some(now);
                        timer.as_mut().reset((now + pong_wait).into());
                    }
                    None => timer.as_mut().reset((last_seen + activity).into()),
                }
            }
        }
    };
    if reason.code != CloseCode::OverCapacity {
        // Deliver what was queued before the close (e.g. events before a terminate).
        while let Ok(frame) = outbound.try_recv() {
            if socket.feed(Message::Text(frame)).await.is_err() {
                break;
            }
        }
    }
    refuse(socket, reason.code, Some(&reason.message)).await;
    Some(reason)
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes once.
async fn write_batch(
    socket: &mut WebSocket,
    outbound: &mut mpsc::Receiver<Frame>,
    first: Frame,
    conn: &Connection,
) -> Result<(), axum::Error> {
    conn.traffic.sent(first.len());
    socket.feed(Message::Text(first)).await?;
    for _ in 1..WRITE_BATCH {
        match outbound.try_recv() {
            Ok(frame) => {
                conn.traffic.sent(frame.len());
                socket.feed(Message::Text(frame)).await?
            }
            Err(_) => break,
        }
    }
    socket.flush().await
}
