//! A channel message: one event on one channel of one app, as it travels from a publisher
//! (HTTP API or client event) through history and the bus to the subscribers.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::unix_ms;
use crate::protocol::frame::EventData;
use crate::protocol::{ChannelName, Position, SocketId};

/// The `data` of a message: a string from the HTTP API, any JSON value from a client event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MessageData {
    Text(String),
    Json(Box<RawValue>),
}

impl MessageData {
    pub fn as_event_data(&self) -> EventData<'_> {
        match self {
            MessageData::Text(t) => EventData::Text(t),
            MessageData::Json(v) => EventData::Json(v),
        }
    }

    /// The data as text, as `GET channels/{name}?info=cache` reports it.
    pub fn as_text(&self) -> &str {
        match self {
            MessageData::Text(t) => t,
            MessageData::Json(v) => v.get(),
        }
    }
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The HTTP API: stored in history, cached on cache channels.
    Api,
    /// A client event: not stored, not cached, not echoed to its sender.
    Client,
}

/// One event on one channel. Serialized as JSON when it crosses the cluster bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelMessage {
    pub app_id: Arc<str>,
    pub channel: ChannelName,
    pub event: String,
    pub data: MessageData,
    /// The connection that must not receive it (the sender, or the publisher's `socket_id`).
    pub exclude: Option<SocketId>,
    /// Added to client events on presence channels.
    pub user_id: Option<Arc<str>>,
    pub origin: Origin,
    /// Position in the channel's history; 0 for messages that are not stored.
    #[serde(default)]
    pub serial: u64,
    /// The serial of the channel's previous stored message (0 if none): the chain that shows a gap.
    #[serde(default)]
    pub prev: u64,
    /// The epoch of the history that holds it.
    #[serde(default)]
    pub epoch: u64,
    /// When it was accepted, in Unix milliseconds.
    #[serde(default)]
    pub published_ms: i64,
}

impl ChannelMessage {
    /// A message not yet stored (serial, prev and epoch are set by the history).
    pub fn new(app_id: Arc<str>, channel: ChannelName, event: String, data: MessageData, origin: Origin) -> Self {
        ChannelMessage {
            app_id,
            channel,
            event,
            data,
            exclude: None,
            user_id: None,
            origin,
            serial: 0,
            prev: 0,
            epoch: 0,
            published_ms: unix_ms(),
        }
    }

    /// Bytes of its event name and data: what the size bounds on kept messages count.
    pub fn content_bytes(&self) -> usize {
        self.event.len() + self.data.as_text().len()
    }

    /// Its position, when it is stored.
    pub fn position(&self) -> Option<Position> {
        (self.serial > 0).then_some(Position {
            epoch: self.epoch,
            serial: self.serial,
        })
    }
}
