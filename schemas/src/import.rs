//! Conversion of foreign agent descriptions into Switchyard manifests.
//!
//! - [`a2a`]: an A2A AgentCard (v0.3 or v1.0 field names);
//! - [`mcp`]: an MCP registry `server.json`.
//!
//! Foreign formats know nothing of namespaces, policies or budgets and are
//! loose about names and lengths, so importing is lenient where it can be and
//! strict only where guessing would be wrong: names are slugified to the name
//! rules, over-long texts are truncated to the limits, unusable media types
//! and tags are dropped, while a missing endpoint or version is an error.
//! What the source cannot say comes from [`ImportOptions`]. Every successful
//! import passes [`crate::validate_manifest`].
//!
//! These are pure functions over `serde_json::Value`: reading files or
//! fetching cards is the caller's business.

pub mod a2a;
pub mod mcp;

use std::collections::HashSet;

use serde_json::Value;

use crate::limits::*;
use crate::manifest::{Budget, DataClass, LatencyBudget, Policy, Skill, Visibility};
use crate::validate::ManifestError;

/// What the foreign document cannot say, and overrides of what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Namespace of the manifest; derived from the source when `None`
    /// (provider organization or URL host for A2A, the reverse-DNS name for
    /// MCP).
    pub namespace: Option<String>,
    /// Agent part of the name; derived from the source's name when `None`.
    pub agent: Option<String>,
    /// Policy of the manifest. Default: visible to everyone, handling only
    /// `public` data, no regions, no compliance claims.
    pub policy: Policy,
    /// Budget of the manifest. Default: free, p50 1000 ms, p95 5000 ms, no
    /// concurrency limit declared.
    pub budget: Budget,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            namespace: None,
            agent: None,
            policy: Policy {
                visibility: Visibility::PUBLIC,
                data_classes: vec![DataClass::Public],
                regions: Vec::new(),
                compliance: Vec::new(),
            },
            budget: Budget {
                cost_per_call_usd: 0.0,
                cost_per_1k_tokens_usd: None,
                latency_ms: LatencyBudget { p50: 1000, p95: 5000 },
                max_concurrency: None,
            },
        }
    }
}

/// Why a foreign document could not be imported. `field` is the path in the
/// *foreign* document (e.g. `supportedInterfaces[0].url`, `remotes`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("the document is not a JSON object")]
    NotAnObject,
    #[error("{field}: required but missing or empty")]
    Missing { field: String },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{field}: no usable endpoint ({reason})")]
    NoEndpoint { field: String, reason: String },
    /// The converted manifest still broke a rule; a bug in the importer or an
    /// option (such as a bad namespace) given by the caller.
    #[error("the imported manifest is invalid: {0}")]
    Manifest(#[from] ManifestError),
}

/// Reads a string member, `None` when absent, not a string or blank.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Reads an array of strings, skipping non-strings.
pub(crate) fn str_list<'a>(v: &'a Value, key: &str) -> Option<Vec<&'a str>> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

/// Lowercases and replaces every character outside `allowed` with `-`,
/// collapsing runs and trimming separators, then truncates to `max`.
pub(crate) fn slug(s: &str, allowed: fn(char) -> bool, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if allowed(c) { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    let mut out: String = out.chars().take(max).collect();
    while out.ends_with(['-', '.', '_', ':']) {
        out.pop();
    }
    out.trim_start_matches(['.', '_', ':']).to_string()
}

fn identifier_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

/// A namespace, agent name or tenant id from free text; `fallback` when the
/// text has too few usable characters.
pub(crate) fn identifier(s: &str, fallback: &str) -> String {
    let out = slug(s, identifier_char, IDENTIFIER_MAX);
    if out.chars().count() >= IDENTIFIER_MIN {
        out
    } else {
        fallback.to_string()
    }
}

/// Text for a one-line field: control characters become spaces, then it is
/// cut to `max` characters.
pub(crate) fn line(s: &str, max: usize) -> String {
    let cleaned: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    truncate(cleaned.trim(), max)
}

/// Text for a prose field: control characters other than line breaks and
/// tabs are dropped, then it is cut to `max` characters.
pub(crate) fn prose(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    truncate(cleaned.trim(), max)
}

/// Cuts to `max` characters, marking the cut with an ellipsis.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A semantic version from what publishers write: `v1.2`, `1.0`, `2`.
pub(crate) fn version(raw: Option<&str>, field: &str) -> Result<String, ImportError> {
    let raw = raw.ok_or_else(|| ImportError::Missing {
        field: field.to_string(),
    })?;
    let trimmed = raw.trim().trim_start_matches(['v', 'V']);
    if semver::Version::parse(trimmed).is_ok() && trimmed.len() <= VERSION_MAX {
        return Ok(trimmed.to_string());
    }
    // Pad missing minor/patch numbers of a plain numeric version.
    let parts: Vec<&str> = trimmed.split('.').collect();
    if (1..=2).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let mut padded = parts.join(".");
        for _ in parts.len()..3 {
            padded.push_str(".0");
        }
        if semver::Version::parse(&padded).is_ok() {
            return Ok(padded);
        }
    }
    Err(ImportError::Invalid {
        field: field.to_string(),
        reason: format!("`{raw}` is not a semantic version"),
    })
}

