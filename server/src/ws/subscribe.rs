//! `pusher:subscribe`: name rules, channel auth (constant-time), presence `channel_data`, limits.
//!
//! Refusals are `pusher:error` frames with code `null` and the channel, as Pusher sends them; the
//! connection stays open.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::session::Session;
use crate::channel_key::ChannelKey;
use crate::history::{Retention, StreamStart};
use crate::hub::Member;
use crate::lifecycle::{redact, EventKind, LifecycleEvent};
use crate::protocol::frame::SubscribeRequest;
use crate::protocol::name::MAX_USER_ID;
use crate::protocol::position::start_from;
use crate::protocol::signature::{channel_auth_string, check_auth};
use crate::protocol::{ChannelKind, ChannelName};
use crate::store::App;

/// Presence `channel_data`: `user_id` may be a string or a number.
#[derive(Deserialize)]
struct ChannelData {
    user_id: Value,
    #[serde(default)]
    user_info: Option<Value>,
}

impl Session {
    pub(super) async fn subscribe(&mut self, req: SubscribeRequest) {
        let channel = match ChannelName::parse(&req.channel) {
            Ok(c) => c,
            Err(e) => return self.refuse_subscription(&format!("Invalid channel name: {e}"), Some(&req.channel)),
        };
        let Some(app) = self.app() else { return };
        let limit = self.state.config.websocket.max_subscriptions;
        if self.channels.len() >= limit && !self.channels.contains_key(&channel) {
            let message = format!(
                "Subscription limit reached: a connection may subscribe to at most {limit} channels; unsubscribe from some first"
            );
            return self.refuse_subscription(&message, Some(channel.as_str()));
        }
        let member = match self.authorize(&app, &channel, &req) {
            Ok(member) => member,
            Err(message) => return self.refuse_subscription(&message, Some(channel.as_str())),
        };
        let from = start_from(req.resume.as_ref(), req.rewind.as_ref());
        let key = ChannelKey::of(&self.conn.app_id, &channel);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (hub, conn, joining) = (self.state.hub.clone(), self.conn.clone(), channel.clone());
        let (app2, member2) = (app.clone(), member.clone());
        let attach = Box::new(move |mut start: StreamStart| {
            if let Err(reason) = from {
                start.recovered = Some(Err(reason));
            }
            let _ = tx.send(hub.subscribe(&conn, &app2, &joining, member2.as_ref(), start));
        });
        let bus = self.state.publisher.bus();
        bus.attach(&key, from.unwrap_or(None), Retention::of(&app), attach)
            .await;
        match rx.await {
            Ok(Ok(joined)) => {
                if joined.first_here.is_some() {
                    // The other nodes hear of this member before the client hears it joined (its
                    // subscription_succeeded waits in the outbound queue meanwhile), so someone who
                    // joins elsewhere after that finds it in their snapshot.
                    self.state.hub.flush_events().await;
                }
                let user = member.as_ref().map(|m| m.user_id.clone());
                let event = LifecycleEvent::new(EventKind::SubscriptionSucceeded, &self.conn.app_id)
                    .channel(&channel)
                    .user(user);
                self.record(event);
                self.channels.insert(channel, member.map(|m| m.user_id));
                self.report_membership();
            }
            Ok(Err(e)) => self.refuse_subscription(&e.to_string(), Some(channel.as_str())),
            Err(_) => self.refuse_subscription(
                "Subscription failed: the node is shutting down or lost its bus; retry",
                Some(channel.as_str()),
            ),
        }
    }

    /// Refuses a subscription: the client gets a `pusher:error`, the lifecycle log says why.
    fn refuse_subscription(&self, message: &str, channel: Option<&str>) {
        self.error(message, channel);
        let mut event = LifecycleEvent::new(EventKind::SubscriptionRefused, &self.conn.app_id).reason(redact(message));
        if let Some(channel) = channel {
            event = event.channel(channel);
        }
        self.record(event);
    }

    /// Checks the right to join `channel`; returns the presence member for presence channels.
    fn authorize(&self, app: &App, channel: &ChannelName, req: &SubscribeRequest) -> Result<Option<Member>, String> {
        match channel.kind() {
            ChannelKind::Public => Ok(None),
            ChannelKind::ServerToUser => {
                let signed_in = self.user.as_ref().map(|u| &*u.id);
                if signed_in.is_some() && signed_in == channel.server_to_user_id() {
                    Ok(None)
                } else {
                    Err("Sign in as this user before subscribing to its server-to-user channel".into())
                }
            }
            ChannelKind::Private | ChannelKind::Encrypted => {
                let auth = req
                    .auth
                    .as_deref()
                    .ok_or("Missing auth: private channels need a signed auth")?;
                let signed = channel_auth_string(self.conn.socket_id.as_str(), channel.as_str(), None);
                check_auth(auth, &self.conn.key, &self.secret, &signed).map_err(|e| e.to_string())?;
                Ok(None)
            }
            ChannelKind::Presence => {
                let auth = req
                    .auth
                    .as_deref()
                    .ok_or("Missing auth: presence channels need a signed auth")?;
                let data = req
                    .channel_data
                    .as_deref()
                    .ok_or("Missing channel_data: presence channels need it")?;
                let signed = channel_auth_string(self.conn.socket_id.as_str(), channel.as_str(), Some(data));
                check_auth(auth, &self.conn.key, &self.secret, &signed).map_err(|e| e.to_string())?;
                parse_member(data, app.settings.max_presence_member_bytes as usize).map(Some)
            }
        }
    }
}

/// Reads presence `channel_data` and checks the user id and `user_info` size.
fn parse_member(data: &str, max_info_bytes: usize) -> Result<Member, String> {
    let parsed: ChannelData = serde_json::from_str(data)
        .map_err(|e| format!("Invalid channel_data: expected {{\"user_id\":…,\"user_info\":{{…}}}} ({e})"))?;
    let user_id = match parsed.user_id {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => return Err("Invalid channel_data: user_id must be a string or a number".into()),
    };
    if user_id.is_empty() || user_id.chars().count() > MAX_USER_ID {
        return Err(format!(
            "Invalid channel_data: user_id must be 1 to {MAX_USER_ID} characters"
        ));
    }
    let user_info = parsed.user_info.unwrap_or(Value::Null);
    let size = user_info.to_string().len();
    if !user_info.is_null() && size > max_info_bytes {
        return Err(format!("user_info is {size} bytes; the limit is {max_info_bytes}"));
    }
    Ok(Member {
        user_id: Arc::from(user_id),
        user_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_from_channel_data() {
        let m = parse_member(r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#, 1024).unwrap();
        assert_eq!(&*m.user_id, "10");
        assert!(parse_member(r#"{"user_id":"u"}"#, 1024).is_ok());
        assert!(parse_member(r#"{"user_info":{}}"#, 1024).is_err());
        assert!(parse_member(r#"{"user_id":""}"#, 1024).is_err());
        let big = format!(r#"{{"user_id":"u","user_info":{{"x":"{}"}}}}"#, "a".repeat(2000));
        assert!(parse_member(&big, 1024).unwrap_err().contains("limit is 1024"));
    }
}
