//! Opening a JetStream stream that several nodes may open at the same moment (a cluster starting).
//!
//! `create_or_update_stream` sends an update first, and concurrent updates of one stream can crash
//! nats-server 2.9 (a panic in `jsStreamUpdateRequest`, seen when three nodes start together). So a
//! node reads the stream first, creates it only when it is missing, and updates it only when the
//! settings it wants differ from the stream's, which after the first start they do not.

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{self, stream, ErrorCode};

/// The stream `config` names, created or brought to `config` when needed.
pub(super) async fn open(js: &jetstream::Context, config: stream::Config) -> Result<stream::Stream, async_nats::Error> {
    for _ in 0..3 {
        match js.get_stream(&config.name).await {
            Ok(existing) => {
                let Some(setting) = differs(&existing.cached_info().config, &config) else {
                    return Ok(existing);
                };
                tracing::info!(stream = %config.name, %setting, "the stream's settings differ from this node's: updating it");
                // Metadata is the stream's own (its epoch): an update keeps what the stream has.
                let config = stream::Config {
                    metadata: existing.cached_info().config.metadata.clone(),
                    ..config.clone()
                };
                js.update_stream(&config).await?;
                return Ok(js.get_stream(&config.name).await?);
            }
            Err(e) if not_found(e.kind()) => match js.create_stream(config.clone()).await {
                Ok(_) => return Ok(js.get_stream(&config.name).await?),
                // another node created it in between: read it again
                Err(e) => tracing::debug!(error = %e, stream = %config.name, "stream not created here"),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(format!("stream {} could not be opened: created and gone again", config.name).into())
}

fn not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// The first setting `wanted` chooses (one not left at its default, which the server reports in
/// its own way, -1 for "unlimited") that differs from the stream's, with both values. Metadata is
/// not a setting: it is written once, when the stream is created.
fn differs(current: &stream::Config, wanted: &stream::Config) -> Option<String> {
    let as_object = |c: &stream::Config| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    let (Some(current), Some(wanted), Some(defaults)) = (
        as_object(current),
        as_object(wanted),
        as_object(&stream::Config::default()),
    ) else {
        return Some("(unreadable)".into());
    };
    wanted
        .iter()
        .filter(|(key, value)| *key != "metadata" && defaults.get(*key) != Some(value))
        .find(|(key, value)| current.get(*key) != Some(value))
        .map(|(key, value)| format!("{key}: {:?} wanted {value}", current.get(key)))
}

/// How long after a stream's creation the creation time it reports may still change: nats-server
/// creates the stream with its own clock and sets the cluster's creation time just after, and a
/// read in between (another node opening the stream as a cluster starts) sees the first.
const SETTLE_NANOS: u64 = 1_000_000_000;

/// `stream`, read again once it is old enough that the creation time it reports (the epoch on a
/// server without metadata) is final: every node that opens it then sees the same.
pub(super) async fn settled(
    js: &jetstream::Context,
    stream: stream::Stream,
) -> Result<stream::Stream, async_nats::Error> {
    let created = stream.cached_info().created.unix_timestamp_nanos().max(0) as u64;
    match settle_wait(created, unix_nanos()) {
        None => Ok(stream),
        Some(wait) => {
            tokio::time::sleep(wait).await;
            Ok(js.get_stream(&stream.cached_info().config.name).await?)
        }
    }
}

/// How long to wait before a stream created at `created` (ns since the Unix epoch, the server's
/// clock) reports its final creation time, at `now` (this node's clock): never more than the
/// settling time, whatever the clocks say.
fn settle_wait(created: u64, now: u64) -> Option<std::time::Duration> {
    let age = now.saturating_sub(created);
    (age < SETTLE_NANOS).then(|| std::time::Duration::from_nanos(SETTLE_NANOS - age))
}

/// The stream metadata key of its epoch.
pub(super) const EPOCH_KEY: &str = "herald_epoch";

/// The stream's epoch: the one written into its metadata when it was created, the same on every
/// replica (nats-server 2.10 and later). A server that keeps no metadata (2.9) gives the stream's
/// creation time instead, which with several replicas can differ between them: run 2.10 or later
/// with `nats_replicas` above 1.
pub(super) fn epoch_of(info: &stream::Info) -> u64 {
    info.config
        .metadata
        .get(EPOCH_KEY)
        .and_then(|e| e.parse().ok())
        .unwrap_or(info.created.unix_timestamp_nanos() as u64)
}

pub(super) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_young_stream_is_read_again_once_settled() {
        let second = 1_000_000_000;
        let created = 1_800_000_000 * second;
        assert_eq!(
            settle_wait(created, created + 2 * second),
            None,
            "an old stream is final"
        );
        assert_eq!(settle_wait(created, created + second), None);
        assert_eq!(
            settle_wait(created, created + second / 4),
            Some(Duration::from_millis(750))
        );
        assert_eq!(
            settle_wait(created, created - 60 * second),
            Some(Duration::from_secs(1)),
            "a server clock ahead of this node's costs one settling time, no more"
        );
    }

    #[test]
    fn only_a_changed_setting_calls_for_an_update() {
        let wanted = stream::Config {
            name: "s".into(),
            subjects: vec!["a.>".into()],
            max_age: Duration::from_secs(60),
            ..Default::default()
        };
        assert_eq!(differs(&wanted.clone(), &wanted), None);
        let as_the_server_reports_it = stream::Config {
            max_bytes: -1,
            max_consumers: -1,
            ..wanted.clone()
        };
        assert_eq!(
            differs(&as_the_server_reports_it, &wanted),
            None,
            "defaults are not compared"
        );
        let longer = stream::Config {
            max_age: Duration::from_secs(120),
            ..wanted.clone()
        };
        assert!(differs(&longer, &wanted).is_some_and(|s| s.starts_with("max_age")));
        let another_epoch = stream::Config {
            metadata: [("herald_epoch".to_string(), "2".to_string())].into(),
            ..wanted.clone()
        };
        assert_eq!(differs(&wanted, &another_epoch), None, "metadata is the stream's own");
    }
}
