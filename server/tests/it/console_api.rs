//! The admin API endpoints the web console needs beyond the basics: changing one's password, an
//! admin's role (never the last owner's), the event creator (a publish on the signed API's path),
//! channels with members and history, the stats series, webhook redelivery and test events, and the
//! live log's resume with `Last-Event-ID`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{spawn_app, spawn_app_with, Backend, TestApp, OWNER_EMAIL, PASSWORD};

/// A tenant with an app; (tenant id, app id).
async fn tenant_with_app(t: &TestApp, slug: &str) -> (String, String) {
    let tenant = t.tenant(slug).await;
    let (app, _) = t.app(&tenant, "shop").await;
    (tenant, app["id"].as_str().expect("app id").to_string())
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (_, login) = t
        .post(
            "/auth/login",
            None,
            json!({ "email": OWNER_EMAIL, "password": PASSWORD }),
        )
        .await;
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        t.post("/auth/password", owner, body)
    };
    let (status, wrong) = change("not the password", "a new long password").await;
    assert_eq!(
        (status, wrong["error"]["field"].as_str()),
        (400, Some("current_password")),
        "{wrong}"
    );
    let (status, short) = change(PASSWORD, "short").await;
    assert_eq!(
        (status, short["error"]["field"].as_str()),
        (400, Some("new_password")),
        "{short}"
    );
    let (status, blank) = change(PASSWORD, &" ".repeat(14)).await;
    assert_eq!(status, 400, "a password of spaces: {blank}");
    assert_eq!(change(PASSWORD, "a new long password").await.0, 204);
    let refresh = json!({ "refresh_token": login["refresh_token"].clone() });
    assert_eq!(
        t.post("/auth/refresh", None, refresh).await.0,
        401,
        "the other session ended"
    );
    let old = json!({ "email": OWNER_EMAIL, "password": PASSWORD });
    assert_eq!(t.post("/auth/login", None, old).await.0, 401);
    t.login(OWNER_EMAIL, "a new long password").await;
}
both_backends!(
    change_password,
    changing_the_password_needs_the_current_one_and_ends_other_sessions
);

async fn roles_change_but_the_last_owner_stays(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let tenant = t.tenant("acme").await;
    let (_, admins) = t.get("/admins", owner).await;
    let me = admins[0]["id"].as_str().expect("id").to_string();
    let demote = json!({ "role": "tenant_admin", "tenant_id": tenant });
    let (status, refused) = t.patch(&format!("/admins/{me}"), owner, demote).await;
    assert_eq!(status, 409, "the last owner keeps its role: {refused}");
    assert_eq!(
        t.delete(&format!("/admins/{me}"), owner).await.0,
        409,
        "nor is it removed"
    );

    let viewer = json!({ "email": "v@acme.test", "password": PASSWORD, "role": "tenant_viewer", "tenant_id": tenant });
    let (_, made) = t.post("/admins", owner, viewer).await;
    let id = made["admin"]["id"].as_str().expect("id").to_string();
    let admin_token = t.tenant_admin(&tenant, "a@acme.test", "tenant_admin").await;
    let promote = t
        .patch(
            &format!("/admins/{id}"),
            Some(&admin_token),
            json!({ "role": "tenant_admin" }),
        )
        .await;
    assert_eq!(
        (promote.0, promote.1["role"].as_str()),
        (200, Some("tenant_admin")),
        "{}",
        promote.1
    );
    let to_owner = t
        .patch(&format!("/admins/{id}"), Some(&admin_token), json!({ "role": "owner" }))
        .await;
    assert_eq!(to_owner.0, 403, "only owners make owners");
    let (status, owner2) = t
        .patch(&format!("/admins/{id}"), owner, json!({ "role": "owner" }))
        .await;
    assert_eq!((status, owner2["tenant_id"].clone()), (200, Value::Null), "{owner2}");
    assert_eq!(
        t.delete(&format!("/admins/{me}"), owner).await.0,
        204,
        "another owner exists now"
    );
}
both_backends!(admin_roles, roles_change_but_the_last_owner_stays);

