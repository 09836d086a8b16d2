//! The console's event creator: publish a message to an app's channels as an admin. It takes the
//! path of a signed Pusher publish (`publish::request`: the same checks, the tenant's quota, stored
//! before it is answered, in the lifecycle log), and is audited with who sent it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::apps::{writable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Body, PathParams};
use crate::lifecycle::{accepted, preview, EventKind, LifecycleEvent, PublishDetail};
use crate::publish::request::{publish, take_quota, validate, EventRequest, PublishError, MAX_CHANNELS};
use crate::state::AppState;
use crate::store::App;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
    #[schema(schema_with = channel_list)]
    pub channels: Vec<String>,
    /// The event name (what `channel.bind(name, …)` listens to): 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The event's data, as subscribers receive it (usually JSON text); at most the app's
    /// `max_payload_bytes` (413 above it).
    pub data: String,
    /// A connection that should not receive it (digits.digits; empty: none).
    #[serde(default)]
    #[schema(pattern = "^([0-9]+\\.[0-9]+)?$")]
    pub socket_id: Option<String>,
}

/// 1 to 100 channel names, as Pusher allows them (`#server-to-user-{user id}` included).
fn channel_list() -> utoipa::openapi::Array {
    let name = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(
            "^(#server-to-user-[A-Za-z0-9_=@,.;-]{1,128}|[A-Za-z0-9_=@,.;-]{1,164})$",
        ));
    utoipa::openapi::ArrayBuilder::new()
        .description(Some("1 to 100 channel names (an encrypted channel only alone)."))
        .items(name)
        .min_items(Some(1))
        .max_items(Some(MAX_CHANNELS))
        .build()
}

/// Where a message was stored in one channel.
#[derive(Serialize, ToSchema)]
pub struct StoredAt {
    pub epoch: u64,
    pub serial: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PublishedMessage {
    /// Each channel's position of the message (the `epoch` and `serial` subscribers see).
    pub channels: BTreeMap<String, StoredAt>,
}

/// Publish a message to channels of an app, as a signed `POST /apps/{app_id}/events` would: the same
/// validation and tenant quota, stored before the answer, in the lifecycle log and the audit log.
#[utoipa::path(operation_id = "publish_message", post, path = "/api/v1/apps/{app_id}/messages", tag = "apps",
    security(("bearer" = [])), params(AppPath), request_body = PublishMessage,
    responses((status = 200, body = PublishedMessage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn publish_message(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Body(req): Body<PublishMessage>,
) -> Result<Json<PublishedMessage>, AdminError> {
    let app = writable(&state, &who, &app_id).await?;
    let bytes = req.data.len();
    let channels = req.channels.clone();
    let summary = json!({ "channels": req.channels, "name": req.name, "by": who.actor.0 });
    let data_preview = app.settings.log_payload_previews.then(|| preview(&req.data, 100));
    let result = send(&state, &app, req).await;
    let event = match &result {
        Ok(published) => {
            let detail = PublishDetail {
                by: Some(who.actor.0.clone()),
                bytes,
                messages: published.channels.len(),
                channels,
                preview: data_preview,
            };
            accepted(&app.id, detail)
        }
        Err(e) => LifecycleEvent::new(EventKind::PublishRefused, &app.id)
            .code(status_of(e))
            .reason(e.to_string())
            .detail(json!({ "bytes": bytes, "by": who.actor.0 })),
    };
    state.events.record(event);
    let published = result?;
    state
        .store
        .record(Some(&app.tenant_id), &who.actor, "message.publish", &app.id, summary)
        .await?;
    Ok(Json(published))
}

/// The console's publish as the Pusher HTTP API's request, so both are validated alike.
pub(crate) fn event_request(req: PublishMessage) -> EventRequest {
    EventRequest {
        name: Some(req.name),
        data: Some(Value::String(req.data)),
        channels: Some(req.channels),
        socket_id: req.socket_id,
        ..Default::default()
    }
}

async fn send(state: &AppState, app: &App, req: PublishMessage) -> Result<PublishedMessage, PublishError> {
    let event = validate(app, event_request(req))?;
    take_quota(&state.apps, &state.quota, app, &[&event])?;
    let positions = publish(&state.publisher, app, &event).await?;
    let channels = event
        .channels
        .iter()
        .zip(positions)
        .filter_map(|(channel, at)| {
            let at = at?;
            let at = StoredAt {
                epoch: at.epoch,
                serial: at.serial,
            };
            Some((channel.to_string(), at))
        })
        .collect();
    Ok(PublishedMessage { channels })
}

/// The HTTP status a refusal is answered with (as the Pusher API would).
fn status_of(e: &PublishError) -> u16 {
    match e {
        PublishError::BadRequest(_) => 400,
        PublishError::OverQuota(_) => 403,
        PublishError::PayloadTooLarge { .. } => 413,
        PublishError::Unavailable(_) => 503,
    }
}
