//! A connection's TCP socket as its two users see it.
//!
//! The hub's sends wait in the connection's `Outbound`, and the session writes them to the socket (a
//! `Sink`: non-blocking vectored writes of frames framed once for every subscriber). tungstenite
//! reads client frames from it through `SessionIo`, whose writes (pongs, pings, the close handshake)
//! also go through the `Outbound`, in order with the messages, so they never cut into one.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::config::Config;
use crate::hub::{CloseReason, Flushed, Outbound, Sink};
use crate::protocol::websocket;

/// The socket of one WebSocket connection, shared by its session and the `Outbound`.
pub struct Socket(pub TcpStream);

impl Sink for Socket {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
}

/// What tungstenite reads from and writes to.
pub struct SessionIo {
    socket: Arc<Socket>,
    outbound: Arc<Outbound<CloseReason>>,
}

impl SessionIo {
    pub fn new(socket: Arc<Socket>, outbound: Arc<Outbound<CloseReason>>) -> Self {
        SessionIo { socket, outbound }
    }
}

impl AsyncRead for SessionIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let stream = &self.socket.0;
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale: poll again, which registers for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SessionIo {
    /// Takes all of `buf` (tungstenite hands over whole frames: it buffers nothing), queued in order.
    /// A close frame seals the queue as it is queued, so no message can follow it.
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let bytes = Bytes::copy_from_slice(buf);
        let queued = if websocket::is_close_frame(buf) {
            self.outbound.push_close(bytes)
        } else {
            self.outbound.push_control(bytes)
        };
        if queued {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }
    }

    /// Queued bytes are the session's to write (it flushes whenever bytes wait).
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A connection's WebSocket as its session reads it.
pub type WebSocket = WebSocketStream<SessionIo>;

/// Bytes read from a socket at a time: client frames are small (a subscribe with its auth is a few
/// hundred bytes); a larger frame is read in several reads into a buffer sized for it. tungstenite
/// zero-fills its read buffer up to this size before each read, so all of it is resident.
const READ_BUFFER: usize = 512;

/// Opens the WebSocket of an upgraded socket (`early`: bytes the client sent after its request).
pub async fn open(
    stream: TcpStream,
    early: Bytes,
    outbound: Arc<Outbound<CloseReason>>,
    config: &Config,
) -> (Arc<Socket>, WebSocket) {
    let socket = Arc::new(Socket(stream));
    let io = SessionIo::new(socket.clone(), outbound);
    let limits = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(config.websocket.max_message_bytes))
        .max_frame_size(Some(config.websocket.max_message_bytes));
    let ws = WebSocketStream::from_partially_read(io, early.to_vec(), Role::Server, Some(limits)).await;
    (socket, ws)
}

/// Writes everything that waits, waiting for the socket as needed; false when the socket failed.
/// (The close handshake's way: the session itself never waits for a slow socket this way.)
pub async fn flush_all(outbound: &Outbound<CloseReason>, socket: &Socket) -> bool {
    loop {
        match outbound.flush(socket) {
            Flushed::Done if outbound.waiting() == 0 => return true,
            Flushed::Done => {}
            Flushed::Broken => return false,
            Flushed::Blocked => {
                if socket.0.writable().await.is_err() {
                    return false;
                }
            }
        }
    }
}
