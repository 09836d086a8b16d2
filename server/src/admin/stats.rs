//! An app's charts: its connections and messages in and out over the last hour (by the minute) or
//! day (by five minutes), summed over every node, from the stats series each node writes.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use crate::clock::unix_ms;
use crate::state::AppState;
use crate::stats::series::{series, Range, StatsPoint};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// `hour` (60 one-minute buckets, the default) or `day` (288 five-minute buckets).
    #[param(schema_with = ranges)]
    range: Option<String>,
}

/// The ranges a series covers.
fn ranges() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["hour", "day"]))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct StatsSeries {
    /// The width of each bucket: 60 (hour) or 300 (day).
    pub bucket_seconds: i64,
    /// Oldest first; the last bucket holds now (and is still filling).
    pub points: Vec<StatsPoint>,
}

/// An app's connections and messages over the last hour or day, summed over every node. Each
/// node writes a minute's figures once the minute is over.
#[utoipa::path(operation_id = "app_stats_series", get, path = "/api/v1/apps/{app_id}/stats/series", tag = "apps",
    security(("bearer" = [])), params(AppPath, SeriesParams),
    responses((status = 200, body = StatsSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn series_of(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(params): Params<SeriesParams>,
) -> Result<Json<StatsSeries>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let range = match params.range.as_deref() {
        None => Range::Hour,
        Some(raw) => Range::parse(raw).ok_or_else(|| AdminError::bad("range", "range must be hour or day"))?,
    };
    let now = unix_ms();
    let (since, until) = range.span(now);
    let minutes = state.store.stats(&app_id, since, until).await?;
    Ok(Json(StatsSeries {
        bucket_seconds: range.bucket_ms() / 1000,
        points: series(range, now, &minutes),
    }))
}
