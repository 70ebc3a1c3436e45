//! The rules a deserialized manifest must satisfy beyond its shape.
//!
//! Every check records its violation and carries on, so a publisher fixes a
//! manifest in one round trip instead of one error at a time. Problems come
//! out in field order. The numbers live in [`crate::limits`].

use std::collections::{BTreeMap, HashMap, HashSet};

use super::text::{self, IDENTIFIER_ALPHABET, METADATA_KEY_ALPHABET, TAG_ALPHABET};
use super::{FieldError, Problems, validate_agent_name, validate_identifier};
use crate::limits::*;
use crate::manifest::{
    AgentManifest, Budget, CapabilityVector, Endpoint, Policy, Provider, Skill, Visibility,
};

/// Runs every rule; an empty result means the manifest is valid.
pub(super) fn check(m: &AgentManifest) -> Vec<FieldError> {
    let mut p = Problems::default();
    p.check(
        || "name".into(),
        validate_agent_name(&m.name)
            .err()
            .map(|e| format!("{e} (expected namespace/agent)")),
    );
    p.check(|| "version".into(), version(&m.version));
    p.check(|| "title".into(), text::line(&m.title, 1, TITLE_MAX));
    p.check(
        || "description".into(),
        text::prose(&m.description, 1, DESCRIPTION_MAX),
    );
    provider(&mut p, &m.provider);
    endpoint(&mut p, &m.endpoint);
    skills(&mut p, &m.skills);
    policy(&mut p, &m.policy);
    budget(&mut p, &m.budget);
    metadata(&mut p, &m.metadata);
    p.0
}

fn version(v: &str) -> Option<String> {
    if let Some(problem) = text::length(v, 1, VERSION_MAX) {
        return Some(problem);
    }
    if v.starts_with(['v', 'V']) {
        return Some("must not start with 'v' (write 1.2.3, not v1.2.3)".into());
    }
    semver::Version::parse(v)
        .err()
        .map(|e| format!("not a valid semantic version: {e}"))
}

fn provider(p: &mut Problems, provider: &Provider) {
    p.check(
        || "provider.organization".into(),
        text::line(&provider.organization, 1, ORGANIZATION_MAX),
    );
    if let Some(url) = &provider.url {
        p.check(|| "provider.url".into(), text::http_url(url, URL_MAX));
    }
}

fn endpoint(p: &mut Problems, endpoint: &Endpoint) {
    p.check(|| "endpoint.url".into(), text::http_url(&endpoint.url, URL_MAX));
}

fn skills(p: &mut Problems, skills: &[Skill]) {
    if skills.len() < SKILLS_MIN {
        p.push("skills", format!("at least {SKILLS_MIN} skill is required"));
    }
    if skills.len() > SKILLS_MAX {
        p.push("skills", format!("more than {SKILLS_MAX} skills"));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, skill) in skills.iter().enumerate() {
        let at = format!("skills[{i}]");
        if let Some(first) = seen.insert(&skill.id, i) {
            // Keep pointing at the first occurrence for later duplicates.
            seen.insert(&skill.id, first);
            p.push(
                format!("{at}.id"),
                format!("duplicate skill id `{}` (also skills[{first}].id)", skill.id),
            );
        } else {
            p.check(
                || format!("{at}.id"),
                text::token(
                    &skill.id,
                    1,
                    SKILL_ID_MAX,
                    text::is_identifier_char,
                    IDENTIFIER_ALPHABET,
                ),
            );
        }
        one_skill(p, &at, skill);
    }
}

fn one_skill(p: &mut Problems, at: &str, skill: &Skill) {
    p.check(
        || format!("{at}.name"),
        text::line(&skill.name, 1, SKILL_NAME_MAX),
    );
    p.check(
        || format!("{at}.description"),
        text::prose(&skill.description, 1, SKILL_DESCRIPTION_MAX),
    );

    if skill.tags.len() > TAGS_MAX {
        p.push(format!("{at}.tags"), format!("more than {TAGS_MAX} tags"));
    }
    let mut tags = HashSet::new();
    for (j, tag) in skill.tags.iter().enumerate() {
        let field = || format!("{at}.tags[{j}]");
        if !tags.insert(tag.as_str()) {
            p.push(field(), format!("duplicate tag `{tag}`"));
            continue;
        }
        p.check(
            field,
            text::token(tag, 1, TAG_MAX, text::is_tag_char, TAG_ALPHABET),
        );
    }

    if skill.examples.len() > EXAMPLES_MAX {
        p.push(
            format!("{at}.examples"),
            format!("more than {EXAMPLES_MAX} examples"),
        );
    }
    for (j, example) in skill.examples.iter().enumerate() {
        p.check(
            || format!("{at}.examples[{j}]"),
            text::prose(example, 1, EXAMPLE_MAX),
        );
    }

    for (key, modes) in [
        ("input_modes", &skill.input_modes),
        ("output_modes", &skill.output_modes),
    ] {
        if modes.len() > MODES_MAX {
            p.push(
                format!("{at}.{key}"),
                format!("more than {MODES_MAX} media types"),
            );
        }
        for (j, mode) in modes.iter().enumerate() {
            p.check(|| format!("{at}.{key}[{j}]"), text::media_type(mode, MODE_MAX));
        }
    }

    if let Some(vector) = &skill.vector {
        capability_vector(p, &format!("{at}.vector"), vector);
    }
}

