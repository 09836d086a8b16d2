//! Just enough WebSocket framing (RFC 6455 §5.2) for the readers: server frames parsed in place,
//! and the client's few replies (pongs) framed with a mask, as clients must.

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The start of a buffer, read as one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// More bytes are needed.
    Incomplete,
    /// A frame (`len` bytes of the buffer) with its opcode and unmasked payload. A fragmented
    /// message's parts come as they are: servers do not fragment the small frames measured here.
    Frame { opcode: u8, payload: &'a [u8], len: usize },
}

pub fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < 2 {
        return Parsed::Incomplete;
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (payload_len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(be) as usize, 10)
        }
        126 | 127 => return Parsed::Incomplete,
        n => (n as usize, 2),
    };
    if masked {
        // Servers never mask; a masked frame is skipped whole rather than misread.
        at += 4;
    }
    let len = at + payload_len;
    if buf.len() < len {
        return Parsed::Incomplete;
    }
    let opcode = if masked { CONTINUATION } else { opcode };
    Parsed::Frame {
        opcode,
        payload: &buf[at..len],
        len,
    }
}

/// A masked client frame (the mask is fixed: these replies carry nothing secret).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

pub fn client_text(payload: &[u8]) -> Vec<u8> {
    client_frame(TEXT, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..=125 => f.push(n as u8),
            n @ 126..=0xFFFF => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn parses_frames_of_every_length_encoding_and_waits_for_the_rest() {
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let payload = vec![b'a'; len];
            let wire = server_frame(TEXT, &payload);
            assert_eq!(
                parse(&wire),
                Parsed::Frame {
                    opcode: TEXT,
                    payload: &payload,
                    len: wire.len()
                }
            );
            assert_eq!(parse(&wire[..wire.len() - 1]), Parsed::Incomplete, "len {len}");
            assert_eq!(parse(&wire[..1]), Parsed::Incomplete);
        }
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut wire = server_frame(TEXT, b"one");
        wire.extend(server_frame(PING, b""));
        let Parsed::Frame { len, .. } = parse(&wire) else {
            panic!()
        };
        assert_eq!(
            parse(&wire[len..]),
            Parsed::Frame {
                opcode: PING,
                payload: b"",
                len: 2
            }
        );
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        let f = client_frame(PONG, b"hello");
        assert_eq!(f[0], 0x80 | PONG);
        assert_eq!(f[1], 0x80 | 5);
        let mask = &f[2..6];
        let unmasked: Vec<u8> = f[6..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        assert_eq!(unmasked, b"hello");
    }
}
