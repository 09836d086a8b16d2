//! What happens to webhook events between being observed and being queued, as pure logic over
//! injected time (`Instant`s passed in; no clocks, no I/O):
//!
//! - `HeldEvents`: `channel_vacated` and `member_removed` wait `delay` (3 s) before they count;
//!   a `channel_occupied` of the same channel (a `member_added` of the same member) within that
//!   time cancels the held event and is itself dropped, so a quick reconnect sends nothing.
//! - `Batches`: events for the same app and endpoint are collected into one request for up to
//!   `window` (100 ms) after the first, or until there are `max` (50) of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::payload::WebhookEvent;
use crate::protocol::ChannelName;

/// How long `channel_vacated` and `member_removed` are held (Pusher: "up to 3 s").
pub const HOLD: Duration = Duration::from_secs(3);
/// How long a batch stays open after its first event.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Most events in one webhook request.
pub const BATCH_MAX: usize = 50;

/// An event of an app.
pub type AppEvent = (Arc<str>, WebhookEvent);

/// What a held event is waiting to be cancelled by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HeldKey {
    Channel(Arc<str>, ChannelName),
    Member(Arc<str>, ChannelName, Arc<str>),
}

/// `channel_vacated` and `member_removed`, held for `delay` in case the channel fills again or the
/// member comes back.
pub struct HeldEvents {
    delay: Duration,
    /// The events held, by what would cancel them, with the number of their entry in `order`.
    held: HashMap<HeldKey, (u64, WebhookEvent)>,
    /// When each held event is due, oldest first (the delay is constant, so this is time order).
    /// Entries whose event was cancelled stay until due and are skipped then.
    order: VecDeque<(Instant, u64, HeldKey)>,
    next_seq: u64,
}

impl HeldEvents {
    pub fn new(delay: Duration) -> Self {
        HeldEvents {
            delay,
            held: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// Takes an observed event: returns it when it counts at once, `None` when it is held (a
    /// vacate or a removal) or cancelled a held one (then both are dropped).
    pub fn observe(&mut self, app: Arc<str>, event: WebhookEvent, now: Instant) -> Option<AppEvent> {
        let (key, holds) = match &event {
            WebhookEvent::ChannelVacated { channel } => (HeldKey::Channel(app.clone(), channel.clone()), true),
            WebhookEvent::ChannelOccupied { channel } => (HeldKey::Channel(app.clone(), channel.clone()), false),
            WebhookEvent::MemberRemoved { channel, user_id } => {
                (HeldKey::Member(app.clone(), channel.clone(), user_id.clone()), true)
            }
            WebhookEvent::MemberAdded { channel, user_id } => {
                (HeldKey::Member(app.clone(), channel.clone(), user_id.clone()), false)
            }
            _ => return Some((app, event)),
        };
        if !holds {
            // Filled again (came back) within the delay: neither the vacate nor this is news.
            return match self.held.remove(&key) {
                Some(_) => None,
                None => Some((app, event)),
            };
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((now + self.delay, seq, key.clone()));
        self.held.insert(key, (seq, event));
        None
    }

    /// The held events whose delay has passed at `now`, in the order they were observed.
    pub fn due(&mut self, now: Instant) -> Vec<AppEvent> {
        let mut out = Vec::new();
        while let Some((at, _, _)) = self.order.front() {
            if *at > now {
                break;
            }
            if let Some((_, seq, key)) = self.order.pop_front() {
                if let Some(event) = self.take(&key, seq) {
                    out.push(event);
                }
            }
        }
        out
    }

    /// Every held event, at once (the node is stopping and cannot wait).
    pub fn drain(&mut self) -> Vec<AppEvent> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .filter_map(|(_, seq, key)| self.take(&key, seq))
            .collect()
    }

    /// When the next held event may be due (possibly one since cancelled: a harmless early wake).
    pub fn next_due(&self) -> Option<Instant> {
        self.order.front().map(|(at, _, _)| *at)
    }

    /// The held event of `key`, if it is still the one `seq` was queued for.
    fn take(&mut self, key: &HeldKey, seq: u64) -> Option<AppEvent> {
        if self.held.get(key).is_none_or(|(s, _)| *s != seq) {
            return None;
        }
        let (_, event) = self.held.remove(key)?;
        let app = match key {
            HeldKey::Channel(app, _) | HeldKey::Member(app, _, _) => app.clone(),
        };
        Some((app, event))
    }
}

/// Which request a batched event goes into: one per app and endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub app_id: Arc<str>,
    pub url: Arc<str>,
}

/// The events of one webhook request.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub key: BatchKey,
    pub events: Vec<WebhookEvent>,
}

