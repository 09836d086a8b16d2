use super::*;
use std::sync::Arc;
use std::time::Duration;

type Queue = Outbound<&'static str>;

/// A socket that takes up to `room` bytes, then would block; or fails. `during` runs inside a write
/// (as another thread sending to the connection while the session writes would).
#[derive(Default)]
struct FakeSocket {
    written: Mutex<Vec<u8>>,
    room: Mutex<usize>,
    fail: Mutex<bool>,
    writes: Mutex<usize>,
    during: Mutex<Option<Box<dyn FnMut() + Send>>>,
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
        if let Some(during) = self.during.lock().as_mut() {
            during();
        }
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

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn queued_messages_are_written_in_order_in_one_write_and_counted_once_written() {
    let q = Queue::new(4);
    let socket = FakeSocket::with_room(100);
    assert_eq!(q.push(&bytes("hello "), 5), Pushed::Accepted);
    assert_eq!(q.push(&bytes("world"), 5), Pushed::Accepted);
    assert!(q.push_control(bytes("!")));
    assert_eq!(q.waiting(), 3);
    assert_eq!(q.sent(), Sent::default(), "nothing is counted before it is written");
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"hello world!");
    assert_eq!(*socket.writes.lock(), 1, "one vectored write");
    assert_eq!(q.waiting(), 0);
    assert_eq!(
        q.sent(),
        Sent { messages: 2, bytes: 10 },
        "control bytes are no message"
    );
}

#[test]
fn what_the_socket_does_not_take_stays_in_front_of_later_sends() {
    let q = Queue::new(10);
    let socket = FakeSocket::with_room(3);
    q.push(&bytes("abcdef"), 6);
    q.push(&bytes("gh"), 2);
    assert_eq!(q.flush(&*socket), Flushed::Blocked);
    assert_eq!(socket.written(), b"abc");
    q.push(&bytes("i"), 1);
    socket.make_room(4);
    assert_eq!(q.flush(&*socket), Flushed::Blocked);
    assert_eq!(socket.written(), b"abcdefg");
    assert_eq!(q.sent().messages, 1);
    socket.make_room(10);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"abcdefghi");
    assert_eq!(q.sent(), Sent { messages: 3, bytes: 9 });
}

#[test]
fn sends_during_a_write_wait_for_the_next_pass_in_order() {
    let q = Arc::new(Queue::new(10));
    let socket = FakeSocket::with_room(100);
    let sender = q.clone();
    let mut once = Some(());
    *socket.during.lock() = Some(Box::new(move || {
        if once.take().is_some() {
            sender.push(&bytes("late"), 4);
        }
    }));
    q.push(&bytes("early "), 5);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"early ");
    assert_eq!(q.waiting(), 1);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"early late");
}

#[test]
fn the_capacity_counts_what_is_being_written() {
    let q = Arc::new(Queue::new(2));
    let socket = FakeSocket::with_room(100);
    let sender = q.clone();
    let during = Arc::new(Mutex::new(Vec::new()));
    let seen = during.clone();
    *socket.during.lock() = Some(Box::new(move || {
        if seen.lock().is_empty() {
            seen.lock().push(sender.push(&bytes("x"), 1));
        }
    }));
    q.push(&bytes("a"), 1);
    q.push(&bytes("b"), 1);
    q.flush(&*socket);
    assert_eq!(*during.lock(), [Pushed::Full], "two in flight fill a queue of two");
}

#[test]
fn a_refused_message_seals_the_queue_so_the_client_sees_no_gap() {
    let q = Queue::new(2);
    let socket = FakeSocket::with_room(0);
    assert_eq!(q.push(&bytes("a"), 1), Pushed::Accepted);
    assert_eq!(q.push(&bytes("b"), 1), Pushed::Accepted);
    assert_eq!(q.push(&bytes("c"), 1), Pushed::Full);
    socket.make_room(100);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(
        q.push(&bytes("d"), 1),
        Pushed::Finished,
        "nothing after the refused message"
    );
    assert!(q.push_control(bytes("close")));
    q.flush(&*socket);
    assert_eq!(socket.written(), b"abclose");
}

#[test]
fn control_bytes_are_bounded_too() {
    let q = Queue::new(2);
    for _ in 0..4 {
        assert!(q.push_control(bytes("pong")));
    }
    assert!(!q.push_control(bytes("pong")), "twice the capacity");
}

