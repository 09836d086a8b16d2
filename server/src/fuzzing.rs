//! Entry points for the fuzz targets in `server/fuzz` (built only with `--cfg fuzzing`, which
//! `cargo fuzz` sets, and in tests): each takes the fuzzer's bytes, runs them through the code that
//! takes the same input from the network, and asserts what must hold for any input. A panic here is
//! a finding. The unit test below runs every checked-in corpus file and every past finding
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through its target, so `cargo test`
//! keeps them fixed without nightly.
//!
//! Owns no behaviour of its own: it only calls what the server calls.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::admin::{admins, apps, keys, messages, session, settings_check, tenants};
use crate::config::AppCeilings;
use crate::protocol::frame::{self, ClientFrame, EventData};
use crate::protocol::http_signature::{HttpAuthError, SignedRequest, TIMESTAMP_WINDOW_SECS};
use crate::protocol::query::Query;
use crate::protocol::{position, signature, ChannelName, EventName, SocketId};
use crate::publish::request::{validate, EventRequest};
use crate::store::{App, AppSettings, NewKey};
use crate::webhooks::egress::EgressPolicy;
use crate::webhooks::payload::{self, WebhookEvent};

const KEY: &str = "fuzz-key";
const SECRET: &str = "fuzz-secret";
const SOCKET: &str = "123.456";

/// A fuzz target: takes any bytes, panics only on a finding.
pub type Target = fn(&[u8]);

/// The targets by name, as `cargo fuzz` and the corpus folders call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("client_frame", client_frame),
    ("names", names),
    ("http_request", http_request),
    ("subscribe", subscribe),
    ("admin_body", admin_body),
    ("webhook_payload", webhook_payload),
];

/// A WebSocket text frame from a client, as the session reads it.
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match frame::parse(text) {
        Ok(ClientFrame::Subscribe(req)) => subscribe_request(req),
        Ok(ClientFrame::Signin { auth, user_data }) => {
            let _ = signature::check_auth(&auth, KEY, SECRET, &signature::signin_string(SOCKET, &user_data));
        }
        Ok(ClientFrame::ClientEvent { event, channel, data }) => {
            let _ = EventName::parse(&event);
            let encoded = frame::channel_event(&event, &channel, EventData::Json(&data), None, None);
            assert_json(&encoded);
        }
        Ok(_) => {}
        Err(e) => assert_json(&frame::error(None, &e.to_string(), None)),
    }
}

/// Channel, event and user names and socket ids: what parses is what was given, and every frame
/// naming it is JSON.
pub fn names(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(channel) = ChannelName::parse(raw) {
        assert_eq!(channel.as_str(), raw);
        assert_eq!(channel.is_presence(), raw.starts_with("presence-"));
        if let Some(user) = channel.server_to_user_id() {
            let again = ChannelName::server_to_user(user).expect("a server-to-user id names its channel");
            assert_eq!(again.as_str(), raw);
        }
        assert_json(&frame::subscription_count(raw, 1));
        assert_json(&frame::channel_event("e", raw, EventData::Text(raw), Some(raw), None));
    }
    if let Ok(event) = EventName::parse(raw) {
        assert_eq!(event.as_str(), raw);
    }
    if let Some(id) = SocketId::parse(raw) {
        assert!(crate::protocol::socket_id::is_valid(id.as_str()));
    }
    let _ = crate::protocol::name::check_user_id(raw);
}

