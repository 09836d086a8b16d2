//! Runs a `Plan` on one thread: `inflight` keep-alive HTTP/1.1 connections watched by epoll (through
//! mio), each carrying one request at a time, written whole and its response framed in place: no
//! task, future, lock or wake-up per request. The tool shares the cores of the server it measures,
//! so what it spends per publish is taken from the server.
//!
//! A connection the server closes (after `Connection: close`, or failing) is opened again for the
//! next publish, before that publish is stamped: the latencies of a server that closes connections
//! do not include opening the next one. A publish whose connection fails is counted failed, never
//! sent twice.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::response::{self, Framed};
use super::{Outcome, Plan};
use crate::pusher::Target;
use crate::stats::Latencies;

/// A run fails when nothing in flight is answered for this long.
const STALL: Duration = Duration::from_secs(60);
/// The longest wait for an event (then the stall is checked).
const IDLE_POLL: Duration = Duration::from_millis(100);

/// One connection and the request it carries.
#[derive(Default)]
struct Slot {
    stream: Option<TcpStream>,
    /// The request in flight (`None`: the slot is idle) and when it was sent.
    sent: Option<Instant>,
    /// The request's bytes and how many are written.
    out: Vec<u8>,
    written: usize,
    /// The response's bytes read so far.
    input: Vec<u8>,
}

/// What became of a request when its connection was read or written.
enum Progress {
    Waiting,
    Answered { ok: bool },
    Failed,
}

/// Publishes `plan` to `target` and returns what it saw.
pub fn drive(target: &Target, plan: &Plan) -> std::io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut slots: Vec<Slot> = (0..plan.inflight.max(1)).map(|_| Slot::default()).collect();
    let mut events = Events::with_capacity(slots.len());
    let mut latencies = Latencies::default();
    let (mut next, mut finished, mut failed) = (0u64, 0u64, 0u64);
    let channels = plan.channels.max(1) as u64;
    let started = Instant::now();
    let mut last_progress = started;
    let mut buf = vec![0u8; 16 * 1024];
    while finished < plan.messages {
        // Start what the pace allows on every idle slot.
        for (index, slot) in slots.iter_mut().enumerate() {
            if slot.sent.is_some() || next >= plan.messages || !due(plan.rate, started, next) {
                continue;
            }
            let (channel, seq) = (format!("{}{}", plan.prefix, next % channels), next / channels);
            next += 1;
            last_progress = Instant::now();
            let request = || super::request_bytes(target, &channel, seq);
            if slot.start(&poll, Token(index), target.server, request).is_err() {
                (failed, finished) = (failed + 1, finished + 1);
            }
        }
        let in_flight = slots.iter().any(|s| s.sent.is_some());
        let startable = next < plan.messages && slots.iter().any(|s| s.sent.is_none());
        let timeout = match startable {
            true => until_due(plan.rate, started, next)
                .unwrap_or(Duration::ZERO)
                .min(IDLE_POLL),
            false => IDLE_POLL,
        };
        poll.poll(&mut events, Some(timeout))?;
        for event in events.iter() {
            let Some(slot) = slots.get_mut(event.token().0) else {
                continue;
            };
            match slot.progress(&mut buf) {
                Progress::Waiting => continue,
                Progress::Answered { ok: true } => latencies.record_us(slot.take_sent().elapsed().as_micros() as u64),
                Progress::Answered { ok: false } | Progress::Failed => {
                    slot.take_sent();
                    failed += 1;
                }
            }
            finished += 1;
            last_progress = Instant::now();
        }
        if in_flight && last_progress.elapsed() > STALL {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                format!("no response for {} s", STALL.as_secs()),
            ));
        }
    }
    Ok(Outcome {
        elapsed: started.elapsed(),
        failed,
        latencies,
    })
}

/// Whether publish `n` may start: always when unpaced, else once `n / rate` seconds have passed
/// (publishes that fell behind start at once, as `MissedTickBehavior::Burst`).
fn due(rate: u64, started: Instant, n: u64) -> bool {
    until_due(rate, started, n).is_none()
}

/// How long until publish `n` may start; None when it may now.
fn until_due(rate: u64, started: Instant, n: u64) -> Option<Duration> {
    if rate == 0 {
        return None;
    }
    let at = started + Duration::from_secs_f64(n as f64 / rate as f64);
    at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}

impl Slot {
    /// Sends the request `request` builds (and stamps) once this slot has a connection: a publish is
    /// stamped and timed from just before it is written, never charged for opening a connection.
    fn start(
        &mut self,
        poll: &Poll,
        token: Token,
        server: SocketAddr,
        request: impl FnOnce() -> Vec<u8>,
    ) -> std::io::Result<()> {
        if self.stream.is_none() {
            let stream = std::net::TcpStream::connect(server)?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(stream);
            poll.registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
            self.stream = Some(stream);
        }
        (self.out, self.written) = (request(), 0);
        self.input.clear();
        self.sent = Some(Instant::now());
        if let Err(e) = self.flush() {
            self.sent = None;
            self.close();
            return Err(e);
        }
        Ok(())
    }

    /// The send time of the request just finished; the slot is idle after.
    fn take_sent(&mut self) -> Instant {
        self.sent.take().unwrap_or_else(Instant::now)
    }

    /// Writes what is left of the request until the socket takes no more.
    fn flush(&mut self) -> std::io::Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::NotConnected.into());
        };
        while self.written < self.out.len() {
            match stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes and reads what the socket allows after an event; an idle slot's connection that the
    /// server closed (or that says anything unasked) is let go.
    fn progress(&mut self, buf: &mut [u8]) -> Progress {
        let outcome = match self.sent {
            Some(_) => self.flush().map_or(Progress::Failed, |()| self.read(buf)),
            None => match self.read(buf) {
                Progress::Waiting => return Progress::Waiting,
                _ => {
                    self.close();
                    return Progress::Waiting;
                }
            },
        };
        if matches!(outcome, Progress::Failed) {
            self.close();
        }
        outcome
    }

    /// Reads until the socket is drained or the response is whole.
    fn read(&mut self, buf: &mut [u8]) -> Progress {
        let Some(stream) = self.stream.as_mut() else {
            return Progress::Failed;
        };
        loop {
            match stream.read(buf) {
                Ok(0) => return Progress::Failed,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Progress::Failed,
            }
            match response::frame(&self.input) {
                Ok(Framed::Incomplete) => {}
                Ok(Framed::Response {
                    status,
                    keep_alive,
                    len,
                }) => {
                    // Anything after the response was not asked for: the connection is let go.
                    if !keep_alive || len != self.input.len() {
                        self.close();
                    }
                    return Progress::Answered {
                        ok: (200..300).contains(&status),
                    };
                }
                Err(_) => return Progress::Failed,
            }
        }
    }

    fn close(&mut self) {
        self.stream = None;
        self.input.clear();
    }
}
