//! The lifecycle log in the control store (a single node's), on SQLite and Postgres: filters, newest
//! first, and pruning by age and by a count per app.

use crate::common::{open_store, test_config, Backend};
use herald::store::prelude::*;
use herald::store::{EventFilter, EventRow};

fn row(app: &str, time: i64, kind: &'static str, socket: &str) -> EventRow {
    EventRow {
        app_id: app.into(),
        time,
        kind,
        socket_id: Some(socket.into()),
        user_id: (socket == "1.1").then(|| "alice".into()),
        channel: Some("room".into()),
        body: format!(r#"{{"socket":"{socket}","time":{time}}}"#),
    }
}

fn all(limit: i64) -> EventFilter {
    EventFilter {
        since: 0,
        until: i64::MAX,
        kinds: vec![],
        channel: None,
        socket_id: None,
        user_id: None,
        limit,
    }
}

async fn events_are_filtered_ordered_and_pruned(backend: Backend) {
    let (config, database) = test_config(backend).await;
    let store = open_store(&config).await;
    let rows: Vec<EventRow> = (1..=5)
        .map(|i| {
            row(
                "a",
                i * 1000,
                if i % 2 == 0 {
                    "connection_closed"
                } else {
                    "connection_opened"
                },
                &format!("1.{i}"),
            )
        })
        .chain([row("b", 3000, "signin", "9.9")])
        .collect();
    store.append_events(&rows).await.expect("append");

    let newest = store.query_events("a", &all(3)).await.expect("query");
    assert_eq!(newest.len(), 3);
    assert!(newest[0].contains(r#""socket":"1.5""#), "newest first: {newest:?}");
    let closed = EventFilter {
        kinds: vec!["connection_closed".into()],
        ..all(10)
    };
    assert_eq!(store.query_events("a", &closed).await.unwrap().len(), 2);
    let alice = EventFilter {
        user_id: Some("alice".into()),
        ..all(10)
    };
    assert_eq!(store.query_events("a", &alice).await.unwrap().len(), 1);
    let window = EventFilter {
        since: 2000,
        until: 3000,
        ..all(10)
    };
    assert_eq!(store.query_events("a", &window).await.unwrap().len(), 2);
    assert_eq!(
        store.query_events("b", &all(10)).await.unwrap().len(),
        1,
        "apps are apart"
    );

    // Older than 2 s go; then each app keeps its newest 2.
    store.prune_events(2000, 100).await.expect("prune by age");
    assert_eq!(store.query_events("a", &all(10)).await.unwrap().len(), 4);
    store.prune_events(0, 2).await.expect("prune by count");
    let kept = store.query_events("a", &all(10)).await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept[1].contains(r#""socket":"1.4""#), "{kept:?}");
    assert_eq!(store.query_events("b", &all(10)).await.unwrap().len(), 1);

    crate::common::remove_test_store(&config, database);
}
both_backends!(
    events_are_filtered_ordered_and_pruned,
    events_are_filtered_ordered_and_pruned
);

/// Batches of every shape are written whole, in order: none, one row, a few, one INSERT statement's
/// most (64), one more than that, and 250 rows (every statement size).
async fn a_large_batch_is_written_whole_and_in_order(backend: Backend) {
    let (config, database) = test_config(backend).await;
    let store = open_store(&config).await;
    let mut written = 0;
    for size in [0, 1, 3, 64, 65, 250] {
        let rows: Vec<EventRow> = (written + 1..=written + size)
            .map(|i| row("a", i, "connection_opened", &format!("1.{i}")))
            .collect();
        store.append_events(&rows).await.expect("append");
        written += size;
    }

    let read = store.query_events("a", &all(1000)).await.expect("query");
    assert_eq!(read.len() as i64, written);
    for (newest_first, body) in read.iter().enumerate() {
        let i = written - newest_first as i64;
        assert!(
            body.contains(&format!(r#""socket":"1.{i}""#)),
            "row {newest_first}: {body}"
        );
    }

    crate::common::remove_test_store(&config, database);
}
both_backends!(
    a_large_batch_is_written_whole_and_in_order,
    a_large_batch_is_written_whole_and_in_order
);
