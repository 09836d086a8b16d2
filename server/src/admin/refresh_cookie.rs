//! The browser console's refresh token, kept in a cookie the page's scripts cannot read.
//!
//! The console logs in with `refresh_cookie: true`: the refresh token then travels only as
//! `herald_refresh`, HttpOnly, SameSite=Strict and scoped to `/api/v1/auth`, so no script (and no
//! other site) ever sees it; the access token stays in the page's memory. Scripts keep getting both
//! tokens in the body, as before. This module only reads and writes the cookie; `session` decides.

use axum::http::{header, HeaderMap, HeaderValue};

/// The cookie's name.
pub const NAME: &str = "herald_refresh";

/// The only path the browser sends it to.
const PATH: &str = "/api/v1/auth";

/// The refresh token from the request's cookies, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` carrying `token` for `max_age` seconds; `Secure` when the page came over HTTPS (a
/// browser refuses a secure cookie over plain HTTP on anything but localhost).
pub fn set(token: &str, max_age: i64, headers: &HeaderMap) -> HeaderValue {
    cookie(token, max_age, secure(headers))
}

/// `Set-Cookie` that removes the cookie.
pub fn clear(headers: &HeaderMap) -> HeaderValue {
    cookie("", 0, secure(headers))
}

fn cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{NAME}={token}; HttpOnly; SameSite=Strict; Path={PATH}; Max-Age={max_age}{secure}");
    // The token is URL-safe base64 (random_token), so the value is always a valid header.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("herald_refresh=; Max-Age=0"))
}

/// Whether the page that sent the request was loaded over HTTPS (browsers send `Origin` with every
/// POST made by `fetch`).
fn secure(headers: &HeaderMap) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| origin.starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_among_others_and_written_scoped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; herald_refresh=tok_en; b=2"),
        );
        assert_eq!(read(&headers).as_deref(), Some("tok_en"));
        let set = set("tok_en", 60, &headers);
        let set = set.to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/api/v1/auth"));
        assert!(!set.contains("Secure"), "plain HTTP page");
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://herald.example"));
        assert!(clear(&headers).to_str().unwrap().ends_with("Max-Age=0; Secure"));
        assert_eq!(read(&HeaderMap::new()), None);
    }
}
