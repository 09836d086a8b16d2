//! The admin API's extractors: `Body<T>` (a JSON request body), `Params<T>` (query parameters) and
//! `PathParams<T>` (path segments), whose errors come back in the admin API's error shape, naming the
//! field at fault where serde does (unknown fields are refused by the request types'
//! `deny_unknown_fields`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use super::error::AdminError;

/// A JSON body. A number with no fraction counts as an integer, as in JSON Schema (`1266.0` is the
/// integer 1266), so an integer field takes it; other numbers reach the request type unchanged.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
        let Json(mut value) = Json::<Value>::from_request(req, state).await.map_err(reject)?;
        if holds_nul(&value) {
            return Err(nul_refused("the request body"));
        }
        whole_numbers(&mut value);
        let bytes = serde_json::to_vec(&value).map_err(|_| AdminError::Internal)?;
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

/// Whether any string or key of `value` holds a NUL character (`\u0000`), which no stored text
/// may (Postgres refuses it, so it would otherwise surface as an outage).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Whether a raw path or query holds an encoded NUL (`%00`).
fn encodes_nul(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| w == b"%00")
}

fn nul_refused(what: &str) -> AdminError {
    AdminError::BadRequest {
        message: format!("{what} holds a NUL character (\\u0000 or %00): text may not contain one"),
        field: None,
    }
}

/// Largest magnitude below which every integer is exactly an `f64` (2^53).
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// Turns every number without a fraction into an integer, in place.
fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() <= EXACT_F64 {
                *n = Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Path segments, as axum's `Path` reads them (a segment that is not what the handler takes, e.g. a
/// non-numeric id, is a 400 in the error shape rather than axum's plain text). Not named `Path`, so
/// utoipa documents each segment only as the handler's `params(...)` say.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        if encodes_nul(parts.uri.path()) {
            return Err(nul_refused("the path"));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(AdminError::BadRequest {
                message: rejection.body_text(),
                field: None,
            }),
        }
    }
}

/// Query parameters whose errors come back in the admin API's error shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        if parts.uri.query().is_some_and(encodes_nul) {
            return Err(nul_refused("the query"));
        }
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
    use super::{encodes_nul, field_of, holds_nul, whole_numbers};
    use serde_json::json;

    #[test]
    fn numbers_without_a_fraction_are_integers() {
        let mut v = json!({"a": 1266.0, "b": [2.5, -3.0, 1e300], "c": "4.0", "d": 7});
        whole_numbers(&mut v);
        assert_eq!(v, json!({"a": 1266, "b": [2.5, -3, 1e300], "c": "4.0", "d": 7}));
        assert!(v["a"].is_i64() && v["b"][2].is_f64());
    }

    #[test]
    fn nul_characters_are_found_in_bodies_paths_and_queries() {
        assert!(holds_nul(&json!({"name": "a\u{0}b"})));
        assert!(holds_nul(&json!({"s": [{"k\u{0}": 1}]})));
        assert!(!holds_nul(&json!({"name": "a\\u0000b", "n": 0})));
        assert!(encodes_nul("/api/v1/tenants/x%00y/apps") && !encodes_nul("/api/v1/tenants/x%200/apps"));
    }

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
