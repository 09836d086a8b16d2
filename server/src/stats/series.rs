//! A chart's series from the stored minutes: a fixed number of equal buckets ending now, empty
//! buckets as zeros. Pure.

use serde::Serialize;
use utoipa::ToSchema;

use super::minute::MINUTE_MS;
use crate::store::StatsRow;

/// A time range a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last hour, by the minute.
    Hour,
    /// The last day, by five minutes.
    Day,
}

impl Range {
    pub fn parse(raw: &str) -> Option<Range> {
        match raw {
            "hour" => Some(Range::Hour),
            "day" => Some(Range::Day),
            _ => None,
        }
    }

    /// The width of one bucket, in ms.
    pub fn bucket_ms(self) -> i64 {
        match self {
            Range::Hour => MINUTE_MS,
            Range::Day => 5 * MINUTE_MS,
        }
    }

    /// How many buckets the range has.
    pub fn buckets(self) -> i64 {
        match self {
            Range::Hour => 60,
            Range::Day => 288,
        }
    }

    /// The first and last (exclusive) millisecond of the range ending with the bucket holding `now`.
    pub fn span(self, now_ms: i64) -> (i64, i64) {
        let width = self.bucket_ms();
        let until = now_ms - now_ms.rem_euclid(width) + width;
        (until - width * self.buckets(), until)
    }
}

/// One bucket of a chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatsPoint {
    /// The bucket's start (Unix milliseconds).
    pub time: i64,
    /// The peak of the minutes in the bucket (each minute: the nodes' peaks summed).
    pub connections: i64,
    /// Accepted in the bucket, over every node.
    pub messages_in: i64,
    /// Delivered to subscribers in the bucket, over every node.
    pub messages_out: i64,
}

/// Every bucket of `range` ending now, oldest first, from `minutes` (summed over nodes).
pub fn series(range: Range, now_ms: i64, minutes: &[StatsRow]) -> Vec<StatsPoint> {
    let (since, _) = range.span(now_ms);
    let width = range.bucket_ms();
    let mut points: Vec<StatsPoint> = (0..range.buckets())
        .map(|i| StatsPoint {
            time: since + i * width,
            ..Default::default()
        })
        .collect();
    for minute in minutes {
        let index = (minute.bucket - since).div_euclid(width);
        let Some(point) = usize::try_from(index).ok().and_then(|i| points.get_mut(i)) else {
            continue;
        };
        point.connections = point.connections.max(minute.connections);
        point.messages_in += minute.messages_in;
        point.messages_out += minute.messages_out;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(bucket: i64, connections: i64, messages_in: i64) -> StatsRow {
        StatsRow {
            app_id: "a".into(),
            bucket,
            node: String::new(),
            connections,
            messages_in,
            messages_out: 0,
        }
    }

    #[test]
    fn an_hour_is_sixty_minutes_ending_now_with_gaps_as_zero() {
        let now = 1_000 * MINUTE_MS + 30_000;
        let points = series(
            Range::Hour,
            now,
            &[minute(1_000 * MINUTE_MS, 4, 9), minute(990 * MINUTE_MS, 2, 1)],
        );
        assert_eq!(points.len(), 60);
        assert_eq!(points[59].time, 1_000 * MINUTE_MS, "the current minute is last");
        assert_eq!((points[59].connections, points[59].messages_in), (4, 9));
        assert_eq!((points[49].connections, points[49].messages_in), (2, 1));
        assert_eq!(points[0].messages_in, 0);
    }

    #[test]
    fn a_day_sums_messages_and_keeps_the_peak_of_five_minutes() {
        let now = 2_000 * MINUTE_MS;
        let (since, until) = Range::Day.span(now);
        assert_eq!((until - since) / MINUTE_MS, 24 * 60);
        let rows = [
            minute(2_000 * MINUTE_MS, 3, 1),
            minute(2_001 * MINUTE_MS, 5, 2),
            minute(until, 9, 9),
        ];
        let points = series(Range::Day, now, &rows);
        assert_eq!(points.len(), 288);
        let last = points[287];
        assert_eq!(
            (last.connections, last.messages_in),
            (5, 3),
            "a minute past the range is left out"
        );
    }
}
