//! Payload previews for the lifecycle log: the start of a text or of a request body, cut at a
//! character boundary and marked when cut. Whether an app's events hold previews is decided by their
//! callers (the app's `log_payload_previews`).

/// The first `max` characters of `text`, marked when cut.
pub fn preview(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => shown(&text[..end], true),
        None => text.to_string(),
    }
}

/// `start` as a preview shows it: followed by `…` when it was cut from something longer.
fn shown(start: &str, cut: bool) -> String {
    let mut shown = String::with_capacity(start.len() + '…'.len_utf8());
    shown.push_str(start);
    if cut {
        shown.push('…');
    }
    shown
}

/// `preview` of `bytes` read as UTF-8 (what is not shows as U+FFFD). Only their start is read: `max`
/// characters take at most 4 bytes each, and one byte more tells whether there is more.
pub fn preview_bytes(bytes: &[u8], max: usize) -> String {
    // Most payloads start with ASCII: then `max` bytes are `max` characters, and no character needs
    // decoding to find the cut.
    let head = &bytes[..bytes.len().min(max)];
    if head.is_ascii() {
        if let Ok(text) = std::str::from_utf8(head) {
            return shown(text, bytes.len() > max);
        }
    }
    let start = &bytes[..bytes.len().min(max.saturating_mul(4).saturating_add(1))];
    match std::str::from_utf8(start) {
        Ok(text) => preview(text, max),
        // Invalid, or a character cut at the end of `start` (after the first `max`).
        Err(_) => preview(&String::from_utf8_lossy(start), max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_the_start_of_a_text_marked_when_cut() {
        assert_eq!(preview("héllo", 2), "hé…");
        assert_eq!(preview("hi", 2), "hi");
    }

    #[test]
    fn a_preview_of_bytes_reads_only_their_start_and_shows_what_is_not_utf8() {
        assert_eq!(preview_bytes("héllo".as_bytes(), 2), "hé…");
        assert_eq!(preview_bytes(b"hi", 2), "hi");
        assert_eq!(preview_bytes(b"a\xffb", 5), "a\u{fffd}b");
        // Two 4-byte characters and the first byte of a third: the cut one is past the preview.
        let long = "𝄞".repeat(3);
        assert_eq!(preview_bytes(long.as_bytes(), 2), "𝄞𝄞…");
        assert_eq!(preview_bytes(long.as_bytes(), 3), long);
        assert_eq!(preview_bytes(&[b'x'; 1_000_000], 100), format!("{}…", "x".repeat(100)));
        // ASCII up to the cut, whatever follows it.
        assert_eq!(preview_bytes(b"abc", 3), "abc");
        assert_eq!(preview_bytes(b"abcd", 3), "abc…");
        assert_eq!(preview_bytes(b"abc\xff", 3), "abc…");
        assert_eq!(preview_bytes("abé".as_bytes(), 3), "abé");
        assert_eq!(preview_bytes("abéd".as_bytes(), 3), "abé…");
        assert_eq!(preview_bytes(b"", 3), "");
    }
}
