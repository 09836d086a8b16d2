//! The webhook queue of the control store, the same suite against SQLite and Postgres: claims under
//! a lease, retries and dead letters with every attempt kept, filters over the events a delivery
//! carried, and racing claimers.

use crate::common::store_fixture::{actor, fixture, new_app};
use crate::common::Backend;
use herald::store::prelude::*;
use herald::store::{
    AfterAttempt, AppPatch, Attempt, DeliveryEvent, DeliveryFilter, DeliveryStatus, NewDelivery, SettingsPatch,
    StoreError, WebhookEndpoint, WebhookEventKind,
};

fn delivery(app_id: &str, body: &str, created_at: i64) -> NewDelivery {
    NewDelivery {
        app_id: app_id.into(),
        url: "https://hooks.test/in".into(),
        body: body.into(),
        created_at,
        events: Vec::new(),
    }
}

/// Only `limit` set: every delivery, newest first.
fn newest(limit: i64) -> DeliveryFilter {
    DeliveryFilter {
        limit,
        ..Default::default()
    }
}

fn with_status(status: DeliveryStatus) -> DeliveryFilter {
    DeliveryFilter {
        status: Some(status),
        ..newest(50)
    }
}

fn attempt(at: i64, status_code: Option<i64>, error: Option<&str>) -> Attempt {
    Attempt {
        at,
        status_code,
        latency_ms: 12,
        error: error.map(str::to_string),
    }
}

async fn webhook_queue_claims_under_a_lease_retries_and_keeps_every_attempt(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let (_, app) = f.tenant_with_app("hooks").await;
    let endpoints: Vec<WebhookEndpoint> = serde_json::from_str(
        r#"[{"url":"https://hooks.test/in","events":["channel_occupied"],"channel_prefix":"p-"}]"#,
    )
    .unwrap();
    let patch = AppPatch {
        name: None,
        settings: SettingsPatch {
            webhooks: Some(endpoints.clone()),
            ..Default::default()
        },
    };
    s.update_app(&app, patch, &actor()).await.unwrap();
    assert_eq!(
        s.get_app(&app).await.unwrap().settings.webhooks,
        endpoints,
        "endpoints are settings"
    );

    let t0 = 1_700_000_000_000;
    s.enqueue_webhook(delivery(&app, "first", t0)).await.unwrap();
    s.enqueue_webhook(delivery(&app, "second", t0 + 1)).await.unwrap();
    let missing = s.enqueue_webhook(delivery("no-such-app", "x", t0)).await;
    assert!(matches!(missing, Err(StoreError::NotFound("app"))), "{missing:?}");

    // Due first, first claimed; a claimed delivery is nobody else's until its lease runs out.
    let lease = 30_000;
    let first = s
        .claim_webhook(t0 + 5, t0 + 5 + lease)
        .await
        .unwrap()
        .expect("first due");
    assert_eq!(
        (first.body.as_str(), first.attempts, first.app_id.as_str()),
        ("first", 0, app.as_str())
    );
    let second = s
        .claim_webhook(t0 + 5, t0 + 5 + lease)
        .await
        .unwrap()
        .expect("second due");
    assert_eq!(second.body, "second");
    assert_eq!(
        s.claim_webhook(t0 + 6, t0 + 6 + lease).await.unwrap(),
        None,
        "both held"
    );
    // A failed attempt schedules the next; it is not due before then.
    let retry_at = t0 + 1_000;
    s.record_webhook_attempt(
        first.id,
        attempt(t0 + 5, Some(500), Some("HTTP 500")),
        AfterAttempt::RetryAt(retry_at),
    )
    .await
    .unwrap();
    assert_eq!(s.claim_webhook(retry_at - 1, retry_at + lease).await.unwrap(), None);
    let retried = s
        .claim_webhook(retry_at, retry_at + lease)
        .await
        .unwrap()
        .expect("due again");
    assert_eq!((retried.id, retried.attempts), (first.id, 1));
    s.record_webhook_attempt(first.id, attempt(retry_at, Some(204), None), AfterAttempt::Delivered)
        .await
        .unwrap();
    // The node holding `second` died: once the lease is over, another claims it again.
    let again = s.claim_webhook(t0 + 5 + lease + 1, t0 + 2 * lease).await.unwrap();
    assert_eq!(again.map(|d| (d.id, d.attempts)), Some((second.id, 0)));
    s.record_webhook_attempt(
        second.id,
        attempt(t0 + 9, None, Some("connection refused")),
        AfterAttempt::Dead,
    )
    .await
    .unwrap();
    assert_eq!(
        s.claim_webhook(t0 + 10_000_000, t0 + 20_000_000).await.unwrap(),
        None,
        "nothing pending"
    );

    let all = s.list_webhook_deliveries(&app, &newest(50)).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["second", "first"],
        "newest first"
    );
    let delivered = &all[1];
    assert_eq!(
        (delivered.status, delivered.last_error.as_deref()),
        (DeliveryStatus::Delivered, None)
    );
    assert_eq!(
        (delivered.created_at, delivered.url.as_str()),
        (t0, "https://hooks.test/in")
    );
    assert_eq!(
        delivered.attempts,
        [
            attempt(t0 + 5, Some(500), Some("HTTP 500")),
            attempt(retry_at, Some(204), None)
        ]
    );
    let dead = s
        .list_webhook_deliveries(&app, &with_status(DeliveryStatus::Dead))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id, dead[0].last_error.as_deref(), dead[0].attempts.len()),
        (second.id, Some("connection refused"), 1)
    );
    assert!(s
        .list_webhook_deliveries(&app, &with_status(DeliveryStatus::Pending))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.list_webhook_deliveries(&app, &newest(1)).await.unwrap().len(),
        1,
        "limit"
    );

    // Old finished deliveries are pruned with their attempts; pending ones stay whatever their age.
    s.enqueue_webhook(delivery(&app, "old but pending", t0 - 10))
        .await
        .unwrap();
    assert_eq!(s.prune_webhooks(t0 + 2).await.unwrap(), 2);
    let left = s.list_webhook_deliveries(&app, &newest(50)).await.unwrap();
    assert_eq!(
        left.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["old but pending"]
    );
    assert_eq!(f.raw_count("SELECT COUNT(*) FROM webhook_attempts").await, 0);

    // Deleting the app deletes its queue.
    s.delete_app(&app, &actor()).await.unwrap();
    assert_eq!(f.raw_count("SELECT COUNT(*) FROM webhook_deliveries").await, 0);
}
both_backends!(
    webhook_queue,
    webhook_queue_claims_under_a_lease_retries_and_keeps_every_attempt
);

