//! Logins a hostile client cannot turn into a weapon: an email over 254 characters (or not an
//! address) is refused before anything is looked up or kept; failures back off per email and
//! address, so nobody locks an admin out from elsewhere; password checks run a few at a time.

use serde_json::{json, Value};

use crate::common::{spawn_app_with, Backend, TestApp, OWNER_EMAIL, PASSWORD};

async fn login_from(t: &TestApp, address: &str, email: &str, password: &str) -> (u16, Value) {
    let res = t
        .client
        .post(t.url("/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn failures_back_off_per_address_and_bad_emails_are_refused_first(backend: Backend) {
    // The test client stands behind a trusted proxy, so X-Forwarded-For says where it is.
    let t = spawn_app_with(backend, |s| s.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let huge = format!("{}@example.test", "a".repeat(2_000_000));
    let (status, refused) = login_from(&t, "198.51.100.1", &huge, PASSWORD).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("email")),
        "{}",
        &refused.to_string()[..200.min(refused.to_string().len())]
    );
    assert_eq!(login_from(&t, "198.51.100.1", "not-an-address", PASSWORD).await.0, 400);

    for _ in 0..5 {
        assert_eq!(
            login_from(&t, "198.51.100.7", OWNER_EMAIL, "wrong password here")
                .await
                .0,
            401
        );
    }
    let (status, waiting) = login_from(&t, "198.51.100.7", OWNER_EMAIL, PASSWORD).await;
    assert_eq!(status, 429, "that address waits: {waiting}");
    assert!(
        waiting["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("retry in"),
        "{waiting}"
    );
    let (status, elsewhere) = login_from(&t, "203.0.113.9", OWNER_EMAIL, PASSWORD).await;
    assert_eq!(
        status, 200,
        "the admin is not locked out from another address: {elsewhere}"
    );

    let (_, tenants) = t.get("/tenants", Some(&t.owner_token)).await;
    let default = tenants[0]["id"].as_str().expect("a tenant").to_string();
    let (_, audit) = t
        .get(&format!("/tenants/{default}/audit?limit=500"), Some(&t.owner_token))
        .await;
    assert!(
        !audit.to_string().contains("aaaaaaaaaa"),
        "the over-long email was not audited"
    );
}
both_backends!(
    login_backoff,
    failures_back_off_per_address_and_bad_emails_are_refused_first
);

async fn many_logins_at_once_are_all_answered(backend: Backend) {
    let t = spawn_app_with(backend, |s| s.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let logins = (0..48).map(|n| {
        let t = &t;
        async move {
            login_from(
                t,
                &format!("198.51.100.{}", n + 10),
                &format!("user{n}@example.test"),
                "wrong password here",
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(logins).await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 503), "{statuses:?}");
}
both_backends!(login_flood, many_logins_at_once_are_all_answered);
