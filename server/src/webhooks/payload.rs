//! The webhook wire format, as pure code: the events, the JSON body
//! (`{"time_ms": …, "events": [{"name": "channel_occupied", "channel": "c"}, …]}`) and its signature,
//! as Pusher sends them, so the official SDKs' webhook helpers accept ours unchanged.

use std::sync::Arc;

use serde::Serialize;

use crate::protocol::{signature, ChannelName, SocketId};
use crate::store::WebhookEventKind;

/// The header naming the key whose secret signed the body.
pub const KEY_HEADER: &str = "X-Pusher-Key";
/// The header carrying the hex HMAC-SHA256 of the raw body with that key's secret.
pub const SIGNATURE_HEADER: &str = "X-Pusher-Signature";

/// One event of a webhook body, serialized as Pusher does: `name` first, then its fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum WebhookEvent {
    ChannelOccupied {
        channel: ChannelName,
    },
    ChannelVacated {
        channel: ChannelName,
    },
    MemberAdded {
        channel: ChannelName,
        user_id: Arc<str>,
    },
    MemberRemoved {
        channel: ChannelName,
        user_id: Arc<str>,
    },
    ClientEvent {
        channel: ChannelName,
        event: String,
        data: String,
        socket_id: SocketId,
        /// Only on presence channels: the sender's member id.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<Arc<str>>,
    },
    CacheMiss {
        channel: ChannelName,
    },
    SubscriptionCount {
        channel: ChannelName,
        subscription_count: usize,
    },
}

impl WebhookEvent {
    /// A client event; the sender's presence member id is kept only on presence channels, as
    /// Pusher sends it.
    pub fn client_event(
        channel: ChannelName,
        event: String,
        data: String,
        socket_id: SocketId,
        user_id: Option<Arc<str>>,
    ) -> Self {
        let user_id = user_id.filter(|_| channel.is_presence());
        WebhookEvent::ClientEvent {
            channel,
            event,
            data,
            socket_id,
            user_id,
        }
    }

    pub fn kind(&self) -> WebhookEventKind {
        match self {
            WebhookEvent::ChannelOccupied { .. } => WebhookEventKind::ChannelOccupied,
            WebhookEvent::ChannelVacated { .. } => WebhookEventKind::ChannelVacated,
            WebhookEvent::MemberAdded { .. } => WebhookEventKind::MemberAdded,
            WebhookEvent::MemberRemoved { .. } => WebhookEventKind::MemberRemoved,
            WebhookEvent::ClientEvent { .. } => WebhookEventKind::ClientEvent,
            WebhookEvent::CacheMiss { .. } => WebhookEventKind::CacheMiss,
            WebhookEvent::SubscriptionCount { .. } => WebhookEventKind::SubscriptionCount,
        }
    }

    /// The member a member event is about; the sender of a client event on a presence channel.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            WebhookEvent::MemberAdded { user_id, .. } | WebhookEvent::MemberRemoved { user_id, .. } => Some(user_id),
            WebhookEvent::ClientEvent { user_id, .. } => user_id.as_deref(),
            _ => None,
        }
    }

    pub fn channel(&self) -> &ChannelName {
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::MemberAdded { channel, .. }
            | WebhookEvent::MemberRemoved { channel, .. }
            | WebhookEvent::ClientEvent { channel, .. }
            | WebhookEvent::CacheMiss { channel }
            | WebhookEvent::SubscriptionCount { channel, .. } => channel,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    time_ms: i64,
    events: &'a [WebhookEvent],
}

/// The JSON body of one webhook request: the events of a batch, stamped with Unix ms `time_ms`.
pub fn body(time_ms: i64, events: &[WebhookEvent]) -> String {
    // Serializing strings, numbers and field-less enums into a String cannot fail.
    serde_json::to_string(&Body { time_ms, events }).unwrap_or_default()
}

/// The `X-Pusher-Signature` of `body`: hex HMAC-SHA256 of the raw body with the key's secret.
pub fn signature(secret: &str, body: &str) -> String {
    signature::sign(secret, body)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::parse(name).unwrap()
    }

    #[test]
    fn every_event_has_pushers_shape() {
        let events = vec![
            WebhookEvent::ChannelOccupied { channel: channel("c") },
            WebhookEvent::MemberAdded {
                channel: channel("presence-x"),
                user_id: "u".into(),
            },
            WebhookEvent::ClientEvent {
                channel: channel("private-c"),
                event: "client-x".into(),
                data: "{\"a\":1}".into(),
                socket_id: SocketId::parse("1.2").unwrap(),
                user_id: None,
            },
            WebhookEvent::ClientEvent {
                channel: channel("presence-x"),
                event: "client-y".into(),
                data: "hi".into(),
                socket_id: SocketId::parse("3.4").unwrap(),
                user_id: Some("u".into()),
            },
            WebhookEvent::CacheMiss {
                channel: channel("cache-c"),
            },
            WebhookEvent::SubscriptionCount {
                channel: channel("c"),
                subscription_count: 3,
            },
            WebhookEvent::ChannelVacated { channel: channel("c") },
            WebhookEvent::MemberRemoved {
                channel: channel("presence-x"),
                user_id: "u".into(),
            },
        ];
        let expected = concat!(
            r#"{"time_ms":1700000000123,"events":["#,
            r#"{"name":"channel_occupied","channel":"c"},"#,
            r#"{"name":"member_added","channel":"presence-x","user_id":"u"},"#,
            r#"{"name":"client_event","channel":"private-c","event":"client-x","data":"{\"a\":1}","socket_id":"1.2"},"#,
            r#"{"name":"client_event","channel":"presence-x","event":"client-y","data":"hi","socket_id":"3.4","user_id":"u"},"#,
            r#"{"name":"cache_miss","channel":"cache-c"},"#,
            r#"{"name":"subscription_count","channel":"c","subscription_count":3},"#,
            r#"{"name":"channel_vacated","channel":"c"},"#,
            r#"{"name":"member_removed","channel":"presence-x","user_id":"u"}"#,
            "]}"
        );
        assert_eq!(body(1_700_000_000_123, &events), expected);
        for e in &events {
            let json = serde_json::to_value(e).unwrap();
            assert_eq!(json["name"], e.kind().as_str(), "kind() agrees with the wire name");
            assert_eq!(json["channel"], e.channel().as_str());
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_raw_body_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // And a real body, against the hmac crate driven directly.
        let body = body(1, &[WebhookEvent::ChannelOccupied { channel: channel("c") }]);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"my-secret").unwrap();
        mac.update(body.as_bytes());
        assert_eq!(signature("my-secret", &body), hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn client_events_carry_user_id_only_on_presence_channels() {
        let client_event = |name: &str| {
            let socket = SocketId::parse("1.2").unwrap();
            WebhookEvent::client_event(channel(name), "client-x".into(), "{}".into(), socket, Some("u".into()))
        };
        assert_eq!(client_event("private-c").user_id(), None);
        assert_eq!(client_event("presence-c").user_id(), Some("u"));
    }
}
