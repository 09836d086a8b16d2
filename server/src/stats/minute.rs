//! `Minutes`: turns samples of one node's figures (connections now, running totals of messages in
//! and out) into one row per app and minute: the minute's peak connections and the messages of
//! that minute. Pure: the caller passes the time and the figures.

use std::collections::HashMap;

use crate::store::StatsRow;

/// One minute, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// An app's figures at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub connections: u64,
    /// Running totals since the node started.
    pub messages_in: u64,
    pub messages_out: u64,
}

#[derive(Debug, Default)]
struct AppMinute {
    peak: u64,
    /// The running totals when the minute began.
    start_in: u64,
    start_out: u64,
    /// The latest totals.
    last_in: u64,
    last_out: u64,
}

/// The minute being sampled, per app.
#[derive(Debug, Default)]
pub struct Minutes {
    /// The current minute's start (Unix ms); `None` before the first sample.
    bucket: Option<i64>,
    apps: HashMap<String, AppMinute>,
}

impl Minutes {
    /// Takes the figures sampled at `now_ms`; when a new minute began, returns the rows of the
    /// minute that ended (apps with no connection and no message in it are left out).
    pub fn sample(&mut self, now_ms: i64, node: &str, figures: &[(String, Sample)]) -> Vec<StatsRow> {
        let bucket = now_ms - now_ms.rem_euclid(MINUTE_MS);
        let ended = match self.bucket {
            Some(current) if current != bucket => self.close(current, node),
            _ => Vec::new(),
        };
        self.bucket = Some(bucket);
        for (app, sample) in figures {
            let minute = self.apps.entry(app.clone()).or_insert_with(|| AppMinute {
                start_in: sample.messages_in,
                start_out: sample.messages_out,
                ..Default::default()
            });
            minute.peak = minute.peak.max(sample.connections);
            minute.last_in = sample.messages_in;
            minute.last_out = sample.messages_out;
        }
        ended
    }

    /// The rows of minute `bucket`, and a fresh minute starting from its last totals.
    fn close(&mut self, bucket: i64, node: &str) -> Vec<StatsRow> {
        let mut rows = Vec::new();
        for (app, minute) in &mut self.apps {
            let messages_in = minute.last_in.saturating_sub(minute.start_in);
            let messages_out = minute.last_out.saturating_sub(minute.start_out);
            if minute.peak > 0 || messages_in > 0 || messages_out > 0 {
                rows.push(StatsRow {
                    app_id: app.clone(),
                    bucket,
                    node: node.to_string(),
                    connections: minute.peak as i64,
                    messages_in: messages_in as i64,
                    messages_out: messages_out as i64,
                });
            }
            *minute = AppMinute {
                start_in: minute.last_in,
                start_out: minute.last_out,
                last_in: minute.last_in,
                last_out: minute.last_out,
                peak: 0,
            };
        }
        rows.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(connections: u64, messages_in: u64, messages_out: u64) -> Sample {
        Sample {
            connections,
            messages_in,
            messages_out,
        }
    }

    #[test]
    fn a_minute_keeps_its_peak_and_its_own_messages() {
        let mut m = Minutes::default();
        let t0 = 10 * MINUTE_MS;
        assert!(m
            .sample(t0 + 1_000, "n1", &[("a".into(), sample(3, 100, 200))])
            .is_empty());
        assert!(m
            .sample(t0 + 30_000, "n1", &[("a".into(), sample(7, 110, 240))])
            .is_empty());
        let rows = m.sample(t0 + MINUTE_MS + 500, "n1", &[("a".into(), sample(2, 115, 250))]);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(
            (row.bucket, row.connections, row.messages_in, row.messages_out),
            (t0, 7, 10, 40)
        );
        // The next minute counts from the last totals of the one before.
        let rows = m.sample(t0 + 2 * MINUTE_MS, "n1", &[("a".into(), sample(0, 120, 250))]);
        assert_eq!(
            (rows[0].connections, rows[0].messages_in, rows[0].messages_out),
            (2, 5, 10)
        );
    }

    #[test]
    fn idle_apps_write_nothing() {
        let mut m = Minutes::default();
        m.sample(0, "n1", &[("idle".into(), sample(0, 5, 5))]);
        assert!(m
            .sample(MINUTE_MS, "n1", &[("idle".into(), sample(0, 5, 5))])
            .is_empty());
    }
}
