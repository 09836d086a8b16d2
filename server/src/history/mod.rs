//! History: every stored channel message, numbered per channel, and what follows from it: where a
//! returning subscriber's stream starts (resume, rewind) and pages for the history API.
//!
//! Each stored message knows the serial of the channel's previous one (`prev`), so the retained
//! messages of a channel form a chain whose breaks show exactly what was lost. The algorithms here
//! run over a `ChannelReader` (the in-memory log or JetStream); they never deliver anything.

mod budget;
mod channel_log;
mod durable;
mod journal;
mod memory;
mod replay;
pub mod view;

pub use budget::HistoryBudget;
pub use channel_log::{ChannelLog, ChannelState, MAX_KEYS};
pub use durable::{open_history, HistoryStorage};
pub use journal::Fsync;
pub use memory::{MemoryHistory, MemoryOnly, Persist, LOG_BYTES};
pub use replay::{page, plan_start, try_plan_start, Page, PageQuery, StreamStart};

use std::sync::Arc;

use std::borrow::Cow;

use crate::message::ChannelMessage;
use crate::store::App;

pub use crate::protocol::{NotRecovered, Position, StartFrom};

/// An underlying error, kept as the source of a layer's own error.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store could not be read or written: `context` says what failed, `source` why.
    #[error("history store unavailable: {context}{}", because(.source))]
    Unavailable {
        context: Cow<'static, str>,
        #[source]
        source: Option<BoxedSource>,
    },
    /// A reader over recent messages only was asked for older ones.
    #[error("not among the recent messages")]
    NotCached,
    /// One failure answered to several callers (the publishes stored together in one record).
    #[error(transparent)]
    Shared(Arc<HistoryError>),
}

impl HistoryError {
    /// Unavailable, for a reason of its own (a timeout, a refusal).
    pub fn unavailable(context: impl Into<Cow<'static, str>>) -> Self {
        HistoryError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// Unavailable because `source` failed while doing `context`.
    pub fn failed(context: &'static str, source: impl Into<BoxedSource>) -> Self {
        HistoryError::Unavailable {
            context: context.into(),
            source: Some(source.into()),
        }
    }
}

/// `": why"` for an error with a source, so the message says why on its own (logs print it with `%`).
pub fn because(source: &Option<BoxedSource>) -> String {
    source.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
}

/// Reads one channel's retained messages.
#[allow(async_fn_in_trait)]
pub trait ChannelReader {
    /// The first retained message with a serial above `after`.
    async fn next_after(&self, after: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError>;
    /// The retained message with exactly this serial, if it belongs to this channel.
    async fn at(&self, serial: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError>;
}

/// How much of a channel's history an app keeps visible: its settings, applied when reading.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_messages: usize,
    pub max_age_ms: i64,
}

impl Retention {
    pub fn of(app: &App) -> Self {
        Retention {
            max_messages: app.settings.history_max_messages as usize,
            max_age_ms: app.settings.history_max_age as i64 * 1000,
        }
    }

    /// False when `message` is older than the app keeps messages.
    pub fn keeps(&self, message: &ChannelMessage, now_ms: i64) -> bool {
        message.published_ms >= now_ms - self.max_age_ms
    }
}
