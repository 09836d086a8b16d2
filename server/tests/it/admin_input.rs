//! Bad input to the admin API: each a clear 4xx in the one error shape
//! `{"error": {"code", "message", "field"?}}`, naming the field at fault, with nothing half-written;
//! and bad credentials: wrong passwords (rate-limited), forged or expired JWTs, revoked API tokens,
//! reused refresh tokens. A suspended tenant's apps refuse publishes.

use std::time::{Duration, Instant};

use crate::common::{spawn_app, Backend, TestApp, OWNER_EMAIL, PASSWORD};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Checks the status and the error shape; `field` is checked when given.
#[track_caller]
fn assert_error(res: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    let (got, body) = res;
    assert_eq!(*got, status, "{body}");
    let err = &body["error"];
    assert_eq!(err["code"], code, "{body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
    if let Some(field) = field {
        assert_eq!(err["field"], field, "{body}");
    }
}

/// Sends a raw body to an admin route.
async fn raw(t: &TestApp, path: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = t
        .client
        .post(t.url(path))
        .bearer_auth(&t.owner_token)
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn tenant_count(t: &TestApp) -> usize {
    t.get("/tenants", Some(&t.owner_token))
        .await
        .1
        .as_array()
        .unwrap()
        .len()
}

async fn malformed_bodies_are_400_naming_the_field(backend: Backend) {
    let t = spawn_app(backend).await;
    let before = tenant_count(&t).await;
    let json = Some("application/json");
    let truncated = raw(&t, "/tenants", json, r#"{"name": "x", "slug": "#).await;
    assert_error(&truncated, 400, "bad_request", Some("slug"));
    for (content_type, body) in [
        (json, "[1, 2]"),
        (json, ""),
        (json, "{"),
        (None, r#"{"name":"x","slug":"x"}"#),
    ] {
        let res = raw(&t, "/tenants", content_type, body).await;
        assert_error(&res, 400, "bad_request", None);
        assert!(
            res.1["error"].get("field").is_none(),
            "no field is at fault in {body:?}: {}",
            res.1
        );
    }

    let owner = Some(t.owner_token.as_str());
    let unknown = t
        .post("/tenants", owner, json!({ "name": "x", "slug": "x", "colour": "red" }))
        .await;
    assert_error(&unknown, 400, "bad_request", Some("colour"));
    let missing = t.post("/tenants", owner, json!({ "name": "x" })).await;
    assert_error(&missing, 400, "bad_request", Some("slug"));
    let wrong_type = t.post("/tenants", owner, json!({ "name": 5, "slug": "x" })).await;
    assert_error(&wrong_type, 400, "bad_request", Some("name"));
    let no_role = t
        .post("/admins", owner, json!({ "email": "a@b.test", "password": PASSWORD }))
        .await;
    assert_error(&no_role, 400, "bad_request", Some("role"));
    let bad_role = t
        .post("/admins", owner, json!({ "email": "a@b.test", "role": "god" }))
        .await;
    assert_error(&bad_role, 400, "bad_request", Some("role"));
    let no_password = t.post("/auth/login", None, json!({ "email": OWNER_EMAIL })).await;
    assert_error(&no_password, 400, "bad_request", Some("password"));

    let tenant = t.tenant("acme").await;
    let (app, _) = t.app(&tenant, "a").await;
    let app_path = format!("/apps/{}", app["id"].as_str().unwrap());
    let nested = t.patch(&app_path, owner, json!({ "settings": { "bogus": 1 } })).await;
    assert_error(&nested, 400, "bad_request", None);
    assert!(
        nested.1["error"]["field"].as_str().is_some_and(|f| f.contains("bogus")),
        "{}",
        nested.1
    );
    let short_pw = t
        .post(
            "/admins",
            owner,
            json!({ "email": "a@b.test", "password": "short", "role": "owner" }),
        )
        .await;
    assert_error(&short_pw, 400, "bad_request", Some("password"));
    let bad_email = t
        .post(
            "/admins",
            owner,
            json!({ "email": "nope", "password": PASSWORD, "role": "owner" }),
        )
        .await;
    assert_error(&bad_email, 400, "bad_request", Some("email"));
    assert_eq!(tenant_count(&t).await, before + 1, "a refused request created a tenant");
    assert_eq!(t.get(&app_path, owner).await.1, app, "a refused patch changed the app");
}
both_backends!(
    malformed_bodies_are_400_naming_the_field,
    malformed_bodies_are_400_naming_the_field
);

async fn over_long_names_and_duplicates_are_refused(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let long = "n".repeat(101);
    let before = tenant_count(&t).await;
    assert_error(
        &t.post("/tenants", owner, json!({ "name": long, "slug": "long" })).await,
        400,
        "bad_request",
        Some("name"),
    );
    assert_error(
        &t.post("/tenants", owner, json!({ "name": "x", "slug": "Bad Slug" }))
            .await,
        400,
        "bad_request",
        Some("slug"),
    );
    let (status, ok) = t
        .post("/tenants", owner, json!({ "name": "n".repeat(100), "slug": "acme" }))
        .await;
    assert_eq!(status, 201, "100 characters is the limit, not over it: {ok}");
    let tenant = ok["id"].as_str().unwrap();
    assert_error(
        &t.post("/tenants", owner, json!({ "name": "again", "slug": "acme" }))
            .await,
        409,
        "conflict",
        Some("slug"),
    );
    assert_eq!(tenant_count(&t).await, before + 1);

    let apps = format!("/tenants/{tenant}/apps");
    assert_error(
        &t.post(&apps, owner, json!({ "name": long })).await,
        400,
        "bad_request",
        Some("name"),
    );
    let (status, created) = t.post(&apps, owner, json!({ "name": "a", "id": "fixed-id" })).await;
    assert_eq!(status, 201, "{created}");
    assert_error(
        &t.post(&apps, owner, json!({ "name": "b", "id": "fixed-id" })).await,
        409,
        "conflict",
        Some("app_id"),
    );
    assert_error(
        &t.post(&apps, owner, json!({ "name": "b", "id": "bad id!" })).await,
        400,
        "bad_request",
        Some("id"),
    );
    assert_error(
        &t.patch("/apps/fixed-id", owner, json!({ "name": long })).await,
        400,
        "bad_request",
        Some("name"),
    );
    assert_error(
        &t.patch(&format!("/tenants/{tenant}"), owner, json!({ "name": long }))
            .await,
        400,
        "bad_request",
        Some("name"),
    );
    let keys = "/apps/fixed-id/keys";
    assert_error(
        &t.post(keys, owner, json!({ "label": long })).await,
        400,
        "bad_request",
        Some("label"),
    );
    let tokens = format!("/tenants/{tenant}/tokens");
    let long_token = t
        .post(&tokens, owner, json!({ "name": long, "role": "tenant_admin" }))
        .await;
    assert_error(&long_token, 400, "bad_request", Some("name"));
    let owner_token = t.post(&tokens, owner, json!({ "name": "root", "role": "owner" })).await;
    assert_error(&owner_token, 400, "bad_request", Some("role"));

    let admin = json!({ "email": "dup@x.test", "password": PASSWORD, "role": "tenant_admin", "tenant_id": tenant });
    assert_eq!(t.post("/admins", owner, admin.clone()).await.0, 201);
    let mut shouting = admin.clone();
    shouting["email"] = json!("DUP@X.TEST");
    assert_error(
        &t.post("/admins", owner, shouting).await,
        409,
        "conflict",
        Some("email"),
    );

    let (_, app_list) = t.get(&apps, owner).await;
    assert_eq!(
        app_list.as_array().unwrap().len(),
        1,
        "refused creates left apps: {app_list}"
    );
    let (_, key_list) = t.get(keys, owner).await;
    assert_eq!(
        key_list.as_array().unwrap().len(),
        1,
        "refused creates left keys: {key_list}"
    );
    assert!(t.get(&tokens, owner).await.1.as_array().unwrap().is_empty());
}
both_backends!(
    over_long_names_and_duplicates_are_refused,
    over_long_names_and_duplicates_are_refused
);

async fn wrong_passwords_are_401_then_rate_limited_and_audited(backend: Backend) {
    let t = spawn_app(backend).await;
    let tenant = t.tenant("acme").await;
    t.tenant_admin(&tenant, "ann@acme.test", "tenant_admin").await;
    t.tenant_admin(&tenant, "bob@acme.test", "tenant_admin").await;
    let login = |email: &'static str, password: &'static str| {
        t.post("/auth/login", None, json!({ "email": email, "password": password }))
    };
    for _ in 0..5 {
        assert_error(
            &login("ann@acme.test", "not the password").await,
            401,
            "unauthorized",
            None,
        );
    }
    let locked = login("ann@acme.test", PASSWORD).await;
    assert_error(&locked, 429, "too_many_requests", None);
    assert_error(&login("ANN@acme.test", PASSWORD).await, 429, "too_many_requests", None);
    assert_eq!(login("bob@acme.test", PASSWORD).await.0, 200, "the lock is per email");
    assert_error(&login("nobody@acme.test", PASSWORD).await, 401, "unauthorized", None);

    let (_, audit) = t.get(&format!("/tenants/{tenant}/audit"), Some(&t.owner_token)).await;
    let failed = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login.failed" && e["target"] == "ann@acme.test")
        .count();
    assert_eq!(failed, 5, "failed logins are audited: {audit}");
    assert!(
        !audit.to_string().contains("not the password"),
        "a password reached the audit log"
    );
}
both_backends!(
    wrong_passwords_are_401_then_rate_limited_and_audited,
    wrong_passwords_are_401_then_rate_limited_and_audited
);

fn jwt(key: &[u8], sub: &str, exp_offset: i64) -> String {
    let now = herald::clock::unix_secs();
    let claims = json!({ "sub": sub, "email": "mallory@evil.test", "role": "owner", "tenant": null, "iat": now, "exp": now + exp_offset });
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key)).unwrap()
}

async fn forged_expired_and_missing_credentials_are_401(backend: Backend) {
    let t = spawn_app(backend).await;
    let real_key = t.secrets().derive("herald admin JWT");
    let owner_id = t.get("/me", Some(&t.owner_token)).await.1["admin"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let jwt = |key: &[u8], exp_offset: i64| jwt(key, &owner_id, exp_offset);
    // Control: the same claims signed with the node's key pass, so the refusals below are about the key and expiry.
    let (status, me) = t.get("/me", Some(&jwt(&real_key, 300))).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("owner")), "{me}");

    assert_error(
        &t.get("/tenants", Some(&jwt(b"another key entirely, 32 bytes!!", 300)))
            .await,
        401,
        "unauthorized",
        None,
    );
    assert_error(
        &t.get("/tenants", Some(&jwt(&real_key, -10))).await,
        401,
        "unauthorized",
        None,
    );
    let unsigned = {
        let signed = jwt(&real_key, 300);
        let mut parts = signed.split('.');
        let (_, payload) = (parts.next(), parts.next().unwrap());
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    assert_error(&t.get("/tenants", Some(&unsigned)).await, 401, "unauthorized", None);
    assert_error(&t.get("/tenants", Some("not-a-jwt")).await, 401, "unauthorized", None);
    assert_error(&t.get("/tenants", None).await, 401, "unauthorized", None);
    assert_error(
        &t.post("/tenants", None, json!({ "name": "x", "slug": "x" })).await,
        401,
        "unauthorized",
        None,
    );
    let basic = t
        .client
        .get(t.url("/tenants"))
        .basic_auth(OWNER_EMAIL, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}
both_backends!(
    forged_expired_and_missing_credentials_are_401,
    forged_expired_and_missing_credentials_are_401
);

async fn revoked_api_tokens_are_401(backend: Backend) {
    let t = spawn_app(backend).await;
    let tenant = t.tenant("acme").await;
    let path = format!("/tenants/{tenant}/tokens");
    let (status, created) = t
        .post(
            &path,
            Some(&t.owner_token),
            json!({ "name": "ci", "role": "tenant_admin" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap();
    let (status, me) = t.get("/me", Some(token)).await;
    assert_eq!(
        (status, me["role"].as_str(), me["tenant_id"].as_str()),
        (200, Some("tenant_admin"), Some(tenant.as_str()))
    );
    let id = created["api_token"]["id"].as_str().unwrap();
    assert_eq!(t.delete(&format!("{path}/{id}"), Some(&t.owner_token)).await.0, 204);
    assert_error(&t.get("/me", Some(token)).await, 401, "unauthorized", None);
    assert_error(
        &t.delete(&format!("{path}/{id}"), Some(&t.owner_token)).await,
        404,
        "not_found",
        None,
    );
    assert_error(&t.get("/me", Some("hrld_made-up")).await, 401, "unauthorized", None);
    let listed = t.get(&path, Some(&t.owner_token)).await.1;
    assert!(listed[0]["revoked_at"].is_i64(), "{listed}");
    assert!(
        !listed.to_string().contains(token.trim_start_matches("hrld_")),
        "the token itself is listed"
    );
}
both_backends!(revoked_api_tokens_are_401, revoked_api_tokens_are_401);

async fn refresh_tokens_are_single_use_and_logout_revokes(backend: Backend) {
    let t = spawn_app(backend).await;
    let (status, first) = t
        .post(
            "/auth/login",
            None,
            json!({ "email": OWNER_EMAIL, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let refresh = |token: &Value| t.post("/auth/refresh", None, json!({ "refresh_token": token.clone() }));
    let (status, second) = refresh(&first["refresh_token"]).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(t.get("/me", second["access_token"].as_str()).await.0, 200);
    assert_error(&refresh(&first["refresh_token"]).await, 401, "unauthorized", None);
    // Presented again within seconds (a client racing itself), a used token is only refused; later
    // it ends its whole sign-in (store_contract::refresh_tokens, with the time given).

    let logout = t
        .post(
            "/auth/logout",
            None,
            json!({ "refresh_token": second["refresh_token"].clone() }),
        )
        .await;
    assert_eq!(logout.0, 204, "{}", logout.1);
    assert_error(&refresh(&second["refresh_token"]).await, 401, "unauthorized", None);
    assert_error(&refresh(&json!("never-issued")).await, 401, "unauthorized", None);
    // Without a token in the body the refresh cookie is looked for; there is none here.
    let (status, none) = t.post("/auth/refresh", None, json!({})).await;
    assert_eq!(status, 401, "{none}");
    assert!(
        none["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("herald_refresh"),
        "{none}"
    );
    assert_error(
        &t.post("/auth/refresh", None, json!({ "refresh_token": 7 })).await,
        400,
        "bad_request",
        Some("refresh_token"),
    );
}
both_backends!(
    refresh_tokens_are_single_use_and_logout_revokes,
    refresh_tokens_are_single_use_and_logout_revokes
);

/// The browser console's session: the refresh token only ever travels in an HttpOnly cookie scoped
/// to the auth routes, rotates on every refresh, and logout clears it.
async fn the_console_refresh_token_lives_in_an_http_only_cookie(backend: Backend) {
    let t = spawn_app(backend).await;
    let auth = |path: &str, cookie: Option<&str>, body: Value| {
        let mut req = t.client.post(t.url(path)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let cookie_of = |res: &reqwest::Response| {
        let set = res
            .headers()
            .get("set-cookie")
            .expect("set-cookie")
            .to_str()
            .unwrap()
            .to_string();
        (set.split(';').next().unwrap().to_string(), set)
    };
    let login = json!({ "email": OWNER_EMAIL, "password": PASSWORD, "refresh_cookie": true });
    let res = auth("/auth/login", None, login).await.unwrap();
    assert_eq!(res.status(), 200);
    let (first, set) = cookie_of(&res);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age=2592000"] {
        assert!(set.contains(attribute), "{set}");
    }
    let body: Value = res.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "the body carries no refresh token: {body}"
    );
    assert_eq!(t.get("/me", body["access_token"].as_str()).await.0, 200);

    let res = auth("/auth/refresh", Some(&first), json!({})).await.unwrap();
    assert_eq!(res.status(), 200);
    let (second, _) = cookie_of(&res);
    assert_ne!(first, second, "the cookie rotates");
    let body: Value = res.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none() && body["access_token"].is_string(),
        "{body}"
    );
    let reused = auth("/auth/refresh", Some(&first), json!({})).await.unwrap();
    assert_eq!(reused.status(), 401, "a used cookie is refused");

    let res = auth("/auth/logout", Some(&second), json!({})).await.unwrap();
    assert_eq!(res.status(), 204);
    let (cleared, set) = cookie_of(&res);
    assert!(cleared == "herald_refresh=" && set.contains("Max-Age=0"), "{set}");
    let after = auth("/auth/refresh", Some(&second), json!({})).await.unwrap();
    assert_eq!(after.status(), 401, "logout revoked the cookie's token");
}
both_backends!(
    console_refresh_cookie,
    the_console_refresh_token_lives_in_an_http_only_cookie
);

async fn unknown_admin_routes_are_404_json(backend: Backend) {
    let t = spawn_app(backend).await;
    assert_error(&t.get("/nope", Some(&t.owner_token)).await, 404, "not_found", None);
    assert_error(&t.get("/nope", None).await, 404, "not_found", None);
    assert_error(
        &t.post("/tenants/x/unknown", Some(&t.owner_token), json!({})).await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &t.get("/tenants/no-such-tenant", Some(&t.owner_token)).await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &t.get("/apps/no-such-app/keys", Some(&t.owner_token)).await,
        404,
        "not_found",
        None,
    );
}
both_backends!(unknown_admin_routes_are_404_json, unknown_admin_routes_are_404_json);

/// Publishes until the status is `want` or about 2 s have passed; returns the last status.
async fn publish_until(t: &TestApp, app_id: &str, key: &str, secret: &str, want: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = t.publish(app_id, key, secret).await.0;
        if status == want || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn suspending_a_tenant_refuses_its_publishes_and_is_audited(backend: Backend) {
    let t = spawn_app(backend).await;
    let tenant = t.tenant("acme").await;
    let other = t.tenant("other").await;
    let (app, key) = t.app(&tenant, "a").await;
    let (other_app, other_key) = t.app(&other, "b").await;
    let (id, k, s) = (
        app["id"].as_str().unwrap(),
        key["key"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    let (oid, ok, os) = (
        other_app["id"].as_str().unwrap(),
        other_key["key"].as_str().unwrap(),
        other_key["secret"].as_str().unwrap(),
    );
    assert_eq!(
        publish_until(&t, id, k, s, 200).await,
        200,
        "publishes before suspension"
    );

    let admin = t.tenant_admin(&tenant, "ann@acme.test", "tenant_admin").await;
    let by_admin = t
        .patch(
            &format!("/tenants/{tenant}"),
            Some(&admin),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_error(&by_admin, 403, "forbidden", None);
    assert_eq!(t.publish(id, k, s).await.0, 200, "a refused suspension took effect");

    let (status, updated) = t
        .patch(
            &format!("/tenants/{tenant}"),
            Some(&t.owner_token),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(
        (status, updated["status"].as_str()),
        (200, Some("suspended")),
        "{updated}"
    );
    assert_eq!(
        publish_until(&t, id, k, s, 403).await,
        403,
        "suspended tenant's app still publishes"
    );
    assert_eq!(
        t.publish(oid, ok, os).await.0,
        200,
        "another tenant's app is unaffected"
    );

    let (_, audit) = t.get(&format!("/tenants/{tenant}/audit"), Some(&t.owner_token)).await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "tenant.update")
        .expect("tenant.update audited");
    assert_eq!(entry["detail"]["status"], "suspended", "{entry}");
    assert_eq!(entry["actor"], format!("admin:{OWNER_EMAIL}"));

    let (status, _) = t
        .patch(
            &format!("/tenants/{tenant}"),
            Some(&t.owner_token),
            json!({ "status": "active" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        publish_until(&t, id, k, s, 200).await,
        200,
        "reactivated tenant publishes again"
    );
}
both_backends!(
    suspending_a_tenant_refuses_its_publishes_and_is_audited,
    suspending_a_tenant_refuses_its_publishes_and_is_audited
);

/// What the OpenAPI document promises where Schemathesis found the server stricter or looser than
/// it: a number without a fraction is an integer (as in JSON Schema), limits are held to their
/// documented bounds, a tenant that does not exist is not found, owners take no tenant, and a path
/// segment of the wrong type is refused in the error shape.
async fn the_server_holds_what_the_document_says(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (status, tenant) = t
        .post(
            "/tenants",
            owner,
            json!({ "name": "Floats", "slug": "floats", "max_apps": 3.0 }),
        )
        .await;
    assert_eq!((status, tenant["max_apps"].as_i64()), (201, Some(3)), "{tenant}");
    let fraction = t
        .post(
            "/tenants",
            owner,
            json!({ "name": "Half", "slug": "half", "max_apps": 2.5 }),
        )
        .await;
    assert_error(&fraction, 400, "bad_request", Some("max_apps"));
    let id = tenant["id"].as_str().unwrap();
    for limit in [0, 501] {
        let res = t.get(&format!("/tenants/{id}/audit?limit={limit}"), owner).await;
        assert_error(&res, 400, "bad_request", Some("limit"));
    }
    let nobody = "00000000-0000-4000-8000-000000000000";
    for path in [format!("/tenants/{nobody}/audit"), format!("/tenants/{nobody}/tokens")] {
        assert_error(&t.get(&path, owner).await, 404, "not_found", None);
    }
    let owner_with_tenant =
        json!({ "email": "o2@example.com", "password": PASSWORD, "role": "owner", "tenant_id": id });
    assert_error(
        &t.post("/admins", owner, owner_with_tenant).await,
        400,
        "bad_request",
        Some("tenant_id"),
    );
    let long =
        json!({ "email": "l@example.com", "password": "p".repeat(1025), "role": "tenant_viewer", "tenant_id": id });
    assert_error(
        &t.post("/admins", owner, long).await,
        400,
        "bad_request",
        Some("password"),
    );
    let (app, _) = t.app(id, "hooks").await;
    let app_id = app["id"].as_str().unwrap();
    let redeliver = t
        .post(
            &format!("/apps/{app_id}/webhooks/deliveries/x/redeliver"),
            owner,
            json!({}),
        )
        .await;
    assert_error(&redeliver, 400, "bad_request", None);
    let empty_status = t
        .get(&format!("/apps/{app_id}/webhooks/deliveries?status="), owner)
        .await;
    assert_error(&empty_status, 400, "bad_request", Some("status"));
}
both_backends!(
    the_server_holds_what_the_document_says,
    the_server_holds_what_the_document_says
);