#[test]
fn sealing_drops_the_backlog_but_not_a_frame_already_begun() {
    let q = Queue::new(10);
    let socket = FakeSocket::with_room(2);
    q.push(&bytes("abcd"), 4);
    q.push(&bytes("efgh"), 4);
    assert_eq!(q.flush(&*socket), Flushed::Blocked);
    q.seal(true);
    assert_eq!(q.push(&bytes("late"), 4), Pushed::Finished);
    assert!(q.push_control(bytes("bye")));
    socket.make_room(100);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(
        socket.written(),
        b"abcdbye",
        "the begun frame is finished, the next one dropped"
    );
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
    assert_eq!(q.flush(&*socket), Flushed::Broken);
    *socket.fail.lock() = false;
    assert_eq!(q.flush(&*socket), Flushed::Broken);
}

#[test]
fn the_first_close_request_wins() {
    let q = Queue::new(10);
    assert!(q.request_close("first"));
    assert!(!q.request_close("second"));
}

#[tokio::test]
async fn a_session_waiting_for_its_socket_is_woken_by_a_close_not_by_messages() {
    let q = Arc::new(Queue::new(10));
    q.push(&bytes("waiting"), 7);
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.next(false).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.push(&bytes("more"), 4);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "not woken for messages");
    q.request_close("bye");
    let wake = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(wake, Wake::Close("bye"));
}

#[tokio::test]
async fn a_waiting_session_is_woken_for_queued_bytes_and_none_is_missed() {
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
    while let Wake::Flush = tokio::time::timeout(Duration::from_secs(5), q.next(true))
        .await
        .expect("woken")
    {
        socket.make_room(64);
        q.flush(&*socket);
    }
    producer.await.unwrap();
    socket.make_room(usize::MAX / 2);
    while q.waiting() > 0 {
        assert_eq!(q.flush(&*socket), Flushed::Done);
    }
    let expected: Vec<u8> = (0..2_000u32).flat_map(|i| i.to_be_bytes()).collect();
    assert_eq!(socket.written(), expected);
}

#[test]
fn a_subscriptions_start_is_queued_past_the_capacity_and_not_counted_against_it() {
    let q = Queue::new(2);
    for _ in 0..5 {
        assert_eq!(q.push_start(&bytes("r"), 1), Pushed::Accepted);
    }
    assert_eq!(
        q.push(&bytes("a"), 1),
        Pushed::Accepted,
        "the replay leaves room for live messages"
    );
    assert_eq!(q.push(&bytes("b"), 1), Pushed::Accepted);
    assert_eq!(q.push(&bytes("c"), 1), Pushed::Full);
    let socket = FakeSocket::with_room(100);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"rrrrrab");
    assert_eq!(q.sent(), Sent { messages: 7, bytes: 7 });
}

#[test]
fn subscription_starts_have_a_byte_bound_of_their_own_freed_as_they_are_written() {
    let q = Queue::new(2);
    let big = Bytes::from(vec![b'r'; START_BYTES - 10]);
    assert_eq!(q.push_start(&big, 1), Pushed::Accepted);
    let socket = FakeSocket::with_room(100);
    assert_eq!(q.flush(&*socket), Flushed::Blocked, "100 bytes of it written");
    let next = Bytes::from(vec![b's'; 110]);
    assert_eq!(
        q.push_start(&next, 1),
        Pushed::Accepted,
        "the 100 written bytes are free again"
    );
    assert_eq!(q.push_start(&bytes("t"), 1), Pushed::Full, "one byte over the bound");
    assert_eq!(
        q.push(&bytes("a"), 1),
        Pushed::Finished,
        "refused once, the queue stays sealed"
    );
    socket.make_room(START_BYTES);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written().len(), START_BYTES - 10 + 110);
    assert_eq!(q.sent(), Sent { messages: 2, bytes: 2 });
}

#[test]
fn a_close_frame_seals_the_queue_as_it_is_queued() {
    let q = Queue::new(4);
    assert_eq!(q.push(&bytes("a"), 1), Pushed::Accepted);
    assert!(q.push_close(bytes("C")));
    assert_eq!(
        q.push(&bytes("b"), 1),
        Pushed::Finished,
        "no message after the close frame"
    );
    let socket = FakeSocket::with_room(100);
    assert_eq!(q.flush(&*socket), Flushed::Done);
    assert_eq!(socket.written(), b"aC");
}