/// Open batches, each closing `window` after its first event or when it holds `max` events.
pub struct Batches {
    window: Duration,
    max: usize,
    open: HashMap<BatchKey, (Instant, Vec<WebhookEvent>)>,
}

impl Batches {
    pub fn new(window: Duration, max: usize) -> Self {
        Batches {
            window,
            max: max.max(1),
            open: HashMap::new(),
        }
    }

    /// Adds an event to its batch; returns the batch when this filled it.
    ///
    /// A `subscription_count` replaces one of the same channel already in the batch: only the
    /// latest count is news.
    pub fn add(&mut self, key: BatchKey, event: WebhookEvent, now: Instant) -> Option<Batch> {
        let (_, events) = self
            .open
            .entry(key.clone())
            .or_insert_with(|| (now + self.window, Vec::new()));
        let replaced = match &event {
            WebhookEvent::SubscriptionCount { channel, .. } => events
                .iter_mut()
                .find(|e| matches!(e, WebhookEvent::SubscriptionCount { channel: c, .. } if c == channel)),
            _ => None,
        };
        match replaced {
            Some(slot) => *slot = event,
            None => events.push(event),
        }
        if events.len() < self.max {
            return None;
        }
        self.open.remove(&key).map(|(_, events)| Batch { key, events })
    }

    /// The batches whose window has passed at `now`, oldest first.
    pub fn due(&mut self, now: Instant) -> Vec<Batch> {
        let keys: Vec<BatchKey> = self
            .open
            .iter()
            .filter(|(_, (closes, _))| *closes <= now)
            .map(|(k, _)| k.clone())
            .collect();
        self.take(keys)
    }

    /// Every open batch, at once.
    pub fn drain(&mut self) -> Vec<Batch> {
        let keys: Vec<BatchKey> = self.open.keys().cloned().collect();
        self.take(keys)
    }

    /// When the next batch closes.
    pub fn next_due(&self) -> Option<Instant> {
        self.open.values().map(|(closes, _)| *closes).min()
    }

    fn take(&mut self, keys: Vec<BatchKey>) -> Vec<Batch> {
        let mut out: Vec<(Instant, Batch)> = keys
            .into_iter()
            .filter_map(|key| {
                let (closes, events) = self.open.remove(&key)?;
                Some((closes, Batch { key, events }))
            })
            .collect();
        out.sort_by_key(|(closes, _)| *closes);
        out.into_iter().map(|(_, b)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "app1";

    fn ch(name: &str) -> ChannelName {
        ChannelName::parse(name).unwrap()
    }

    fn occupied(c: &str) -> WebhookEvent {
        WebhookEvent::ChannelOccupied { channel: ch(c) }
    }

    fn vacated(c: &str) -> WebhookEvent {
        WebhookEvent::ChannelVacated { channel: ch(c) }
    }

    fn added(c: &str, u: &str) -> WebhookEvent {
        WebhookEvent::MemberAdded {
            channel: ch(c),
            user_id: u.into(),
        }
    }

    fn removed(c: &str, u: &str) -> WebhookEvent {
        WebhookEvent::MemberRemoved {
            channel: ch(c),
            user_id: u.into(),
        }
    }

    fn names(events: &[AppEvent]) -> Vec<String> {
        events
            .iter()
            .map(|(_, e)| format!("{}:{}", e.kind().as_str(), e.channel()))
            .collect()
    }

    #[test]
    fn occupied_counts_at_once_and_vacated_after_the_hold() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        assert_eq!(
            held.observe(APP.into(), occupied("c"), t0),
            Some((APP.into(), occupied("c")))
        );
        assert_eq!(held.observe(APP.into(), vacated("c"), t0), None);
        assert_eq!(held.next_due(), Some(t0 + HOLD));
        assert!(held.due(t0 + HOLD - Duration::from_millis(1)).is_empty());
        assert_eq!(names(&held.due(t0 + HOLD)), ["channel_vacated:c"]);
        assert!(held.due(t0 + HOLD * 2).is_empty(), "sent once");
    }

    #[test]
    fn refilled_within_the_hold_sends_neither_vacated_nor_occupied() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        held.observe(APP.into(), vacated("c"), t0);
        let back = t0 + Duration::from_secs(2);
        assert_eq!(
            held.observe(APP.into(), occupied("c"), back),
            None,
            "occupied suppressed"
        );
        assert!(held.due(t0 + HOLD * 2).is_empty(), "vacated suppressed");
        // Empty again later: a fresh hold, which does count.
        let later = t0 + Duration::from_secs(10);
        held.observe(APP.into(), vacated("c"), later);
        assert_eq!(names(&held.due(later + HOLD)), ["channel_vacated:c"]);
    }

