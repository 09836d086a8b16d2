//! Frames: what a client may send (parsed) and what the server sends (encoded once; the hub shares the bytes).
//!
//! `pusher:` frames from the server carry `data` as a JSON *string* (double encoding), except
//! `pusher:error` and `pusher:signin_success`, whose `data` is an object, as Pusher sends them.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::position::{NotRecovered, Position};

/// A frame a client sent, after its envelope was checked.
#[derive(Debug)]
pub enum ClientFrame {
    Ping,
    Pong,
    Subscribe(SubscribeRequest),
    Unsubscribe {
        channel: String,
    },
    Signin {
        auth: String,
        user_data: String,
    },
    /// A `client-` event for other subscribers of `channel`.
    ClientEvent {
        event: String,
        channel: String,
        data: Box<RawValue>,
    },
    /// A `pusher:` event this server does not know, or an event without the `client-` prefix.
    Unknown {
        event: String,
    },
}

/// `pusher:subscribe` data.
#[derive(Debug, Deserialize)]
pub struct SubscribeRequest {
    pub channel: String,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub channel_data: Option<String>,
    /// Herald extension: resume after a position (see `position`).
    #[serde(default)]
    pub resume: Option<Value>,
    /// Herald extension: replay the last messages (a count, or `"30s"`).
    #[serde(default)]
    pub rewind: Option<Value>,
}

#[derive(Deserialize)]
struct SigninData {
    auth: String,
    user_data: String,
}

