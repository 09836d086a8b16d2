//! An app's webhook deliveries: what was queued, delivered or given up on (dead), with every attempt.
//! (The endpoints themselves are app settings: `PATCH /apps/{app_id}` with `settings.webhooks`.)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::apps::readable;
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use crate::state::AppState;
use crate::store::{Delivery, DeliveryFilter, DeliveryStatus, WebhookEventKind};

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
    pub before: Option<i64>,
    /// At most this many deliveries (1 to 200, default 50).
    pub limit: Option<i64>,
}

/// An app's webhook deliveries, newest first, each with its attempts (status code, latency, error);
/// filtered by status and by the events they carry, paged with `before`.
#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/api/v1/apps/{app_id}/webhooks/deliveries", tag = "webhooks",
    security(("bearer" = [])), params(("app_id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = [Delivery]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    who: Principal,
    Path(app_id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Vec<Delivery>>, AdminError> {
    let Query(q) = query.map_err(|e| AdminError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            DeliveryStatus::parse(raw)
                .ok_or_else(|| AdminError::bad("status", "status must be pending, delivered or dead"))?,
        ),
    };
    let event = match q.event.as_deref() {
        None | Some("") => None,
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
