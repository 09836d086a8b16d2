//! What a swarm connection needs out of a server frame, read without a JSON parse (thousands of
//! connections share two cores with the servers): the event, the stamp of a bench message, the
//! position (`epoch`, `serial`) Herald adds to stored events and to `subscription_succeeded`, and
//! whether a subscription was `recovered`.

use crate::stamp::{self, Stamp};

/// One frame, as far as the swarm cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Established {
        socket_id: &'a str,
    },
    Ping,
    Subscribed {
        position: Option<Position>,
        recovered: Option<bool>,
    },
    Message {
        stamp: Stamp,
        position: Option<Position>,
    },
    /// `pusher:error`; `reconnect` for codes 4200-4299 (the server asks the client to come back:
    /// a stopping node says so to every socket), not a fault.
    Error {
        reconnect: bool,
    },
    Other,
}

/// A channel position, as the client sends it back in `resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub epoch: String,
    pub serial: u64,
}

pub fn read(text: &str) -> Frame<'_> {
    let Some(event) = string_after(text, r#""event":""#) else {
        return Frame::Other;
    };
    match event {
        "pusher:connection_established" => match string_after(text, r#"\"socket_id\":\""#) {
            Some(id) => Frame::Established {
                socket_id: id.trim_end_matches('\\'),
            },
            None => Frame::Other,
        },
        "pusher:ping" => Frame::Ping,
        "pusher:error" => {
            let code = stamp::number_after(text, r#""code":"#).or_else(|| stamp::number_after(text, r#"\"code\":"#));
            Frame::Error {
                reconnect: code.is_some_and(|c| (4200..4300).contains(&c)),
            }
        }
        "pusher_internal:subscription_succeeded" => Frame::Subscribed {
            position: position(text),
            recovered: if text.contains(r#""recovered":true"#) {
                Some(true)
            } else if text.contains(r#""recovered":false"#) {
                Some(false)
            } else {
                None
            },
        },
        _ => match stamp::read(text) {
            Some(stamp) => Frame::Message {
                stamp,
                position: position(text),
            },
            None => Frame::Other,
        },
    }
}

fn position(text: &str) -> Option<Position> {
    Some(Position {
        epoch: string_after(text, r#""epoch":""#)?.to_string(),
        serial: stamp::number_after(text, r#""serial":"#)?.try_into().ok()?,
    })
}

/// The text after `key` up to the next `"`.
fn string_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_herald_frames() {
        let established = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#;
        assert_eq!(read(established), Frame::Established { socket_id: "123.456" });
        assert_eq!(read(r#"{"event":"pusher:ping","data":{}}"#), Frame::Ping);
        let subscribed = r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}","epoch":"77","serial":9,"recovered":false,"recovery_reason":"expired"}"#;
        assert_eq!(
            read(subscribed),
            Frame::Subscribed {
                position: Some(Position {
                    epoch: "77".into(),
                    serial: 9
                }),
                recovered: Some(false)
            }
        );
        let message = r#"{"event":"bench","channel":"c","data":"{\"s\":4,\"t\":1000}","epoch":"77","serial":10}"#;
        assert_eq!(
            read(message),
            Frame::Message {
                stamp: Stamp { seq: 4, sent_ns: 1000 },
                position: Some(Position {
                    epoch: "77".into(),
                    serial: 10
                })
            }
        );
        assert_eq!(
            read(r#"{"event":"pusher:error","data":{"code":4001}}"#),
            Frame::Error { reconnect: false }
        );
        assert_eq!(
            read(r#"{"event":"pusher:error","data":{"code":4200,"message":"stopping"}}"#),
            Frame::Error { reconnect: true }
        );
        assert_eq!(
            read(r#"{"event":"pusher:error","data":"{\"code\":4201}"}"#),
            Frame::Error { reconnect: true }
        );
        assert_eq!(read("not json"), Frame::Other);
    }
}
