//! An app's webhook deliveries: what was queued, delivered or given up on (dead), with every attempt;
//! sending a failed one again, and a test event to an endpoint. (The endpoints themselves are app
//! settings: `PATCH /apps/{app_id}` with `settings.webhooks`.)

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, writable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Body, Params, PathParams};
use crate::clock::unix_ms;
use crate::state::AppState;
use crate::store::{Delivery, DeliveryFilter, DeliveryStatus, NewDelivery, WebhookEventKind};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state: pending, delivered or dead (the dead-letter list).
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    /// Only deliveries carrying an event of this type (member_removed, channel_vacated, …).
    #[param(value_type = Option<WebhookEventKind>)]
    pub event: Option<String>,
    /// Only deliveries carrying an event on this channel.
    pub channel: Option<String>,
    /// Only deliveries carrying an event about this user (member_added/member_removed, or a
    /// presence channel's client event). With `event` and `channel`, one event must match all three.
    pub user_id: Option<String>,
    /// The next page: deliveries older than this id (the last id of the previous page).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    pub before: Option<i64>,
    /// At most this many deliveries (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// An app's webhook deliveries, newest first, each with its attempts (status code, latency, error);
/// filtered by status and by the events they carry, paged with `before`.
#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/api/v1/apps/{app_id}/webhooks/deliveries", tag = "webhooks",
    security(("bearer" = [])), params(AppPath, DeliveriesQuery),
    responses((status = 200, body = [Delivery]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(q): Params<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, AdminError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(raw) => Some(
            DeliveryStatus::parse(raw)
                .ok_or_else(|| AdminError::bad("status", "status must be pending, delivered or dead"))?,
        ),
    };
    let event = match q.event.as_deref() {
        None => None,
        Some(raw) => Some(WebhookEventKind::parse(raw).ok_or_else(|| {
            AdminError::bad(
                "event",
                "event must be channel_occupied, channel_vacated, member_added, member_removed, client_event, \
                 cache_miss or subscription_count",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AdminError::bad("limit", "limit must be between 1 and 200"));
    }
    readable(&state, &who, &app_id).await?;
    let filter = DeliveryFilter {
        status,
        event,
        channel: q.channel.filter(|c| !c.is_empty()),
        user_id: q.user_id.filter(|u| !u.is_empty()),
        before: q.before,
        limit,
    };
    Ok(Json(state.store.list_webhook_deliveries(&app_id, &filter).await?))
}

/// Send a failed or dead delivery again, now, with a fresh retry schedule (its earlier attempts stay
/// listed). The node's dispatcher picks it up within half a second.
#[utoipa::path(operation_id = "redeliver_webhook", post, path = "/api/v1/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver",
    tag = "webhooks", security(("bearer" = [])), params(AppPath, ("delivery_id" = i64, Path, minimum = 1, maximum = 9223372036854775807i64)),
    responses((status = 202, body = Delivery), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, delivery_id)): PathParams<(String, i64)>,
) -> Result<(StatusCode, Json<Delivery>), AdminError> {
    writable(&state, &who, &app_id).await?;
    let delivery = find(&state, &app_id, delivery_id).await?;
    if !state.store.redeliver_webhook(&app_id, delivery_id, unix_ms()).await? {
        return Err(AdminError::Conflict {
            message: format!(
                "delivery {delivery_id} is {} and not failing: only a failed or dead delivery is sent again",
                delivery.status.as_str()
            ),
            field: None,
        });
    }
    state
        .store
        .record(
            None,
            &who.actor,
            "webhook.redeliver",
            &app_id,
            json!({ "delivery": delivery_id }),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(find(&state, &app_id, delivery_id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestWebhook {
    /// One of the app's webhook endpoint URLs.
    pub url: String,
}

/// How a test delivery's first attempt went.
#[derive(Serialize, ToSchema)]
pub struct WebhookTestResult {
    /// The endpoint answered 2xx.
    pub ok: bool,
    /// The queued delivery (listed with the others).
    pub delivery_id: i64,
    /// The endpoint's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// Why the attempt failed (or that it has not happened yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Longest wait for a test delivery's first attempt.
const TEST_WAIT: Duration = Duration::from_secs(15);

/// Send a test event to one of the app's endpoints, signed as every delivery is, through the
/// delivery queue (so it is retried and listed like the others), and answer how its first attempt
/// went. The body carries one event named `herald_test`.
#[utoipa::path(operation_id = "test_webhook", post, path = "/api/v1/apps/{app_id}/webhooks/test", tag = "webhooks",
    security(("bearer" = [])), params(AppPath), request_body = TestWebhook,
    responses((status = 200, body = WebhookTestResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Body(req): Body<TestWebhook>,
) -> Result<Json<WebhookTestResult>, AdminError> {
    let app = writable(&state, &who, &app_id).await?;
    if !app.settings.webhooks.iter().any(|e| e.url.as_str() == req.url) {
        return Err(AdminError::bad(
            "url",
            "not one of this app's webhook endpoints (settings.webhooks)",
        ));
    }
    let now = unix_ms();
    let body = json!({ "time_ms": now, "events": [{ "name": "herald_test", "by": who.actor.0 }] }).to_string();
    let new = NewDelivery {
        app_id: app.id.clone(),
        url: req.url,
        body,
        created_at: now,
        events: Vec::new(),
    };
    let delivery_id = state.store.enqueue_webhook(new).await?;
    let deadline = tokio::time::Instant::now() + TEST_WAIT;
    loop {
        let delivery = find(&state, &app_id, delivery_id).await?;
        if let Some(first) = delivery.attempts.first() {
            return Ok(Json(WebhookTestResult {
                ok: first.error.is_none(),
                delivery_id,
                status: first.status_code,
                latency_ms: Some(first.latency_ms),
                error: first.error.clone(),
            }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(WebhookTestResult {
                ok: false,
                delivery_id,
                status: None,
                latency_ms: None,
                error: Some(format!(
                    "not attempted within {} s; it stays queued",
                    TEST_WAIT.as_secs()
                )),
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One delivery of the app, by id.
async fn find(state: &AppState, app_id: &str, id: i64) -> Result<Delivery, AdminError> {
    let filter = DeliveryFilter {
        status: None,
        event: None,
        channel: None,
        user_id: None,
        before: Some(id.saturating_add(1)),
        limit: 1,
    };
    state
        .store
        .list_webhook_deliveries(app_id, &filter)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| AdminError::NotFound(format!("no webhook delivery {id} in this app")))
}
