//! Where an HTTP/1.1 response ends in the bytes read so far, and what it said: its status and whether
//! the connection may carry the next request. The head is parsed by `httparse` (hyper's parser); the
//! body, of `Content-Length` or chunked, is skipped, not kept.

/// What the bytes read so far hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// Not a whole response yet: read more.
    Incomplete,
    /// A whole response of `len` bytes.
    Response { status: u16, keep_alive: bool, len: usize },
}

/// Why the bytes are not a response this tool can follow.
#[derive(Debug)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed HTTP response: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// The first response in `bytes`, if it is all there.
pub fn frame(bytes: &[u8]) -> Result<Framed, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(Framed::Incomplete),
        Err(_) => return Err(Malformed("unreadable head")),
    };
    let status = response.code.ok_or(Malformed("no status"))?;
    let mut keep_alive = response.version == Some(1);
    let (mut length, mut chunked) = (None, false);
    for header in response.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(value).map_err(|_| Malformed("Content-Length"))?;
            length = Some(text.trim().parse::<usize>().map_err(|_| Malformed("Content-Length"))?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    let body = if chunked {
        chunked_len(&bytes[head..])?
    } else if let Some(length) = length {
        (bytes.len() - head >= length).then_some(length)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Some(0)
    } else {
        // A body that ends when the connection does: this tool does not wait for that.
        return Err(Malformed("neither Content-Length nor chunked"));
    };
    Ok(match body {
        Some(body) => Framed::Response {
            status,
            keep_alive,
            len: head + body,
        },
        None => Framed::Incomplete,
    })
}

/// The length of the chunked body at the start of `bytes` (its last chunk and an empty trailer
/// included), if it is all there.
fn chunked_len(bytes: &[u8]) -> Result<Option<usize>, Malformed> {
    let mut at = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&bytes[at..]) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Malformed("chunk size")),
        };
        at += size_len;
        if size == 0 {
            // No trailers: the body ends with an empty line.
            return Ok((bytes.len() >= at + 2).then_some(at + 2));
        }
        let size = usize::try_from(size).map_err(|_| Malformed("chunk size"))?;
        let next = at.checked_add(size).and_then(|end| end.checked_add(2));
        match next {
            Some(next) if bytes.len() >= next => at = next,
            Some(_) => return Ok(None),
            None => return Err(Malformed("chunk size")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_content_length_ends_after_its_body() {
        let bytes = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1";
        assert_eq!(
            frame(bytes).unwrap(),
            Framed::Response {
                status: 200,
                keep_alive: true,
                len: bytes.len() - 8
            }
        );
        assert_eq!(frame(&bytes[..bytes.len() - 9]).unwrap(), Framed::Incomplete);
        assert_eq!(frame(&bytes[..20]).unwrap(), Framed::Incomplete);
    }

    #[test]
    fn connection_close_and_http_1_0_end_the_connection() {
        let close = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            frame(close).unwrap(),
            Framed::Response {
                status: 503,
                keep_alive: false,
                len: close.len()
            }
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            frame(old).unwrap(),
            Framed::Response { keep_alive: false, .. }
        ));
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            frame(bytes).unwrap(),
            Framed::Response {
                status: 200,
                keep_alive: true,
                len: bytes.len()
            }
        );
        for cut in [bytes.len() - 1, bytes.len() - 3, bytes.len() - 8] {
            assert_eq!(frame(&bytes[..cut]).unwrap(), Framed::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn what_cannot_be_followed_is_an_error() {
        assert!(frame(b"garbage\r\n\r\n").is_err());
        assert!(frame(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no length");
        assert!(frame(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(frame(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
