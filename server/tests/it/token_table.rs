//! The admin API's tokens as an attacker presents them, as one table: `alg: none`, a token re-signed
//! with another key or another algorithm, claims edited under the old signature, an expired token,
//! a token of a deleted admin, a correctly signed token whose claims say more than the admin is, an
//! API token of another tenant, and a refresh token used twice (its whole sign-in ends). Each row
//! says what it is and what the answer must be.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::{spawn_app, Backend, TestApp, PASSWORD};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The token with its claims replaced, header and signature kept.
fn edited(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    format!(
        "{}.{}.{}",
        header.unwrap_or_default(),
        segment(claims),
        signature.unwrap_or_default()
    )
}

fn signed(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).expect("encodes")
}

async fn forged_tokens_are_refused(backend: Backend) {
    let t = spawn_app(backend).await;
    let (a, b) = (t.tenant("tenant-a").await, t.tenant("tenant-b").await);
    let admin_a = t.tenant_admin(&a, "a@example.com", "tenant_admin").await;
    let claims = claims_of(&admin_a);
    let key = t.secrets().derive("herald admin JWT");
    let now = claims["iat"].as_i64().expect("iat");
    let as_owner = json!({ "sub": claims["sub"], "email": claims["email"], "role": "owner", "tenant": null, "iat": now, "exp": now + 900 });
    let of_b = json!({ "sub": claims["sub"], "email": claims["email"], "role": "tenant_admin", "tenant": b, "iat": now, "exp": now + 900 });
    let expired = json!({ "sub": claims["sub"], "email": claims["email"], "role": "tenant_admin", "tenant": a, "iat": now - 1000, "exp": now - 100 });
    let none = format!(
        "{}.{}.",
        segment(&json!({ "alg": "none", "typ": "JWT" })),
        segment(&as_owner)
    );

    let b_apps = format!("/tenants/{b}/apps");
    let rows: Vec<(&str, String, &str, u16)> = vec![
        ("alg none, owner claims", none, "/tenants", 401),
        (
            "owner claims signed with another key",
            signed(Algorithm::HS256, b"not the key", &as_owner),
            "/tenants",
            401,
        ),
        (
            "owner claims signed with HS512 and the right key",
            signed(Algorithm::HS512, &key, &as_owner),
            "/tenants",
            401,
        ),
        (
            "role edited to owner under the old signature",
            edited(&admin_a, &as_owner),
            "/tenants",
            401,
        ),
        (
            "tenant edited to B under the old signature",
            edited(&admin_a, &of_b),
            &b_apps,
            401,
        ),
        (
            "expired, correctly signed",
            signed(Algorithm::HS256, &key, &expired),
            "/me",
            401,
        ),
        (
            "correctly signed owner claims for a tenant admin",
            signed(Algorithm::HS256, &key, &as_owner),
            &b_apps,
            403,
        ),
        (
            "correctly signed claims for tenant B",
            signed(Algorithm::HS256, &key, &of_b),
            &b_apps,
            403,
        ),
        ("not a JWT at all", "a.b.c".into(), "/me", 401),
    ];
    for (what, token, path, expected) in rows {
        let (status, body) = t.get(path, Some(&token)).await;
        // Another tenant's resources are 403 or 404 (a tenant need not learn what exists elsewhere).
        let refused_elsewhere = expected == 403 && status == 404;
        assert!(
            status == expected || refused_elsewhere,
            "{what}: expected {expected}, got {status} {body}"
        );
        assert!(body["error"]["message"].is_string(), "{what}: a JSON error: {body}");
    }

    let id = claims["sub"].as_str().expect("the admin's id");
    let (status, _) = t.delete(&format!("/admins/{id}"), Some(&t.owner_token)).await;
    assert_eq!(status, 204);
    let (status, body) = t.get(&format!("/tenants/{a}/apps"), Some(&admin_a)).await;
    assert_eq!(status, 401, "a deleted admin's unexpired token: {body}");

    api_token_of_a_on_b(&t, &a, &b).await;
    refresh_used_twice(&t).await;
}
both_backends!(token_table, forged_tokens_are_refused);

async fn api_token_of_a_on_b(t: &TestApp, a: &str, b: &str) {
    let body = json!({ "name": "ci", "role": "tenant_admin" });
    let (status, created) = t
        .post(&format!("/tenants/{a}/tokens"), Some(&t.owner_token), body)
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token");
    let (status, body) = t.get(&format!("/tenants/{b}/apps"), Some(token)).await;
    assert!(
        status == 403 || status == 404,
        "tenant A's API token on tenant B: {status} {body}"
    );
    let (status, _) = t.get(&format!("/tenants/{a}/apps"), Some(token)).await;
    assert_eq!(status, 200, "and on its own tenant it works");
}

async fn refresh_used_twice(t: &TestApp) {
    let login = json!({ "email": crate::common::OWNER_EMAIL, "password": PASSWORD });
    let (status, pair) = t.post("/auth/login", None, login).await;
    assert_eq!(status, 200, "{pair}");
    let first = pair["refresh_token"].as_str().expect("refresh token").to_string();
    let (status, next) = t.post("/auth/refresh", None, json!({ "refresh_token": first })).await;
    assert_eq!(status, 200, "{next}");
    let second = next["refresh_token"].as_str().expect("refresh token").to_string();
    // Past the grace a racing client gets: the reuse is a theft and ends the sign-in.
    tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
    let (status, _) = t.post("/auth/refresh", None, json!({ "refresh_token": first })).await;
    assert_eq!(status, 401, "a used refresh token is refused");
    let (status, body) = t.post("/auth/refresh", None, json!({ "refresh_token": second })).await;
    assert_eq!(
        status, 401,
        "and the token issued from it is revoked with its family: {body}"
    );
}
