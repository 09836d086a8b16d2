//! Tests of `memory`: budgets, retiring idle logs, reading channels that have no log.

use super::*;
use crate::history::ChannelReader;
use crate::message::{MessageData, Origin};
use crate::protocol::ChannelName;
use futures_util::FutureExt;

#[test]
fn reading_a_channel_without_messages_keeps_no_log() {
    let history = MemoryHistory::new(HistoryBudget::default());
    let key = |name: &str| ChannelKey::of(&Arc::from("app"), &ChannelName::parse(name).unwrap());
    for i in 0..1000 {
        assert_eq!(history.with_log(&key(&format!("c{i}")), |log| log.serial()), 0);
    }
    assert_eq!(history.channel_count(), 0, "subscribing to names costs nothing");
    history.log(&key("c1"));
    assert_eq!(history.with_log(&key("c1"), |log| log.serial()), 0);
    assert_eq!(history.channel_count(), 1, "a publish made one");
}

#[test]
fn history_stays_within_its_budgets_dropping_the_oldest_and_the_largest_apps_first() {
    let budget = HistoryBudget {
        node_bytes: 40_000,
        app_bytes: 30_000,
    };
    let history = MemoryHistory::new(budget);
    let keep = Retention {
        max_messages: 1_000,
        max_age_ms: i64::MAX / 2,
    };
    let publish = |app: &str, channel: &str, n: i64, bytes: usize| {
        let app: Arc<str> = Arc::from(app);
        let key = ChannelKey::new(app.clone(), ChannelName::parse(channel).unwrap());
        let log = history.log(&key);
        let mut m = ChannelMessage::new(
            app.clone(),
            key.channel.clone(),
            "e".into(),
            MessageData::Text("x".repeat(bytes)),
            Origin::Api,
        );
        m.published_ms = n;
        history.append(&app, &mut log.lock(), &mut m, keep, None).unwrap();
        history.keep_to_budget();
    };
    // A hostile app spreads 1 KB messages over 100 channels; a small app keeps a little.
    publish("small", "news", 0, 1_000);
    for n in 1..=300 {
        publish("big", &format!("c{}", n % 100), n, 1_000);
    }
    assert!(
        history.kept_bytes(Some("big")) <= budget.app_bytes,
        "{}",
        history.kept_bytes(Some("big"))
    );
    assert!(history.kept_bytes(None) <= budget.node_bytes);
    assert!(history.kept_bytes(Some("small")) > 0, "the small app kept its history");
    // Oldest first: the newest of the big app are still there, its first ones went.
    let newest = history.log(&ChannelKey::new(Arc::from("big"), ChannelName::parse("c0").unwrap()));
    assert!(
        newest.lock().oldest_ms().is_some_and(|ms| ms > 200),
        "only recent messages are kept"
    );
    let oldest = history.log(&ChannelKey::new(Arc::from("big"), ChannelName::parse("c1").unwrap()));
    let first = oldest.lock().at(1).now_or_never().unwrap().unwrap();
    assert!(first.is_none(), "the first message of c1 was trimmed");
}

#[test]
fn endless_channel_names_cost_their_app_budget_and_idle_logs_go_without_their_serials_coming_back() {
    let history = MemoryHistory::new(HistoryBudget {
        node_bytes: 1_000_000,
        app_bytes: 20 * LOG_BYTES,
    });
    // An app that keeps no messages: after its publish a channel holds nothing but its serial.
    let keep_none = Retention {
        max_messages: 0,
        max_age_ms: i64::MAX / 2,
    };
    let publish = |channel: &str, idempotency: Option<&str>| {
        let key = ChannelKey::new(Arc::from("app"), ChannelName::parse(channel).unwrap());
        let mut m = ChannelMessage::new(
            key.app.clone(),
            key.channel.clone(),
            "e".into(),
            MessageData::Text("x".into()),
            Origin::Api,
        );
        let keyed = idempotency.map(|k| (k, 3_600_000));
        let position = history.with_log_mut(&key, |log| history.append(&key.app, log, &mut m, keep_none, keyed));
        history.keep_to_budget();
        (position.unwrap().serial, m.prev)
    };
    publish("keyed", Some("k"));
    for i in 0..200 {
        let floor = history.floor();
        assert_eq!(
            publish(&format!("c{i}"), None),
            (floor + 1, floor),
            "a new log numbers after the floor"
        );
    }
    assert!(history.channel_count() <= 20, "{} logs kept", history.channel_count());
    assert!(history.kept_bytes(Some("app")) <= 20 * LOG_BYTES);
    assert!(history.floor() >= 1, "retired logs raised the floor");
    let keyed = ChannelKey::new(Arc::from("app"), ChannelName::parse("keyed").unwrap());
    let seen = history.with_log(&keyed, |log| log.seen("k", crate::clock::unix_ms()));
    assert_eq!(seen, Some(1), "a log with a live idempotency key is kept");
    // A retired channel published to again numbers after the floor, chained to it: a client
    // holding an older position of it is told what it missed is gone.
    let floor = history.floor();
    assert_eq!(publish("c0", None), (floor + 1, floor));
}
