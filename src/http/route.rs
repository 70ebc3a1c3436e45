//! Handlers of routing: `/v1/route`, `/v1/route/batch` and `/v1/feedback`.
//! The tenant comes from the API key only; the router does the rest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use switchyard_schemas::route::{
    FeedbackRequest, FeedbackResponse, MAX_BATCH, RouteBatchItem, RouteBatchRequest, RouteBatchResponse,
    RouteRequest, RouteResponse,
};

use super::AppState;
use super::error::ApiError;
use super::extract::{Bearer, authenticate, blocking, json_body};

pub async fn route(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<Json<RouteResponse>, ApiError> {
    let principal = authenticate(&state, bearer).await?;
    let request: RouteRequest = json_body(&body)?;
    Ok(Json(state.router.route(&principal, request).await?))
}

/// Answers each request in order; a bad request gets its own error item
/// and does not fail the others.
pub async fn route_batch(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<Json<RouteBatchResponse>, ApiError> {
    let principal = authenticate(&state, bearer).await?;
    let batch: RouteBatchRequest = json_body(&body)?;
    if batch.requests.is_empty() || batch.requests.len() > MAX_BATCH {
        return Err(ApiError::InvalidRequest {
            field: "requests".into(),
            message: format!("must hold 1 to {MAX_BATCH} requests"),
        });
    }
    let mut results = Vec::with_capacity(batch.requests.len());
    for (i, request) in batch.requests.into_iter().enumerate() {
        results.push(match state.router.route(&principal, request).await {
            Ok(r) => RouteBatchItem::Ok(r),
            Err(e) => RouteBatchItem::Err {
                error: ApiError::from(e).in_batch_item(i),
            },
        });
    }
    Ok(Json(RouteBatchResponse { results }))
}

pub async fn feedback(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<Json<FeedbackResponse>, ApiError> {
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            let request: FeedbackRequest = json_body(&body)?;
            Ok(s.router.feedback(p, &request)?)
        })
        .await?,
    ))
}
