//! Request plumbing shared by handlers: the bearer token, JSON bodies and
//! query strings parsed with field paths, and running registry calls on the
//! blocking pool.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchyard_registry::Principal;

use super::AppState;
use super::error::ApiError;

/// The bearer token of a request, if it sent one.
#[derive(Debug, Clone)]
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Bearer(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MalformedAuthorization)?;
        Ok(Bearer(Some(token.to_string())))
    }
}

/// Authenticates and runs `work` on the blocking pool: redb commits fsync
/// and index updates are CPU work; neither may stall an async worker thread.
pub async fn blocking<T, F>(state: &AppState, bearer: Bearer, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &Principal) -> Result<T, ApiError> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let principal = state.registry.authenticate(bearer.0.as_deref())?;
        work(&state, &principal)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}

/// Authenticates on the blocking pool (a key lookup reads the store).
pub async fn authenticate(state: &AppState, bearer: Bearer) -> Result<Principal, ApiError> {
    blocking(state, bearer, |_, principal| Ok(principal.clone())).await
}

/// Parses a JSON body, naming the offending field on failure.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = path_or_body(e.path().to_string());
        let message = e.into_inner().to_string();
        ApiError::InvalidRequest {
            field: missing_field(&path, &message).unwrap_or(path),
            message,
        }
    })
}

/// serde reports a missing field at its parent's path; the client needs the
/// field's own.
fn missing_field(parent: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("missing field `")?.split('`').next()?;
    Some(if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    })
}

/// Parses a query string, naming the offending parameter on failure.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(raw.unwrap_or("")));
    serde_path_to_error::deserialize(de).map_err(|e| ApiError::InvalidRequest {
        field: path_or_body(e.path().to_string()),
        message: e.into_inner().to_string(),
    })
}

fn form_urlencoded_parse(raw: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(raw.as_bytes())
}

fn path_or_body(path: String) -> String {
    if path == "." { String::new() } else { path }
}
