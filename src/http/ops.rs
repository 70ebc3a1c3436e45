//! Operational endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::metrics::Sizes;

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers a read.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let registry = state.registry.clone();
    let stats = tokio::task::spawn_blocking(move || registry.stats())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(
        json!({"status": "ready", "agents": stats.agents, "versions": stats.versions}),
    ))
}

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let registry = state.registry.clone();
    let stats = tokio::task::spawn_blocking(move || registry.stats())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let sizes = Sizes {
        registry: stats,
        index: state.catalog.index().stats(),
        feedback_records: state.router.stats().len(),
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(sizes),
    ))
}
