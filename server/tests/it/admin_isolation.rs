//! Tenant isolation through the admin API and the Pusher HTTP API: tenant A's admin, viewer and API
//! tokens cannot list, read, change or delete anything of tenant B (a table over every route of B's
//! resources, checked against the OpenAPI document so a new route cannot be forgotten); viewers
//! cannot write; secrets are shown only to admins who ask; app A's key cannot reach app B.

use std::collections::BTreeSet;

use crate::common::{spawn_app, Backend, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// One tenant with everything an attacker or a victim needs.
struct Side {
    tenant: String,
    app: String,
    key: String,
    secret: String,
    admin_id: String,
    /// Access tokens (JWTs) of the tenant admin and viewer.
    admin: String,
    viewer: String,
    /// API tokens (`hrld_…`) with the tenant_admin and tenant_viewer roles, and the first one's id.
    api_admin: String,
    api_viewer: String,
    api_admin_id: String,
}

async fn side(t: &TestApp, slug: &str) -> Side {
    let tenant = t.tenant(slug).await;
    let (app, key) = t.app(&tenant, &format!("{slug}-app")).await;
    let email = format!("admin@{slug}.test");
    let body = json!({ "email": email, "password": PASSWORD, "role": "tenant_admin", "tenant_id": tenant });
    let (status, created) = t.post("/admins", Some(&t.owner_token), body).await;
    assert_eq!(status, 201, "{created}");
    let admin = t.login(&email, PASSWORD).await;
    let viewer = t
        .tenant_admin(&tenant, &format!("viewer@{slug}.test"), "tenant_viewer")
        .await;
    let mut tokens = Vec::new();
    for role in ["tenant_admin", "tenant_viewer"] {
        let body = json!({ "name": format!("{slug}-{role}"), "role": role });
        let (status, tok) = t.post(&format!("/tenants/{tenant}/tokens"), Some(&admin), body).await;
        assert_eq!(status, 201, "{tok}");
        tokens.push(tok);
    }
    Side {
        app: app["id"].as_str().unwrap().into(),
        key: key["key"].as_str().unwrap().into(),
        secret: key["secret"].as_str().expect("secret shown on creation").into(),
        admin_id: created["admin"]["id"].as_str().unwrap().into(),
        admin,
        viewer,
        api_admin: tokens[0]["token"].as_str().unwrap().into(),
        api_viewer: tokens[1]["token"].as_str().unwrap().into(),
        api_admin_id: tokens[0]["api_token"]["id"].as_str().unwrap().into(),
        tenant,
    }
}

/// Every route of a tenant's resources, as (method, template, body).
fn tenant_routes(victim: &Side) -> Vec<(Method, &'static str, Option<Value>)> {
    let new_admin = json!({ "email": "intruder@evil.test", "password": PASSWORD, "role": "tenant_admin", "tenant_id": victim.tenant });
    vec![
        (Method::GET, "/tenants/{tenant_id}", None),
        (Method::PATCH, "/tenants/{tenant_id}", Some(json!({ "name": "pwned" }))),
        (
            Method::PATCH,
            "/tenants/{tenant_id}",
            Some(json!({ "status": "suspended" })),
        ),
        (Method::DELETE, "/tenants/{tenant_id}", None),
        (Method::GET, "/tenants/{tenant_id}/apps", None),
        (
            Method::POST,
            "/tenants/{tenant_id}/apps",
            Some(json!({ "name": "intruder" })),
        ),
        (Method::GET, "/apps/{app_id}", None),
        (
            Method::PATCH,
            "/apps/{app_id}",
            Some(json!({ "name": "pwned", "settings": { "enabled": false } })),
        ),
        (Method::DELETE, "/apps/{app_id}", None),
        (Method::GET, "/apps/{app_id}/stats", None),
        (Method::GET, "/apps/{app_id}/connections", None),
        (Method::GET, "/apps/{app_id}/connections/{socket_id}", None),
        (Method::DELETE, "/apps/{app_id}/connections/{socket_id}", None),
        (Method::GET, "/apps/{app_id}/events?kind=connection_closed", None),
        (Method::GET, "/apps/{app_id}/events/live", None),
        (Method::GET, "/apps/{app_id}/webhooks/deliveries", None),
        (
            Method::GET,
            "/apps/{app_id}/webhooks/deliveries?status=dead&limit=5",
            None,
        ),
        (Method::GET, "/apps/{app_id}/keys", None),
        (Method::GET, "/apps/{app_id}/keys?include_secrets=true", None),
        (
            Method::POST,
            "/apps/{app_id}/keys",
            Some(json!({ "label": "intruder" })),
        ),
        (Method::DELETE, "/apps/{app_id}/keys/{key}", None),
        (Method::GET, "/tenants/{tenant_id}/tokens", None),
        (
            Method::POST,
            "/tenants/{tenant_id}/tokens",
            Some(json!({ "name": "intruder", "role": "tenant_admin" })),
        ),
        (Method::DELETE, "/tenants/{tenant_id}/tokens/{token_id}", None),
        (Method::GET, "/tenants/{tenant_id}/audit", None),
        (Method::GET, "/tenants/{tenant_id}/audit?limit=5", None),
        (Method::DELETE, "/admins/{admin_id}", None),
        (
            Method::PATCH,
            "/admins/{admin_id}",
            Some(json!({ "role": "tenant_admin", "tenant_id": victim.tenant })),
        ),
        (Method::POST, "/admins", Some(new_admin)),
        (
            Method::PATCH,
            "/apps/{app_id}/keys/{key}",
            Some(json!({ "expires_at": 1 })),
        ),
        (Method::GET, "/apps/{app_id}/stats/series?range=day", None),
        (
            Method::POST,
            "/apps/{app_id}/messages",
            Some(json!({ "channels": ["c"], "name": "e", "data": "x" })),
        ),
        (Method::GET, "/apps/{app_id}/channels", None),
        (Method::GET, "/apps/{app_id}/channels/{name}", None),
        (Method::GET, "/apps/{app_id}/channels/{name}/members", None),
        (Method::GET, "/apps/{app_id}/channels/{name}/history", None),
        (Method::GET, "/apps/{app_id}/connections/failed", None),
        (
            Method::POST,
            "/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver",
            None,
        ),
        (
            Method::POST,
            "/apps/{app_id}/webhooks/test",
            Some(json!({ "url": "http://127.0.0.1:9/hook" })),
        ),
    ]
}

fn fill(template: &str, s: &Side) -> String {
    template
        .replace("{tenant_id}", s.tenant.as_str())
        .replace("{app_id}", s.app.as_str())
        .replace("{key}", s.key.as_str())
        .replace("{socket_id}", "1.2")
        .replace("{token_id}", s.api_admin_id.as_str())
        .replace("{admin_id}", s.admin_id.as_str())
        .replace("{name}", "presence-room")
        .replace("{delivery_id}", "1")
}

/// Everything of a tenant, read by the owner (secrets included).
async fn everything_of(t: &TestApp, s: &Side) -> Value {
    let owner = Some(t.owner_token.as_str());
    let mut all = Vec::new();
    for path in [
        "/tenants/{tenant_id}",
        "/tenants/{tenant_id}/apps",
        "/apps/{app_id}",
        "/apps/{app_id}/keys?include_secrets=true",
        "/tenants/{tenant_id}/tokens",
        "/tenants/{tenant_id}/audit?limit=500",
    ] {
        let (status, body) = t.get(&fill(path, s), owner).await;
        assert_eq!(status, 200, "{path}: {body}");
        all.push(body);
    }
    let (_, admins) = t.get("/admins", owner).await;
    let mine: Vec<Value> = admins
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["tenant_id"] == s.tenant.as_str())
        .cloned()
        .collect();
    assert_eq!(mine.len(), 2, "admin and viewer of {}", s.tenant);
    all.push(Value::Array(mine));
    Value::Array(all)
}