fn carried(name: WebhookEventKind, channel: &str, user_id: Option<&str>) -> DeliveryEvent {
    DeliveryEvent {
        name,
        channel: channel.into(),
        user_id: user_id.map(str::to_string),
    }
}

async fn deliveries_are_found_by_the_events_they_carry_and_paged(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let (t, app) = f.tenant_with_app("a").await;
    let other = s.create_app(&t.id, new_app("b"), &actor()).await.unwrap().app.id;
    use WebhookEventKind::*;
    let batches = [
        ("occupied", vec![carried(ChannelOccupied, "presence-room", None)]),
        (
            "added",
            vec![
                carried(MemberAdded, "presence-room", Some("ann")),
                carried(MemberAdded, "presence-room", Some("bob")),
            ],
        ),
        (
            "removed ann",
            vec![carried(MemberRemoved, "presence-room", Some("ann"))],
        ),
        (
            "removed bob elsewhere",
            vec![carried(MemberRemoved, "presence-hall", Some("bob"))],
        ),
    ];
    for (i, (body, events)) in batches.into_iter().enumerate() {
        let d = NewDelivery {
            events,
            ..delivery(&app, body, 1_000 + i as i64)
        };
        s.enqueue_webhook(d).await.unwrap();
    }
    let d = NewDelivery {
        events: vec![carried(MemberRemoved, "presence-room", Some("ann"))],
        ..delivery(&other, "the other app's", 2_000)
    };
    s.enqueue_webhook(d).await.unwrap();

    let bodies = |filter: DeliveryFilter| {
        let app = app.clone();
        async move {
            s.list_webhook_deliveries(&app, &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.body)
                .collect::<Vec<_>>()
        }
    };
    let removed_for = |user: &str| DeliveryFilter {
        event: Some(MemberRemoved),
        user_id: Some(user.into()),
        ..newest(50)
    };
    assert_eq!(bodies(removed_for("ann")).await, ["removed ann"]);
    assert_eq!(bodies(removed_for("bob")).await, ["removed bob elsewhere"]);
    assert!(bodies(removed_for("carol")).await.is_empty());
    // one event must match every field: bob was removed, but not from presence-room
    let bob_from_room = DeliveryFilter {
        channel: Some("presence-room".into()),
        ..removed_for("bob")
    };
    assert!(bodies(bob_from_room).await.is_empty());
    let room = DeliveryFilter {
        channel: Some("presence-room".into()),
        ..newest(50)
    };
    assert_eq!(bodies(room).await, ["removed ann", "added", "occupied"]);
    let bob = DeliveryFilter {
        user_id: Some("bob".into()),
        ..newest(50)
    };
    assert_eq!(bodies(bob).await, ["removed bob elsewhere", "added"]);

    // pages: two at a time, each after the last id of the one before
    let first = s.list_webhook_deliveries(&app, &newest(2)).await.unwrap();
    let second = s
        .list_webhook_deliveries(
            &app,
            &DeliveryFilter {
                before: first.last().map(|d| d.id),
                ..newest(2)
            },
        )
        .await
        .unwrap();
    let pages: Vec<&str> = first.iter().chain(&second).map(|d| d.body.as_str()).collect();
    assert_eq!(pages, ["removed bob elsewhere", "removed ann", "added", "occupied"]);

    // pruning takes the events with their deliveries
    for d in s.list_webhook_deliveries(&app, &newest(50)).await.unwrap() {
        s.record_webhook_attempt(d.id, attempt(3_000, Some(200), None), AfterAttempt::Delivered)
            .await
            .unwrap();
    }
    s.prune_webhooks(5_000).await.unwrap();
    assert_eq!(
        f.raw_count("SELECT COUNT(*) FROM webhook_delivery_events").await,
        1,
        "only the other app's pending delivery keeps its event"
    );
}
both_backends!(delivery_search, deliveries_are_found_by_the_events_they_carry_and_paged);

async fn racing_claims_never_hand_out_a_delivery_twice(backend: Backend) {
    let f = fixture(backend).await;
    let s = f.store.clone();
    let (_, app) = f.tenant_with_app("hooks").await;
    let t0 = 1_700_000_000_000;
    for n in 0..40 {
        s.enqueue_webhook(delivery(&app, &format!("d{n}"), t0 + n))
            .await
            .unwrap();
    }
    let claimers = (0..4).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while let Some(d) = s.claim_webhook(t0 + 100, t0 + 60_000).await.expect("claim") {
                ids.push(d.id);
            }
            ids
        })
    });
    let mut ids: Vec<i64> = Vec::new();
    for claimer in claimers.collect::<Vec<_>>() {
        ids.extend(claimer.await.unwrap());
    }
    ids.sort();
    let claimed = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "a delivery was claimed twice");
    assert_eq!(claimed, 40, "every delivery was claimed");
}
both_backends!(racing_claims, racing_claims_never_hand_out_a_delivery_twice);