/// Whether a string is an http(s) URL the manifest rules accept.
pub(crate) fn usable_url(url: &str) -> bool {
    crate::validate::is_http_url(url, URL_MAX)
}

/// Media types as the manifest rules accept them: A2A's early bare `text`,
/// `image`, … become `text/plain`, `image/*`-less guesses are dropped.
pub(crate) fn modes(raw: &[&str]) -> Vec<String> {
    let mut seen = HashSet::new();
    raw.iter()
        .map(|m| m.trim().to_ascii_lowercase())
        .map(|m| match m.as_str() {
            "text" => "text/plain".to_string(),
            "json" | "data" => "application/json".to_string(),
            _ => m,
        })
        .filter(|m| crate::validate::is_media_type(m, MODE_MAX))
        .filter(|m| seen.insert(m.clone()))
        .take(MODES_MAX)
        .collect()
}

/// Tags slugified to the tag alphabet, deduplicated, at most [`TAGS_MAX`].
pub(crate) fn tags(raw: &[&str]) -> Vec<String> {
    let tag_char = |c: char| identifier_char(c) || c == ':';
    let mut seen = HashSet::new();
    raw.iter()
        .map(|t| slug(t, tag_char, TAG_MAX))
        .filter(|t| !t.is_empty())
        .filter(|t| seen.insert(t.clone()))
        .take(TAGS_MAX)
        .collect()
}

/// Examples as prose within the limits, empties dropped.
pub(crate) fn examples(raw: &[&str]) -> Vec<String> {
    raw.iter()
        .map(|e| prose(e, EXAMPLE_MAX))
        .filter(|e| !e.is_empty())
        .take(EXAMPLES_MAX)
        .collect()
}

/// Hands out skill ids that are valid and unique within one manifest.
#[derive(Default)]
pub(crate) struct SkillIds(HashSet<String>);

impl SkillIds {
    pub(crate) fn next(&mut self, raw: &str, fallback: &str) -> String {
        let mut base = slug(raw, identifier_char, SKILL_ID_MAX);
        if base.is_empty() {
            base = slug(fallback, identifier_char, SKILL_ID_MAX);
        }
        if base.is_empty() {
            base = "skill".to_string();
        }
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            let suffix = format!("-{n}");
            let keep = SKILL_ID_MAX - suffix.len();
            id = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            n += 1;
        }
        id
    }
}

/// A skill with every text already fitted to the limits.
pub(crate) fn skill(
    id: String,
    name: &str,
    description: &str,
    tags: Vec<String>,
    examples: Vec<String>,
    input_modes: Vec<String>,
    output_modes: Vec<String>,
) -> Skill {
    let name = line(name, SKILL_NAME_MAX);
    let description = prose(description, SKILL_DESCRIPTION_MAX);
    Skill {
        name: if name.is_empty() { id.clone() } else { name.clone() },
        description: if description.is_empty() {
            if name.is_empty() { id.clone() } else { name }
        } else {
            description
        },
        id,
        tags,
        examples,
        input_modes,
        output_modes,
        vector: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(identifier("Weather Agent", "x"), "weather-agent");
        assert_eq!(identifier("check_prime_agent", "x"), "check_prime_agent");
        assert_eq!(identifier("  Ünïcode!! ", "fallback"), "n-code");
        assert_eq!(identifier("!", "fallback"), "fallback");
        assert_eq!(identifier(&"a".repeat(100), "x").len(), 64);
    }

    #[test]
    fn versions() {
        assert_eq!(version(Some("v1.2"), "version").unwrap(), "1.2.0");
        assert_eq!(version(Some("3"), "version").unwrap(), "3.0.0");
        assert_eq!(version(Some("2.0.0-rc.1"), "version").unwrap(), "2.0.0-rc.1");
        assert!(version(Some("latest"), "version").is_err());
        assert!(matches!(
            version(None, "version"),
            Err(ImportError::Missing { .. })
        ));
    }

    #[test]
    fn skill_ids_are_unique() {
        let mut ids = SkillIds::default();
        assert_eq!(ids.next("Search", "x"), "search");
        assert_eq!(ids.next("search", "x"), "search-2");
        assert_eq!(ids.next("SEARCH", "x"), "search-3");
        assert_eq!(ids.next("", "Fallback Name"), "fallback-name");
    }

    #[test]
    fn truncation_marks_the_cut() {
        let t = truncate(&"x".repeat(10), 5);
        assert_eq!(t.chars().count(), 5);
        assert!(t.ends_with('…'));
    }
}