fn assert_refused(status: u16, body: &Value, what: &str) {
    assert!(
        status == 404 || status == 403,
        "{what}: expected 404/403, got {status} {body}"
    );
    let code = body["error"]["code"].as_str().unwrap_or_default();
    assert!(code == "not_found" || code == "forbidden", "{what}: error shape {body}");
}

async fn tenant_a_cannot_reach_any_route_of_tenant_b(backend: Backend) {
    let t = spawn_app(backend).await;
    let a = side(&t, "tenant-a").await;
    let b = side(&t, "tenant-b").await;

    // The table must cover every admin route with a path parameter (all of them name a tenant's resource).
    let (_, doc) = t.get("/openapi.json", None).await;
    let table: BTreeSet<(String, String)> = tenant_routes(&b)
        .iter()
        .map(|(m, p, _)| (m.as_str().to_lowercase(), p.split('?').next().unwrap().to_string()))
        .collect();
    // Paths outside /api/v1 (the Pusher HTTP API's history) are signed with app keys, not admin tokens.
    let admin_paths = doc["paths"].as_object().expect("openapi paths").iter();
    for (path, ops) in admin_paths.filter(|(p, _)| p.starts_with("/api/v1/")) {
        let path = path.trim_start_matches("/api/v1");
        for method in ops.as_object().unwrap().keys().filter(|_| path.contains('{')) {
            assert!(
                table.contains(&(method.clone(), path.to_string())),
                "route {method} {path} missing from the table"
            );
        }
    }

    let before = everything_of(&t, &b).await;
    let callers = [
        ("A's admin", a.admin.as_str()),
        ("A's viewer", a.viewer.as_str()),
        ("A's API token", a.api_admin.as_str()),
        ("A's viewer token", a.api_viewer.as_str()),
    ];
    for (who, token) in callers {
        for (method, template, body) in tenant_routes(&b) {
            let path = fill(template, &b);
            let (status, res) = t.call(method.clone(), &path, Some(token), body).await;
            assert_refused(status, &res, &format!("{who}: {method} {template}"));
        }
    }
    // Confused deputies: B's key or token named under A's own app or tenant.
    let mixed = [
        format!("/apps/{}/keys/{}", a.app, b.key),
        format!("/tenants/{}/tokens/{}", a.tenant, b.api_admin_id),
    ];
    for path in &mixed {
        let (status, res) = t.delete(path, Some(&a.admin)).await;
        assert_eq!(status, 404, "DELETE {path}: {res}");
    }
    assert_eq!(everything_of(&t, &b).await, before, "tenant B changed");
    // A's own credentials still work, so the refusals above were about B, not broken tokens.
    for (who, token) in callers {
        let (status, res) = t.get(&format!("/tenants/{}", a.tenant), Some(token)).await;
        assert_eq!(status, 200, "{who}: {res}");
    }
}
both_backends!(
    tenant_a_cannot_reach_any_route_of_tenant_b,
    tenant_a_cannot_reach_any_route_of_tenant_b
);

