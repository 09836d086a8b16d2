//! One WebSocket connection, from `connection_established` to its close frame.
//!
//! A single task reads the client's frames and acts on them, writes what others queued for the client
//! (everything queued at once, in vectored writes), pings an idle client (4201 when no pong comes) and
//! closes the connection when asked. Others reach the client only through the hub's `Connection`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::client_event::RateWindow;
use super::close;
use super::liveness::Liveness;
use super::socket::{self, Socket, WebSocket};
use super::ConnectRequest;
use crate::apps::KeyEntry;
use crate::clock::unix_ms;
use crate::hub::{CloseReason, Connection, ConnectionMeta, Flushed, Frame, Limits, Wake};
use crate::lifecycle::{EventKind, LifecycleEvent};
use crate::protocol::close::check_protocol;
use crate::protocol::frame::{self, ClientFrame};
use crate::protocol::{ChannelName, CloseCode, SocketId};
use crate::state::AppState;
use crate::store::App;
use crate::webhooks::{Observation, WebhookEvent};

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
        self.conn.send(&Frame::from(frame));
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
                    let observed = wanted.then(|| {
                        let event = WebhookEvent::client_event(
                            message.channel.clone(),
                            message.event.clone(),
                            message.data.as_text().to_string(),
                            self.conn.socket_id.clone(),
                            message.user_id.clone(),
                        );
                        Observation::new(message.app_id.clone(), event)
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
fn accept(state: &AppState, request: &ConnectRequest) -> Result<(KeyEntry, Arc<Connection>), CloseCode> {
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
    let conn = Connection::new(
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
            connected_at_ms: unix_ms(),
        },
        state.config.websocket.outbound_queue,
    );
    let tenant_limit = state
        .apps
        .tenant(&app.tenant_id)
        .map(|t| t.limits.max_connections)
        .unwrap_or(0);
    let limits = Limits {
        node: state.config.server.max_connections,
        address: state.config.server.max_connections_per_address,
        app: app.settings.max_connections as usize,
        tenant: tenant_limit.max(0) as usize,
        elsewhere: state.nodes.connections_elsewhere(&app.id, &app.tenant_id),
    };
    state.hub.admit(&conn, limits)?;
    // Checked again once admitted: shutdown closes every admitted connection, so a connection admitted
    // while it starts is either closed by it or refused here.
    if state.shutdown.is_stopping() {
        state.hub.release(&conn);
        return Err(CloseCode::Reconnect);
    }
    Ok((entry, conn))
}

/// Runs one connection, from the upgraded socket to its close.
pub async fn run(stream: TcpStream, early: Bytes, state: AppState, request: ConnectRequest) {
    // a key made a moment ago on another node is looked for before it is refused
    state.apps.look_for_key(&request.key).await;
    let (entry, conn) = match accept(&state, &request) {
        Ok(accepted) => accepted,
        Err(code) => {
            if let Some(entry) = state.apps.by_key(&request.key) {
                let refused = LifecycleEvent::new(EventKind::ConnectionClosed, &entry.app.id)
                    .code(code.code())
                    .reason(code.message())
                    .detail(
                        serde_json::json!({ "by": "server", "cause": close::connect_cause(code), "phase": "connect",
                        "remote_address": request.remote.to_string() }),
                    );
                state.events.record(refused);
            }
            // Boxed, like the other rare paths here: this task's future is kept for the connection's
            // whole life, and is as large as its largest await.
            return Box::pin(close::refuse_new(stream, early, &state.config, code)).await;
        }
    };
    // What the request and the key entry said is in the connection now; they are not kept in every
    // connection's task for its whole life.
    let secret = entry.secret.clone();
    drop((request, entry));
    let tracker = state.shutdown.tracker().clone();
    let _guard = tracker.token();
    let (socket, mut ws) = Box::pin(socket::open(stream, early, conn.outbound.clone(), &state.config)).await;
    let mut session = Session {
        state,
        conn,
        secret,
        channels: HashMap::new(),
        user: None,
        rate: RateWindow::default(),
    };
    let established = frame::connection_established(
        session.conn.socket_id.as_str(),
        session.state.config.websocket.activity_timeout.as_secs(),
    );
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
    let reason = serve(&mut session, &socket, &mut ws).await;
    if let Some(reason) = &reason {
        // A client too slow to keep up does not get its backlog; any other gets what was sent before.
        session.conn.outbound.seal(reason.code == CloseCode::OverCapacity);
        Box::pin(close::handshake(
            &mut ws,
            &session.conn.outbound,
            &socket,
            reason.code,
            &reason.message,
        ))
        .await;
    }
    // Recorded once the connection is released, so what the log and metrics show agrees with the
    // registry's counts.
    let user = session.user.as_ref().map(|u| u.id.clone());
    let closed = close::closed_event(&session.conn, user, reason.as_ref());
    session.cleanup();
    session.record(closed);
}

/// What the session loop does next.
pub(super) enum Step {
    Continue,
    /// The server closes the connection.
    Close(CloseReason),
    /// The client closed the connection: answer its close frame, then end.
    ClientClosed,
    /// The client went away.
    Gone,
}

/// The session loop; returns why the server closes the connection (`None` when the client left).
///
/// Woken when frames wait for the socket (and, while the socket takes no more, when it is writable
/// again), when a close is requested (shutdown too: the hub closes every connection with 4200), for
/// the client's frames, and by the ping timer. Each wake-up does one step, so a slow socket never
/// keeps the session from reading its client or acting on a close.
async fn serve(session: &mut Session, socket: &Socket, ws: &mut WebSocket) -> Option<CloseReason> {
    let mut liveness = Liveness::new(&session.state.config);
    let timer = tokio::time::sleep(liveness.activity);
    tokio::pin!(timer);
    let outbound = session.conn.outbound.clone();
    let mut blocked = false;
    loop {
        let step = tokio::select! {
            wake = outbound.next(!blocked) => match wake {
                Wake::Close(reason) => Step::Close(reason),
                Wake::Flush => flush(&outbound, socket, &mut blocked),
            },
            writable = socket.0.writable(), if blocked => match writable {
                Ok(()) => flush(&outbound, socket, &mut blocked),
                Err(_) => Step::Gone,
            },
            incoming = ws.next() => session.on_incoming(incoming, &mut liveness).await,
            () = &mut timer => liveness.on_timer(ws, timer.as_mut()).await,
        };
        match step {
            Step::Continue => {}
            Step::Close(reason) => return Some(reason),
            Step::ClientClosed => {
                // tungstenite queued its answer to the client's close frame: send it, briefly.
                let _ = ws.flush().await;
                let _ = tokio::time::timeout(close::CLOSE_WAIT, socket::flush_all(&outbound, socket)).await;
                return None;
            }
            Step::Gone => return None,
        }
    }
}

/// One pass of writing what waits; `blocked` tells whether the socket took all of it.
fn flush(outbound: &crate::hub::Outbound<CloseReason>, socket: &Socket, blocked: &mut bool) -> Step {
    match outbound.flush(socket) {
        Flushed::Done => {
            *blocked = false;
            Step::Continue
        }
        Flushed::Blocked => {
            *blocked = true;
            Step::Continue
        }
        Flushed::Broken => Step::Gone,
    }
}

impl Session {
    /// One message (or the end) read from the socket.
    async fn on_incoming(&mut self, incoming: Option<Result<Message, WsError>>, liveness: &mut Liveness) -> Step {
        let message = match incoming {
            Some(Ok(message)) => message,
            // A message over `max_message_bytes`: answer with 1009 rather than dropping the TCP connection.
            Some(Err(WsError::Capacity(_))) => {
                return Step::Close(CloseReason {
                    code: CloseCode::MessageTooBig,
                    message: format!(
                        "Message too big: the limit is {} bytes",
                        self.state.config.websocket.max_message_bytes
                    ),
                    cause: None,
                })
            }
            _ => return Step::Gone,
        };
        liveness.seen();
        match message {
            Message::Text(text) => {
                self.conn.traffic.received(text.len(), unix_ms());
                // Boxed: handling a frame awaits deep call chains (subscribe, publish) whose state would
                // otherwise be part of every connection's task, idle or not.
                Box::pin(self.handle(text.as_str())).await
            }
            Message::Binary(_) => self.error("Binary frames are not supported: send JSON in text frames", None),
            Message::Close(_) => return Step::ClientClosed,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        Step::Continue
    }
}
