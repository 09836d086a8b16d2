//! Errors of the Pusher HTTP API, with Pusher's status codes and plain-text bodies that say what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::protocol::http_signature::HttpAuthError;
use crate::protocol::NameError;
use crate::publish::request::PublishError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// 401: key, timestamp or signature wrong. Never includes the expected signature.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the app is disabled.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such app.
    #[error("{0}")]
    NotFound(String),
    /// 413: event data over the app's limit.
    #[error("Payload too large: data is {size} bytes; this app's limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// 503: the node cannot store or route the message now; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<HttpAuthError> for ApiError {
    fn from(e: HttpAuthError) -> Self {
        ApiError::Unauthorized(e.to_string())
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::BadRequest(m) => ApiError::BadRequest(m),
            PublishError::OverQuota(m) => ApiError::Forbidden(m),
            PublishError::PayloadTooLarge { size, limit } => ApiError::PayloadTooLarge { size, limit },
            PublishError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "HTTP API request failed");
        }
        (status, format!("{self}\n")).into_response()
    }
}
