//! `pusher_internal:subscription_count` throttling, as Pusher does it: on every subscribe and
//! unsubscribe while a channel has at most 100 subscribers, at most once every 30 s above that
//! (the last change is always sent, at the end of the window).

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::channel_key::ChannelKey;

/// Above this many subscribers, notices are throttled.
pub const THROTTLE_ABOVE: usize = 100;
/// The throttle window.
pub const WINDOW: Duration = Duration::from_secs(30);

/// What to do with a subscription-count change.
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    SendNow,
    /// Send once `after` has passed (a timer must be started by the caller).
    SendLater(Duration),
    /// A send is already scheduled; it will carry the latest count.
    AlreadyScheduled,
}

#[derive(Default, Clone, Copy)]
struct Window {
    last_sent: Option<Instant>,
    scheduled: bool,
}

/// Per-channel throttle windows.
#[derive(Default)]
pub struct CountThrottle {
    windows: DashMap<ChannelKey, Window>,
}

impl CountThrottle {
    /// Decides what to do about a change to `count` subscribers, at `now`.
    pub fn on_change(&self, key: &ChannelKey, count: usize, now: Instant) -> Notice {
        let mut w = self.windows.entry(key.clone()).or_default();
        if w.scheduled {
            return Notice::AlreadyScheduled;
        }
        let due = match w.last_sent {
            Some(last) if count > THROTTLE_ABOVE => (last + WINDOW).checked_duration_since(now),
            _ => None,
        };
        match due {
            Some(wait) if !wait.is_zero() => {
                w.scheduled = true;
                Notice::SendLater(wait)
            }
            _ => {
                w.last_sent = Some(now);
                Notice::SendNow
            }
        }
    }

    /// Records that a scheduled send happened.
    pub fn sent_scheduled(&self, key: &ChannelKey, now: Instant) {
        if let Some(mut w) = self.windows.get_mut(key) {
            w.scheduled = false;
            w.last_sent = Some(now);
        }
    }

    /// Forgets a channel that emptied.
    pub fn forget(&self, key: &ChannelKey) {
        self.windows.remove_if(key, |_, w| !w.scheduled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelName;

    #[test]
    fn small_channels_always_send_large_ones_throttle() {
        let t = CountThrottle::default();
        let key = ChannelKey::new("app".into(), ChannelName::parse("c").unwrap());
        let t0 = Instant::now();
        assert_eq!(t.on_change(&key, 5, t0), Notice::SendNow);
        assert_eq!(t.on_change(&key, 6, t0), Notice::SendNow);
        assert_eq!(
            t.on_change(&key, 101, t0 + Duration::from_secs(1)),
            Notice::SendLater(Duration::from_secs(29))
        );
        assert_eq!(
            t.on_change(&key, 102, t0 + Duration::from_secs(2)),
            Notice::AlreadyScheduled
        );
        t.sent_scheduled(&key, t0 + WINDOW);
        assert_eq!(t.on_change(&key, 103, t0 + WINDOW * 2), Notice::SendNow);
    }
}
