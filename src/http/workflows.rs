//! Handlers of the meta-agent: `/v1/workflows/design`, `/v1/workflows/run`,
//! `/v1/runs/{id}`, `/v1/runs/export` and `/v1/designer/stats`.
//!
//! A synchronous run is driven inside the request's future: a caller that
//! disconnects drops it, which cancels every step still running (see the
//! executor). A job runs on its own task under a server-wide cap and is
//! polled at `/v1/runs/{id}`. Runs are private to their tenant.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_meta_agent::executor::new_run_id;
use switchyard_schemas::api::Scope;
use switchyard_schemas::design::{DesignRequest, DesignResponse, DesignerStats};
use switchyard_schemas::rollout::{RunAccepted, RunRecord};
use switchyard_schemas::run::{RunMode, RunRequest};

use super::AppState;
use super::error::ApiError;
use super::extract::{Bearer, authenticate, blocking, json_body};

pub async fn design(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<Json<DesignResponse>, ApiError> {
    let principal = authenticate(&state, bearer).await?;
    principal.require(Scope::Route)?;
    let request: DesignRequest = json_body(&body)?;
    Ok(Json(state.meta.design(&principal, request).await?.response))
}

pub async fn run(State(state): State<AppState>, bearer: Bearer, body: Bytes) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer).await?;
    principal.require(Scope::Route)?;
    let request: RunRequest = json_body(&body)?;
    match request.mode {
        RunMode::Sync => {
            let rollout = state.meta.run(&principal, &request, None).await?;
            Ok(Json(rollout).into_response())
        }
        RunMode::Job => {
            let permit = state
                .jobs
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::TooManyJobs)?;
            let run_id = new_run_id();
            state.meta.runs().start(&run_id, &principal.tenant);
            let (meta, id) = (state.meta.clone(), run_id.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = meta.run(&principal, &request, Some(id.clone())).await {
                    tracing::warn!(run_id = %id, error = %e, "job failed before producing a trace");
                    meta.runs().abort(&id, &principal.tenant, e.to_string());
                }
            });
            let accepted = RunAccepted {
                location: format!("/v1/runs/{run_id}"),
                run_id,
            };
            Ok((
                StatusCode::ACCEPTED,
                [(header::LOCATION, accepted.location.clone())],
                Json(accepted),
            )
                .into_response())
        }
    }
}

pub async fn get_run(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(run_id): Path<String>,
) -> Result<Json<RunRecord>, ApiError> {
    blocking(&state, bearer, move |s, p| {
        p.require(Scope::Route)?;
        s.meta
            .runs()
            .get(&run_id, &p.tenant)?
            .map(Json)
            .ok_or(ApiError::RunNotFound { run_id })
    })
    .await
}

/// Every finished run of the caller's tenant (of every tenant for an admin
/// key), one JSON rollout per line.
pub async fn export_runs(State(state): State<AppState>, bearer: Bearer) -> Result<Response, ApiError> {
    let body = blocking(&state, bearer, |s, p| {
        p.require(Scope::Route)?;
        let everyone = p.scopes.contains(&Scope::Admin);
        let mut out = Vec::new();
        s.meta
            .runs()
            .export((!everyone).then_some(p.tenant.as_str()), &mut out)?;
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

pub async fn designer_stats(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<DesignerStats>, ApiError> {
    blocking(&state, bearer, |s, p| {
        p.require(Scope::Route)?;
        Ok(Json(s.meta.designer().stats()))
    })
    .await
}
