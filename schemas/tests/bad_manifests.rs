//! Table of broken manifests: each case breaks one rule of a valid base
//! manifest and names the field path and rule text the publisher must see.

mod common;

use common::{base_manifest, json_files, remove, repo_root, set};
use serde_json::{Value, json};
use switchyard_schemas::{parse_manifest, validate::MAX_MANIFEST_BYTES};

/// One broken manifest: the mutation, then the expected first problem.
struct Case {
    what: &'static str,
    mutate: fn(&mut Value),
    field: &'static str,
    message: &'static str,
}

const fn case(
    what: &'static str,
    mutate: fn(&mut Value),
    field: &'static str,
    message: &'static str,
) -> Case {
    Case {
        what,
        mutate,
        field,
        message,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // --- shape errors (serde) ---
        case(
            "unknown top-level field",
            |v| set(v, "/colour", json!("red")),
            "colour",
            "unknown field `colour`",
        ),
        case(
            "unknown nested field",
            |v| set(v, "/skills/1/weight", json!(1)),
            "skills[1].weight",
            "unknown field `weight`",
        ),
        case(
            "missing title",
            |v| remove(v, "/title"),
            "title",
            "missing field `title`",
        ),
        case(
            "missing nested field",
            |v| remove(v, "/provider/organization"),
            "provider.organization",
            "missing field `organization`",
        ),
        case(
            "wrong type in array",
            |v| set(v, "/skills/0/examples/1", json!(7)),
            "skills[0].examples[1]",
            "invalid type: integer `7`, expected a string",
        ),
        case(
            "wrong type for latency",
            |v| set(v, "/budget/latency_ms/p50", json!("fast")),
            "budget.latency_ms.p50",
            "expected u32",
        ),
        case(
            "negative concurrency",
            |v| set(v, "/budget/max_concurrency", json!(-1)),
            "budget.max_concurrency",
            "expected u32",
        ),
        case(
            "unknown data class",
            |v| set(v, "/policy/data_classes/1", json!("secret")),
            "policy.data_classes[1]",
            "unknown variant `secret`, expected one of `public`, `internal`, `confidential`, `pii`, `phi`, `pci`",
        ),
        case(
            "unknown protocol",
            |v| set(v, "/endpoint/protocol", json!("grpc")),
            "endpoint.protocol",
            "unknown variant `grpc`",
        ),
        case(
            "bad visibility",
            |v| set(v, "/policy/visibility", json!("everyone")),
            "policy.visibility",
            "\"public\", \"private\" or a list of tenant ids",
        ),
        // --- name and version ---
        case(
            "name without namespace",
            |v| set(v, "/name", json!("summarizer")),
            "name",
            "must be namespace/agent",
        ),
        case(
            "upper-case name",
            |v| set(v, "/name", json!("Acme/summarizer")),
            "name",
            "namespace may contain only lowercase letters",
        ),
        case(
            "short agent name",
            |v| set(v, "/name", json!("acme/s")),
            "name",
            "agent name must be 2 to 64 characters",
        ),
        case(
            "long namespace",
            |v| set(v, "/name", json!(format!("{}/agent", "n".repeat(65)))),
            "name",
            "namespace must be 2 to 64 characters",
        ),
        case(
            "two slashes",
            |v| set(v, "/name", json!("acme/sum/marizer")),
            "name",
            "may contain only",
        ),
        case(
            "version with v",
            |v| set(v, "/version", json!("v1.2.3")),
            "version",
            "must not start with 'v'",
        ),
        case(
            "version not semver",
            |v| set(v, "/version", json!("1.2")),
            "version",
            "not a valid semantic version",
        ),
        case(
            "version too long",
            |v| set(v, "/version", json!(format!("1.0.0-{}", "a".repeat(60)))),
            "version",
            "longer than 64 characters",
        ),
        // --- texts ---
        case(
            "empty title",
            |v| set(v, "/title", json!("")),
            "title",
            "must not be empty",
        ),
        case(
            "title too long",
            |v| set(v, "/title", json!("t".repeat(129))),
            "title",
            "longer than 128 characters",
        ),
        case(
            "title with newline",
            |v| set(v, "/title", json!("Acme\nSummariser")),
            "title",
            "contains a control character",
        ),
        case(
            "description too long",
            |v| set(v, "/description", json!("d".repeat(4001))),
            "description",
            "longer than 4000 characters",
        ),
        case(
            "description with NUL",
            |v| set(v, "/description", json!("a\u{0}b")),
            "description",
            "control character other than a line break",
        ),
        case(
            "empty organization",
            |v| set(v, "/provider/organization", json!("")),
            "provider.organization",
            "must not be empty",
        ),
        case(
            "provider url not http",
            |v| set(v, "/provider/url", json!("mailto:x@acme.example.com")),
            "provider.url",
            "scheme must be http or https",
        ),
        // --- endpoint ---
        case(
            "endpoint relative",
            |v| set(v, "/endpoint/url", json!("/agents/acme")),
            "endpoint.url",
            "not a valid URL",
        ),
        case(
            "endpoint ftp",
            |v| set(v, "/endpoint/url", json!("ftp://agents.example.com/x")),
            "endpoint.url",
            "scheme must be http or https, not `ftp`",
        ),
        case(
            "endpoint too long",
            |v| {
                set(
                    v,
                    "/endpoint/url",
                    json!(format!("https://a.example.com/{}", "p".repeat(2048))),
                )
            },
            "endpoint.url",
            "longer than 2048 characters",
        ),
        case(
            "endpoint without host",
            |v| set(v, "/endpoint/url", json!("https://")),
            "endpoint.url",
            "not a valid URL (empty host)",
        ),
        // --- skills ---
        case(
            "no skills",
            |v| set(v, "/skills", json!([])),
            "skills",
            "at least 1 skill is required",
        ),
        case(
            "too many skills",
            |v| {
                let skill = v["skills"][1].clone();
                let skills: Vec<Value> = (0..65)
                    .map(|i| {
                        let mut s = skill.clone();
                        s["id"] = json!(format!("s{i}"));
                        s
                    })
                    .collect();
                set(v, "/skills", Value::Array(skills));
            },
            "skills",
            "more than 64 skills",
        ),
        case(
            "duplicate skill id",
            |v| set(v, "/skills/1/id", json!("summarize")),
            "skills[1].id",
            "duplicate skill id `summarize` (also skills[0].id)",
        ),
        case(
            "skill id upper case",
            |v| set(v, "/skills/0/id", json!("Summarize")),
            "skills[0].id",
            "may contain only lowercase letters",
        ),
        case(
            "skill id too long",
            |v| set(v, "/skills/0/id", json!("s".repeat(65))),
            "skills[0].id",
            "longer than 64 characters",
        ),
        case(
            "skill name empty",
            |v| set(v, "/skills/1/name", json!("")),
            "skills[1].name",
            "must not be empty",
        ),
        case(
            "skill description too long",
            |v| set(v, "/skills/0/description", json!("d".repeat(2001))),
            "skills[0].description",
            "longer than 2000 characters",
        ),
        case(
            "tag with space",
            |v| set(v, "/skills/0/tags/1", json!("two words")),
            "skills[0].tags[1]",
            "may contain only lowercase letters, digits, '.', '_', ':' and '-'",
        ),
        case(
            "duplicate tag",
            |v| set(v, "/skills/0/tags/1", json!("summarization")),
            "skills[0].tags[1]",
            "duplicate tag `summarization`",
        ),
        case(
            "too many tags",
            |v| {
                set(
                    v,
                    "/skills/1/tags",
                    json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>()),
                )
            },
            "skills[1].tags",
            "more than 32 tags",
        ),
        case(
            "example too long",
            |v| set(v, "/skills/1/examples/0", json!("e".repeat(1001))),
            "skills[1].examples[0]",
            "longer than 1000 characters",
        ),
        case(
            "too many examples",
            |v| {
                set(
                    v,
                    "/skills/1/examples",
                    json!((0..33).map(|i| format!("example {i}")).collect::<Vec<_>>()),
                )
            },
            "skills[1].examples",
            "more than 32 examples",
        ),
        case(
            "bad media type",
            |v| set(v, "/skills/0/input_modes/0", json!("text")),
            "skills[0].input_modes[0]",
            "not a media type of the form type/subtype",
        ),
        case(
            "too many output modes",
            |v| {
                set(
                    v,
                    "/skills/0/output_modes",
                    json!((0..17).map(|i| format!("text/x-{i}")).collect::<Vec<_>>()),
                )
            },
            "skills[0].output_modes",
            "more than 16 media types",
        ),
        // --- vectors ---
        case(
            "vector space bad",
            |v| set(v, "/skills/0/vector/space", json!("MiniLM")),
            "skills[0].vector.space",
            "may contain only",
        ),
        case(
            "vector empty",
            |v| set(v, "/skills/0/vector/values", json!([])),
            "skills[0].vector.values",
            "must have at least 1 value",
        ),
        case(
            "vector too long",
            |v| set(v, "/skills/0/vector/values", json!(vec![0.5; 4097])),
            "skills[0].vector.values",
            "more than 4096 values",
        ),
        case(
            "vector infinite",
            |v| set(v, "/skills/0/vector/values/3", json!(1e39)),
            "skills[0].vector.values[3]",
            "not a finite number",
        ),
        case(
            "vector zero norm",
            |v| set(v, "/skills/0/vector/values", json!([0.0, 0.0, -0.0])),
            "skills[0].vector.values",
            "zero norm",
        ),
        // --- policy ---
        case(
            "empty tenant list",
            |v| set(v, "/policy/visibility", json!([])),
            "policy.visibility",
            "must list at least 1 tenant",
        ),
        case(
            "bad tenant id",
            |v| set(v, "/policy/visibility/1", json!("G")),
            "policy.visibility[1]",
            "tenant id must be 2 to 64 characters",
        ),
        case(
            "duplicate tenant",
            |v| set(v, "/policy/visibility/1", json!("acme")),
            "policy.visibility[1]",
            "duplicate tenant `acme`",
        ),
        case(
            "too many tenants",
            |v| {
                set(
                    v,
                    "/policy/visibility",
                    json!((0..65).map(|i| format!("t{i:02}")).collect::<Vec<_>>()),
                )
            },
            "policy.visibility",
            "more than 64 tenants",
        ),
        case(
            "duplicate data class",
            |v| set(v, "/policy/data_classes/1", json!("internal")),
            "policy.data_classes[1]",
            "duplicate data class `internal`",
        ),
        case(
            "region upper case",
            |v| set(v, "/policy/regions/0", json!("EU-West")),
            "policy.regions[0]",
            "may contain only lowercase",
        ),
        case(
            "empty compliance tag",
            |v| set(v, "/policy/compliance/0", json!("")),
            "policy.compliance[0]",
            "must not be empty",
        ),
        case(
            "too many regions",
            |v| {
                set(
                    v,
                    "/policy/regions",
                    json!((0..33).map(|i| format!("r{i}")).collect::<Vec<_>>()),
                )
            },
            "policy.regions",
            "more than 32 entries",
        ),
        // --- budget ---
        case(
            "negative cost",
            |v| set(v, "/budget/cost_per_call_usd", json!(-0.5)),
            "budget.cost_per_call_usd",
            "must not be negative",
        ),
        case(
            "huge cost",
            |v| set(v, "/budget/cost_per_call_usd", json!(1000.01)),
            "budget.cost_per_call_usd",
            "must be at most 1000 USD",
        ),
        case(
            "huge token cost",
            |v| set(v, "/budget/cost_per_1k_tokens_usd", json!(5000)),
            "budget.cost_per_1k_tokens_usd",
            "must be at most 1000 USD",
        ),
        case(
            "zero p50",
            |v| {
                set(v, "/budget/latency_ms/p50", json!(0));
            },
            "budget.latency_ms.p50",
            "must be at least 1 ms",
        ),
        case(
            "p95 below p50",
            |v| set(v, "/budget/latency_ms/p95", json!(500)),
            "budget.latency_ms.p95",
            "must be at least p50 (p95 is 500 ms, p50 is 800 ms)",
        ),
        case(
            "p95 above an hour",
            |v| set(v, "/budget/latency_ms/p95", json!(3_600_001)),
            "budget.latency_ms.p95",
            "must be at most 3600000 ms",
        ),
        case(
            "zero concurrency",
            |v| set(v, "/budget/max_concurrency", json!(0)),
            "budget.max_concurrency",
            "must be at least 1",
        ),
        // --- metadata ---
        case(
            "metadata key with space",
            |v| set(v, "/metadata/bad key", json!("x")),
            "metadata.bad key",
            "key may contain only letters, digits",
        ),
        case(
            "metadata value too long",
            |v| set(v, "/metadata/team", json!("v".repeat(513))),
            "metadata.team",
            "longer than 512 characters",
        ),
        case(
            "too many metadata entries",
            |v| {
                set(
                    v,
                    "/metadata",
                    Value::Object((0..33).map(|i| (format!("k{i}"), json!("v"))).collect()),
                )
            },
            "metadata",
            "more than 32 entries",
        ),
    ]
}

