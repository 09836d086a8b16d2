//! Herald: a self-hosted, Pusher-compatible realtime messaging server.
//!
//! See ARCHITECTURE.md at the repository root for the map of these modules and the paths data takes.

pub mod admin;
pub mod apps;
pub mod bus;
pub mod channel_key;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connections;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod history;
pub mod housekeeping;
pub mod http;
pub mod hub;
pub mod lifecycle;
pub mod message;
pub mod metrics;
pub mod nodes;
pub mod open_store;
pub mod openapi;
pub mod per_app;
pub mod protocol;
pub mod publish;
pub mod quota;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod stats;
pub mod store;
pub mod topology;
pub mod webhooks;
mod wire_enum;
pub mod ws;
