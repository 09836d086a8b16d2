//! Asking a store's writer task to write what waits now: how a stopping node makes sure the events
//! of its last moments (its clients' closes) are kept before the process exits. It owns only the
//! request and its answer; each writer decides what writing means.

use tokio::sync::{mpsc, oneshot};

/// The asking side, held by the store; dropping it tells the writer that no one will ask again.
pub struct FlushRequests(mpsc::Sender<oneshot::Sender<()>>);

/// The writer's side: each request is answered once what waited when it came has been written.
pub type FlushInbox = mpsc::Receiver<oneshot::Sender<()>>;

impl FlushRequests {
    pub fn new() -> (Self, FlushInbox) {
        let (tx, rx) = mpsc::channel(4);
        (FlushRequests(tx), rx)
    }

    /// Completes once the writer has written every event appended before the call, or has stopped.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.0.send(done).await.is_ok() {
            let _ = written.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flush_waits_for_the_writer_answer_and_ends_when_the_writer_is_gone() {
        let (requests, mut inbox) = FlushRequests::new();
        let writer = tokio::spawn(async move {
            let done = inbox.recv().await.expect("a request");
            let _ = done.send(());
            // The writer stops: a later flush must not wait forever.
        });
        requests.flush().await;
        writer.await.expect("writer");
        tokio::time::timeout(std::time::Duration::from_secs(1), requests.flush())
            .await
            .expect("a flush with no writer ends at once");
    }
}
