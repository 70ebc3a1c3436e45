//! The HTTP API: routes, shared state and the layers around them. Handlers
//! are thin: extract, authenticate, call the registry on the blocking pool,
//! map the result.

pub mod agents;
pub mod changes;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod ops;
pub mod route;
pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use switchyard_meta_agent::service::MetaAgent;
use switchyard_registry::{Catalog, Registry};
use switchyard_router::Router as AgentRouter;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use error::ApiError;
use metrics::Metrics;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// The registry, embedder and capability index kept in step: every
    /// write that changes what is routable goes through it.
    pub catalog: Arc<Catalog>,
    pub router: Arc<AgentRouter>,
    /// Designs, runs, scores and records workflows.
    pub meta: Arc<MetaAgent>,
    /// One permit per workflow job allowed to run at once.
    pub jobs: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
}

/// Limits applied around every route.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub timeout: Duration,
    /// Of the workflow routes, whose bodies and runs are larger.
    pub workflow_body_bytes: usize,
    pub run_timeout: Duration,
}

/// Every route the server answers, as `(METHOD, path template)`; a test checks
/// it against the OpenAPI document.
pub fn router(state: AppState, limits: Limits) -> Router {
    let registry = Router::new()
        .route("/v1/agents", post(agents::publish).get(agents::list))
        .route(
            "/v1/agents/{namespace}/{agent}",
            get(agents::get_agent).delete(agents::delete_agent),
        )
        .route("/v1/agents/{namespace}/{agent}/versions", get(agents::versions))
        .route(
            "/v1/agents/{namespace}/{agent}/versions/{version}",
            get(agents::get_version)
                .patch(agents::set_status)
                .delete(agents::delete_version),
        )
        .route("/v1/agents/{namespace}/{agent}/resolve", get(agents::resolve))
        .route("/v1/route", post(route::route))
        .route("/v1/route/batch", post(route::route_batch))
        .route("/v1/feedback", post(route::feedback))
        .route("/v1/changes", get(changes::list))
        .route("/v1/keys", post(changes::create_key))
        .route("/v1/runs/{run_id}", get(workflows::get_run))
        .route("/v1/runs/export", get(workflows::export_runs))
        .route("/v1/designer/stats", get(workflows::designer_stats))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        // One byte over the manifest limit still reaches the handler, which
        // then answers 413 with a precise message; anything larger is cut here.
        .layer(RequestBodyLimitLayer::new(limits.body_bytes + 1));
    let workflows = Router::new()
        .route("/v1/workflows/design", post(workflows::design))
        .route("/v1/workflows/run", post(workflows::run))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.run_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.workflow_body_bytes));
    registry
        .merge(workflows)
        .fallback(route_not_found)
        .layer(axum::middleware::map_response(json_error_bodies))
        // Outside the layers above, so timeouts and 413s are counted too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn route_not_found(request: Request) -> ApiError {
    ApiError::RouteNotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}

/// Gives the bodiless error answers of layers and of the router a JSON body.
async fn json_error_bodies(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match error::bare_status_body(response.status()) {
        Some(body) if !is_json => (response.status(), axum::Json(body)).into_response(),
        _ => response,
    }
}
