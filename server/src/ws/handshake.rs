//! The WebSocket opening handshake (RFC 6455 §4.2): checks the upgrade request, answers
//! `101 Switching Protocols`, and hands the upgraded `TcpStream` to a session.
//!
//! Owns the HTTP side of an upgrade only; what the connection does afterwards is the session's.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::protocol::websocket;

/// A valid upgrade request, ready to be accepted.
pub struct Handshake {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket upgrade.
#[derive(Debug)]
pub struct NotWebSocket {
    status: StatusCode,
    message: &'static str,
}

impl IntoResponse for NotWebSocket {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455 §4.4: the versions the server speaks.
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

fn refuse(status: StatusCode, message: &'static str) -> NotWebSocket {
    NotWebSocket { status, message }
}

/// Whether the comma-separated header `name` has the token `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = NotWebSocket;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "WebSocket upgrades use GET\n"));
        }
        let headers = &parts.headers;
        if !has_token(headers, CONNECTION, "upgrade") || !has_token(headers, UPGRADE, "websocket") {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "Not a WebSocket upgrade: send Connection: Upgrade and Upgrade: websocket\n",
            ));
        }
        if headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "Unsupported WebSocket version: send Sec-WebSocket-Version: 13\n",
            ));
        }
        let Some(key) = headers.get(SEC_WEBSOCKET_KEY).cloned() else {
            return Err(refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key header missing\n"));
        };
        if !websocket::valid_client_key(key.as_bytes()) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key must be 16 random bytes in base64\n",
            ));
        }
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "This connection cannot be upgraded\n",
            ));
        };
        Ok(Handshake { key, on_upgrade })
    }
}

impl Handshake {
    /// Answers 101 and, once the connection is upgraded, runs `session` with its socket and any bytes
    /// the client sent after its request.
    pub fn accept<F, Fut>(self, session: F) -> Response
    where
        F: FnOnce(TcpStream, Bytes) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(e) => return tracing::debug!(error = %e, "WebSocket upgrade failed"),
            };
            match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => session(parts.io.into_inner(), parts.read_buf).await,
                Err(_) => tracing::error!("an upgraded connection is not a TCP stream"),
            }
        });
        let accept = websocket::accept_key(self.key.as_bytes());
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, value);
        }
        response
    }
}
