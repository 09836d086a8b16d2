//! The web console: the files of `web-console/`, embedded at compile time (`build.rs`), served under
//! `/console/`.
//!
//! memory-serve serves the assets, compressed (brotli or gzip, as the browser accepts) with ETags;
//! every asset is also served on a route carrying a hash of its contents, with a one-year immutable
//! cache. The page itself (`index.html`, also the answer for any extension-less path under
//! `/console/`, so client-side routes survive a reload) is served here: its references to assets
//! point at their hashed routes and it is always revalidated, so a new binary's console is seen at
//! once. Every answer carries the console's security headers: scripts and everything else only from
//! this origin (no inline script), and no framing. The console talks to the admin API only; this
//! module knows nothing of it.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use std::path::PathBuf;

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use memory_serve::{CacheControl, Manifest};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

/// Where the console is served.
pub const PATH: &str = "/console";

/// The console's content security policy: nothing but this origin, no inline script or style
/// attribute, no plugins, no framing.
const CSP: &str = "default-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/console/index.html"));

/// The console's page, with its asset references rewritten to their hashed routes.
#[derive(Clone)]
struct Page {
    html: &'static str,
    etag: HeaderValue,
}

impl Page {
    fn new(manifest: &Manifest) -> Page {
        let html: &'static str = Box::leak(point_at_hashed(INDEX_HTML, manifest).into_boxed_str());
        let digest = Sha256::digest(html.as_bytes());
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        Page {
            html,
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"console\"")),
        }
    }

    fn answer(&self, headers: &HeaderMap) -> Response {
        let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
        if headers.get(header::IF_NONE_MATCH) == Some(&self.etag) {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, self.etag.clone())], cache).into_response();
        }
        let html = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )];
        (html, [(header::ETAG, self.etag.clone())], cache, self.html).into_response()
    }
}

/// Replaces each asset reference of `html` (`"/console/app.css"` or `"./app.css"`) with its hashed route.
fn point_at_hashed(html: &str, manifest: &Manifest) -> String {
    let mut html = html.to_string();
    for (route, served) in manifest.iter().filter(|(route, served)| route != served) {
        let hashed = format!("\"{PATH}{served}\"");
        html = html
            .replace(&format!("\"{PATH}{route}\""), &hashed)
            .replace(&format!("\".{route}\""), &hashed);
    }
    html
}

/// The console's routes: `/console/…` and the redirects to it from `/` and `/console`. With
/// `from_disk` (the `console_dir` setting, for working on the console) the files are read from that
/// directory on every request instead of the copy embedded at build time.
pub fn router<S: Clone + Send + Sync + 'static>(from_disk: Option<PathBuf>) -> Router<S> {
    if let Some(dir) = from_disk {
        return disk_router(dir);
    }
    let assets = memory_serve::load!()
        .index_file(None)
        .enable_hashed_routes(true)
        .html_cache_control(CacheControl::NoCache)
        .cache_control(CacheControl::NoCache);
    let page = Page::new(&assets.manifest());
    let index = page.clone();
    let assets = assets
        .into_router()
        // Nested, "/" is `/console` itself: the page lives at `/console/` (the fallback serves it).
        .route("/", get(|| async { Redirect::to(&format!("{PATH}/")) }))
        .fallback(move |request: Request| async move {
            // A client-side route gets the page; a missing file (it has an extension) is a 404.
            let last = request.uri().path().rsplit('/').next().unwrap_or_default();
            match last.contains('.') {
                true => StatusCode::NOT_FOUND.into_response(),
                false => page.answer(request.headers()),
            }
        })
        .layer(middleware::from_fn(security_headers));
    Router::new()
        .route("/", get(|| async { Redirect::to(&format!("{PATH}/")) }))
        .route(
            &format!("{PATH}/"),
            get(move |headers: HeaderMap| async move { index.answer(&headers) })
                .layer(middleware::from_fn(security_headers)),
        )
        .nest(PATH, assets)
}

/// Serves the console from `dir` as it is now: no hashed routes, nothing cached.
fn disk_router<S: Clone + Send + Sync + 'static>(dir: PathBuf) -> Router<S> {
    let index = dir.join("index.html");
    let page = move || {
        let index = index.clone();
        async move {
            match tokio::fs::read_to_string(&index).await {
                Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
                Err(e) => (StatusCode::NOT_FOUND, format!("{}: {e}", index.display())).into_response(),
            }
        }
    };
    // `/console/` itself is the directory: ServeDir answers it with index.html.
    let files = ServeDir::new(dir).fallback(get(page));
    Router::new()
        .route("/", get(|| async { Redirect::to(&format!("{PATH}/")) }))
        .nest_service(PATH, files)
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_references_point_at_hashed_routes() {
        let assets = memory_serve::load!().enable_hashed_routes(true);
        let manifest = assets.manifest();
        let Some((route, served)) = manifest.iter().find(|(r, s)| r != s) else {
            panic!("the console has no hashed asset");
        };
        let html = format!(
            r#"<link href="./{}"><script src="/console{route}"></script>"#,
            &route[1..]
        );
        let rewritten = point_at_hashed(&html, &manifest);
        assert_eq!(
            rewritten.matches(&format!("\"/console{served}\"")).count(),
            2,
            "{rewritten}"
        );
    }
}
