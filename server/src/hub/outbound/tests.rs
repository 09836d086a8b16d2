use super::*;
use std::sync::Arc;
use std::time::Duration;

/// A socket that takes up to `room` bytes, then would block; or fails.
#[derive(Default)]
struct FakeSocket {
    written: Mutex<Vec<u8>>,
    room: Mutex<usize>,
    fail: Mutex<bool>,
    writes: Mutex<usize>,
}

impl FakeSocket {
    fn with_room(room: usize) -> Arc<Self> {
        let s = FakeSocket::default();
        *s.room.lock() = room;
        Arc::new(s)
    }
    fn make_room(&self, n: usize) {
        *self.room.lock() += n;
    }
    fn written(&self) -> Vec<u8> {
        self.written.lock().clone()
    }
}

impl Sink for FakeSocket {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        *self.writes.lock() += 1;
        if *self.fail.lock() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let mut room = self.room.lock();
        if *room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(*room - n);
            self.written.lock().extend_from_slice(&b[..take]);
            n += take;
            if n == *room {
                break;
            }
        }
        *room -= n;
        Ok(n)
    }
}

type Queue = Outbound<&'static str>;

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn flush(q: &Queue, socket: &FakeSocket) -> Flushed {
    let mut batch = VecDeque::new();
    let flushed = q.flush(socket, &mut batch);
    assert!(batch.is_empty(), "the batch buffer comes back empty");
    flushed
}

#[test]
fn queued_messages_are_written_in_order_in_one_write_and_counted() {
    let q = Queue::new(4);
    let socket = FakeSocket::with_room(100);
    assert_eq!(q.push(&bytes("hello "), 5), Pushed::Accepted);
    assert_eq!(q.push(&bytes("world"), 5), Pushed::Accepted);
    assert_eq!(q.waiting(), 2);
    assert_eq!(flush(&q, &socket), Flushed::Done);
    assert_eq!(socket.written(), b"hello world");
    assert_eq!(*socket.writes.lock(), 1, "one vectored write");
    assert_eq!(q.waiting(), 0);
    assert_eq!(q.sent(), Sent { messages: 2, bytes: 10 });
}

#[test]
fn what_the_socket_does_not_take_stays_in_front_of_later_sends() {
    let q = Queue::new(10);
    let socket = FakeSocket::with_room(3);
    q.push(&bytes("abcdef"), 6);
    q.push(&bytes("gh"), 2);
    assert_eq!(flush(&q, &socket), Flushed::Blocked);
    assert_eq!(socket.written(), b"abc");
    q.push(&bytes("i"), 1);
    socket.make_room(4);
    assert_eq!(flush(&q, &socket), Flushed::Blocked);
    assert_eq!(socket.written(), b"abcdefg");
    socket.make_room(10);
    assert_eq!(flush(&q, &socket), Flushed::Done);
    assert_eq!(socket.written(), b"abcdefghi");
}

#[test]
fn control_bytes_keep_their_place_among_messages() {
    let q = Queue::new(10);
    q.push(&bytes("one "), 3);
    assert!(q.push_control(bytes("two ")));
    q.push(&bytes("three"), 5);
    let socket = FakeSocket::with_room(100);
    assert_eq!(flush(&q, &socket), Flushed::Done);
    assert_eq!(socket.written(), b"one two three");
}

#[test]
fn a_full_queue_refuses_messages_but_not_control_bytes() {
    let q = Queue::new(2);
    assert_eq!(q.push(&bytes("a"), 1), Pushed::Accepted);
    assert_eq!(q.push(&bytes("b"), 1), Pushed::Accepted);
    assert_eq!(q.push(&bytes("c"), 1), Pushed::Full);
    assert!(q.push_control(bytes("close")));
    assert_eq!(q.waiting(), 3);
}

#[test]
fn sealing_stops_messages_and_can_drop_the_backlog() {
    let q = Queue::new(10);
    q.push(&bytes("backlog"), 7);
    q.seal(true);
    assert_eq!(q.push(&bytes("late"), 4), Pushed::Finished);
    assert!(q.push_control(bytes("bye")));
    let socket = FakeSocket::with_room(100);
    assert_eq!(flush(&q, &socket), Flushed::Done);
    assert_eq!(socket.written(), b"bye");
    q.finish();
    assert!(!q.push_control(bytes("x")));
    assert_eq!(q.waiting(), 0);
}

#[test]
fn a_failed_write_is_reported_and_stays_reported() {
    let q = Queue::new(10);
    let socket = FakeSocket::with_room(100);
    *socket.fail.lock() = true;
    q.push(&bytes("x"), 1);
    assert_eq!(flush(&q, &socket), Flushed::Broken);
    *socket.fail.lock() = false;
    assert_eq!(flush(&q, &socket), Flushed::Broken);
}

#[test]
fn the_first_close_request_wins() {
    let q = Queue::new(10);
    assert!(q.request_close("first"));
    assert!(!q.request_close("second"));
    assert_eq!(q.close_request(), Some("first"));
}

#[tokio::test]
async fn a_waiting_session_is_woken_for_queued_bytes_and_for_a_close() {
    let q = Arc::new(Queue::new(10_000));
    let socket = FakeSocket::with_room(0);
    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            for i in 0..2_000u32 {
                q.push(&Bytes::from(i.to_be_bytes().to_vec()), 4);
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            q.request_close("done");
        })
    };
    // Woken for bytes until the close request.
    while let Wake::Flush = tokio::time::timeout(Duration::from_secs(5), q.next())
        .await
        .expect("woken")
    {
        socket.make_room(64);
        flush(&q, &socket);
    }
    producer.await.unwrap();
    socket.make_room(usize::MAX / 2);
    assert_eq!(flush(&q, &socket), Flushed::Done);
    let expected: Vec<u8> = (0..2_000u32).flat_map(|i| i.to_be_bytes()).collect();
    assert_eq!(socket.written(), expected);
}
