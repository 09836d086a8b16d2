//! A server frame as it goes on the wire: the Pusher JSON inside a WebSocket text frame, framed once
//! and shared by every connection it is sent to (cloning it is a reference-count increment).

use bytes::Bytes;

use crate::protocol::websocket;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    wire: Bytes,
    payload_at: u8,
}

impl Frame {
    /// The bytes to write to the socket: header and payload.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    /// The Pusher JSON.
    pub fn payload(&self) -> &[u8] {
        &self.wire[self.payload_at as usize..]
    }

    /// The size of the message as the client sees it (the registry and metrics count this).
    pub fn payload_len(&self) -> usize {
        self.wire.len() - self.payload_at as usize
    }

    /// The Pusher JSON as text (tests and logs).
    pub fn text(&self) -> &str {
        // Built from a String, so always UTF-8.
        std::str::from_utf8(self.payload()).unwrap_or_default()
    }
}

impl From<String> for Frame {
    fn from(json: String) -> Self {
        Frame {
            payload_at: websocket::header_len(json.len()) as u8,
            wire: Bytes::from(websocket::text_frame(json.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_payload_behind_its_header() {
        for len in [5, 500, 70_000] {
            let json = "x".repeat(len);
            let frame = Frame::from(json.clone());
            assert_eq!(frame.payload_len(), len);
            assert_eq!(frame.text(), json);
            assert_eq!(frame.wire().len(), len + websocket::header_len(len));
        }
    }
}
