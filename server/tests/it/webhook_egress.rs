//! Webhooks cannot be turned into a port scanner of the operator's network: internal addresses in
//! any spelling are refused when saved (naming the field and why) and again at delivery, on what a
//! name resolves to then; redirects are not followed; a tenant is told "refused by policy", never
//! what the network answered. An operator allows networks it wants with webhook_allowed_networks.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{spawn_app, spawn_app_with, Backend, TestApp};

async fn app_of(t: &TestApp) -> String {
    let tenant = t.tenant("acme").await;
    let (app, _) = t.app(&tenant, "shop").await;
    app["id"].as_str().expect("id").to_string()
}

async fn set_webhook(t: &TestApp, app: &str, url: &str) -> (u16, Value) {
    let body = json!({ "settings": { "webhooks": [{ "url": url, "events": ["channel_occupied"] }] } });
    t.patch(&format!("/apps/{app}"), Some(&t.owner_token), body).await
}

async fn internal_urls_are_refused_when_saved(backend: Backend) {
    let t = spawn_app(backend).await;
    let app = app_of(&t).await;
    let mut refused = vec![
        "http://127.0.0.1:5432/",
        "http://[::1]:6001/",
        "http://2130706433:80/",
        "http://0x7f000001/",
        "http://0.0.0.0:8080/",
        "http://user:pw@127.0.0.1/",
        "http://user:pw@example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://metadata.google.internal/",
        "http://10.0.0.1/",
        "http://100.64.1.1/",
        "http://localhost:6001/",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    // This machine's own name resolves to loopback on most hosts: a name is checked on what it
    // resolves to.
    let me = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let resolves_home = tokio::net::lookup_host((me.as_str(), 80))
        .await
        .map(|mut a| a.any(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    if !me.is_empty() && resolves_home {
        refused.push(format!("http://{me}:9/"));
    }
    for url in &refused {
        let (status, body) = set_webhook(&t, &app, url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["field"], "settings.webhooks[0].url", "{url}: {body}");
    }
    let (_, saved) = t.get(&format!("/apps/{app}"), Some(&t.owner_token)).await;
    assert_eq!(saved["settings"]["webhooks"], json!([]), "nothing was saved");
}
both_backends!(egress_saved, internal_urls_are_refused_when_saved);

/// A receiver on loopback that counts requests and answers `status` (with `location` if given).
async fn receiver(status: u16, location: Option<String>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let handler = move || {
        let counted = counted.clone();
        let location = location.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut res = axum::response::Response::new(axum::body::Body::empty());
            *res.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or_default();
            if let Some(l) = location {
                res.headers_mut().insert("location", l.parse().expect("header"));
            }
            res
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let router = axum::Router::new().route("/hook", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, hits)
}

/// The first attempt of the app's newest delivery.
async fn first_attempt(t: &TestApp, app: &str) -> Value {
    let wait = async {
        loop {
            let (_, list) = t
                .get(&format!("/apps/{app}/webhooks/deliveries"), Some(&t.owner_token))
                .await;
            if let Some(attempt) = list[0]["attempts"].get(0) {
                return attempt.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("an attempt")
}

async fn deliveries_check_again_and_follow_no_redirect(backend: Backend) {
    use herald::store::prelude::*;
    use std::sync::atomic::Ordering;
    // No internal network allowed: an endpoint written straight into the store (as if it had been
    // allowed when saved, or its name had resolved elsewhere then) is refused when delivered.
    let t = spawn_app(backend).await;
    let app = app_of(&t).await;
    let (inside, hits) = receiver(200, None).await;
    let store = crate::common::open_store(&t.config).await;
    let endpoint: herald::store::WebhookEndpoint =
        serde_json::from_value(json!({ "url": inside, "events": ["channel_occupied"] })).expect("endpoint");
    let patch = herald::store::AppPatch {
        name: None,
        settings: herald::store::SettingsPatch {
            webhooks: Some(vec![endpoint]),
            ..Default::default()
        },
    };
    store
        .update_app(&app, patch, &herald::store::Actor::cli())
        .await
        .expect("written");
    let (status, test) = t
        .post(
            &format!("/apps/{app}/webhooks/test"),
            Some(&t.owner_token),
            json!({ "url": inside }),
        )
        .await;
    assert_eq!((status, test["ok"].clone()), (200, json!(false)), "{test}");
    assert_eq!(test["error"], "refused by policy", "the tenant is told no more: {test}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the internal address");

    // With loopback allowed, a redirect to another internal place is not followed.
    let t = spawn_app_with(backend, |s| s.webhook_allowed_networks = vec!["127.0.0.1/32".into()]).await;
    let app = app_of(&t).await;
    let (target, target_hits) = receiver(200, None).await;
    let (redirecting, _) = receiver(307, Some(target)).await;
    assert_eq!(
        set_webhook(&t, &app, &redirecting).await.0,
        200,
        "allowed by the operator"
    );
    let (_, test) = t
        .post(
            &format!("/apps/{app}/webhooks/test"),
            Some(&t.owner_token),
            json!({ "url": redirecting }),
        )
        .await;
    assert_eq!(
        (test["ok"].clone(), test["status"].clone()),
        (json!(false), json!(307)),
        "{test}"
    );
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "the redirect was not followed");
    let attempt = first_attempt(&t, &app).await;
    assert_eq!(attempt["status_code"], 307, "{attempt}");
}
both_backends!(egress_delivered, deliveries_check_again_and_follow_no_redirect);
