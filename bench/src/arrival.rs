//! When a frame reached a subscriber's socket, as the kernel stamped it (`SO_TIMESTAMPNS`), beside
//! when the tool got round to reading it. On a machine the tool shares with the server, a reader
//! thread that wakes for a hundred sockets at once reads the last of them some hundreds of
//! microseconds after it arrived; the kernel's stamp leaves that wait out, so it measures the
//! server, as a subscriber on a machine of its own would see it.
//!
//! On loopback the stamp is taken as the segment is handed to the receiving side, within the
//! server's own send. Owns the socket option and the `recvmsg` that returns the stamp; not the
//! frames (see `reader`).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use nix::sys::time::TimeSpec;

/// Asks the kernel to stamp what `socket` receives; false where it will not.
pub fn enable(socket: &impl AsFd) -> bool {
    setsockopt(socket, sockopt::ReceiveTimestampns, &true).is_ok()
}

/// Room for the stamp's control message, reused across reads.
pub fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(TimeSpec)
}

/// Reads into `buf`: the bytes read, and the kernel's receive time (Unix nanoseconds) of the last
/// segment the read took bytes from, when the socket is stamped.
pub fn read(socket: &impl AsRawFd, buf: &mut [u8], control: &mut [u8]) -> std::io::Result<(usize, Option<u128>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(control), MsgFlags::empty())?;
    let mut stamped = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmTimestampns(at) = cmsg {
            stamped = Some(unix_ns(at));
        }
    }
    Ok((msg.bytes, stamped))
}

fn unix_ns(at: TimeSpec) -> u128 {
    let (secs, nanos) = (
        u128::try_from(at.tv_sec()).unwrap_or(0),
        u128::try_from(at.tv_nsec()).unwrap_or(0),
    );
    secs * 1_000_000_000 + nanos
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_stamped_read_carries_the_time_the_bytes_arrived() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (receiver, _) = listener.accept().unwrap();
        assert!(enable(&receiver));
        // The kernel turns stamping on for the whole stack a moment after the first socket asks.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let before = crate::now_ns();
        sender.write_all(b"hello").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after_sleep = crate::now_ns();
        let (mut buf, mut control) = (vec![0u8; 64], control_buffer());
        let (n, stamped) = read(&receiver, &mut buf, &mut control).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let at = stamped.expect("a stamp on a socket with SO_TIMESTAMPNS");
        // Stamped on arrival, not on reading: well before the read 50 ms later.
        assert!(
            at >= before && at + 40_000_000 < after_sleep,
            "{before} {at} {after_sleep}"
        );
    }

    #[test]
    fn an_unstamped_socket_reads_without_a_stamp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (receiver, _) = listener.accept().unwrap();
        sender.write_all(b"x").unwrap();
        let (mut buf, mut control) = (vec![0u8; 8], control_buffer());
        assert_eq!(read(&receiver, &mut buf, &mut control).unwrap(), (1, None));
    }
}
