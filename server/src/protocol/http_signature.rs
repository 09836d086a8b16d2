//! Signatures of the Pusher HTTP API: `auth_key`, `auth_timestamp`, `auth_version`, `body_md5` and
//! `auth_signature = hex(HMAC-SHA256(secret, METHOD\nPATH\nsorted_query))`.

use std::borrow::Cow;

use md5::{Digest, Md5};

use super::query::Query;
use super::signature;

/// How far `auth_timestamp` may be from the server's clock, in seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 600;

/// A request as it arrived, before its signature is checked.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query parameters, in arrival order.
    pub query: &'a Query,
    pub body: &'a [u8],
}

/// Why a request's signature was refused; each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpAuthError {
    #[error("Missing query parameter {0}: sign the request as the Pusher HTTP API describes")]
    Missing(&'static str),
    #[error("Unknown auth_key {0:?}: use the key of this app")]
    UnknownKey(String),
    #[error("auth_version must be 1.0")]
    Version,
    #[error("Timestamp expired: auth_timestamp {given} is {skew} seconds away from server time {now}; it must be within 600 seconds (check the clock)")]
    Timestamp { given: String, now: i64, skew: i64 },
    #[error("body_md5 does not match the MD5 of the request body")]
    BodyMd5,
    #[error(
        "Invalid signature: you should have sent HmacSHA256Hex({signed:?}, your_secret_key), but you sent {given:?}"
    )]
    Signature { signed: String, given: String },
}

impl SignedRequest<'_> {
    fn param(&self, name: &'static str) -> Result<&str, HttpAuthError> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .ok_or(HttpAuthError::Missing(name))
    }

    /// The `auth_key` the request says it was signed with.
    pub fn auth_key(&self) -> Result<&str, HttpAuthError> {
        self.param("auth_key")
    }

    /// The string the client should have signed: method, path and the sorted query without the signature.
    pub fn string_to_sign(&self) -> String {
        let mut params: Vec<(Cow<'_, str>, &str)> = self
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("auth_signature"))
            .map(|(k, v)| (lowercase(k), v))
            .collect();
        params.sort_unstable();
        let length = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>();
        let mut signed = String::with_capacity(self.method.len() + self.path.len() + 2 + length);
        signed.extend(self.method.chars().map(|c| c.to_ascii_uppercase()));
        signed.push('\n');
        signed.push_str(self.path);
        signed.push('\n');
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                signed.push('&');
            }
            signed.push_str(k);
            signed.push('=');
            signed.push_str(v);
        }
        signed
    }

    /// Checks everything but which app the key belongs to: the caller has found `secret` by `auth_key`.
    pub fn verify(&self, secret: &str, now: i64) -> Result<(), HttpAuthError> {
        if self.param("auth_version")? != "1.0" {
            return Err(HttpAuthError::Version);
        }
        let given = self.param("auth_timestamp")?;
        let ts: i64 = given.parse().map_err(|_| HttpAuthError::Missing("auth_timestamp"))?;
        let skew = (now - ts).abs();
        if skew > TIMESTAMP_WINDOW_SECS {
            return Err(HttpAuthError::Timestamp {
                given: given.to_string(),
                now,
                skew,
            });
        }
        if !self.body.is_empty() {
            let mut md5 = [0u8; 32];
            // 16 bytes always fit 32 hex digits.
            let encoded = hex::encode_to_slice(Md5::digest(self.body), &mut md5);
            if encoded.is_err() || self.param("body_md5")?.as_bytes() != md5 {
                return Err(HttpAuthError::BodyMd5);
            }
        }
        let given = self.param("auth_signature")?;
        let signed = self.string_to_sign();
        if signature::verify(secret, &signed, given) {
            Ok(())
        } else {
            Err(HttpAuthError::Signature {
                signed,
                given: given.to_string(),
            })
        }
    }
}

/// `key` in lower case, copied only when it has an upper-case letter.
fn lowercase(key: &str) -> Cow<'_, str> {
    match key.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(key.to_ascii_lowercase()),
        false => Cow::Borrowed(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
    const SECRET: &str = "7ad3773142a6692b25b8";

    fn query(ts: &str, sig: &str) -> Query {
        Query::from_pairs([
            ("auth_key", "278d425bdf160c739803"),
            ("auth_timestamp", ts),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
            ("auth_signature", sig),
        ])
    }

    const GOOD_SIG: &str = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";

    fn req(q: &Query) -> SignedRequest<'_> {
        SignedRequest {
            method: "POST",
            path: "/apps/3/events",
            query: q,
            body: BODY.as_bytes(),
        }
    }

    #[test]
    fn pusher_worked_example() {
        let q = query("1353088179", GOOD_SIG);
        assert_eq!(req(&q).verify(SECRET, 1353088179 + 10), Ok(()));
    }

    #[test]
    fn stale_timestamp_is_refused() {
        let q = query("1353088179", GOOD_SIG);
        assert!(matches!(
            req(&q).verify(SECRET, 1353088179 + 601),
            Err(HttpAuthError::Timestamp { .. })
        ));
    }

    #[test]
    fn wrong_signature_says_what_to_sign() {
        let q = query("1353088179", "00");
        let err = req(&q).verify(SECRET, 1353088179).unwrap_err();
        assert!(err.to_string().contains("POST\\n/apps/3/events\\nauth_key="), "{err}");
    }

    #[test]
    fn tampered_body_is_refused() {
        let q = query("1353088179", GOOD_SIG);
        let r = SignedRequest { body: b"{}", ..req(&q) };
        assert_eq!(r.verify(SECRET, 1353088179), Err(HttpAuthError::BodyMd5));
    }

    #[test]
    fn missing_parameters_are_named() {
        let q = Query::default();
        assert_eq!(req(&q).verify(SECRET, 0), Err(HttpAuthError::Missing("auth_version")));
    }

    #[test]
    fn the_string_to_sign_lowercases_keys_sorts_them_and_leaves_out_the_signature() {
        let q = Query::from_pairs([("b", "2"), ("Auth_Signature", "x"), ("A", "1"), ("c", "3")]);
        let r = SignedRequest {
            method: "post",
            ..req(&q)
        };
        assert_eq!(r.string_to_sign(), "POST\n/apps/3/events\na=1&b=2&c=3");
    }
}
