//! Reads the load tool's stamp out of a delivered frame without a JSON parse: the per-frame work of
//! the subscribers must stay small, or the tool measures itself.
//!
//! Every message the tool publishes has the data `{"s":SEQ,"t":UNIX_NANOS}`; in a Pusher frame that
//! data is a JSON string, so the frame holds `\"s\":SEQ` and `\"t\":UNIX_NANOS`.

/// A message's sequence number on its channel and the time it was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub sent_ns: u128,
}

/// The data of message `seq` published at `sent_ns`.
pub fn data(seq: u64, sent_ns: u128) -> String {
    format!(r#"{{"s":{seq},"t":{sent_ns}}}"#)
}

/// The stamp of a frame of event `bench`; None for any other frame.
pub fn read(frame: &str) -> Option<Stamp> {
    if !frame.contains(r#""event":"bench""#) {
        return None;
    }
    Some(Stamp {
        seq: number_after(frame, r#"\"s\":"#)?.try_into().ok()?,
        sent_ns: number_after(frame, r#"\"t\":"#)?,
    })
}

/// The unsigned number right after `key` in `text`.
pub fn number_after(text: &str, key: &str) -> Option<u128> {
    let start = text.find(key)? + key.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stamp_of_a_pusher_frame() {
        let data = serde_json::to_string(&data(42, 1_764_000_000_123_456_789)).unwrap();
        let frame = format!(r#"{{"event":"bench","channel":"bench-0","data":{data},"epoch":"e","serial":7}}"#);
        assert_eq!(
            read(&frame),
            Some(Stamp {
                seq: 42,
                sent_ns: 1_764_000_000_123_456_789
            })
        );
    }

    #[test]
    fn other_frames_have_no_stamp() {
        assert_eq!(read(r#"{"event":"pusher:pong","data":"{}"}"#), None);
        assert_eq!(read(r#"{"event":"bench","data":"{\"s\":\"x\"}"}"#), None);
    }
}
