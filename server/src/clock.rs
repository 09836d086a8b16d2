//! The wall clock, in the two units Herald stores and sends: Unix milliseconds (messages, lifecycle
//! events, webhooks) and Unix seconds (the control store: keys, tokens, audit, quotas).
//!
//! Only the edges read it; pure logic takes the time as an argument (see `webhooks::pending`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds now (0 on a clock before 1970).
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix seconds now (0 on a clock before 1970).
pub fn unix_secs() -> i64 {
    unix_ms() / 1000
}
