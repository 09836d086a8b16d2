//! The machine's floor for a fan-out burst, with no server in it: W threads write one message to
//! each of N loopback sockets back to back (what a perfect server would do), another reads them with
//! epoll (as the fan-out readers do). Reports how long the burst takes from the first write to the
//! last read, and to the last arrival (the kernel's stamp, see `arrival`): no server can deliver one
//! message to N subscribers here faster than that.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::arrival;
use crate::stats::Latencies;

/// The bursts' widths, timed to the last read and to the last arrival.
pub struct Widths {
    pub to_read: Latencies,
    pub to_arrival: Latencies,
}

/// Burst widths over `bursts` bursts to `sockets` sockets, 20 ms apart, each written by `writers`
/// threads (the sockets split between them).
pub fn run(sockets: usize, writers: usize, bursts: usize, message_bytes: usize) -> anyhow::Result<Widths> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (mut readers, mut writers_sockets) = (Vec::with_capacity(sockets), Vec::with_capacity(sockets));
    for _ in 0..sockets {
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        client.set_nonblocking(true)?;
        arrival::enable(&client);
        readers.push(mio::net::TcpStream::from_std(client));
        writers_sockets.push(server);
    }
    // Each burst's start, on the monotonic clock and on the kernel stamps' (Unix time).
    let (started_tx, started_rx) = mpsc::channel::<(Instant, u128)>();
    let reader = std::thread::spawn(move || -> anyhow::Result<Widths> {
        let mut poll = Poll::new()?;
        for (i, s) in readers.iter_mut().enumerate() {
            poll.registry().register(s, Token(i), Interest::READABLE)?;
        }
        let (mut events, mut buf, mut control) = (
            Events::with_capacity(1024),
            vec![0u8; 64 * 1024],
            arrival::control_buffer(),
        );
        let mut widths = Widths {
            to_read: Latencies::default(),
            to_arrival: Latencies::default(),
        };
        for (started, started_ns) in started_rx {
            let (mut bytes, mut last_arrival) = (0, None);
            while bytes < sockets * message_bytes {
                poll.poll(&mut events, Some(Duration::from_secs(5)))?;
                for event in events.iter() {
                    let socket = &readers[event.token().0];
                    while let Ok((n @ 1.., stamped)) = arrival::read(socket, &mut buf, &mut control) {
                        bytes += n;
                        last_arrival = last_arrival.max(stamped);
                    }
                }
            }
            widths.to_read.record_us(started.elapsed().as_micros() as u64);
            if let Some(at) = last_arrival {
                widths
                    .to_arrival
                    .record_us((at.saturating_sub(started_ns) / 1000) as u64);
            }
        }
        Ok(widths)
    });
    // Writer threads wait at a barrier for each burst, so no thread is started inside a burst.
    let writers = writers.max(1);
    let go = std::sync::Arc::new(std::sync::Barrier::new(writers + 1));
    let mut shares: Vec<Vec<TcpStream>> = (0..writers).map(|_| Vec::new()).collect();
    for (i, w) in writers_sockets.into_iter().enumerate() {
        shares[i % writers].push(w);
    }
    let threads: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            let go = go.clone();
            let message = vec![b'x'; message_bytes];
            std::thread::spawn(move || -> std::io::Result<()> {
                for _ in 0..bursts {
                    go.wait();
                    for w in share.iter_mut() {
                        w.write_all(&message)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for _ in 0..bursts {
        std::thread::sleep(Duration::from_millis(20));
        started_tx.send((Instant::now(), crate::now_ns()))?;
        go.wait();
    }
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    drop(started_tx);
    reader.join().map_err(|_| anyhow::anyhow!("the reader panicked"))?
}
