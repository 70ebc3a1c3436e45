//! Parsing and validation of manifests, with the path of every bad field.
//!
//! [`parse_manifest`] is what the server runs on a `POST /v1/agents` body and
//! the CLI runs before publishing. It works in three stages so a publisher
//! sees precise, complete feedback:
//!
//! 1. size: bodies over [`MAX_MANIFEST_BYTES`] are refused before parsing;
//! 2. shape: serde, through `serde_path_to_error`, so an unknown field, a
//!    missing field or a wrong type names its path (`skills[2].examples[0]`);
//! 3. rules: [`validate_manifest`] checks every rule of [`rules`] and reports
//!    all violations at once, not only the first.
//!
//! Field paths use dots between keys and brackets around array indices, the
//! same syntax in both stages, so clients can point at the offending field.

mod rules;
pub(crate) mod text;

use crate::api::{ErrorBody, ErrorDetail, FieldProblem};
use crate::manifest::AgentManifest;

pub use crate::limits::MAX_MANIFEST_BYTES;

/// One broken rule: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path such as `skills[2].examples[0]`; empty for the whole body.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Collects problems with their paths, so a body is checked whole and every
/// broken rule reported at once (manifests, workflow specs).
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<FieldError>);

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records `problem` at `field` when there is one.
    pub(crate) fn check(&mut self, field: impl FnOnce() -> String, problem: Option<String>) {
        if let Some(message) = problem {
            self.push(field(), message);
        }
    }
}

/// A manifest that cannot be accepted, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct ManifestError {
    pub problems: Vec<FieldError>,
}

impl ManifestError {
    /// An error with a single problem.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError {
            problems: vec![FieldError::new(field, message)],
        }
    }

    /// The HTTP error body for this error, code `invalid_manifest`: `field`
    /// and `message` describe the first problem, `details` lists all of them.
    pub fn to_error_body(&self) -> ErrorBody {
        let first = self.problems.first();
        let message = match self.problems.len() {
            0 | 1 => self.to_string(),
            n => format!("{} (and {} more problems)", self, n - 1),
        };
        ErrorBody {
            error: ErrorDetail {
                code: "invalid_manifest".into(),
                message,
                field: first.filter(|p| !p.field.is_empty()).map(|p| p.field.clone()),
                details: self
                    .problems
                    .iter()
                    .map(|p| FieldProblem {
                        field: p.field.clone(),
                        message: p.message.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// Parses and validates a JSON manifest body.
///
/// Errors name the offending field: first the size limit (field `""`), then
/// the first shape error serde meets, then every rule violation.
pub fn parse_manifest(bytes: &[u8]) -> Result<AgentManifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::single(
            "",
            format!("body is {} bytes; the limit is {MAX_MANIFEST_BYTES}", bytes.len()),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let manifest: AgentManifest = serde_path_to_error::deserialize(&mut de).map_err(|e| shape_error(&e))?;
    // `from_slice` would reject trailing data; the raw deserializer only does
    // when asked.
    de.end().map_err(|e| ManifestError::single("", e.to_string()))?;
    validate_manifest(&manifest)?;
    Ok(manifest)
}

/// Checks every rule on an already deserialized manifest and reports every
/// violation, in field order.
pub fn validate_manifest(manifest: &AgentManifest) -> Result<(), ManifestError> {
    let problems = rules::check(manifest);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError { problems })
    }
}

/// Name rule for `namespace/agent`: two identifiers (see
/// [`validate_identifier`]) joined by one `/`.
pub fn validate_agent_name(name: &str) -> Result<(), String> {
    let (ns, agent) = name
        .split_once('/')
        .ok_or_else(|| "must be namespace/agent".to_string())?;
    validate_identifier(ns).map_err(|e| format!("namespace {e}"))?;
    validate_identifier(agent).map_err(|e| format!("agent name {e}"))
}

/// Rule shared by namespaces, agent names and tenant ids: lowercase
/// `[a-z0-9._-]`, 2–64 characters.
pub fn validate_identifier(part: &str) -> Result<(), String> {
    use crate::limits::{IDENTIFIER_MAX, IDENTIFIER_MIN};
    if !(IDENTIFIER_MIN..=IDENTIFIER_MAX).contains(&part.chars().count()) {
        return Err(format!("must be {IDENTIFIER_MIN} to {IDENTIFIER_MAX} characters"));
    }
    if !part.chars().all(text::is_identifier_char) {
        return Err("may contain only lowercase letters, digits, '.', '_' and '-'".into());
    }
    Ok(())
}

/// Whether `s` passes the URL rule of `endpoint.url` (for the importers).
pub(crate) fn is_http_url(s: &str, max: usize) -> bool {
    text::http_url(s, max).is_none()
}

/// Whether `s` passes the media type rule of `input_modes` (for the importers).
pub(crate) fn is_media_type(s: &str, max: usize) -> bool {
    text::media_type(s, max).is_none()
}

/// Turns a serde error into a problem at the path serde was at.
fn shape_error(err: &serde_path_to_error::Error<serde_json::Error>) -> ManifestError {
    let inner = err.inner();
    let mut field = format_path(err.path());
    let mut message = inner.to_string();
    // The position is noise once the field is named; syntax errors keep it
    // because there is no field to name.
    if inner.is_data() {
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
        // serde reports a missing field at the object that lacks it; naming
        // the field itself is what the publisher needs.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            field = join_key(&field, name);
        }
    }
    ManifestError::single(field, message)
}

/// Formats a serde path as `skills[2].examples[0]`.
fn format_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out = join_key(&out, key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names() {
        assert!(validate_agent_name("acme/coder").is_ok());
        assert!(validate_agent_name("acme").is_err());
        assert!(validate_agent_name("a/coder").unwrap_err().contains("namespace"));
        assert!(validate_agent_name("acme/c").unwrap_err().contains("agent name"));
        assert!(validate_agent_name("acme/co/der").is_err());
        assert!(validate_agent_name("Acme/coder").is_err());
    }

    #[test]
    fn identifiers_count_characters_not_bytes() {
        assert!(validate_identifier(&"a".repeat(64)).is_ok());
        assert!(validate_identifier(&"a".repeat(65)).is_err());
        assert!(validate_identifier("é").is_err());
    }
}