/// A signed Pusher HTTP API request: the first line is the query string, the rest the body. The
/// query decodes as `form_urlencoded` decodes it. Any request verifies or is refused with a reason;
/// the same request signed correctly never fails on its signature; its body goes through the
/// publish validation.
pub fn http_request(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (raw_query, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let query = Query::decode(raw_query);
    let decoded: Vec<(String, String)> = form_urlencoded::parse(raw_query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let split: Vec<(&str, &str)> = query.iter().collect();
    let expected: Vec<(&str, &str)> = decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(split, expected, "a query splits as form_urlencoded decodes it");
    let now = 1_700_000_000;
    let request = SignedRequest {
        method: "POST",
        path: "/apps/1/events",
        query: &query,
        body,
    };
    let _ = request.auth_key();
    let _ = request.verify(SECRET, now);

    let mut resigned = Query::from_pairs(query.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("auth_signature")));
    let unsigned = SignedRequest {
        query: &resigned,
        ..request
    };
    let signature = signature::sign(SECRET, &unsigned.string_to_sign());
    resigned.push("auth_signature", &signature);
    let signed = SignedRequest {
        query: &resigned,
        ..request
    };
    if let Err(e @ HttpAuthError::Signature { .. }) = signed.verify(SECRET, now) {
        panic!("a correctly signed request was refused: {e}");
    }
    let _ = TIMESTAMP_WINDOW_SECS;

    if let Ok(event) = serde_json::from_slice::<EventRequest>(body) {
        let _ = validate(&fuzz_app(), event);
    }
}

/// `pusher:subscribe` data: the channel, its auth signature and a resume or rewind position.
pub fn subscribe(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<frame::SubscribeRequest>(data) {
        subscribe_request(req);
    }
}

fn subscribe_request(req: frame::SubscribeRequest) {
    let _ = position::start_from(req.resume.as_ref(), req.rewind.as_ref());
    let Ok(channel) = ChannelName::parse(&req.channel) else {
        return;
    };
    let signed = signature::channel_auth_string(SOCKET, channel.as_str(), req.channel_data.as_deref());
    if let Some(auth) = &req.auth {
        let _ = signature::check_auth(auth, KEY, SECRET, &signed);
    }
    let good = format!("{KEY}:{}", signature::sign(SECRET, &signed));
    assert!(
        signature::check_auth(&good, KEY, SECRET, &signed).is_ok(),
        "a correct auth was refused"
    );
    if let Some(channel_data) = &req.channel_data {
        let _ = serde_json::from_str::<Value>(channel_data);
    }
}

/// An admin API body: the first byte picks the request type, the rest is its JSON. Whatever
/// deserializes goes through the checks its handler runs before the store.
pub fn admin_body(data: &[u8]) {
    let Some((kind, json)) = data.split_first() else { return };
    match kind % 11 {
        0 => drop(parse::<tenants::CreateTenant>(json)),
        1 => drop(parse::<tenants::UpdateTenant>(json)),
        2 => {
            if let Some(req) = parse::<apps::CreateApp>(json) {
                let new = req.into_new_app();
                if settings_check::check_sync(&AppCeilings::default(), &EgressPolicy::default(), &new.settings).is_ok()
                {
                    let _ = new.into_parts("tenant", 0);
                }
            }
        }
        3 => {
            if let Some(settings) = parse::<apps::UpdateApp>(json).and_then(|r| r.settings) {
                let _ = settings_check::check_sync(&AppCeilings::default(), &EgressPolicy::default(), &settings);
                settings.apply(&mut AppSettings::default());
            }
        }
        4 => {
            if let Some(req) = parse::<keys::CreateKey>(json) {
                let _ = NewKey::new(None, None, req.label, req.expires_at);
            }
        }
        5 => drop(parse::<keys::UpdateKey>(json)),
        6 => {
            if let Some(req) = parse::<admins::CreateAdmin>(json) {
                let _ = session::check_email(&req.email);
                let _ = req.password.map(|p| crate::admin::password::check_strength(&p));
            }
        }
        7 => drop(parse::<admins::UpdateAdmin>(json)),
        8 => {
            if let Some(req) = parse::<session::LoginRequest>(json) {
                let _ = session::check_email(&req.email);
            }
        }
        9 => {
            if let Some(req) = parse::<session::ChangePassword>(json) {
                let _ = crate::admin::password::check_strength(&req.new_password);
            }
        }
        _ => {
            if let Some(req) = parse::<messages::PublishMessage>(json) {
                let _ = validate(&fuzz_app(), messages::event_request(req));
            }
        }
    }
}

/// Webhook events built from fields separated by NUL bytes (channel, user, event, data): the body
/// is JSON holding every event, and its signature is the hex of an HMAC-SHA256.
pub fn webhook_payload(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut fields = text.split('\0');
    let (channel, user, event, body) = (fields.next(), fields.next(), fields.next(), fields.next());
    let Some(Ok(channel)) = channel.map(ChannelName::parse) else {
        return;
    };
    let user = user.unwrap_or("u");
    let mut events = vec![
        WebhookEvent::ChannelOccupied {
            channel: channel.clone(),
        },
        WebhookEvent::MemberAdded {
            channel: channel.clone(),
            user_id: user.into(),
        },
        WebhookEvent::SubscriptionCount {
            channel: channel.clone(),
            subscription_count: data.len(),
        },
    ];
    if let Some(socket) = SocketId::parse(SOCKET) {
        let (event, data) = (event.unwrap_or("client-e").to_string(), body.unwrap_or("").to_string());
        events.push(WebhookEvent::client_event(
            channel.clone(),
            event,
            data,
            socket,
            Some(user.into()),
        ));
    }
    let body = payload::body(1_700_000_000_000, &events);
    let parsed: Value = serde_json::from_str(&body).expect("a webhook body is JSON");
    let listed = parsed["events"].as_array().map(Vec::len);
    assert_eq!(listed, Some(events.len()), "every event is in the body");
    for event in parsed["events"].as_array().into_iter().flatten() {
        assert_eq!(event["channel"].as_str(), Some(channel.as_str()));
    }
    let signature = payload::signature(SECRET, &body);
    assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
}

fn parse<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

fn assert_json(text: &str) {
    if let Err(e) = serde_json::from_str::<Value>(text) {
        panic!("not JSON ({e}): {text}");
    }
}

fn fuzz_app() -> App {
    App {
        id: "1".into(),
        tenant_id: "t".into(),
        name: "fuzz".into(),
        settings: AppSettings::default(),
        created_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::TARGETS;

    /// Every checked-in corpus input and every past finding runs through its target without a panic.
    #[test]
    fn corpus_and_regressions_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut ran = 0;
        for (name, target) in TARGETS {
            for folder in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(folder).join(name)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let input = std::fs::read(entry.path()).expect("readable corpus file");
                    target(&input);
                    ran += 1;
                }
            }
        }
        assert!(ran >= TARGETS.len(), "the corpus is checked in: {ran} inputs ran");
    }
}
