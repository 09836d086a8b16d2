//! Failed logins, limited three ways, with back-off rather than a lock-out: a pair of email and
//! address that keeps failing waits longer between tries (1 s doubling to 60 s after the fifth
//! failure); one address spraying many emails, and one email tried from many addresses, back off the
//! same way past their own thresholds; and when failures across the whole node pass a rate, only
//! addresses with no recent failure may try. So guessing is slow, and nobody can lock an admin out
//! from another address. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(300);
/// Failures of one email from one address before it backs off.
const PAIR_FREE: u32 = 5;
/// Failures from one address (any email) before it backs off.
const ADDRESS_FREE: u32 = 20;
/// Failures of one email (any address) before it backs off.
const EMAIL_FREE: u32 = 50;
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Failures per window on the node past which addresses with a failure of their own wait.
const NODE_FREE: u32 = 1_000;
/// Keys remembered at most per kind (the oldest are dropped beyond it).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// When the next try is allowed, given `free` failures before back-off starts.
    fn next_try(&self, free: u32) -> Option<Instant> {
        let over = self.count.checked_sub(free)?;
        let backoff = Duration::from_secs(1u64 << over.min(6)).min(MAX_BACKOFF);
        Some(self.last + backoff)
    }
}

struct Table<K> {
    entries: HashMap<K, Failures>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn get(&self, key: &K, now: Instant) -> Option<Failures> {
        self.entries
            .get(key)
            .copied()
            .filter(|f| now.duration_since(f.last) < WINDOW)
    }

    fn fail(&mut self, key: &K, now: Instant) {
        if self.entries.len() >= MAX_KEYS {
            self.entries.retain(|_, f| now.duration_since(f.last) < WINDOW);
            if self.entries.len() >= MAX_KEYS {
                return; // full of fresh keys: the address and node limits still apply
            }
        }
        let previous = self.get(key, now).map(|f| f.count).unwrap_or(0);
        self.entries.insert(
            key.clone(),
            Failures {
                count: previous + 1,
                last: now,
            },
        );
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

#[derive(Default)]
struct State {
    pairs: Table<(String, IpAddr)>,
    addresses: Table<IpAddr>,
    emails: Table<String>,
    /// Failures on the node in the current window, and when it began.
    node: (u32, Option<Instant>),
}

/// Failed logins and when the next try may come.
#[derive(Default)]
pub struct LoginLimiter {
    state: Mutex<State>,
}

impl LoginLimiter {
    /// `Err(wait)` when a login of `email` from `address` must wait.
    pub fn check(&self, email: &str, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let state = self.state.lock();
        let pair = state.pairs.get(&(email.to_string(), address), now);
        let by_address = state.addresses.get(&address, now);
        let waits = [
            pair.and_then(|f| f.next_try(PAIR_FREE)),
            by_address.and_then(|f| f.next_try(ADDRESS_FREE)),
            state
                .emails
                .get(&email.to_string(), now)
                .and_then(|f| f.next_try(EMAIL_FREE)),
        ];
        let mut until = waits.into_iter().flatten().max();
        let busy_node =
            state.node.1.is_some_and(|start| now.duration_since(start) < WINDOW) && state.node.0 > NODE_FREE;
        if busy_node && by_address.is_some() {
            until = until.max(by_address.map(|f| f.last + MAX_BACKOFF));
        }
        match until.filter(|at| *at > now) {
            Some(at) => Err(at - now),
            None => Ok(()),
        }
    }

    pub fn failed(&self, email: &str, address: IpAddr, now: Instant) {
        let mut state = self.state.lock();
        state.pairs.fail(&(email.to_string(), address), now);
        state.addresses.fail(&address, now);
        state.emails.fail(&email.to_string(), now);
        state.node = match state.node {
            (count, Some(start)) if now.duration_since(start) < WINDOW => (count + 1, Some(start)),
            _ => (1, Some(now)),
        };
    }

    /// A correct password from `address`: its pair starts afresh (the address's and the email's
    /// counts stay: a success does not excuse others' failures).
    pub fn succeeded(&self, email: &str, address: IpAddr) {
        self.state.lock().pairs.forget(&(email.to_string(), address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_pair_backs_off_after_five_failures_and_doubles() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check("a@x", ip(1), t0).is_ok());
            l.failed("a@x", ip(1), t0);
        }
        assert_eq!(l.check("a@x", ip(1), t0), Err(Duration::from_secs(1)));
        assert!(l.check("a@x", ip(1), t0 + Duration::from_secs(1)).is_ok());
        l.failed("a@x", ip(1), t0 + Duration::from_secs(1));
        assert_eq!(
            l.check("a@x", ip(1), t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
        assert!(
            l.check("a@x", ip(2), t0).is_ok(),
            "the same admin from another address is not locked out"
        );
        assert!(
            l.check("b@x", ip(1), t0).is_ok(),
            "another email from the address is fine under 20"
        );
    }

    #[test]
    fn an_address_spraying_many_emails_backs_off_and_the_wait_is_capped() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for n in 0..40 {
            l.failed(&format!("user{n}@x"), ip(9), t0);
        }
        let wait = l.check("new@x", ip(9), t0).unwrap_err();
        assert_eq!(wait, MAX_BACKOFF, "20 over: capped");
        assert!(l.check("new@x", ip(8), t0).is_ok());
        assert!(
            l.check("new@x", ip(9), t0 + WINDOW).is_ok(),
            "forgotten after the window"
        );
    }

    #[test]
    fn one_email_from_many_addresses_backs_off_everywhere() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for n in 0..=EMAIL_FREE {
            l.failed("boss@x", IpAddr::from([10, 1, (n / 250) as u8, (n % 250) as u8]), t0);
        }
        assert!(l.check("boss@x", ip(200), t0).is_err());
        assert!(l.check("other@x", ip(200), t0).is_ok());
    }

    #[test]
    fn a_busy_node_lets_only_clean_addresses_try() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for n in 0..=NODE_FREE {
            l.failed(
                &format!("u{}@x", n % 7),
                IpAddr::from([10, 2, (n / 250) as u8, (n % 250) as u8]),
                t0,
            );
        }
        assert!(
            l.check("u1@x", IpAddr::from([10, 2, 0, 1]), t0).is_err(),
            "an address that failed waits"
        );
        assert!(
            l.check("me@x", IpAddr::from([192, 168, 0, 1]), t0).is_ok(),
            "a clean address may try"
        );
    }
}
