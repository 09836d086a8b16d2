//! `POST /apps/{id}/events` and `POST /apps/{id}/batch_events`: validate, then publish to each channel.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::channels::info_attributes;
use super::error::ApiError;
use super::signed::Signed;
use crate::lifecycle::{accepted, preview_bytes, EventKind, LifecycleEvent, PublishDetail};
use crate::publish::request::{checked_key, publish, take_quota, validate, EventRequest, PublishError};
use crate::state::AppState;

/// Events one batch may hold.
pub const MAX_BATCH: usize = 10;

#[derive(Deserialize)]
pub struct BatchRequest {
    batch: Vec<EventRequest>,
}

/// Which publish request a handler serves.
#[derive(Clone, Copy)]
enum Publish {
    Events,
    Batch,
}

pub async fn trigger(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    signed: Result<Signed, ApiError>,
) -> Result<Json<Value>, ApiError> {
    handle(&state, &app_id, signed, Publish::Events).await
}

pub async fn batch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    signed: Result<Signed, ApiError>,
) -> Result<Json<Value>, ApiError> {
    handle(&state, &app_id, signed, Publish::Batch).await
}

/// Serves a publish request, timing it and adding it to the lifecycle log (refusals too, including
/// a bad signature).
async fn handle(
    state: &AppState,
    app_id: &str,
    signed: Result<Signed, ApiError>,
    kind: Publish,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let result = match (&signed, kind) {
        (Ok(signed), Publish::Events) => trigger_signed(state, signed).await,
        (Ok(signed), Publish::Batch) => batch_signed(state, signed).await,
        (Err(e), _) => Err(e.clone()),
    };
    state.events.metrics().observe_publish(started.elapsed().as_secs_f64());
    let signed = signed.ok();
    match result {
        Ok((json, channels)) => {
            record(state, app_id, signed.as_ref(), Ok(channels));
            Ok(json)
        }
        Err(e) => {
            record(state, app_id, signed.as_ref(), Err(&e));
            Err(e)
        }
    }
}

/// Adds the publish to the lifecycle log: accepted (how many messages, how many bytes, the start of
/// the body unless the app switched previews off) or refused (status and why).
fn record(state: &AppState, app_id: &str, signed: Option<&Signed>, result: Result<Vec<String>, &ApiError>) {
    // Requests naming no app of this installation are not any app's events (a signed one names its
    // app: no lookup).
    if signed.is_none() && state.apps.by_id(app_id).is_none() {
        return;
    }
    let bytes = signed.map(|s| s.body.len()).unwrap_or(0);
    let event = match result {
        Ok(channels) => {
            let preview = signed
                .filter(|s| s.app.settings.log_payload_previews)
                .map(|s| preview_bytes(&s.body, 100));
            let detail = PublishDetail {
                by: None,
                bytes,
                messages: channels.len(),
                channels,
                preview,
            };
            accepted(app_id, detail)
        }
        Err(e) => LifecycleEvent::new(EventKind::PublishRefused, app_id)
            .code(e.status().as_u16())
            .reason(e.to_string())
            .detail(json!({ "bytes": bytes })),
    };
    state.events.record(event);
}

async fn trigger_signed(state: &AppState, signed: &Signed) -> Result<(Json<Value>, Vec<String>), ApiError> {
    let request: EventRequest = signed.json()?;
    let header_key = header_key(signed)?;
    let mut event = validate(&signed.app, request)?;
    event.idempotency_key = event.idempotency_key.or(header_key);
    take_quota(&state.apps, &state.quota, &signed.app, &[&event])?;
    publish(&state.publisher, &signed.app, &event).await?;
    let messages: Vec<String> = event.channels.iter().map(|c| c.to_string()).collect();
    if event.info.is_empty() {
        return Ok((Json(json!({})), messages));
    }
    let mut channels = Map::new();
    for channel in &event.channels {
        channels.insert(
            channel.to_string(),
            info_attributes(state, &signed.app, channel, &event.info).await?,
        );
    }
    Ok((Json(json!({ "channels": channels })), messages))
}

async fn batch_signed(state: &AppState, signed: &Signed) -> Result<(Json<Value>, Vec<String>), ApiError> {
    let request: BatchRequest = signed.json()?;
    if request.batch.len() > MAX_BATCH {
        return Err(ApiError::bad(format!(
            "Batch has {} events; the limit is {MAX_BATCH}",
            request.batch.len()
        )));
    }
    let mut events = Vec::with_capacity(request.batch.len());
    let header_key = header_key(signed)?;
    for (i, item) in request.batch.into_iter().enumerate() {
        let mut event = validate(&signed.app, item).map_err(|e| match e {
            PublishError::BadRequest(m) => ApiError::bad(format!("batch[{i}]: {m}")),
            other => other.into(),
        })?;
        if event.channels.len() != 1 {
            return Err(ApiError::bad(format!(
                "batch[{i}]: each batch event takes exactly one channel"
            )));
        }
        // A request-wide key stands for each event of the batch by its index.
        if event.idempotency_key.is_none() {
            event.idempotency_key = header_key.as_ref().map(|k| format!("{k}:{i}"));
        }
        events.push(event);
    }
    take_quota(
        &state.apps,
        &state.quota,
        &signed.app,
        &events.iter().collect::<Vec<_>>(),
    )?;
    for event in &events {
        publish(&state.publisher, &signed.app, event).await?;
    }
    let messages: Vec<String> = events
        .iter()
        .flat_map(|e| e.channels.iter().map(|c| c.to_string()))
        .collect();
    if events.iter().all(|e| e.info.is_empty()) {
        return Ok((Json(json!({})), messages));
    }
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        let attrs = match event.info.is_empty() {
            true => json!({}),
            false => info_attributes(state, &signed.app, &event.channels[0], &event.info).await?,
        };
        results.push(attrs);
    }
    Ok((Json(json!({ "batch": results })), messages))
}

/// The `Idempotency-Key` header, checked.
fn header_key(signed: &Signed) -> Result<Option<String>, ApiError> {
    Ok(checked_key(signed.idempotency_key.clone(), "Idempotency-Key header")?)
}
