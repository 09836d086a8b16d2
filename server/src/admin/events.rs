//! The lifecycle log of an app: a query over the kept events, and a live stream (Server-Sent Events)
//! for the console's debug view.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use crate::lifecycle::{time_of_id, EventKind, EventQuery, LifecycleEvent};
use crate::state::AppState;

/// Most events one answer holds.
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// From this time (Unix milliseconds; default: an hour ago).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    since: Option<i64>,
    /// Until this time (Unix milliseconds).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    until: Option<i64>,
    /// Comma-separated kinds, e.g. `connection_closed,subscription_refused`.
    #[param(
        pattern = r"^\s*(connection_opened|connection_closed|subscription_succeeded|subscription_refused|signin|signin_refused|publish_accepted|publish_refused|client_event|webhook_delivered|webhook_failed)?\s*(,\s*(connection_opened|connection_closed|subscription_succeeded|subscription_refused|signin|signin_refused|publish_accepted|publish_refused|client_event|webhook_delivered|webhook_failed)?\s*)*$"
    )]
    kind: Option<String>,
    channel: Option<String>,
    socket_id: Option<String>,
    user_id: Option<String>,
    /// Events to return, newest first: 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The live stream only: resume after this event id (as `Last-Event-ID` does).
    #[param(ignore)]
    last_event_id: Option<String>,
}

impl EventParams {
    fn query(&self) -> Result<EventQuery, AdminError> {
        let bad = |message: String, field: &str| AdminError::BadRequest {
            message,
            field: Some(field.into()),
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(bad(format!("limit must be 1 to {MAX_LIMIT}"), "limit"));
        }
        let mut kinds = Vec::new();
        for name in self
            .kind
            .iter()
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            kinds.push(EventKind::parse(name).ok_or_else(|| bad(format!("unknown kind {name:?}"), "kind"))?);
        }
        Ok(EventQuery {
            since: self.since,
            until: self.until,
            kinds,
            channel: self.channel.clone(),
            socket_id: self.socket_id.clone(),
            user_id: self.user_id.clone(),
            limit,
        })
    }
}

/// Lifecycle events, newest first.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<LifecycleEvent>,
}

/// Query an app's lifecycle log (connections opened and closed and why, subscriptions, signins,
/// publishes, client events, webhook deliveries), over every node.
#[utoipa::path(operation_id = "list_events", get, path = "/api/v1/apps/{app_id}/events", tag = "events",
    security(("bearer" = [])), params(AppPath, EventParams),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(params): Params<EventParams>,
) -> Result<Json<EventList>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let query = params.query()?;
    let events = state
        .events
        .store()
        .query(&app_id, &query)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(Json(EventList { events }))
}

/// How far before the last event a client saw its reconnect replays the log: events reach the log
/// a little after their time (other nodes', batched writes), and the client drops those it has.
const RESUME_OVERLAP_MS: i64 = 2_000;

/// Stream an app's lifecycle events as they happen (Server-Sent Events, `event: lifecycle`, the
/// event as JSON in `data`, its `id` as the SSE id), over every node; the same filters as the query
/// (without times). A reconnect with `Last-Event-ID` (header, or the `last_event_id` parameter)
/// first replays what was logged from shortly before that event on (at most 1000 events; the
/// client drops ids it already has), then goes on live, without a gap.
#[utoipa::path(operation_id = "stream_events", get, path = "/api/v1/apps/{app_id}/events/live", tag = "events",
    security(("bearer" = [])), params(AppPath, EventParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received"),
        ("last_event_id" = Option<String>, Query, description = "The same, for clients that cannot set headers")),
    responses((status = 200, description = "text/event-stream of lifecycle events"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn live(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    headers: HeaderMap,
    Params(params): Params<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(params.last_event_id.clone());
    let mut query = params.query()?;
    let live = state
        .events
        .store()
        .live(&app_id)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    // Subscribed first, then the replay read: an event logged meanwhile is in one or both, never
    // in neither; ids sent in the replay are not sent again.
    let replay = match last_id.as_deref().and_then(time_of_id) {
        Some(time) => {
            query.since = Some(time - RESUME_OVERLAP_MS);
            query.limit = MAX_LIMIT;
            let mut events = state
                .events
                .store()
                .query(&app_id, &query)
                .await
                .map_err(|e| AdminError::Unavailable(e.to_string()))?;
            events.reverse(); // oldest first
            events.retain(|e| Some(&e.id) != last_id.as_ref());
            events
        }
        None => Vec::new(),
    };
    let replayed: HashSet<String> = replay.iter().map(|e| e.id.clone()).collect();
    query.since = None;
    let shutdown = state.shutdown.clone();
    let checked = state.clone();
    // The stream ends when the node stops or the caller's credentials no longer hold.
    let ended = async move {
        tokio::select! {
            () = shutdown.stopping() => {}
            () = credentials_lost(&checked, &who) => {}
        }
    };
    let live = live.filter(move |e| std::future::ready(query.matches(e) && !replayed.contains(&e.id)));
    // A comment first, so the response (and the client's "live" state) starts at once.
    let opened = futures_util::stream::once(async { Ok(Event::default().comment("live")) });
    let stream = opened
        .chain(
            futures_util::stream::iter(replay)
                .chain(live)
                .map(|e| Ok(sse_event(&e))),
        )
        .take_until(ended);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How often a live stream checks its caller's credentials again.
const RECHECK: Duration = Duration::from_secs(5);

/// Completes once `who`'s credentials stop holding (revoked, expired, deleted, another role).
async fn credentials_lost(state: &AppState, who: &Principal) {
    loop {
        tokio::time::sleep(RECHECK).await;
        if !who.still_holds(state).await {
            return;
        }
    }
}

fn sse_event(e: &LifecycleEvent) -> Event {
    let event = Event::default().event("lifecycle").json_data(e).unwrap_or_default();
    match e.id.is_empty() {
        true => event,
        false => event.id(e.id.clone()),
    }
}
