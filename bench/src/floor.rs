//! The machine's floor for a fan-out burst, with no server in it: W threads write one message to
//! each of N loopback sockets back to back (what a perfect server would do), another reads them with
//! epoll (as the fan-out readers do). Reports how long the burst takes from the first write to the
//! last read: no server can deliver one message to N subscribers here faster than that.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::stats::Latencies;

/// Burst widths (first write to last read) over `bursts` bursts to `sockets` sockets, 20 ms apart,
/// each written by `writers` threads (the sockets split between them).
pub fn run(sockets: usize, writers: usize, bursts: usize, message_bytes: usize) -> anyhow::Result<Latencies> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (mut readers, mut writers_sockets) = (Vec::with_capacity(sockets), Vec::with_capacity(sockets));
    for _ in 0..sockets {
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        client.set_nonblocking(true)?;
        readers.push(mio::net::TcpStream::from_std(client));
        writers_sockets.push(server);
    }
    let (started_tx, started_rx) = mpsc::channel::<Instant>();
    let reader = std::thread::spawn(move || -> anyhow::Result<Latencies> {
        let mut poll = Poll::new()?;
        for (i, s) in readers.iter_mut().enumerate() {
            poll.registry().register(s, Token(i), Interest::READABLE)?;
        }
        let (mut events, mut buf, mut widths) =
            (Events::with_capacity(1024), vec![0u8; 64 * 1024], Latencies::default());
        for started in started_rx {
            let mut bytes = 0;
            while bytes < sockets * message_bytes {
                poll.poll(&mut events, Some(Duration::from_secs(5)))?;
                for event in events.iter() {
                    while let Ok(n @ 1..) = readers[event.token().0].read(&mut buf) {
                        bytes += n;
                    }
                }
            }
            widths.record_us(started.elapsed().as_micros() as u64);
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
        started_tx.send(Instant::now())?;
        go.wait();
    }
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    drop(started_tx);
    reader.join().map_err(|_| anyhow::anyhow!("the reader panicked"))?
}
