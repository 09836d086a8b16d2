//! An event's kind-specific facts (`LifecycleEvent::detail`): any JSON object, or an accepted
//! publish's facts as a struct.
//!
//! A publish is the most frequent event, and building its facts as a `serde_json::Value` (a map with
//! a key allocated per field, the channel names copied into an array) and then writing that map out
//! cost more than writing a struct. Both serialize to the same JSON object; what is read back (a
//! query, the cluster's stream) is always `Json`. This module decides nothing about which facts an
//! event has; its callers do.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The field of a publish's detail that holds the start of its payload.
const PREVIEW: &str = "preview";

/// The facts of an accepted publish. Fields are in the order a JSON map sorts them, so the stored
/// text is what the map gave before.
#[derive(Debug, Clone, Serialize)]
pub struct PublishDetail {
    /// Who published from the console, if it was the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The request body's size.
    pub bytes: usize,
    pub channels: Vec<String>,
    pub messages: usize,
    /// The start of the payload, unless the app switched previews off (then `null`).
    pub preview: Option<String>,
}

/// What happened, in detail.
#[derive(Debug, Clone)]
pub enum Detail {
    Publish(Box<PublishDetail>),
    Json(Value),
}

impl Detail {
    /// The number of messages a publish made.
    pub fn messages(&self) -> Option<u64> {
        match self {
            Detail::Publish(p) => Some(p.messages as u64),
            Detail::Json(v) => v["messages"].as_u64(),
        }
    }

    /// A text field (a close's `cause`, say); a publish's facts have none.
    pub fn text(&self, field: &str) -> Option<&str> {
        match self {
            Detail::Publish(_) => None,
            Detail::Json(v) => v[field].as_str(),
        }
    }

    /// The same facts without the payload preview field (a publish's has one even when it is
    /// `null`: previews switched off). Only the process log asks for this.
    pub fn without_preview(&self) -> Cow<'_, Detail> {
        let mut shown = match self {
            Detail::Publish(p) => serde_json::to_value(p).unwrap_or_default(),
            Detail::Json(v) if v.get(PREVIEW).is_some() => v.clone(),
            Detail::Json(_) => return Cow::Borrowed(self),
        };
        if let Some(fields) = shown.as_object_mut() {
            fields.remove(PREVIEW);
        }
        Cow::Owned(Detail::Json(shown))
    }
}

impl From<Value> for Detail {
    fn from(value: Value) -> Self {
        Detail::Json(value)
    }
}

impl From<PublishDetail> for Detail {
    fn from(publish: PublishDetail) -> Self {
        Detail::Publish(Box::new(publish))
    }
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Detail::Publish(p) => p.serialize(serializer),
            Detail::Json(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Detail {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Detail::Json)
    }
}

/// As compact JSON (the process log's form).
impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn publish(preview: Option<&str>, by: Option<&str>) -> PublishDetail {
        PublishDetail {
            by: by.map(str::to_string),
            bytes: 89,
            channels: vec!["a".into(), "b".into()],
            messages: 2,
            preview: preview.map(str::to_string),
        }
    }

    #[test]
    fn a_publish_serializes_as_the_map_it_replaces() {
        for (preview, by) in [(Some("{\"x\":1}"), None), (None, Some("admin:1")), (None, None)] {
            let map = match by {
                Some(by) => json!({ "messages": 2, "channels": ["a", "b"], "bytes": 89, "preview": preview, "by": by }),
                None => json!({ "messages": 2, "channels": ["a", "b"], "bytes": 89, "preview": preview }),
            };
            let typed = Detail::from(publish(preview, by));
            assert_eq!(serde_json::to_string(&typed).ok(), serde_json::to_string(&map).ok());
            assert_eq!(typed.to_string(), map.to_string());
            assert_eq!(typed.messages(), Some(2));
        }
    }

    #[test]
    fn facts_are_read_alike_from_either_form_and_previews_are_dropped_from_either() {
        let json = Detail::from(json!({ "messages": 3, "cause": "ping_timeout", "preview": "p" }));
        assert_eq!(json.messages(), Some(3));
        assert_eq!(json.text("cause"), Some("ping_timeout"));
        assert_eq!(
            json.without_preview().to_string(),
            r#"{"cause":"ping_timeout","messages":3}"#
        );
        let typed = Detail::from(publish(Some("secret"), None));
        assert_eq!(
            typed.without_preview().to_string(),
            r#"{"bytes":89,"channels":["a","b"],"messages":2}"#
        );
        let switched_off = Detail::from(publish(None, None));
        assert!(!switched_off.without_preview().to_string().contains(PREVIEW));
        let plain = Detail::from(json!({ "bytes": 1 }));
        assert!(matches!(plain.without_preview(), Cow::Borrowed(_)));
        let read: Detail = serde_json::from_str(&typed.to_string()).expect("its own JSON");
        assert_eq!(read.messages(), Some(2));
        assert_eq!(read.to_string(), typed.to_string());
    }
}
