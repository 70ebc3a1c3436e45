//! Handlers of `/v1/agents`: publish, read, list, resolve, lifecycle, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_registry::ListQuery;
use switchyard_schemas::api::{
    AgentDetail, AgentList, ChangeAck, PublishResponse, Resolution, StatusPatch, VersionList, VersionRecord,
    VersionStatus,
};
use switchyard_schemas::validate::MAX_MANIFEST_BYTES;

use super::AppState;
use super::error::ApiError;
use super::extract::{Bearer, authenticate, blocking, json_body, query};

/// `{namespace}/{agent}` path segments.
#[derive(Debug, Deserialize)]
pub struct AgentPath {
    namespace: String,
    agent: String,
}

impl AgentPath {
    fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.agent)
    }
}

#[derive(Debug, Deserialize)]
pub struct VersionPath {
    namespace: String,
    agent: String,
    version: String,
}

impl VersionPath {
    fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.agent)
    }
}

pub async fn publish(
    State(state): State<AppState>,
    bearer: Bearer,
    body: Bytes,
) -> Result<(StatusCode, Json<PublishResponse>), ApiError> {
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(ApiError::PayloadTooLarge {
            size: body.len(),
            limit: MAX_MANIFEST_BYTES,
        });
    }
    // Authenticate before parsing: an anonymous caller learns nothing.
    let principal = authenticate(&state, bearer).await?;
    let manifest = switchyard_schemas::parse_manifest(&body)?;
    let response = state.catalog.publish(&principal, manifest).await?;
    let status = if response.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}

/// Query of `GET /v1/agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    cursor: Option<String>,
    limit: Option<usize>,
    namespace: Option<String>,
    tag: Option<String>,
    status: Option<VersionStatus>,
    text: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<Json<AgentList>, ApiError> {
    let p: ListParams = query(raw.as_deref())?;
    let q = ListQuery {
        cursor: p.cursor,
        limit: p.limit,
        namespace: p.namespace,
        tag: p.tag,
        status: p.status,
        text: p.text,
    };
    let list = blocking(&state, bearer, move |s, principal| {
        Ok(s.registry.list(principal, &q)?)
    })
    .await?;
    Ok(Json(list))
}

pub async fn get_agent(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<AgentPath>,
) -> Result<Json<AgentDetail>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| Ok(s.registry.agent(p, &name)?)).await?,
    ))
}

pub async fn delete_agent(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<AgentPath>,
) -> Result<Json<ChangeAck>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            Ok(s.catalog.delete_agent(p, &name)?)
        })
        .await?,
    ))
}

pub async fn versions(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<AgentPath>,
) -> Result<Json<VersionList>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| Ok(s.registry.versions(p, &name)?)).await?,
    ))
}

pub async fn get_version(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<VersionPath>,
) -> Result<Json<VersionRecord>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            Ok(s.registry.version(p, &name, &path.version)?)
        })
        .await?,
    ))
}

pub async fn set_status(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<VersionPath>,
    body: Bytes,
) -> Result<Json<ChangeAck>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            let patch: StatusPatch = json_body(&body)?;
            Ok(s.catalog.set_status(p, &name, &path.version, patch.status)?)
        })
        .await?,
    ))
}

pub async fn delete_version(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<VersionPath>,
) -> Result<Json<ChangeAck>, ApiError> {
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            Ok(s.catalog.delete_version(p, &name, &path.version)?)
        })
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveParams {
    range: String,
}

pub async fn resolve(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(path): Path<AgentPath>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Resolution>, ApiError> {
    let params: ResolveParams = query(raw.as_deref())?;
    let name = path.name();
    Ok(Json(
        blocking(&state, bearer, move |s, p| {
            Ok(s.registry.resolve(p, &name, &params.range)?)
        })
        .await?,
    ))
}