async fn listings_show_only_the_callers_tenant(backend: Backend) {
    let t = spawn_app(backend).await;
    let a = side(&t, "tenant-a").await;
    let _b = side(&t, "tenant-b").await;
    for (who, token) in [
        ("admin", a.admin.as_str()),
        ("viewer", a.viewer.as_str()),
        ("API token", a.api_admin.as_str()),
    ] {
        let (status, tenants) = t.get("/tenants", Some(token)).await;
        assert_eq!(status, 200, "{who}: {tenants}");
        let ids: Vec<&str> = tenants
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [a.tenant.as_str()], "{who} sees other tenants");

        let (status, admins) = t.get("/admins", Some(token)).await;
        assert_eq!(status, 200, "{who}: {admins}");
        let admins = admins.as_array().unwrap();
        assert_eq!(admins.len(), 2, "{who}: {admins:?}");
        assert!(
            admins.iter().all(|x| x["tenant_id"] == a.tenant.as_str()),
            "{who} sees other admins: {admins:?}"
        );

        let (_, apps) = t.get(&format!("/tenants/{}/apps", a.tenant), Some(token)).await;
        let ids: Vec<&str> = apps
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [a.app.as_str()], "{who}");
    }
    let (status, all) = t.get("/tenants", Some(&t.owner_token)).await;
    assert_eq!(status, 200);
    assert!(all.as_array().unwrap().len() >= 2, "the owner sees every tenant");
    let (status, res) = t
        .post("/tenants", Some(&a.admin), json!({ "name": "x", "slug": "x" }))
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{res}"
    );
}
both_backends!(
    listings_show_only_the_callers_tenant,
    listings_show_only_the_callers_tenant
);

