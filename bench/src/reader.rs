//! Reads the subscribers' sockets on dedicated threads: epoll (through mio) over every socket of a
//! thread, one read per ready socket per wake-up, WebSocket frames parsed in place. No task, future
//! or JSON parse per frame, so the tool spends little of the machine it shares with the server.
//! Each delivery is timed twice: when the tool read it, and when it reached the socket (`arrival`).

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::arrival;
use crate::frames::{self, Parsed};
use crate::stamp;
use crate::stats::{Deliveries, Latencies};

/// What one subscriber saw.
pub struct Tally {
    pub seen: Deliveries,
    /// Timed from the publish until the tool read the frame.
    pub read: Timing,
    /// Timed from the publish until the frame reached the socket (the kernel's stamp); empty where
    /// the kernel does not stamp.
    pub arrival: Timing,
}

/// One subscriber's latencies, timed one way.
pub struct Timing {
    pub latencies: Latencies,
    /// With `--spread`: each message's latency in µs, by sequence number (`u32::MAX`: not received).
    pub by_seq: Option<Vec<u32>>,
}

impl Timing {
    pub fn new(expected: u64, by_seq: bool) -> Self {
        Timing {
            latencies: Latencies::default(),
            by_seq: by_seq.then(|| vec![u32::MAX; expected as usize]),
        }
    }

    fn record(&mut self, seq: u64, us: u128) {
        self.latencies.record_us(us as u64);
        if let Some(slot) = self.by_seq.as_mut().and_then(|v| v.get_mut(seq as usize)) {
            *slot = us.min(u32::MAX as u128 - 1) as u32;
        }
    }
}

/// One subscribed socket and what it expects. Its arrivals are timed where `arrival::enable` was
/// called on it.
pub struct Subscriber {
    pub stream: std::net::TcpStream,
    pub expected: u64,
    /// Keep each message's latency (for the per-message spread).
    pub by_seq: bool,
}

struct Reading {
    stream: TcpStream,
    tally: Tally,
    /// Bytes of a frame not complete yet.
    partial: Vec<u8>,
    done: bool,
}

/// Reads `subscribers` on `threads` threads until each has every expected message or `stop` is set,
/// and returns their tallies in the order of `subscribers`. `ready` is told once every thread
/// watches its sockets.
pub fn run(
    subscribers: Vec<Subscriber>,
    threads: usize,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<()>,
) -> std::io::Result<Vec<Tally>> {
    let threads = threads.max(1);
    let mut shares: Vec<Vec<Subscriber>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in subscribers.into_iter().enumerate() {
        shares[i % threads].push(s);
    }
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (stop, ready) = (stop.clone(), ready.clone());
            std::thread::spawn(move || read_share(share, &stop, ready))
        })
        .collect();
    let mut shares = Vec::with_capacity(threads);
    for h in handles {
        let share = h
            .join()
            .map_err(|_| std::io::Error::other("a reader thread panicked"))??;
        shares.push(share.into_iter());
    }
    Ok(in_subscriber_order(shares))
}

/// Subscriber `i` was read by thread `i % threads`: the tallies back in the subscribers' order.
fn in_subscriber_order<T>(mut shares: Vec<std::vec::IntoIter<T>>) -> Vec<T> {
    let mut ordered = Vec::new();
    'all: loop {
        for share in &mut shares {
            match share.next() {
                Some(tally) => ordered.push(tally),
                None => break 'all,
            }
        }
    }
    ordered
}

fn read_share(
    share: Vec<Subscriber>,
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
) -> std::io::Result<Vec<Tally>> {
    let mut poll = Poll::new()?;
    let mut readings = Vec::with_capacity(share.len());
    for (i, s) in share.into_iter().enumerate() {
        s.stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(s.stream);
        poll.registry().register(&mut stream, Token(i), Interest::READABLE)?;
        readings.push(Reading {
            stream,
            tally: Tally {
                seen: Deliveries::new(s.expected),
                read: Timing::new(s.expected, s.by_seq),
                arrival: Timing::new(s.expected, s.by_seq),
            },
            partial: Vec::new(),
            done: s.expected == 0,
        });
    }
    let _ = ready.send(());
    let mut open = readings.iter().filter(|r| !r.done).count();
    let mut events = Events::with_capacity(1024);
    let (mut buf, mut control) = (vec![0u8; 64 * 1024], arrival::control_buffer());
    while open > 0 && !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            let r = &mut readings[event.token().0];
            if r.done {
                continue;
            }
            // Edge-triggered: read until the socket is drained (a short read drains it).
            loop {
                match arrival::read(&r.stream, &mut buf, &mut control) {
                    Ok((0, _)) => {
                        r.done = true;
                        break;
                    }
                    Ok((n, arrived)) => {
                        r.consume(&buf[..n], arrived);
                        if n < buf.len() || r.done {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        r.done = true;
                        break;
                    }
                }
            }
            if r.done {
                open -= 1;
            }
        }
    }
    Ok(readings.into_iter().map(|r| r.tally).collect())
}

impl Reading {
    /// Takes freshly read bytes (the last of which arrived at `arrived`, when stamped): records every
    /// complete frame, keeps the rest for the next read.
    fn consume(&mut self, fresh: &[u8], arrived: Option<u128>) {
        let joined;
        let bytes = if self.partial.is_empty() {
            fresh
        } else {
            self.partial.extend_from_slice(fresh);
            joined = std::mem::take(&mut self.partial);
            &joined[..]
        };
        let mut at = 0;
        while at < bytes.len() {
            match frames::parse(&bytes[at..]) {
                Parsed::Incomplete => break,
                Parsed::Frame { opcode, payload, len } => {
                    at += len;
                    self.on_frame(opcode, payload, arrived);
                }
            }
        }
        if at < bytes.len() {
            self.partial.extend_from_slice(&bytes[at..]);
        }
    }

    fn on_frame(&mut self, opcode: u8, payload: &[u8], arrived: Option<u128>) {
        match opcode {
            frames::TEXT => {
                let Ok(text) = std::str::from_utf8(payload) else { return };
                if let Some(stamp) = stamp::read(text) {
                    if self.tally.seen.record(stamp.seq) {
                        let since_sent = |at: u128| at.saturating_sub(stamp.sent_ns) / 1000;
                        self.tally.read.record(stamp.seq, since_sent(crate::now_ns()));
                        if let Some(at) = arrived {
                            self.tally.arrival.record(stamp.seq, since_sent(at));
                        }
                    }
                    self.done |= self.tally.seen.complete();
                } else if text.contains("\"pusher:ping\"") {
                    let _ = self
                        .stream
                        .write_all(&frames::client_text(br#"{"event":"pusher:pong","data":{}}"#));
                }
            }
            frames::PING => {
                let _ = self.stream.write_all(&frames::client_frame(frames::PONG, payload));
            }
            frames::CLOSE => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_subscriber_order;

    #[test]
    fn tallies_come_back_in_the_subscribers_order() {
        // Seven subscribers over three threads: thread t read subscribers t, t + 3, t + 6.
        let shares = vec![
            vec![0, 3, 6].into_iter(),
            vec![1, 4].into_iter(),
            vec![2, 5].into_iter(),
        ];
        assert_eq!(in_subscriber_order(shares), vec![0, 1, 2, 3, 4, 5, 6]);
    }
}
