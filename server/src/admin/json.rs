//! `Body<T>`: a JSON request body whose errors come back in the admin API's error shape, naming the
//! field at fault (unknown fields are refused by the request types' `deny_unknown_fields`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::AdminError;

pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

/// Query parameters whose errors come back in the admin API's error shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => {
                let message = rejection.body_text();
                let field = message
                    .split("query string: ")
                    .nth(1)
                    .and_then(|rest| rest.split(':').next())
                    .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .map(str::to_string);
                Err(AdminError::BadRequest { message, field })
            }
        }
    }
}

fn reject(rejection: JsonRejection) -> AdminError {
    let message = rejection.body_text();
    let field = field_of(&message);
    AdminError::BadRequest { message, field }
}

/// Pulls the field name out of serde's messages: "unknown field `x`", "missing field `x`",
/// and "x: invalid type …" (axum prefixes the path).
fn field_of(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    let detail = message.split(": ").nth(1)?;
    let path = detail; // "field: message" has a path here; a bare message ("EOF while …") has spaces
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_.[]".contains(c);
    let starts_with_a_name = path.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_with_a_name && path.chars().all(path_char)).then(|| path.trim_end_matches(':').to_string())
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn fields_are_found() {
        let m =
            "Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `name`";
        assert_eq!(field_of(m).as_deref(), Some("colour"));
        let m = "Failed to deserialize the JSON body into the target type: missing field `slug` at line 1 column 2";
        assert_eq!(field_of(m).as_deref(), Some("slug"));
        let m = "Failed to deserialize the JSON body into the target type: settings.webhooks[0].url: webhook url \"ftp://x\" \
                 must be an http:// or https:// URL with a host at line 1 column 41";
        assert_eq!(field_of(m).as_deref(), Some("settings.webhooks[0].url"));
    }
}