async fn the_event_creator_publishes_like_a_signed_request(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (tenant, app) = tenant_with_app(&t, "acme").await;
    let path = format!("/apps/{app}/messages");
    let message = json!({ "channels": ["news", "sport"], "name": "greet", "data": "{\"hi\":1}" });
    let (status, sent) = t.post(&path, owner, message.clone()).await;
    assert_eq!(status, 200, "{sent}");
    let serial = sent["channels"]["news"]["serial"]
        .as_u64()
        .expect("stored with a serial");
    assert!(serial > 0 && sent["channels"]["sport"]["epoch"].is_u64(), "{sent}");

    let (status, page) = t
        .get(&format!("/apps/{app}/channels/news/history?limit=5"), owner)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"][0]["event"], "greet");
    assert_eq!(page["messages"][0]["serial"].as_u64(), Some(serial));
    assert_eq!(page["messages"][0]["data"], "{\"hi\":1}");
    let bad_limit = t
        .get(&format!("/apps/{app}/channels/news/history?limit=0"), owner)
        .await;
    assert_eq!(bad_limit.0, 400, "{}", bad_limit.1);

    let bad = json!({ "channels": ["bad channel!"], "name": "e", "data": "x" });
    let (status, refused) = t.post(&path, owner, bad).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Invalid channel"),
        "{refused}"
    );
    let big = json!({ "channels": ["news"], "name": "e", "data": "x".repeat(20_000) });
    assert_eq!(
        t.post(&path, owner, big).await.0,
        413,
        "the app's max_payload_bytes holds"
    );
    let viewer = t.tenant_admin(&tenant, "v@acme.test", "tenant_viewer").await;
    assert_eq!(
        t.post(&path, Some(&viewer), message).await.0,
        403,
        "viewers do not publish"
    );

    // The log is written in batches: wait for the publish to be there.
    let logged = async {
        loop {
            let (status, list) = t.get(&format!("/apps/{app}/events?kind=publish_accepted"), owner).await;
            assert_eq!(status, 200);
            if list["events"].get(0).is_some() {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let events = tokio::time::timeout(Duration::from_secs(10), logged)
        .await
        .expect("logged");
    let by = &events["events"][0]["detail"]["by"];
    assert_eq!(
        by,
        &json!(format!("admin:{OWNER_EMAIL}")),
        "the lifecycle log says who: {events}"
    );
    let (_, audit) = t.get(&format!("/tenants/{tenant}/audit"), owner).await;
    assert!(audit.to_string().contains("message.publish"), "audited: {audit}");
}
both_backends!(event_creator, the_event_creator_publishes_like_a_signed_request);

async fn channels_members_and_series_answer_in_the_admin_shape(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (_, app) = tenant_with_app(&t, "acme").await;
    let (status, list) = t.get(&format!("/apps/{app}/channels?prefix=presence-"), owner).await;
    assert_eq!(
        (status, list["channels"].clone()),
        (200, json!([])),
        "nobody is subscribed: {list}"
    );
    let (status, one) = t.get(&format!("/apps/{app}/channels/presence-room"), owner).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (one["occupied"].clone(), one["user_count"].clone()),
        (json!(false), json!(0))
    );
    let members = t.get(&format!("/apps/{app}/channels/news/members"), owner).await;
    assert_eq!((members.0, members.1["error"]["field"].as_str()), (400, Some("name")));
    let bad = t.get(&format!("/apps/{app}/channels/%20bad"), owner).await;
    assert_eq!(bad.0, 400);

    let (status, hour) = t.get(&format!("/apps/{app}/stats/series"), owner).await;
    assert_eq!(status, 200, "{hour}");
    assert_eq!(hour["bucket_seconds"], 60);
    assert_eq!(hour["points"].as_array().map(Vec::len), Some(60));
    let (_, day) = t.get(&format!("/apps/{app}/stats/series?range=day"), owner).await;
    assert_eq!(
        (day["bucket_seconds"].clone(), day["points"].as_array().map(Vec::len)),
        (json!(300), Some(288))
    );
    let week = t.get(&format!("/apps/{app}/stats/series?range=week"), owner).await;
    assert_eq!((week.0, week.1["error"]["field"].as_str()), (400, Some("range")));
    let failed = t.get(&format!("/apps/{app}/connections/failed"), owner).await;
    assert_eq!((failed.0, failed.1["groups"].clone()), (200, json!([])), "{}", failed.1);
}
both_backends!(
    channels_and_series,
    channels_members_and_series_answer_in_the_admin_shape
);

/// A webhook receiver on a random port that answers the statuses it is given, in turn (the last
/// one from then on); returns its URL and the bodies it got.
async fn receiver(statuses: Vec<u16>) -> (String, std::sync::Arc<parking_lot::Mutex<Vec<String>>>) {
    use axum::http::StatusCode;
    let bodies = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let got = bodies.clone();
    let handler = move |body: String| {
        let got = got.clone();
        let statuses = statuses.clone();
        async move {
            let mut got = got.lock();
            got.push(body);
            let status = statuses.get(got.len() - 1).or(statuses.last()).copied().unwrap_or(200);
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let router = axum::Router::new().route("/hook", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, bodies)
}

async fn a_failed_delivery_is_sent_again_and_a_test_event_answers_its_attempt(backend: Backend) {
    // Retries wait a minute: only the redelivery can make the second attempt.
    let t = spawn_app_with(backend, |s| {
        s.webhook_retry_base_ms = 60_000;
        s.webhook_allowed_networks = vec!["127.0.0.1/32".into()]; // the test's receiver
    })
    .await;
    let owner = Some(t.owner_token.as_str());
    let (_, app) = tenant_with_app(&t, "acme").await;
    let (url, bodies) = receiver(vec![500, 200]).await;
    let webhooks = json!({ "settings": { "webhooks": [{ "url": url, "events": ["channel_occupied"] }] } });
    assert_eq!(t.patch(&format!("/apps/{app}"), owner, webhooks).await.0, 200);
    let test_path = format!("/apps/{app}/webhooks/test");
    let test = |url: &str| t.post(&test_path, owner, json!({ "url": url }));
    let (status, first) = test(&url).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["ok"].clone(), first["status"].clone()),
        (json!(false), json!(500)),
        "{first}"
    );
    assert!(bodies.lock()[0].contains("herald_test"), "{:?}", bodies.lock());
    let elsewhere = test("http://127.0.0.1:9/not-an-endpoint").await;
    assert_eq!(
        (elsewhere.0, elsewhere.1["error"]["field"].as_str()),
        (400, Some("url"))
    );

    let id = first["delivery_id"].as_i64().expect("delivery id");
    let path = format!("/apps/{app}/webhooks/deliveries/{id}/redeliver");
    let (status, again) = t.post(&path, owner, json!({})).await;
    assert_eq!((status, again["status"].as_str()), (202, Some("pending")), "{again}");
    let delivered = async {
        loop {
            let (_, list) = t.get(&format!("/apps/{app}/webhooks/deliveries"), owner).await;
            let delivery = list.as_array().and_then(|l| l.iter().find(|d| d["id"] == id).cloned());
            if let Some(d) = delivery.filter(|d| d["status"] == "delivered") {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let d = tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .expect("redelivered");
    assert!(
        d["attempts"].as_array().map(Vec::len).unwrap_or(0) >= 2,
        "both attempts listed: {d}"
    );
    let twice = t.post(&path, owner, json!({})).await;
    assert_eq!(twice.0, 409, "a delivered one is not sent again: {}", twice.1);
    assert_eq!(
        t.post(
            &format!("/apps/{app}/webhooks/deliveries/999999/redeliver"),
            owner,
            json!({})
        )
        .await
        .0,
        404
    );
}
both_backends!(
    webhook_redelivery,
    a_failed_delivery_is_sent_again_and_a_test_event_answers_its_attempt
);

/// Reads an SSE response until `want` events arrived or 5 s passed; their ids and kinds.
async fn read_events(res: reqwest::Response, want: usize) -> Vec<(String, String)> {
    let mut res = res;
    let mut text = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while events.len() < want {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, res.chunk()).await else {
            break;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(|s| s.trim().to_string());
            let data = block.lines().find_map(|l| l.strip_prefix("data:"));
            if let (Some(id), Some(data)) = (id, data) {
                let event: Value = serde_json::from_str(data.trim()).unwrap_or_default();
                events.push((id, event["kind"].as_str().unwrap_or_default().to_string()));
            }
        }
    }
    events
}

async fn the_live_log_resumes_after_last_event_id_without_a_gap(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (_, app) = tenant_with_app(&t, "acme").await;
    let messages = format!("/apps/{app}/messages");
    let publish = |n: u32| {
        let message = json!({ "channels": ["news"], "name": format!("e{n}"), "data": "x" });
        t.post(&messages, owner, message)
    };
    for n in 0..3 {
        assert_eq!(publish(n).await.0, 200);
    }
    // The log is written in batches: wait until the three are there.
    let logged = async {
        loop {
            let (_, list) = t.get(&format!("/apps/{app}/events?kind=publish_accepted"), owner).await;
            if list["events"].as_array().map(Vec::len) == Some(3) {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let list = tokio::time::timeout(Duration::from_secs(10), logged)
        .await
        .expect("logged");
    let ids: Vec<String> = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|id| !id.is_empty()) && ids.windows(2).all(|w| w[0] < w[1]),
        "ids sort by time: {ids:?}"
    );

    let live = t
        .client
        .get(t.url(&format!("/apps/{app}/events/live?kind=publish_accepted")))
        .bearer_auth(&t.owner_token)
        .header("last-event-id", &ids[0])
        .send()
        .await
        .expect("stream");
    assert_eq!(live.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(publish(3).await.0, 200);
    let got = read_events(live, 3).await;
    let got_ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        &got_ids[..2],
        &[ids[1].as_str(), ids[2].as_str()],
        "the two after the last seen, then live: {got:?}"
    );
    assert_eq!(got.len(), 3, "and the one published after reconnecting: {got:?}");
    assert!(!got_ids.contains(&ids[0].as_str()), "not the one already seen");
}
both_backends!(live_log_resume, the_live_log_resumes_after_last_event_id_without_a_gap);

async fn a_keys_expiry_is_set_in_the_future_removed_with_null_and_never_by_omission(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (_, app) = tenant_with_app(&t, "acme").await;
    let (_, keys) = t.get(&format!("/apps/{app}/keys"), owner).await;
    let key = keys[0]["key"].as_str().expect("key").to_string();
    let path = format!("/apps/{app}/keys/{key}");
    let later = herald::clock::unix_secs() + 3600;
    let (status, set) = t.patch(&path, owner, json!({ "expires_at": later })).await;
    assert_eq!((status, set["expires_at"].as_i64()), (200, Some(later)), "{set}");
    let (status, empty) = t.patch(&path, owner, json!({})).await;
    assert_eq!(
        (status, empty["error"]["field"].as_str()),
        (400, Some("expires_at")),
        "{empty}"
    );
    let (status, past) = t.patch(&path, owner, json!({ "expires_at": 5 })).await;
    assert_eq!(
        (status, past["error"]["field"].as_str()),
        (400, Some("expires_at")),
        "{past}"
    );
    let (_, kept) = t.get(&format!("/apps/{app}/keys"), owner).await;
    assert_eq!(
        kept[0]["expires_at"].as_i64(),
        Some(later),
        "refused changes changed nothing"
    );
    let (status, removed) = t.patch(&path, owner, json!({ "expires_at": null })).await;
    assert_eq!((status, removed["expires_at"].clone()), (200, Value::Null), "{removed}");
}
both_backends!(
    key_expiry,
    a_keys_expiry_is_set_in_the_future_removed_with_null_and_never_by_omission
);

async fn a_publish_to_one_channel_is_found_by_the_logs_channel_filter(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (_, app) = tenant_with_app(&t, "acme").await;
    let message = json!({ "channels": ["orders"], "name": "placed", "data": "{}" });
    assert_eq!(t.post(&format!("/apps/{app}/messages"), owner, message).await.0, 200);
    let path = format!("/apps/{app}/events?channel=orders&kind=publish_accepted");
    let found = async {
        loop {
            let (_, list) = t.get(&path, owner).await;
            if let Some(e) = list["events"].get(0) {
                return e.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let event = tokio::time::timeout(Duration::from_secs(10), found)
        .await
        .expect("found by channel");
    assert_eq!(event["detail"]["channels"], json!(["orders"]), "{event}");
}
both_backends!(
    publish_channel_filter,
    a_publish_to_one_channel_is_found_by_the_logs_channel_filter
);

async fn a_live_stream_ends_when_its_api_token_is_revoked(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (tenant, app) = tenant_with_app(&t, "acme").await;
    let (status, made) = t
        .post(
            &format!("/tenants/{tenant}/tokens"),
            owner,
            json!({ "name": "dash", "role": "tenant_viewer" }),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().expect("token").to_string();
    let token_id = made["api_token"]["id"].as_str().expect("id").to_string();
    let mut live = t
        .client
        .get(t.url(&format!("/apps/{app}/events/live")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stream");
    assert_eq!(live.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), live.chunk()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "the stream opens with a comment");
    assert_eq!(
        t.delete(&format!("/tenants/{tenant}/tokens/{token_id}"), owner).await.0,
        204
    );
    let ended = async {
        loop {
            match live.chunk().await {
                Ok(Some(_)) => continue, // keep-alives, events
                _ => return,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), ended)
        .await
        .expect("the stream ended after the token was revoked");
}
both_backends!(live_stream_revoked, a_live_stream_ends_when_its_api_token_is_revoked);
