//! `openapi/openapi.json` is what the code generates: regenerate it with
//! `cargo run --release -p herald -- openapi > openapi/openapi.json` when this fails.

#[test]
fn checked_in_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = herald::openapi::openapi_json();
    assert!(
        checked_in.trim() == generated.trim(),
        "openapi/openapi.json is stale: run `cargo run --release -p herald -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_admin_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&herald::openapi::openapi_json()).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant_id}",
        "/api/v1/tenants/{tenant_id}/apps",
        "/api/v1/tenants/{tenant_id}/tokens",
        "/api/v1/tenants/{tenant_id}/tokens/{token_id}",
        "/api/v1/tenants/{tenant_id}/audit",
        "/api/v1/apps/{app_id}",
        "/api/v1/apps/{app_id}/stats",
        "/api/v1/apps/{app_id}/keys",
        "/api/v1/apps/{app_id}/keys/{key}",
        "/api/v1/admins",
        "/api/v1/admins/{admin_id}",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} is missing from the OpenAPI document"
        );
    }
}
