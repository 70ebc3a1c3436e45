//! Handlers of `/v1/changes` (the change log) and `/v1/keys` (API keys).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_schemas::api::{ChangePage, CreateKeyRequest, CreatedKey};

use super::AppState;
use super::error::ApiError;
use super::extract::{Bearer, blocking, json_body, query};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesParams {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<Json<ChangePage>, ApiError> {
    let params: ChangesParams = query(raw.as_deref())?;
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            Ok(s.registry.changes(p, params.since, params.limit)?)
        })
        .await?,
    ))
}

pub async fn create_key(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let key = blocking(&state, bearer, move |s, p| {
        let request: CreateKeyRequest = json_body(&body)?;
        Ok(s.registry.create_key(p, &request)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(key)))
}