#[test]
fn base_manifest_is_valid() {
    let bytes = serde_json::to_vec(&base_manifest()).unwrap();
    parse_manifest(&bytes).unwrap();
}

#[test]
fn every_bad_manifest_names_its_field_and_rule() {
    let cases = cases();
    assert!(cases.len() >= 35, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut v = base_manifest();
        (case.mutate)(&mut v);
        let bytes = serde_json::to_vec(&v).unwrap();
        match parse_manifest(&bytes) {
            Ok(_) => failures.push(format!("{}: accepted", case.what)),
            Err(e) => {
                let first = &e.problems[0];
                if first.field != case.field || !first.message.contains(case.message) {
                    failures.push(format!(
                        "{}: expected `{}` containing {:?}, got `{}` with {:?}",
                        case.what, case.field, case.message, first.field, first.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shape_errors_drop_the_line_and_column() {
    let mut v = base_manifest();
    set(&mut v, "/colour", json!("red"));
    let err = parse_manifest(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(!err.problems[0].message.contains("line"), "{err}");
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    let body = vec![b' '; MAX_MANIFEST_BYTES + 1];
    let err = parse_manifest(&body).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].field, "");
    assert_eq!(err.problems[0].message, "body is 65537 bytes; the limit is 65536");
}

#[test]
fn syntax_errors_and_trailing_data_are_reported() {
    let err = parse_manifest(b"{\"name\": ").unwrap_err();
    assert!(err.to_string().contains("EOF"), "{err}");
    let mut body = serde_json::to_vec(&base_manifest()).unwrap();
    body.extend_from_slice(b" {}");
    let err = parse_manifest(&body).unwrap_err();
    assert!(err.to_string().contains("trailing characters"), "{err}");
}

#[test]
fn all_problems_are_reported_in_field_order() {
    let mut v = base_manifest();
    set(&mut v, "/version", json!("v1"));
    set(&mut v, "/title", json!(""));
    set(&mut v, "/skills/1/id", json!("summarize"));
    set(&mut v, "/skills/0/examples/0", json!("e".repeat(1001)));
    set(&mut v, "/skills/0/vector/values/2", json!(1e39));
    set(&mut v, "/policy/visibility/1", json!("acme"));
    set(&mut v, "/budget/latency_ms/p95", json!(10));
    let err = parse_manifest(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    let got: Vec<String> = err.problems.iter().map(|p| p.field.clone()).collect();
    assert_eq!(
        got,
        [
            "version",
            "title",
            "skills[0].examples[0]",
            "skills[0].vector.values[2]",
            "skills[1].id",
            "policy.visibility[1]",
            "budget.latency_ms.p95",
        ]
    );
    assert_eq!(
        err.to_string(),
        "version: must not start with 'v' (write 1.2.3, not v1.2.3)"
    );
    let body = err.to_error_body();
    assert_eq!(body.error.code, "invalid_manifest");
    assert_eq!(body.error.field.as_deref(), Some("version"));
    assert_eq!(body.error.details.len(), 7);
}

#[test]
fn every_example_manifest_is_valid() {
    let files = json_files(&repo_root().join("examples/manifests"));
    assert!(files.len() >= 12, "only {} example manifests", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let manifest =
            parse_manifest(&bytes).unwrap_or_else(|e| panic!("{}: {:?}", path.display(), e.problems));
        assert!(manifest.skills.iter().all(|s| s.vector.is_none()));
        manifest.semver().unwrap();
    }
}
