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

/// Every route the admin router serves (read from its source, so a new route cannot be forgotten)
/// is in the document, and every parameter documented `in: path` is a segment of its path.
#[test]
fn every_admin_route_is_documented_with_its_parameters_where_they_are() {
    let doc: serde_json::Value = serde_json::from_str(&herald::openapi::openapi_json()).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let router = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/admin/mod.rs"))
        .expect("admin router source");
    let routes: Vec<String> = router
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            rest.trim_start()
                .strip_prefix('"')?
                .split('"')
                .next()
                .map(str::to_string)
        })
        .collect();
    assert!(routes.len() > 30, "read the admin routes: {routes:?}");
    for route in routes {
        let documented = format!("/api/v1{route}");
        assert!(
            paths.contains_key(&documented),
            "{documented} is missing from the OpenAPI document"
        );
    }
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            for param in operation["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap_or_default();
                if param["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is documented in the path"
                    );
                }
            }
        }
    }
}
