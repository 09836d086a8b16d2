//! `Dispatcher`: claims due deliveries from the store's queue and POSTs them, signed with the app's
//! oldest active key, then records the attempt: a 2xx is delivered; anything else (another status,
//! a timeout, a refused connection) is retried with exponential backoff (`RetrySchedule`) until the
//! last attempt fails, when the delivery is dead.
//!
//! Every node runs one. A claim is a lease (`LEASE`) in the store, so nodes sharing a Postgres never
//! POST the same delivery at once, and a delivery whose node died mid-attempt is claimed again once
//! the lease runs out: delivery is at-least-once.

use std::sync::Arc;

use crate::clock::{unix_ms, unix_secs};
use crate::lifecycle::{EventKind, LifecycleEvent, LifecycleLog};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::egress::{EgressPolicy, PolicyResolver, Refused};
use super::payload::{self, KEY_HEADER, SIGNATURE_HEADER};
use crate::shutdown::Shutdown;
use crate::store::{AfterAttempt, Attempt, ClaimedDelivery, ControlStore};

/// How long a claim holds a delivery: well over `TIMEOUT`, so a live node always finishes first.
const LEASE: Duration = Duration::from_secs(30);
/// How long a webhook request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the queue is checked when nothing woke the dispatcher (deliveries another node
/// queued, or retries of another node's attempts, become due without telling this one).
const POLL: Duration = Duration::from_millis(500);
/// Requests in flight at once, over every app.
const CONCURRENCY: usize = 32;
/// Delivered and dead deliveries are kept this long for the admin API.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old deliveries are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// When failed deliveries are tried again: `base`, then twice as long each time, until
/// `max_attempts` attempts have failed. The default (1 s, 10 attempts) retries after 1, 2, 4, …,
/// 256 s: 511 s, over Pusher's "5 minutes" of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub base: Duration,
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            base: Duration::from_secs(1),
            max_attempts: 10,
        }
    }
}

impl RetrySchedule {
    /// The default schedule with the first retry after `base_ms` (`webhook_retry_base_ms`).
    /// The default schedule, starting at `base` (at least a millisecond).
    pub fn after(base: Duration) -> Self {
        RetrySchedule {
            base: base.max(Duration::from_millis(1)),
            ..Default::default()
        }
    }

    /// How long to wait after `failed` attempts have failed; `None` when that was the last.
    pub fn after_failures(&self, failed: u32) -> Option<Duration> {
        if failed == 0 || failed >= self.max_attempts {
            return None;
        }
        Some(self.base.saturating_mul(1u32 << (failed - 1).min(20)))
    }
}

pub(super) struct Dispatcher {
    pub store: Arc<dyn ControlStore>,
    pub client: reqwest::Client,
    /// Where deliveries may go.
    pub policy: Arc<EgressPolicy>,
    pub retry: RetrySchedule,
    /// Woken when there may be something to claim.
    pub wake: Arc<Notify>,
    /// Every attempt goes to the lifecycle log.
    pub events: Option<Arc<LifecycleLog>>,
}

