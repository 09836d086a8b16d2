//! The client libraries Herald ships, served from the binary so a page can load them from the node
//! it talks to: `/clients/pusher-js-resume.mjs` (message resume for pusher-js, an ES module).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `clients/pusher-js-resume/index.mjs`, as built into this binary.
const PUSHER_JS_RESUME: &str = include_str!("../../../clients/pusher-js-resume/index.mjs");

/// Its ETag: the binary's version and the file's length (the file changes only with the binary).
fn etag() -> String {
    format!("\"{}-{}\"", env!("CARGO_PKG_VERSION"), PUSHER_JS_RESUME.len())
}

/// `GET /clients/pusher-js-resume.mjs`.
pub async fn pusher_js_resume(headers: HeaderMap) -> Response {
    let etag = etag();
    let tag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"herald\""));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    if headers.get(header::IF_NONE_MATCH) == Some(&tag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), cache]).into_response();
    }
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ),
        (header::ETAG, tag),
        // Pages on another origin load it with <script type="module"> or import().
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        cache,
    ];
    (headers, PUSHER_JS_RESUME).into_response()
}