    #[test]
    fn a_member_who_comes_back_sends_nothing_but_another_member_counts() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        held.observe(APP.into(), removed("presence-r", "alice"), t0);
        held.observe(APP.into(), removed("presence-r", "bob"), t0 + Duration::from_millis(10));
        assert_eq!(
            held.observe(APP.into(), added("presence-r", "alice"), t0 + Duration::from_secs(1)),
            None
        );
        let carol = held.observe(APP.into(), added("presence-r", "carol"), t0 + Duration::from_secs(1));
        assert_eq!(carol, Some((APP.into(), added("presence-r", "carol"))));
        let due = held.due(t0 + HOLD * 2);
        assert_eq!(due, [(APP.into(), removed("presence-r", "bob"))]);
    }

    #[test]
    fn holds_are_per_app_and_channel() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        held.observe("a".into(), vacated("c"), t0);
        held.observe("b".into(), vacated("c"), t0);
        held.observe("a".into(), vacated("d"), t0);
        assert_eq!(held.observe("b".into(), occupied("c"), t0), None);
        let due = held.due(t0 + HOLD);
        assert_eq!(
            due.iter()
                .map(|(a, e)| format!("{a}/{}", e.channel()))
                .collect::<Vec<_>>(),
            ["a/c", "a/d"]
        );
    }

    #[test]
    fn other_events_pass_straight_through() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        let miss = WebhookEvent::CacheMiss { channel: ch("cache-c") };
        assert_eq!(held.observe(APP.into(), miss.clone(), t0), Some((APP.into(), miss)));
        assert_eq!(held.next_due(), None);
    }

    #[test]
    fn drain_hands_over_every_held_event_in_order() {
        let t0 = Instant::now();
        let mut held = HeldEvents::new(HOLD);
        held.observe(APP.into(), vacated("a"), t0);
        held.observe(APP.into(), removed("presence-b", "u"), t0);
        held.observe(APP.into(), vacated("c"), t0);
        held.observe(APP.into(), occupied("c"), t0);
        assert_eq!(names(&held.drain()), ["channel_vacated:a", "member_removed:presence-b"]);
        assert_eq!(held.next_due(), None);
    }

    fn key(url: &str) -> BatchKey {
        BatchKey {
            app_id: APP.into(),
            url: url.into(),
        }
    }

    #[test]
    fn a_batch_closes_after_its_window() {
        let t0 = Instant::now();
        let mut batches = Batches::new(BATCH_WINDOW, BATCH_MAX);
        assert_eq!(batches.add(key("u1"), occupied("a"), t0), None);
        assert_eq!(
            batches.add(key("u1"), occupied("b"), t0 + Duration::from_millis(60)),
            None
        );
        assert_eq!(
            batches.add(key("u2"), occupied("a"), t0 + Duration::from_millis(50)),
            None
        );
        assert_eq!(batches.next_due(), Some(t0 + BATCH_WINDOW));
        assert!(batches.due(t0 + Duration::from_millis(99)).is_empty());
        let first = batches.due(t0 + BATCH_WINDOW);
        assert_eq!(
            first,
            [Batch {
                key: key("u1"),
                events: vec![occupied("a"), occupied("b")]
            }]
        );
        let second = batches.due(t0 + Duration::from_millis(150));
        assert_eq!(
            second,
            [Batch {
                key: key("u2"),
                events: vec![occupied("a")]
            }]
        );
        assert_eq!(batches.next_due(), None);
    }

    #[test]
    fn a_full_batch_closes_at_once() {
        let t0 = Instant::now();
        let mut batches = Batches::new(BATCH_WINDOW, 3);
        assert_eq!(batches.add(key("u"), occupied("a"), t0), None);
        assert_eq!(batches.add(key("u"), occupied("b"), t0), None);
        let full = batches.add(key("u"), occupied("c"), t0).expect("full");
        assert_eq!(full.events.len(), 3);
        assert!(batches.drain().is_empty());
        assert_eq!(batches.add(key("u"), occupied("d"), t0), None, "a new batch opens");
        assert_eq!(batches.drain().len(), 1);
    }

    #[test]
    fn only_the_latest_subscription_count_of_a_channel_is_sent() {
        let t0 = Instant::now();
        let mut batches = Batches::new(BATCH_WINDOW, BATCH_MAX);
        let count = |c: &str, n| WebhookEvent::SubscriptionCount {
            channel: ch(c),
            subscription_count: n,
        };
        batches.add(key("u"), count("a", 1), t0);
        batches.add(key("u"), count("b", 1), t0);
        batches.add(key("u"), count("a", 2), t0);
        batches.add(key("u"), count("a", 3), t0);
        let due = batches.due(t0 + BATCH_WINDOW);
        assert_eq!(due[0].events, [count("a", 3), count("b", 1)]);
    }
}
