//! Client events: `client-` events a subscriber sends to the other subscribers of a private or
//! presence channel, when the app enables them, at most `client_event_rate` a second (4301 above).

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::session::Session;
use crate::message::{ChannelMessage, MessageData, Origin};
use crate::protocol::{ChannelKind, ChannelName, CloseCode, EventName};

/// A one-second window counting client events.
#[derive(Default)]
pub struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl RateWindow {
    /// Counts one event at `now`; false when it goes over `per_second`.
    pub fn allow(&mut self, per_second: u32, now: Instant) -> bool {
        match self.started {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                self.started = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        self.count <= per_second
    }
}

impl Session {
    /// Checks a client event; returns the message to publish when it may go out.
    pub(super) fn client_event(
        &mut self,
        event: String,
        raw_channel: &str,
        data: Box<RawValue>,
    ) -> Option<ChannelMessage> {
        let app = self.app()?;
        let refuse = |session: &Session, message: &str| {
            session.error(message, Some(raw_channel));
            None
        };
        if !app.settings.client_events {
            return refuse(self, "Client events are not enabled for this app");
        }
        let Ok(channel) = ChannelName::parse(raw_channel) else {
            return refuse(self, "Invalid channel name");
        };
        if !matches!(channel.kind(), ChannelKind::Private | ChannelKind::Presence) {
            return refuse(self, "Client events are only allowed on private and presence channels");
        }
        let Some(user_id) = self.channels.get(&channel).cloned() else {
            return refuse(self, "Subscribe to the channel before sending client events on it");
        };
        if let Err(e) = EventName::parse(&event) {
            return refuse(self, &e.to_string());
        }
        let size = data.get().len();
        if size > app.settings.max_payload_bytes as usize {
            let msg = format!(
                "Client event data is {size} bytes; the limit is {}",
                app.settings.max_payload_bytes
            );
            return refuse(self, &msg);
        }
        if !self.rate.allow(app.settings.client_event_rate, Instant::now()) {
            self.conn
                .close(CloseCode::ClientEventRate, CloseCode::ClientEventRate.message());
            return None;
        }
        let mut message = ChannelMessage::new(
            self.conn.app_id.clone(),
            channel,
            event,
            MessageData::Json(data),
            Origin::Client,
        );
        message.exclude = Some(self.conn.socket_id.clone());
        message.user_id = user_id;
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_allows_the_rate_then_resets() {
        let mut w = RateWindow::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(w.allow(10, t0));
        }
        assert!(!w.allow(10, t0 + Duration::from_millis(500)));
        assert!(w.allow(10, t0 + Duration::from_millis(1001)));
    }
}
