//! Socket ids: `^\d+\.\d+$`, as pusher-js and the server SDKs check.

use std::fmt;
use std::sync::Arc;

/// The id of one WebSocket connection, unique on this node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(Arc<str>);

impl SocketId {
    /// A fresh random id of the form `{u32}.{u32}`.
    pub fn random() -> Self {
        let a: u32 = rand::random::<u32>() % 1_000_000_000;
        let b: u32 = rand::random::<u32>() % 1_000_000_000;
        SocketId(format!("{a}.{b}").into())
    }

    /// Parses a socket id sent by a publisher (for exclusion) or found in an auth request.
    pub fn parse(raw: &str) -> Option<Self> {
        is_valid(raw).then(|| SocketId(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for SocketId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SocketId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SocketId::parse(&raw).ok_or_else(|| serde::de::Error::custom("socket id must be digits.digits"))
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `raw` matches `^\d+\.\d+$`.
pub fn is_valid(raw: &str) -> bool {
    match raw.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_valid() {
        for _ in 0..100 {
            assert!(is_valid(SocketId::random().as_str()));
        }
    }

    #[test]
    fn validation() {
        assert!(is_valid("264774.13368624"));
        assert!(!is_valid("1.2.3"));
        assert!(!is_valid(".1"));
        assert!(!is_valid("1."));
        assert!(!is_valid("a.1"));
        assert!(!is_valid(""));
    }
}
