//! Failed connections: the closes of a time range grouped by cause and close code, each group with
//! its most recent sockets, so the console answers "which sessions failed, and why" at a glance and
//! links each socket to its events. Read from the lifecycle log (every node's closes).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use crate::clock::unix_ms;
use crate::lifecycle::{EventKind, EventQuery, LifecycleEvent};
use crate::state::AppState;

/// Most closes read for one answer (the newest of the range).
const MAX_CLOSES: usize = 10_000;
/// Sockets listed per group.
const RECENT_PER_GROUP: usize = 20;
/// The cause of a close the client made itself: not a failure.
const CLIENT_GONE: &str = "client_gone";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailureParams {
    /// From this time (Unix milliseconds; default: an hour before `until`); not after `until`.
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    since: Option<i64>,
    /// Until this time (Unix milliseconds; default: now).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    until: Option<i64>,
    /// Count the clients' own closes (`client_gone`) too.
    #[serde(default)]
    include_client_closes: bool,
}

/// One socket of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedSocket {
    pub socket_id: String,
    /// When it closed (Unix milliseconds).
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub node: String,
}

/// Closes with one cause and code.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureGroup {
    /// auth_failure, over_quota, slow_consumer, ping_timeout, terminated, server_shutdown,
    /// app_disabled, client_event_rate, message_too_big, protocol_error, admin, client_gone.
    pub cause: String,
    /// The close code (4001, 4100, 4201, …); none when the socket just went.
    pub code: Option<u16>,
    pub count: usize,
    /// The group's most recent sockets, newest first (at most 20).
    pub recent: Vec<FailedSocket>,
}

#[derive(Serialize, ToSchema)]
pub struct FailedConnections {
    pub since: i64,
    pub until: i64,
    /// Largest group first.
    pub groups: Vec<FailureGroup>,
    /// True when the range held more closes than were read (the newest 10,000 are grouped).
    pub truncated: bool,
}

/// Closed connections of an app in a time range, grouped by cause and close code (largest first),
/// over every node. The clients' own closes are left out unless asked for.
#[utoipa::path(operation_id = "failed_connections", get, path = "/api/v1/apps/{app_id}/connections/failed",
    tag = "connections", security(("bearer" = [])), params(AppPath, FailureParams),
    responses((status = 200, body = FailedConnections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn failed(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(params): Params<FailureParams>,
) -> Result<Json<FailedConnections>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let until = params.until.unwrap_or_else(unix_ms);
    let since = params.since.unwrap_or(until.saturating_sub(3_600_000));
    if since > until {
        return Err(AdminError::bad("since", "since must not be after until"));
    }
    let query = EventQuery {
        since: Some(since),
        until: Some(until),
        kinds: vec![EventKind::ConnectionClosed],
        limit: MAX_CLOSES,
        ..Default::default()
    };
    let closes = state
        .events
        .store()
        .query(&app_id, &query)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    let truncated = closes.len() >= MAX_CLOSES;
    let groups = group(&closes, params.include_client_closes);
    Ok(Json(FailedConnections {
        since,
        until,
        groups,
        truncated,
    }))
}

/// Groups closes (newest first) by cause and code, largest group first.
fn group(closes: &[LifecycleEvent], include_client_closes: bool) -> Vec<FailureGroup> {
    let mut groups: HashMap<(String, Option<u16>), FailureGroup> = HashMap::new();
    for close in closes {
        let cause = close.detail.as_ref().and_then(|d| d.text("cause")).unwrap_or("unknown");
        if cause == CLIENT_GONE && !include_client_closes {
            continue;
        }
        let group = groups
            .entry((cause.to_string(), close.code))
            .or_insert_with(|| FailureGroup {
                cause: cause.to_string(),
                code: close.code,
                count: 0,
                recent: Vec::new(),
            });
        group.count += 1;
        if group.recent.len() < RECENT_PER_GROUP {
            group.recent.push(FailedSocket {
                socket_id: close.socket_id.clone().unwrap_or_default(),
                time: close.time,
                user_id: close.user_id.clone(),
                reason: close.reason.clone(),
                node: close.node.clone(),
            });
        }
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(&b.cause)));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(socket: &str, cause: &str, code: Option<u16>, time: i64) -> LifecycleEvent {
        let mut e = LifecycleEvent::new(EventKind::ConnectionClosed, "app")
            .socket(socket)
            .detail(serde_json::json!({ "cause": cause }));
        e.time = time;
        e.code = code;
        e
    }

    #[test]
    fn closes_group_by_cause_and_code_largest_first_without_client_closes() {
        let closes = vec![
            close("1.4", "ping_timeout", Some(4201), 40),
            close("1.3", "auth_failure", Some(4001), 30),
            close("1.2", "client_gone", None, 20),
            close("1.1", "ping_timeout", Some(4201), 10),
        ];
        let groups = group(&closes, false);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].cause.as_str(), groups[0].code, groups[0].count),
            ("ping_timeout", Some(4201), 2)
        );
        assert_eq!(groups[0].recent[0].socket_id, "1.4", "newest first");
        assert_eq!((groups[1].cause.as_str(), groups[1].count), ("auth_failure", 1));
        assert_eq!(group(&closes, true).len(), 3, "client closes when asked");
    }
}
