//! Whether a client is still there: after `activity_timeout` of silence the server pings, and closes
//! with 4201 when no pong (or anything else) arrives within `pong_timeout`.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::Message;

use super::session::Step;
use super::socket::WebSocket;
use crate::config::Config;
use crate::hub::CloseReason;
use crate::protocol::CloseCode;

pub struct Liveness {
    pub activity: Duration,
    pong_wait: Duration,
    last_seen: Instant,
    ping_sent: Option<Instant>,
}

impl Liveness {
    pub fn new(config: &Config) -> Self {
        Liveness {
            activity: config.websocket.activity_timeout,
            pong_wait: config.websocket.pong_timeout,
            last_seen: Instant::now(),
            ping_sent: None,
        }
    }

    /// The client sent something: it is alive.
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
        self.ping_sent = None;
    }

    /// The timer fired: ping, close, or sleep until the next deadline.
    pub async fn on_timer(&mut self, ws: &mut WebSocket, mut timer: Pin<&mut Sleep>) -> Step {
        let now = Instant::now();
        match self.ping_sent {
            Some(sent) if now >= sent + self.pong_wait => {
                let code = CloseCode::PongTimeout;
                return Step::Close(CloseReason {
                    code,
                    message: code.message().into(),
                    cause: None,
                });
            }
            Some(sent) => timer.as_mut().reset((sent + self.pong_wait).into()),
            None if now >= self.last_seen + self.activity => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return Step::Gone;
                }
                self.ping_sent = Some(now);
                timer.as_mut().reset((now + self.pong_wait).into());
            }
            None => timer.as_mut().reset((self.last_seen + self.activity).into()),
        }
        Step::Continue
    }
}
