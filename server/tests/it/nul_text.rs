//! Text with a NUL character, which Postgres cannot store, is refused at the admin API's edge with a
//! 400 on both backends, in a body, a path and a query (it came back as a 503 "database unavailable"
//! on Postgres, found by Schemathesis).

use serde_json::json;

use crate::common::{spawn_app, Backend, OWNER_EMAIL, PASSWORD};

async fn nul_characters_are_bad_requests(backend: Backend) {
    let t = spawn_app(backend).await;
    let owner = Some(t.owner_token.as_str());
    let (status, body) = t
        .post("/tenants", owner, json!({ "name": "a\u{0}b", "slug": "nul" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("NUL"),
        "{body}"
    );
    let (status, body) = t.get("/tenants/x%00y/apps", owner).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = t.get("/apps/any/events?channel=a%00b", owner).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("query"),
        "{body}"
    );
    let login = json!({ "email": format!("a\u{0}{OWNER_EMAIL}"), "password": PASSWORD });
    let (status, body) = t.post("/auth/login", None, login).await;
    assert_eq!(status, 400, "{body}");
}
both_backends!(nul_text, nul_characters_are_bad_requests);
