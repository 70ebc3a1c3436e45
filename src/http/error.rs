//! `ApiError`: the one place where domain errors become HTTP statuses and the
//! `{"error": {"code", "message", "field"?}}` body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_meta_agent::MetaAgentError;
use switchyard_registry::RegistryError;
use switchyard_router::RouterError;
use switchyard_schemas::ManifestError;
use switchyard_schemas::api::{ErrorBody, ErrorDetail, FieldProblem};

/// Every error an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error(transparent)]
    MetaAgent(#[from] MetaAgentError),
    #[error("no run `{run_id}`")]
    RunNotFound { run_id: String },
    #[error("too many workflow jobs are running; retry later")]
    TooManyJobs,
    /// A request body or query that does not fit its type.
    #[error("{field}: {message}")]
    InvalidRequest { field: String, message: String },
    #[error("request body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("malformed Authorization header: expected `Bearer TOKEN`")]
    MalformedAuthorization,
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Registry(e) => registry_status(e),
            ApiError::Router(e) => match e {
                RouterError::InvalidRequest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
                RouterError::SkillNotFound { .. } => (StatusCode::NOT_FOUND, "skill_not_found"),
                RouterError::Registry(e) => registry_status(e),
                RouterError::Embed(_)
                | RouterError::Index(_)
                | RouterError::Io { .. }
                | RouterError::Corrupt { .. }
                | RouterError::Storage(_)
                | RouterError::SharedCommit(_)
                | RouterError::Worker(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::MetaAgent(e) => meta_agent_status(e),
            ApiError::RunNotFound { .. } => (StatusCode::NOT_FOUND, "run_not_found"),
            ApiError::TooManyJobs => (StatusCode::TOO_MANY_REQUESTS, "too_many_jobs"),
            ApiError::Manifest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_manifest"),
            ApiError::InvalidRequest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::MalformedAuthorization => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::RouteNotFound { .. } => (StatusCode::NOT_FOUND, "route_not_found"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The error body of one failed item of a batch (`requests[i].field`).
    pub fn in_batch_item(self, index: usize) -> ErrorDetail {
        let (_, code) = self.status_and_code();
        let mut detail = self.detail(code);
        detail.field = Some(match detail.field {
            Some(f) if !f.is_empty() => format!("requests[{index}].{f}"),
            _ => format!("requests[{index}]"),
        });
        detail
    }

    fn detail(&self, code: &str) -> ErrorDetail {
        let (field, details) = match self {
            ApiError::Registry(RegistryError::InvalidInput { field, .. })
            | ApiError::Router(RouterError::Registry(RegistryError::InvalidInput { field, .. }))
            | ApiError::Router(RouterError::InvalidRequest { field, .. }) => {
                (Some(field.clone()), Vec::new())
            }
            ApiError::InvalidRequest { field, .. }
            | ApiError::MetaAgent(MetaAgentError::InvalidRun { field, .. }) => {
                (Some(field.clone()), Vec::new())
            }
            ApiError::MetaAgent(MetaAgentError::OverBudget { .. }) => (Some("budget_usd".into()), Vec::new()),
            ApiError::MetaAgent(
                MetaAgentError::InvalidWorkflow { problems }
                | MetaAgentError::InvalidDesignRequest { problems },
            ) => {
                // A spec inside a run request is at `spec`; a design
                // request's fields are at the top level.
                let prefix = if matches!(self, ApiError::MetaAgent(MetaAgentError::InvalidWorkflow { .. })) {
                    "spec."
                } else {
                    ""
                };
                let details: Vec<FieldProblem> = problems
                    .iter()
                    .map(|p| FieldProblem {
                        field: format!("{prefix}{}", p.field),
                        message: p.message.clone(),
                    })
                    .collect();
                (details.first().map(|d| d.field.clone()), details)
            }
            ApiError::Manifest(e) => (
                e.problems
                    .first()
                    .map(|p| p.field.clone())
                    .filter(|f| !f.is_empty()),
                e.problems
                    .iter()
                    .map(|p| FieldProblem {
                        field: p.field.clone(),
                        message: p.message.clone(),
                    })
                    .collect(),
            ),
            _ => (None, Vec::new()),
        };
        ErrorDetail {
            code: code.to_string(),
            message: self.to_string(),
            field,
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // The client gets a generic message; the cause goes to the log.
            match &self {
                ApiError::Registry(e) => tracing::error!(error = %e, "request failed"),
                ApiError::Router(e) => tracing::error!(error = %e, "request failed"),
                ApiError::MetaAgent(e) => tracing::error!(error = %e, "request failed"),
                ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
                _ => {}
            }
        }
        let body = ErrorBody {
            error: self.detail(code),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn meta_agent_status(e: &MetaAgentError) -> (StatusCode, &'static str) {
    use MetaAgentError as M;
    match e {
        M::InvalidWorkflow { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow"),
        M::InvalidRun { .. } | M::InvalidDesignRequest { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
        }
        M::InvalidRegex { .. } | M::InvalidSchema { .. } | M::MissingTests { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_scorer")
        }
        M::NoCandidates { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "no_candidates"),
        M::OverBudget { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "over_budget"),
        M::Route { source, .. } => match source.as_ref() {
            RouterError::InvalidRequest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            RouterError::Registry(e) => registry_status(e),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        },
        M::Embed { source, .. } if source.is_client_error() => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
        }
        M::SandboxUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "sandbox_unavailable"),
        // Agent failures end up in traces; one reaching here failed a judge.
        M::Budget { .. } | M::CircuitOpen { .. } | M::AgentCall { .. } | M::BadOutput { .. } => {
            (StatusCode::BAD_GATEWAY, "agent_failed")
        }
        M::Io { .. }
        | M::Dataset { .. }
        | M::UnknownRun { .. }
        | M::UnknownTask { .. }
        | M::MissingCode { .. }
        | M::InvalidManifest { .. }
        | M::Worker { .. }
        | M::Spawn { .. }
        | M::Embed { .. }
        | M::InvalidDesign { .. }
        | M::InvalidCase { .. }
        | M::CaseStore { .. }
        | M::CorruptCase { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

fn registry_status(e: &RegistryError) -> (StatusCode, &'static str) {
    use RegistryError as R;
    match e {
        R::AgentNotFound { .. } => (StatusCode::NOT_FOUND, "agent_not_found"),
        R::VersionNotFound { .. } => (StatusCode::NOT_FOUND, "version_not_found"),
        R::NoLatestVersion { .. } => (StatusCode::NOT_FOUND, "no_latest_version"),
        R::NoMatchingVersion { .. } => (StatusCode::NOT_FOUND, "no_matching_version"),
        R::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        R::VersionConflict { .. } => (StatusCode::CONFLICT, "version_conflict"),
        R::VersionDeleted { .. } => (StatusCode::CONFLICT, "version_deleted"),
        R::NamespaceOwned { .. } => (StatusCode::FORBIDDEN, "namespace_owned"),
        R::NotOwner { .. } => (StatusCode::FORBIDDEN, "not_owner"),
        R::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        R::MissingScope { .. } => (StatusCode::FORBIDDEN, "missing_scope"),
        R::Embed(e) if e.is_client_error() => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        R::Embed(_) | R::Index(_) | R::Corrupt { .. } | R::Storage(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

/// A JSON error body for statuses produced by layers (timeouts, body limits)
/// and by the router itself (405), which have no body of their own.
pub fn bare_status_body(status: StatusCode) -> Option<ErrorBody> {
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this route"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is over the limit"),
        _ => return None,
    };
    Some(ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
            field: None,
            details: Vec::new(),
        },
    })
}