async fn viewers_read_their_tenant_but_cannot_write(backend: Backend) {
    let t = spawn_app(backend).await;
    let a = side(&t, "tenant-a").await;
    let before = everything_of(&t, &a).await;
    for (who, token) in [
        ("viewer", a.viewer.as_str()),
        ("viewer API token", a.api_viewer.as_str()),
    ] {
        for (method, template, body) in tenant_routes(&a) {
            // The live stream never ends; its access check is the same as the query's.
            if template.ends_with("/events/live") {
                continue;
            }
            let path = fill(template, &a);
            let (status, res) = t.call(method.clone(), &path, Some(token), body).await;
            let write = method != Method::GET;
            if template.contains("{socket_id}") && !write {
                // Allowed to look, but there is no such connection.
                assert_eq!(status, 404, "{who}: {method} {template}: {res}");
            } else if template.contains("include_secrets") {
                assert_eq!(status, 403, "{who}: {template}: {res}");
            } else if write {
                assert_eq!(
                    (status, res["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{who}: {method} {template}: {res}"
                );
            } else {
                assert_eq!(status, 200, "{who}: {method} {template}: {res}");
            }
        }
        let (status, res) = t.get("/admins", Some(token)).await;
        assert_eq!(status, 200, "{who}: {res}");
    }
    assert_eq!(everything_of(&t, &a).await, before, "a viewer changed its tenant");
}
both_backends!(
    viewers_read_their_tenant_but_cannot_write,
    viewers_read_their_tenant_but_cannot_write
);

async fn secrets_are_listed_only_for_admins_who_ask(backend: Backend) {
    let t = spawn_app(backend).await;
    let a = side(&t, "tenant-a").await;
    let keys = format!("/apps/{}/keys", a.app);
    let with = format!("{keys}?include_secrets=true");
    for (who, token) in [
        ("owner", t.owner_token.as_str()),
        ("admin", a.admin.as_str()),
        ("viewer", a.viewer.as_str()),
        ("API token", a.api_admin.as_str()),
    ] {
        let (status, list) = t.get(&keys, Some(token)).await;
        assert_eq!(status, 200, "{who}: {list}");
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(
            list[0].get("secret").is_none(),
            "{who}: plain listing shows a secret: {list}"
        );
        assert!(
            !list.to_string().contains(&a.secret),
            "{who}: plain listing leaks the secret"
        );
    }
    for (who, token) in [
        ("viewer", a.viewer.as_str()),
        ("viewer API token", a.api_viewer.as_str()),
    ] {
        let (status, res) = t.get(&with, Some(token)).await;
        assert_eq!(
            (status, res["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{who}: {res}"
        );
    }
    for (who, token) in [
        ("owner", t.owner_token.as_str()),
        ("admin", a.admin.as_str()),
        ("API token", a.api_admin.as_str()),
    ] {
        let (status, list) = t.get(&with, Some(token)).await;
        assert_eq!(status, 200, "{who}: {list}");
        assert_eq!(list[0]["secret"], a.secret.as_str(), "{who}");
    }
    let (status, created) = t.post(&keys, Some(&a.admin), json!({ "label": "second" })).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["secret"].as_str().is_some_and(|s| !s.is_empty()),
        "a new key shows its secret once"
    );
    let (_, list) = t.get(&keys, Some(&a.admin)).await;
    assert!(
        list.as_array().unwrap().iter().all(|k| k.get("secret").is_none()),
        "{list}"
    );
    let (status, revoked) = t
        .delete(&format!("{keys}/{}", created["key"].as_str().unwrap()), Some(&a.admin))
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(
        revoked.get("secret").is_none(),
        "revoke response shows the secret: {revoked}"
    );
}
both_backends!(
    secrets_are_listed_only_for_admins_who_ask,
    secrets_are_listed_only_for_admins_who_ask
);

async fn app_a_key_cannot_publish_to_or_query_app_b(backend: Backend) {
    let t = spawn_app(backend).await;
    let a = side(&t, "tenant-a").await;
    let b = side(&t, "tenant-b").await;
    assert_eq!(t.publish(&a.app, &a.key, &a.secret).await.0, 200, "A publishes to A");
    assert_eq!(t.publish(&b.app, &b.key, &b.secret).await.0, 200, "B publishes to B");
    let (status, body) = t.publish(&b.app, &a.key, &a.secret).await;
    assert_eq!(status, 401, "A's key published to app B: {body}");
    let (status, body) = t.publish(&b.app, &a.key, &b.secret).await;
    assert_eq!(status, 401, "A's key with B's secret: {body}");

    let path = format!("/apps/{}/channels", b.app);
    let res = t
        .client
        .get(crate::common::pusher_signed_url(
            &t.base, "GET", &path, &a.key, &a.secret, b"",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401, "A's key queried app B");
    let res = t
        .client
        .get(crate::common::pusher_signed_url(
            &t.base, "GET", &path, &b.key, &b.secret, b"",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "B's key queries app B");
}
both_backends!(
    app_a_key_cannot_publish_to_or_query_app_b,
    app_a_key_cannot_publish_to_or_query_app_b
);
