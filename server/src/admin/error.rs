//! Errors of the admin API, all in one JSON shape: `{"error": {"code", "message", "field"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::publish::request::PublishError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 400: the request is malformed; `field` names what to fix when one field is at fault.
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    /// 401: no credentials, or bad/expired ones.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource, or one the caller's tenant cannot see.
    #[error("{0}")]
    NotFound(String),
    /// 409: a unique field is taken, or a plan limit is reached.
    #[error("{message}")]
    Conflict { message: String, field: Option<String> },
    /// 413: a message over the app's size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: too many failed logins; retry later.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the database does not answer; the node keeps serving realtime traffic from its cache.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

/// The error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: bad_request, unauthorized, forbidden, not_found, conflict,
    /// payload_too_large, too_many_requests, unavailable, internal.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<PublishError> for AdminError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::BadRequest(message) => AdminError::BadRequest { message, field: None },
            PublishError::OverQuota(message) => AdminError::Forbidden(message),
            e @ PublishError::PayloadTooLarge { .. } => AdminError::PayloadTooLarge(e.to_string()),
            PublishError::Unavailable(message) => AdminError::Unavailable(message),
        }
    }
}

impl AdminError {
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        AdminError::BadRequest {
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub fn forbidden() -> Self {
        AdminError::Forbidden("your role does not allow this".into())
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<String>) {
        match self {
            AdminError::BadRequest { field, .. } => (StatusCode::BAD_REQUEST, "bad_request", field.clone()),
            AdminError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            AdminError::Conflict { field, .. } => (StatusCode::CONFLICT, "conflict", field.clone()),
            AdminError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", Some("data".into())),
            AdminError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None),
            AdminError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            AdminError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(field) => AdminError::Conflict {
                message: format!("{field} is already taken"),
                field: Some(field.replace(' ', "_")),
            },
            StoreError::NotFound(what) => AdminError::NotFound(format!("{what} not found")),
            StoreError::Invalid { field, message } => AdminError::bad(field, format!("invalid {field}: {message}")),
            StoreError::Limit(message) => AdminError::Conflict { message, field: None },
            StoreError::Database(err) => {
                tracing::warn!(error = %err, "admin API: database error");
                AdminError::Unavailable("the control database is unavailable; retry shortly".into())
            }
            other => {
                tracing::error!(error = %other, "admin API: internal error");
                AdminError::Internal
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
                field,
            },
        };
        (status, Json(body)).into_response()
    }
}