#[derive(Deserialize)]
struct ChannelOnly {
    channel: String,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// Why a client frame could not be read. The message goes back in a `pusher:error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("Invalid JSON: {0}")]
    Json(String),
    #[error("{event}: data must be an object with {expected}")]
    Data { event: String, expected: &'static str },
    #[error("{0}: a client event needs a channel")]
    NoChannel(String),
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let env: Envelope = serde_json::from_str(text).map_err(|e| FrameError::Json(e.to_string()))?;
    match env.event.as_str() {
        "pusher:ping" => Ok(ClientFrame::Ping),
        "pusher:pong" => Ok(ClientFrame::Pong),
        "pusher:subscribe" => data(&env, "channel, and auth/channel_data where needed").map(ClientFrame::Subscribe),
        "pusher:unsubscribe" => {
            let d: ChannelOnly = data(&env, "channel")?;
            Ok(ClientFrame::Unsubscribe { channel: d.channel })
        }
        "pusher:signin" => {
            let d: SigninData = data(&env, "auth and user_data strings")?;
            Ok(ClientFrame::Signin {
                auth: d.auth,
                user_data: d.user_data,
            })
        }
        e if e.starts_with("client-") => {
            let channel = env
                .channel
                .clone()
                .ok_or_else(|| FrameError::NoChannel(env.event.clone()))?;
            let data = env.data.unwrap_or_else(|| raw("{}"));
            // Relayed as sent, so it must be JSON every subscriber's parser reads: serde_json's
            // raw values accept numbers no parser can hold (1e999), which strict clients refuse.
            serde_json::from_str::<Value>(data.get()).map_err(|e| FrameError::Json(format!("data: {e}")))?;
            Ok(ClientFrame::ClientEvent {
                event: env.event,
                channel,
                data,
            })
        }
        _ => Ok(ClientFrame::Unknown { event: env.event }),
    }
}

/// Reads `data` as `T`, whether the client sent it as an object or as a JSON string holding one.
fn data<T: for<'de> Deserialize<'de>>(env: &Envelope, expected: &'static str) -> Result<T, FrameError> {
    let bad = || FrameError::Data {
        event: env.event.clone(),
        expected,
    };
    let raw = env.data.as_ref().ok_or_else(bad)?;
    if let Ok(t) = serde_json::from_str::<T>(raw.get()) {
        return Ok(t);
    }
    let inner: String = serde_json::from_str(raw.get()).map_err(|_| bad())?;
    serde_json::from_str(&inner).map_err(|_| bad())
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid"))
}

/// The `data` of a channel event: a string (HTTP API) or any JSON value (client events).
#[derive(Debug, Clone, Copy)]
pub enum EventData<'a> {
    Text(&'a str),
    Json(&'a RawValue),
}

/// Encodes a channel event. This runs once per message per channel, not per subscriber.
pub fn channel_event(
    event: &str,
    channel: &str,
    data: EventData<'_>,
    user_id: Option<&str>,
    position: Option<Position>,
) -> String {
    let mut out = Vec::with_capacity(80 + event.len() + channel.len() + 16);
    out.extend_from_slice(b"{\"event\":");
    write_str(&mut out, event);
    out.extend_from_slice(b",\"channel\":");
    write_str(&mut out, channel);
    out.extend_from_slice(b",\"data\":");
    match data {
        EventData::Text(t) => write_str(&mut out, t),
        EventData::Json(v) => out.extend_from_slice(v.get().as_bytes()),
    }
    if let Some(uid) = user_id {
        out.extend_from_slice(b",\"user_id\":");
        write_str(&mut out, uid);
    }
    if let Some(p) = position {
        write_position(&mut out, p);
    }
    out.push(b'}');
    // Every piece written above is valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `,"epoch":"E","serial":N` (the epoch is a string: it may exceed what JavaScript numbers hold).
fn write_position(out: &mut Vec<u8>, p: Position) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(b",\"epoch\":\"");
    out.extend_from_slice(buf.format(p.epoch).as_bytes());
    out.extend_from_slice(b"\",\"serial\":");
    out.extend_from_slice(buf.format(p.serial).as_bytes());
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A `pusher:` or `pusher_internal:` frame whose `data` is double-encoded.
fn internal(event: &str, channel: Option<&str>, data: &Value) -> String {
    let mut frame = json!({ "event": event, "data": data.to_string() });
    if let Some(c) = channel {
        frame["channel"] = json!(c);
    }
    frame.to_string()
}

pub fn connection_established(socket_id: &str, activity_timeout: u64) -> String {
    internal(
        "pusher:connection_established",
        None,
        &json!({ "socket_id": socket_id, "activity_timeout": activity_timeout }),
    )
}

/// `pusher:error`; `code` is `None` for errors that do not end the connection, as Pusher sends them.
pub fn error(code: Option<u16>, message: &str, channel: Option<&str>) -> String {
    let mut frame = json!({ "event": "pusher:error", "data": { "code": code, "message": message } });
    if let Some(c) = channel {
        frame["channel"] = json!(c);
    }
    frame.to_string()
}

pub fn pong() -> String {
    r#"{"event":"pusher:pong","data":"{}"}"#.to_string()
}

/// `subscription_succeeded`, with the position the subscriber's stream starts after and, when it asked
/// to resume or rewind, whether that worked (`Some(Err(reason))` when not).
pub fn subscription_succeeded(
    channel: &str,
    data: &Value,
    start: Position,
    recovered: Option<Result<(), NotRecovered>>,
) -> String {
    let mut frame = json!({
        "event": "pusher_internal:subscription_succeeded",
        "channel": channel,
        "data": data.to_string(),
        "epoch": start.epoch.to_string(),
        "serial": start.serial,
    });
    match recovered {
        Some(Ok(())) => frame["recovered"] = json!(true),
        Some(Err(reason)) => {
            frame["recovered"] = json!(false);
            frame["recovery_reason"] = json!(reason.as_str());
        }
        None => {}
    }
    frame.to_string()
}

pub fn member_added(channel: &str, user_id: &str, user_info: &Value) -> String {
    internal(
        "pusher_internal:member_added",
        Some(channel),
        &json!({ "user_id": user_id, "user_info": user_info }),
    )
}

pub fn member_removed(channel: &str, user_id: &str) -> String {
    internal(
        "pusher_internal:member_removed",
        Some(channel),
        &json!({ "user_id": user_id }),
    )
}

pub fn cache_miss(channel: &str) -> String {
    json!({ "event": "pusher:cache_miss", "channel": channel, "data": "{}" }).to_string()
}

pub fn subscription_count(channel: &str, count: usize) -> String {
    internal(
        "pusher_internal:subscription_count",
        Some(channel),
        &json!({ "subscription_count": count }),
    )
}

pub fn signin_success(user_data: &str) -> String {
    json!({ "event": "pusher:signin_success", "data": { "user_data": user_data } }).to_string()
}

/// `pusher_internal:watchlist_events` with `online` / `offline` entries; empty entries are left out.
pub fn watchlist_events(entries: &[(&str, &[&str])]) -> String {
    let events: Vec<Value> = entries
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(name, ids)| json!({ "name": name, "user_ids": ids }))
        .collect();
    internal("pusher_internal:watchlist_events", None, &json!({ "events": events }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(s: &str) -> ClientFrame {
        parse(s).unwrap()
    }

    #[test]
    fn subscribe_with_object_or_string_data() {
        let a = parse_ok(r#"{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:s"}}"#);
        let b = parse_ok(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"private-a\",\"auth\":\"k:s\"}"}"#);
        for f in [a, b] {
            match f {
                ClientFrame::Subscribe(s) => {
                    assert_eq!(s.channel, "private-a");
                    assert_eq!(s.auth.as_deref(), Some("k:s"));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(parse("not json"), Err(FrameError::Json(_))));
        assert!(matches!(parse(r#"{"data":{}}"#), Err(FrameError::Json(_))));
        assert!(matches!(
            parse(r#"{"event":"pusher:subscribe"}"#),
            Err(FrameError::Data { .. })
        ));
        assert!(matches!(
            parse(r#"{"event":"pusher:subscribe","data":{"x":1}}"#),
            Err(FrameError::Data { .. })
        ));
        assert!(matches!(
            parse(r#"{"event":"client-x","data":{}}"#),
            Err(FrameError::NoChannel(_))
        ));
        assert!(matches!(
            parse_ok(r#"{"event":"hello","data":{}}"#),
            ClientFrame::Unknown { .. }
        ));
    }

    #[test]
    fn client_event_keeps_raw_data() {
        match parse_ok(r#"{"event":"client-typing","channel":"private-a","data":{"a":[1,2]}}"#) {
            ClientFrame::ClientEvent { data, .. } => assert_eq!(data.get(), r#"{"a":[1,2]}"#),
            other => panic!("{other:?}"),
        }
    }

    /// Found by the `client_frame` fuzz target: a number no parser can hold was relayed as sent.
    #[test]
    fn client_event_data_with_a_number_out_of_range_is_refused() {
        let frame = r#"{"event":"client-typing","channel":"private-a","data":{"x":[1333e333373381]}}"#;
        assert!(matches!(parse(frame), Err(FrameError::Json(m)) if m.contains("out of range")));
    }

    #[test]
    fn channel_event_encoding_is_valid_json() {
        let at = Position { epoch: 9, serial: 42 };
        let b = channel_event(
            "my-event",
            "ch",
            EventData::Text("{\"x\":\"\\\"q\"}"),
            Some("u1"),
            Some(at),
        );
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["event"], "my-event");
        assert_eq!(v["data"], "{\"x\":\"\\\"q\"}");
        assert_eq!(v["user_id"], "u1");
        assert_eq!((v["epoch"].as_str(), v["serial"].as_u64()), (Some("9"), Some(42)));
    }

    #[test]
    fn internal_frames_double_encode() {
        let v: Value = serde_json::from_str(&connection_established("1.2", 120)).unwrap();
        let inner: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        assert_eq!(inner["socket_id"], "1.2");
        let e: Value = serde_json::from_str(&error(None, "bad", Some("c"))).unwrap();
        assert!(e["data"]["code"].is_null());
        assert_eq!(e["channel"], "c");
    }
}
