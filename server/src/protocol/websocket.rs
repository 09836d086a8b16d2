//! The WebSocket layer under the Pusher frames, as far as Herald writes it itself: the framing of
//! server-to-client text frames (so a message is framed once, not once per subscriber) and the
//! handshake's accept key. Reading client frames is tungstenite's.

use sha1::{Digest, Sha1};

/// The GUID of RFC 6455 §1.3, appended to the client's key to prove the server read it.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &[u8]) -> String {
    use base64::Engine;
    let mut sha1 = Sha1::new();
    sha1.update(client_key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Whether a client's `Sec-WebSocket-Key` is what RFC 6455 §4.1 asks for: 16 bytes in base64.
pub fn valid_client_key(key: &[u8]) -> bool {
    use base64::Engine;
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|k| k.len() == 16)
}

/// Whether `frame` (one whole frame, as tungstenite writes it) is a close frame (opcode 8).
pub fn is_close_frame(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x0F == 0x8)
}

/// An unmasked, final text frame carrying `payload` (server frames are never masked).
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x81); // FIN, opcode 1 (text)
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The length of the header `text_frame` puts before a payload of `len` bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_the_rfc_example() {
        // RFC 6455 §1.3
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn client_keys_are_16_bytes_in_base64() {
        assert!(valid_client_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_client_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!valid_client_key(b"not base64 at all!!!!!!!"));
        assert!(!valid_client_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn close_frames_are_told_by_their_opcode() {
        assert!(is_close_frame(&[0x88, 0x02, 0x03, 0xe8]));
        assert!(!is_close_frame(&text_frame(b"{}")));
        assert!(!is_close_frame(&[0x8a, 0x00])); // pong
        assert!(!is_close_frame(&[]));
    }

    #[test]
    fn frames_use_the_shortest_length_encoding() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let payload = vec![b'x'; len];
            let frame = text_frame(&payload);
            assert_eq!(frame.len(), len + header, "len {len}");
            assert_eq!(header_len(len), header);
            assert_eq!(frame[0], 0x81);
            assert_eq!(&frame[header..], &payload[..]);
        }
        assert_eq!(text_frame(b"hi"), [0x81, 2, b'h', b'i']);
        assert_eq!(&text_frame(&[b'x'; 300])[..4], &[0x81, 126, 0x01, 0x2C]);
    }

    #[test]
    fn tungstenite_reads_what_we_write() {
        use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
        use tokio_tungstenite::tungstenite::Message;
        for len in [3usize, 200, 70_000] {
            let text: String = "é".repeat(len / 2);
            let wire = text_frame(text.as_bytes());
            let mut client = WebSocket::from_raw_socket(std::io::Cursor::new(wire), Role::Client, None);
            match client.read().expect("a frame") {
                Message::Text(t) => assert_eq!(t.as_str(), text),
                other => panic!("{other:?}"),
            }
        }
    }
}
