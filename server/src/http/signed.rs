//! The `Signed` extractor: finds the app of `/apps/{app_id}/…`, reads the body and checks the
//! Pusher request signature before any handler runs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};

use super::error::ApiError;
use crate::clock::unix_secs;
use crate::protocol::http_signature::SignedRequest;
use crate::protocol::query::Query;
use crate::state::AppState;
use crate::store::App;

/// Largest HTTP API body read at all; per-event limits are the app's `max_payload_bytes`.
const MAX_BODY: usize = 1024 * 1024;

/// A request whose signature was checked.
pub struct Signed {
    pub app: Arc<App>,
    /// Decoded query parameters.
    pub query: Query,
    pub body: Bytes,
    /// The `Idempotency-Key` header (Herald extension).
    pub idempotency_key: Option<String>,
}

impl Signed {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name)
    }

    /// Parses the JSON body, naming what is wrong.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad(format!("Invalid JSON body: {e}")))
    }
}

fn unknown_key(key: &str) -> ApiError {
    ApiError::Unauthorized(format!("Unknown auth_key {key:?}: use an active key of this app"))
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| ApiError::bad(e.body_text()))?;
        let app_id = params.iter().find(|(name, _)| *name == "app_id").map(|(_, id)| id);
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::PayloadTooLarge {
                size: MAX_BODY + 1,
                limit: MAX_BODY,
            })?;
        let query = Query::decode(parts.uri.query().unwrap_or("").as_bytes());
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            body: &body,
        };
        let key = signed.auth_key()?;
        // an app or key made a moment ago on another node is looked for before it is refused
        if let Some(id) = app_id {
            state.apps.look_for_app(id).await;
        }
        state.apps.look_for_key(key).await;
        // Routes without `/apps/{app_id}` (the PyPI SDK's terminate_connections) find the app by key.
        let app = match app_id {
            Some(id) => state
                .apps
                .by_id(id)
                .ok_or_else(|| ApiError::NotFound(format!("Unknown app id {id:?}")))?,
            None => state.apps.by_key(key).map(|e| e.app).ok_or_else(|| unknown_key(key))?,
        };
        let entry = state
            .apps
            .by_key(key)
            .filter(|e| e.app.id == app.id)
            .ok_or_else(|| unknown_key(key))?;
        signed.verify(&entry.secret, unix_secs())?;
        if !app.settings.enabled {
            return Err(ApiError::Forbidden("Application disabled".into()));
        }
        let idempotency_key = parts
            .headers
            .get("idempotency-key")
            .map(|v| v.to_str().map(str::to_string))
            .transpose()
            .map_err(|_| ApiError::bad("Invalid Idempotency-Key header: use visible ASCII"))?;
        Ok(Signed {
            app,
            query,
            body,
            idempotency_key,
        })
    }
}
