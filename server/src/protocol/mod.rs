//! The Pusher Channels protocol v7, as pure functions and types: no I/O, no clocks, no state.
//!
//! Owns the rules of the wire: channel and event names, the frames a client may send and the frames the
//! server sends, close codes, and the HMAC signatures of channel auth, user signin and the HTTP API.
//! It does not own connections, subscriptions or apps: the hub and the handlers use these types to decide.

pub mod close;
pub mod frame;
pub mod http_signature;
pub mod name;
pub mod position;
pub mod query;
pub mod signature;
pub mod socket_id;
pub mod websocket;

pub use close::CloseCode;
pub use name::{ChannelKind, ChannelName, EventName, NameError};
pub use position::{NotRecovered, Position, StartFrom};
pub use socket_id::SocketId;
