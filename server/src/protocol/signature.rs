//! HMAC-SHA256 signatures of channel auth and user signin, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `message` with `secret`.
pub fn sign(secret: &str, message: &str) -> String {
    hex::encode(mac(secret, message))
}

/// True when `given` equals the hex signature of `message`, compared in constant time.
pub fn verify(secret: &str, message: &str, given: &str) -> bool {
    let mut expected = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    hex::encode_to_slice(mac(secret, message), &mut expected).is_ok() && bool::from(expected.ct_eq(given.as_bytes()))
}

/// HMAC-SHA256 of `message` with `secret`.
fn mac(secret: &str, message: &str) -> [u8; 32] {
    // `new_from_slice` accepts keys of any length for HMAC; it cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The string signed for a private or encrypted channel, or (with `channel_data`) a presence channel.
pub fn channel_auth_string(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The string signed for a user signin.
pub fn signin_string(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// Why an `auth` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid auth format: expected \"<key>:<signature>\"")]
    Format,
    #[error("Invalid key in auth data: '{0}'")]
    Key(String),
    #[error("Invalid signature: Expected HMAC SHA256 hex digest of {0}")]
    Signature(String),
}

/// Checks an `auth` value of the form `<key>:<hex signature>` against `signed`.
pub fn check_auth(auth: &str, app_key: &str, secret: &str, signed: &str) -> Result<(), AuthError> {
    let (key, sig) = auth.split_once(':').ok_or(AuthError::Format)?;
    if key != app_key {
        return Err(AuthError::Key(key.to_string()));
    }
    if verify(secret, signed, sig) {
        Ok(())
    } else {
        Err(AuthError::Signature(signed.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn private_channel_vector() {
        let s = channel_auth_string("1234.1234", "private-foobar", None);
        assert_eq!(
            sign(SECRET, &s),
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn presence_channel_vector() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let s = channel_auth_string("1234.1234", "presence-foobar", Some(data));
        assert_eq!(
            sign(SECRET, &s),
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
    }

    #[test]
    fn signin_vector() {
        let s = signin_string("1234.1234", r#"{"id":"12345"}"#);
        assert_eq!(
            sign(SECRET, &s),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn check_auth_outcomes() {
        let signed = channel_auth_string("1.1", "private-a", None);
        let good = format!("{KEY}:{}", sign(SECRET, &signed));
        assert_eq!(check_auth(&good, KEY, SECRET, &signed), Ok(()));
        assert_eq!(check_auth("nocolon", KEY, SECRET, &signed), Err(AuthError::Format));
        assert!(matches!(
            check_auth("other:abc", KEY, SECRET, &signed),
            Err(AuthError::Key(_))
        ));
        assert!(matches!(
            check_auth(&format!("{KEY}:00"), KEY, SECRET, &signed),
            Err(AuthError::Signature(..))
        ));
    }
}