/// The HTTP client of webhook requests: 5 s to connect, 10 s in all, no redirects (a 3xx is a
/// failed attempt), names resolved under the egress policy.
pub(super) fn client(policy: Arc<EgressPolicy>) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PolicyResolver { policy }))
        .user_agent(concat!("herald-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Dispatcher {
    pub async fn run(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut next_prune = Instant::now() + Duration::from_secs(60);
        loop {
            let slot = tokio::select! {
                _ = shutdown.stopping() => return,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
            };
            let now = unix_ms();
            match this.store.claim_webhook(now, now + LEASE.as_millis() as i64).await {
                Ok(Some(delivery)) => {
                    let this = this.clone();
                    tokio::spawn(async move {
                        this.attempt(delivery).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => drop(slot),
                Err(e) => {
                    drop(slot);
                    tracing::warn!(error = %e, "webhooks: cannot read the delivery queue");
                }
            }
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                let before = unix_ms() - RETENTION.as_millis() as i64;
                match this.store.prune_webhooks(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "webhooks: removed old deliveries"),
                    Err(e) => tracing::warn!(error = %e, "webhooks: cannot remove old deliveries"),
                }
            }
            tokio::select! {
                _ = shutdown.stopping() => return,
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// POSTs a claimed delivery and records how it went.
    async fn attempt(&self, delivery: ClaimedDelivery) {
        let at = unix_ms();
        let started = Instant::now();
        let result = self.post(&delivery).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status_code, error) = match result {
            Ok(status) if (200..300).contains(&status) => (Some(status as i64), None),
            Ok(status) => (Some(status as i64), Some(format!("HTTP {status}"))),
            Err(error) => (None, Some(error)),
        };
        let after = match &error {
            None => AfterAttempt::Delivered,
            Some(_) => {
                let failed = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
                match self.retry.after_failures(failed) {
                    Some(wait) => {
                        // Wake up for it, rather than waiting for the next poll.
                        let wake = self.wake.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            wake.notify_one();
                        });
                        AfterAttempt::RetryAt(unix_ms() + wait.as_millis() as i64)
                    }
                    None => AfterAttempt::Dead,
                }
            }
        };
        if after == AfterAttempt::Dead {
            tracing::info!(app_id = %delivery.app_id, delivery = delivery.id, error = ?error, "webhook dead after its last attempt");
        }
        if let Some(events) = &self.events {
            let kind = if error.is_none() {
                EventKind::WebhookDelivered
            } else {
                EventKind::WebhookFailed
            };
            let mut event = LifecycleEvent::new(kind, &delivery.app_id).detail(serde_json::json!({
                "url": delivery.url, "delivery": delivery.id, "attempt": delivery.attempts + 1,
                "latency_ms": latency_ms, "dead": after == AfterAttempt::Dead,
            }));
            if let Some(code) = status_code {
                event = event.code(code as u16);
            }
            if let Some(e) = &error {
                event = event.reason(e);
            }
            events.record(event);
        }
        let attempt = Attempt {
            at,
            status_code,
            latency_ms,
            error,
        };
        if let Err(e) = self.store.record_webhook_attempt(delivery.id, attempt, after).await {
            // The lease runs out and the delivery is attempted again: at-least-once.
            tracing::warn!(error = %e, delivery = delivery.id, "webhooks: cannot record an attempt");
        }
    }

    /// One signed POST; the response's status, or why there was none (in words that never map the
    /// operator's network: the details go to the process log).
    async fn post(&self, delivery: &ClaimedDelivery) -> Result<u16, String> {
        let url = reqwest::Url::parse(&delivery.url).map_err(|_| "not a URL".to_string())?;
        if let Err(refused) = self.policy.check_url(&url) {
            tracing::info!(app_id = %delivery.app_id, url = %delivery.url, %refused, "webhook refused by the egress policy");
            return Err(REFUSED.into());
        }
        let (key, secret) = self.signing_key(&delivery.app_id).await?;
        let signature = payload::signature(&secret, &delivery.body);
        let response = self
            .client
            .post(&delivery.url)
            // Exactly this: the SDKs' helpers compare the content type to "application/json".
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(KEY_HEADER, key)
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| {
                tracing::info!(app_id = %delivery.app_id, url = %delivery.url, error = %describe(&e), "webhook attempt failed");
                for_tenants(&e)
            })?;
        Ok(response.status().as_u16())
    }

    /// The app's oldest active key and its secret (Pusher signs with the oldest active key).
    async fn signing_key(&self, app_id: &str) -> Result<(String, String), String> {
        let keys = self
            .store
            .list_keys(app_id)
            .await
            .map_err(|e| format!("cannot read the app's keys: {e}"))?;
        let at = unix_secs();
        keys.into_iter()
            .filter(|k| k.is_active(at))
            .find_map(|k| Some((k.key, k.secret?)))
            .ok_or_else(|| "the app has no active key to sign with".to_string())
    }
}

/// What a tenant is told of a failed attempt.
const REFUSED: &str = "refused by policy";

/// A request error as a tenant sees it: refused by policy, timed out, or that the connection
/// failed, never why in the operator's network ("Connection refused" would tell a port scanner).
fn for_tenants(error: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<Refused>().is_some() {
            return REFUSED.into();
        }
        source = cause.source();
    }
    match error.is_timeout() {
        true => format!("timed out (no response within {} s)", TIMEOUT.as_secs()),
        false => "the connection failed".into(),
    }
}

/// A request error with its causes ("error sending request: … Connection refused"), without the URL
/// (the delivery shows it), for the operator's process log.
fn describe(error: &reqwest::Error) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_for_over_five_minutes_then_stop() {
        let schedule = RetrySchedule::default();
        let waits: Vec<u64> = (1..=10)
            .map_while(|failed| schedule.after_failures(failed))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256]);
        assert!(waits.iter().sum::<u64>() >= 300);
        assert_eq!(schedule.after_failures(10), None, "dead after the tenth attempt");
    }

    #[test]
    fn the_base_is_configurable() {
        let schedule = RetrySchedule::after(Duration::from_millis(200));
        assert_eq!(schedule.after_failures(1), Some(Duration::from_millis(200)));
        assert_eq!(schedule.after_failures(3), Some(Duration::from_millis(800)));
        assert_eq!(schedule.after_failures(10), None);
    }
}
