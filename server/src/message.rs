//! A channel message: one event on one channel of one app, as it travels from a publisher
//! (HTTP API or client event) through history and the bus to the subscribers.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::frame::EventData;
use crate::protocol::{ChannelName, SocketId};

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
    pub serial: u64,
}
