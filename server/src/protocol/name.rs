//! Channel and event names: parsed once at the edge, so the rest of the code holds only valid ones.

use std::fmt;
use std::sync::Arc;

/// Longest channel name Pusher accepts, prefix included.
pub const MAX_CHANNEL_NAME: usize = 164;
/// Longest event name the Pusher server libraries accept.
pub const MAX_EVENT_NAME: usize = 200;
/// Longest presence `user_id`.
pub const MAX_USER_ID: usize = 128;
/// The reserved prefix of the channel that carries server-to-user events.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// Why a name was refused. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("channel name must not be empty")]
    EmptyChannel,
    #[error("channel name is {0} characters long; the limit is {MAX_CHANNEL_NAME}")]
    ChannelTooLong(usize),
    #[error("channel name {0:?} has characters outside [A-Za-z0-9_-=@,.;]")]
    ChannelCharacters(String),
    #[error("event name must not be empty")]
    EmptyEvent,
    #[error("event name is {0} characters long; the limit is {MAX_EVENT_NAME}")]
    EventTooLong(usize),
    #[error("user id must be 1 to {MAX_USER_ID} characters of [A-Za-z0-9_-=@,.;]")]
    UserId,
}

/// The kind of a channel, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    Presence,
    /// `private-encrypted-`: private, with payloads the server cannot read.
    Encrypted,
    /// `#server-to-user-{id}`: events for one signed-in user.
    ServerToUser,
}

/// A channel name that passed Pusher's rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(Arc<str>);

impl ChannelName {
    /// Parses a channel name a client or publisher sent. `#server-to-user-{id}` is accepted,
    /// with the id checked like a user id; any other `#` name is refused.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if let Some(user) = raw.strip_prefix(SERVER_TO_USER_PREFIX) {
            check_user_id(user)?;
            return Ok(ChannelName(raw.into()));
        }
        if raw.is_empty() {
            return Err(NameError::EmptyChannel);
        }
        let len = raw.chars().count();
        if len > MAX_CHANNEL_NAME {
            return Err(NameError::ChannelTooLong(len));
        }
        if !raw.bytes().all(is_name_byte) {
            return Err(NameError::ChannelCharacters(raw.to_string()));
        }
        Ok(ChannelName(raw.into()))
    }

    /// The channel that carries server-to-user events for `user_id`.
    pub fn server_to_user(user_id: &str) -> Result<Self, NameError> {
        check_user_id(user_id)?;
        Ok(ChannelName(format!("{SERVER_TO_USER_PREFIX}{user_id}").into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> ChannelKind {
        let name = self.without_cache();
        if self.0.starts_with(SERVER_TO_USER_PREFIX) {
            ChannelKind::ServerToUser
        } else if name.starts_with("private-encrypted-") {
            ChannelKind::Encrypted
        } else if name.starts_with("private-") {
            ChannelKind::Private
        } else if name.starts_with("presence-") {
            ChannelKind::Presence
        } else {
            ChannelKind::Public
        }
    }

    /// True for the four cache kinds: `cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`.
    pub fn is_cache(&self) -> bool {
        let n = &*self.0;
        n.starts_with("cache-")
            || n.starts_with("private-cache-")
            || n.starts_with("private-encrypted-cache-")
            || n.starts_with("presence-cache-")
    }

    pub fn is_presence(&self) -> bool {
        self.kind() == ChannelKind::Presence
    }

    /// Private, encrypted and presence channels need a signed `auth`.
    pub fn requires_auth(&self) -> bool {
        matches!(
            self.kind(),
            ChannelKind::Private | ChannelKind::Presence | ChannelKind::Encrypted
        )
    }

    /// The user a `#server-to-user-` channel belongs to.
    pub fn server_to_user_id(&self) -> Option<&str> {
        self.0.strip_prefix(SERVER_TO_USER_PREFIX)
    }

    /// The name with a leading `cache-` removed, so `cache-x` reads as public.
    fn without_cache(&self) -> &str {
        self.0.strip_prefix("cache-").unwrap_or(&self.0)
    }
}

impl serde::Serialize for ChannelName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ChannelName {
    /// Names from other nodes are checked again: the bus is an input like any other.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ChannelName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event name: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventName(Arc<str>);

impl EventName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::EmptyEvent);
        }
        let len = raw.chars().count();
        if len > MAX_EVENT_NAME {
            return Err(NameError::EventTooLong(len));
        }
        Ok(EventName(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a user id (presence `user_id`, signin `id`).
pub fn check_user_id(raw: &str) -> Result<(), NameError> {
    let ok = !raw.is_empty() && raw.chars().count() <= MAX_USER_ID && raw.bytes().all(is_name_byte);
    ok.then_some(()).ok_or(NameError::UserId)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'@' | b',' | b'.' | b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(raw: &str) -> ChannelKind {
        ChannelName::parse(raw).unwrap().kind()
    }

    #[test]
    fn kinds_from_prefixes() {
        assert_eq!(kind("my-channel"), ChannelKind::Public);
        assert_eq!(kind("private-a"), ChannelKind::Private);
        assert_eq!(kind("presence-a"), ChannelKind::Presence);
        assert_eq!(kind("private-encrypted-a"), ChannelKind::Encrypted);
        assert_eq!(kind("cache-a"), ChannelKind::Public);
        assert_eq!(kind("private-cache-a"), ChannelKind::Private);
        assert_eq!(kind("private-encrypted-cache-a"), ChannelKind::Encrypted);
        assert_eq!(kind("presence-cache-a"), ChannelKind::Presence);
        assert_eq!(kind("#server-to-user-42"), ChannelKind::ServerToUser);
    }

    #[test]
    fn cache_flag() {
        for n in [
            "cache-a",
            "private-cache-a",
            "private-encrypted-cache-a",
            "presence-cache-a",
        ] {
            assert!(ChannelName::parse(n).unwrap().is_cache(), "{n}");
        }
        for n in ["a", "private-a", "presence-a", "cachex"] {
            assert!(!ChannelName::parse(n).unwrap().is_cache(), "{n}");
        }
    }

    #[test]
    fn channel_name_rules() {
        assert!(ChannelName::parse("a-Z_0=@,.;").is_ok());
        assert_eq!(ChannelName::parse(""), Err(NameError::EmptyChannel));
        assert!(matches!(
            ChannelName::parse("a b"),
            Err(NameError::ChannelCharacters(_))
        ));
        assert!(matches!(ChannelName::parse("#x"), Err(NameError::ChannelCharacters(_))));
        assert!(ChannelName::parse(&"a".repeat(164)).is_ok());
        assert_eq!(
            ChannelName::parse(&"a".repeat(165)),
            Err(NameError::ChannelTooLong(165))
        );
        assert_eq!(ChannelName::parse("#server-to-user-"), Err(NameError::UserId));
    }

    #[test]
    fn event_and_user_rules() {
        assert!(EventName::parse(&"e".repeat(200)).is_ok());
        assert_eq!(EventName::parse(&"e".repeat(201)), Err(NameError::EventTooLong(201)));
        assert_eq!(EventName::parse(""), Err(NameError::EmptyEvent));
        assert!(check_user_id("user@example.com").is_ok());
        assert!(check_user_id("a b").is_err());
        assert!(check_user_id(&"u".repeat(129)).is_err());
    }
}