fn capability_vector(p: &mut Problems, at: &str, v: &CapabilityVector) {
    p.check(
        || format!("{at}.space"),
        text::token(
            &v.space,
            1,
            VECTOR_SPACE_MAX,
            text::is_identifier_char,
            IDENTIFIER_ALPHABET,
        ),
    );
    if v.values.is_empty() {
        p.push(format!("{at}.values"), "must have at least 1 value");
        return;
    }
    if v.values.len() > VECTOR_VALUES_MAX {
        p.push(
            format!("{at}.values"),
            format!("more than {VECTOR_VALUES_MAX} values"),
        );
    }
    let mut all_finite = true;
    for (k, x) in v.values.iter().enumerate() {
        if !x.is_finite() {
            all_finite = false;
            p.push(format!("{at}.values[{k}]"), "not a finite number");
        }
    }
    // In f64 so large f32 components cannot overflow the sum to infinity.
    let norm_sq: f64 = v.values.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if all_finite && norm_sq == 0.0 {
        p.push(format!("{at}.values"), "has a zero norm (all values are 0)");
    }
}

fn policy(p: &mut Problems, policy: &Policy) {
    if let Visibility::Tenants(tenants) = &policy.visibility {
        if tenants.is_empty() {
            p.push(
                "policy.visibility",
                "must list at least 1 tenant (or be \"public\" or \"private\")",
            );
        }
        if tenants.len() > TENANTS_MAX {
            p.push("policy.visibility", format!("more than {TENANTS_MAX} tenants"));
        }
        let mut seen = HashSet::new();
        for (i, tenant) in tenants.iter().enumerate() {
            let field = || format!("policy.visibility[{i}]");
            if !seen.insert(tenant.as_str()) {
                p.push(field(), format!("duplicate tenant `{tenant}`"));
            } else {
                p.check(
                    field,
                    validate_identifier(tenant)
                        .err()
                        .map(|e| format!("tenant id {e}")),
                );
            }
        }
    }

    let mut classes = HashSet::new();
    for (i, class) in policy.data_classes.iter().enumerate() {
        if !classes.insert(*class) {
            p.push(
                format!("policy.data_classes[{i}]"),
                format!("duplicate data class `{}`", class.as_str()),
            );
        }
    }

    for (key, list) in [("regions", &policy.regions), ("compliance", &policy.compliance)] {
        if list.len() > POLICY_TAGS_MAX {
            p.push(
                format!("policy.{key}"),
                format!("more than {POLICY_TAGS_MAX} entries"),
            );
        }
        let mut seen = HashSet::new();
        for (i, entry) in list.iter().enumerate() {
            let field = || format!("policy.{key}[{i}]");
            if !seen.insert(entry.as_str()) {
                p.push(field(), format!("duplicate entry `{entry}`"));
                continue;
            }
            p.check(
                field,
                text::token(
                    entry,
                    1,
                    POLICY_TAG_MAX,
                    text::is_identifier_char,
                    IDENTIFIER_ALPHABET,
                ),
            );
        }
    }
}

fn cost(x: f64) -> Option<String> {
    if !x.is_finite() {
        Some("must be a finite number".into())
    } else if x < 0.0 {
        Some("must not be negative".into())
    } else if x > COST_MAX_USD {
        Some(format!("must be at most {COST_MAX_USD} USD"))
    } else {
        None
    }
}

fn budget(p: &mut Problems, budget: &Budget) {
    p.check(
        || "budget.cost_per_call_usd".into(),
        cost(budget.cost_per_call_usd),
    );
    if let Some(x) = budget.cost_per_1k_tokens_usd {
        p.check(|| "budget.cost_per_1k_tokens_usd".into(), cost(x));
    }
    let latency = budget.latency_ms;
    if latency.p50 < LATENCY_MIN_MS {
        p.push(
            "budget.latency_ms.p50",
            format!("must be at least {LATENCY_MIN_MS} ms"),
        );
    }
    if latency.p95 < latency.p50 {
        p.push(
            "budget.latency_ms.p95",
            format!(
                "must be at least p50 (p95 is {} ms, p50 is {} ms)",
                latency.p95, latency.p50
            ),
        );
    }
    if latency.p95 > LATENCY_MAX_MS {
        p.push(
            "budget.latency_ms.p95",
            format!("must be at most {LATENCY_MAX_MS} ms"),
        );
    }
    if budget.max_concurrency == Some(0) {
        p.push("budget.max_concurrency", "must be at least 1");
    }
}

fn metadata(p: &mut Problems, metadata: &BTreeMap<String, String>) {
    if metadata.len() > METADATA_MAX {
        p.push("metadata", format!("more than {METADATA_MAX} entries"));
    }
    for (key, value) in metadata {
        // Escaped so a key with control characters still yields a readable path.
        let field = || format!("metadata.{}", key.escape_debug());
        if let Some(problem) = text::token(
            key,
            1,
            METADATA_KEY_MAX,
            text::is_metadata_key_char,
            METADATA_KEY_ALPHABET,
        ) {
            p.push(field(), format!("key {problem}"));
        }
        p.check(
            field,
            text::length(value, 0, METADATA_VALUE_MAX).or_else(|| text::multi_line(value)),
        );
    }
}
