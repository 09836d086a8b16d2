//! The load tool's accounting: latency percentiles and loss/duplicate counting. Pure, unit-tested.

use hdrhistogram::Histogram;

/// Publish-to-receive latencies, in microseconds.
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 60 s, 3 significant digits.
        Latencies {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latencies {
    pub fn record_us(&mut self, us: u64) {
        self.hist.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.hist.add(&other.hist);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn percentiles(&self) -> Percentiles {
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: self.hist.max() as f64 / 1000.0,
        }
    }
}

/// Latencies recorded by many tasks for a whole run and, at the same time, for the current status
/// window, which one task takes now and then (one lock per sample for both).
#[derive(Default)]
pub struct Windowed {
    both: std::sync::Mutex<(Latencies, Latencies)>,
}

impl Windowed {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Latencies, Latencies)> {
        self.both.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record_us(&self, us: u64) {
        let mut both = self.lock();
        both.0.record_us(us);
        both.1.record_us(us);
    }

    /// The window's latencies, a new window starting.
    pub fn take_window(&self) -> Latencies {
        std::mem::take(&mut self.lock().0)
    }

    /// The whole run's percentiles.
    pub fn whole_run(&self) -> Percentiles {
        self.lock().1.percentiles()
    }
}

/// Which of a channel's `expected` messages (numbered 0..expected) one subscriber saw.
pub struct Deliveries {
    seen: Vec<u64>,
    expected: u64,
    received: u64,
    duplicates: u64,
    out_of_range: u64,
}

impl Deliveries {
    pub fn new(expected: u64) -> Self {
        Deliveries {
            seen: vec![0; expected.div_ceil(64) as usize],
            expected,
            received: 0,
            duplicates: 0,
            out_of_range: 0,
        }
    }

    /// Records message `seq`; false when it was a duplicate or out of range.
    pub fn record(&mut self, seq: u64) -> bool {
        if seq >= self.expected {
            self.out_of_range += 1;
            return false;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return false;
        }
        self.seen[word] |= bit;
        self.received += 1;
        true
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Every expected message has arrived.
    pub fn complete(&self) -> bool {
        self.received == self.expected
    }

    pub fn lost(&self) -> u64 {
        self.expected - self.received()
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates + self.out_of_range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_duplicates_are_counted() {
        let mut d = Deliveries::new(130);
        for seq in 0..130 {
            if seq != 64 && seq != 129 {
                assert!(d.record(seq));
            }
        }
        assert!(!d.record(3));
        assert!(!d.record(500));
        assert_eq!(d.received(), 128);
        assert!(!d.complete());
        assert_eq!(d.lost(), 2);
        assert_eq!(d.duplicates(), 2);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::default();
        for us in 1..=1000u64 {
            l.record_us(us * 10);
        }
        let p = l.percentiles();
        assert!((p.p50 - 5.0).abs() < 0.05, "{p:?}");
        assert!((p.p99 - 9.9).abs() < 0.05, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.05, "{p:?}");
        let windowed = Windowed::default();
        windowed.record_us(1000);
        assert_eq!(windowed.take_window().count(), 1);
        windowed.record_us(3000);
        assert_eq!(
            windowed.take_window().count(),
            1,
            "a window holds what came since the last"
        );
        assert!((windowed.whole_run().max - 3.0).abs() < 0.01, "the run holds both");
        let mut other = Latencies::default();
        other.record_us(60_000);
        l.merge(&other);
        assert_eq!(l.count(), 1001);
        assert!((l.percentiles().max - 60.0).abs() < 0.1);
    }
}
