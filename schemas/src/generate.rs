//! JSON Schema and OpenAPI documents generated from the wire types.
//!
//! The Rust types in [`crate::manifest`] and [`crate::api`] are the source of
//! truth; the documents here are derived from them with `schemars` so they can
//! never drift. The repository keeps a copy of each under `schemas/json/` for
//! people and tools that do not read Rust:
//!
//! - `schemas/json/<body>.schema.json`: one JSON Schema (2020-12) per body,
//!   see [`json_schemas`];
//! - `schemas/json/openapi.json`: the OpenAPI 3.1 description of the HTTP API,
//!   see [`openapi_document`].
//!
//! The test `schemas/tests/generated_files.rs` regenerates them and fails when
//! a committed copy differs. After changing a wire type, refresh the copies
//! with:
//!
//! ```text
//! SWITCHYARD_BLESS=1 cargo test -p switchyard-schemas --test generated_files
//! ```
//!
//! [`ROUTES`] lists every route of the API; the server tests its router
//! against it and the OpenAPI document describes exactly these.

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::api::*;
use crate::design::{DesignRequest, DesignResponse, DesignerStats};
use crate::manifest::AgentManifest;
use crate::rollout::{Rollout, RunAccepted, RunRecord};
use crate::route::{
    FeedbackRequest, FeedbackResponse, RouteBatchRequest, RouteBatchResponse, RouteRequest, RouteResponse,
};
use crate::run::{AgentRequest, AgentResponse, RunRequest};
use crate::workflow::WorkflowSpec;

/// Every route of the HTTP API as `(METHOD, path)`, path parameters in braces.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{namespace}/{agent}"),
    ("DELETE", "/v1/agents/{namespace}/{agent}"),
    ("GET", "/v1/agents/{namespace}/{agent}/versions"),
    ("GET", "/v1/agents/{namespace}/{agent}/versions/{version}"),
    ("PATCH", "/v1/agents/{namespace}/{agent}/versions/{version}"),
    ("DELETE", "/v1/agents/{namespace}/{agent}/versions/{version}"),
    ("GET", "/v1/agents/{namespace}/{agent}/resolve"),
    ("GET", "/v1/changes"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/route"),
    ("POST", "/v1/route/batch"),
    ("POST", "/v1/feedback"),
    ("POST", "/v1/workflows/design"),
    ("POST", "/v1/workflows/run"),
    ("GET", "/v1/runs/{run_id}"),
    ("GET", "/v1/runs/export"),
    ("GET", "/v1/designer/stats"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// Directory of the committed documents, relative to the repository root.
pub const JSON_DIR: &str = "schemas/json";

/// File name of the committed OpenAPI document inside [`JSON_DIR`].
pub const OPENAPI_FILE: &str = "openapi.json";

fn root_schema<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// A standalone JSON Schema (2020-12) for the manifest and for every API
/// body, as `(file name, schema)`.
pub fn json_schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("agent-manifest.schema.json", root_schema::<AgentManifest>()),
        ("publish-response.schema.json", root_schema::<PublishResponse>()),
        ("agent-list.schema.json", root_schema::<AgentList>()),
        ("agent-detail.schema.json", root_schema::<AgentDetail>()),
        ("version-list.schema.json", root_schema::<VersionList>()),
        ("version-record.schema.json", root_schema::<VersionRecord>()),
        ("status-patch.schema.json", root_schema::<StatusPatch>()),
        ("change-ack.schema.json", root_schema::<ChangeAck>()),
        ("resolution.schema.json", root_schema::<Resolution>()),
        ("change-page.schema.json", root_schema::<ChangePage>()),
        (
            "create-key-request.schema.json",
            root_schema::<CreateKeyRequest>(),
        ),
        ("created-key.schema.json", root_schema::<CreatedKey>()),
        ("error-body.schema.json", root_schema::<ErrorBody>()),
        ("route-request.schema.json", root_schema::<RouteRequest>()),
        ("route-response.schema.json", root_schema::<RouteResponse>()),
        (
            "route-batch-request.schema.json",
            root_schema::<RouteBatchRequest>(),
        ),
        (
            "route-batch-response.schema.json",
            root_schema::<RouteBatchResponse>(),
        ),
        ("feedback-request.schema.json", root_schema::<FeedbackRequest>()),
        ("feedback-response.schema.json", root_schema::<FeedbackResponse>()),
        ("workflow-spec.schema.json", root_schema::<WorkflowSpec>()),
        ("design-request.schema.json", root_schema::<DesignRequest>()),
        ("design-response.schema.json", root_schema::<DesignResponse>()),
        ("designer-stats.schema.json", root_schema::<DesignerStats>()),
        ("run-request.schema.json", root_schema::<RunRequest>()),
        ("rollout.schema.json", root_schema::<Rollout>()),
        ("run-record.schema.json", root_schema::<RunRecord>()),
        ("run-accepted.schema.json", root_schema::<RunAccepted>()),
        ("agent-request.schema.json", root_schema::<AgentRequest>()),
        ("agent-response.schema.json", root_schema::<AgentResponse>()),
    ]
}

/// Every committed document as `(file name inside JSON_DIR, contents)`, in
/// the exact bytes that are committed.
pub fn generated_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = json_schemas()
        .into_iter()
        .map(|(name, schema)| (name.to_string(), to_pretty_json(&schema)))
        .collect();
    files.push((OPENAPI_FILE.to_string(), to_pretty_json(&openapi_document())));
    files
}

/// Pretty JSON with a trailing newline, the format of committed documents.
pub fn to_pretty_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Builds the OpenAPI document: references to component schemas are created
/// on first use, then all collected definitions become `components/schemas`.
struct Builder {
    schemas: SchemaGenerator,
}

impl Builder {
    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.schemas.subschema_for::<T>().to_value()
    }

    /// A JSON body of type `T`.
    fn json<T: JsonSchema>(&mut self, description: &str) -> Value {
        json!({
            "description": description,
            "content": { "application/json": { "schema": self.schema::<T>() } }
        })
    }
}

/// Error responses shared by routes, as `components/responses` entries.
const ERRORS: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "Malformed query or path parameter."),
    ("401", "Unauthorized", "Missing or invalid bearer token."),
    (
        "403",
        "Forbidden",
        "The key lacks the scope or does not own the namespace.",
    ),
    (
        "404",
        "NotFound",
        "No such agent, version or run (or not visible to the caller).",
    ),
    (
        "409",
        "Conflict",
        "The version exists with different content (`version_conflict`).",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body exceeds 65536 bytes (1 MiB for workflow routes).",
    ),
    (
        "429",
        "TooManyRequests",
        "Too many workflow jobs are running; retry later.",
    ),
    (
        "422",
        "Unprocessable",
        "The body is well-formed JSON but breaks a rule; `details` lists every problem.",
    ),
    (
        "503",
        "Unavailable",
        "The service is not ready, or the sandbox a tests scorer needs is unavailable.",
    ),
];

fn error_ref(status: &str) -> Value {
    let name = ERRORS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map_or("Unprocessable", |(_, name, _)| name);
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The responses object of one operation: its successes plus references to
/// the shared error responses.
fn responses(success: Vec<(&str, Value)>, errors: &[&str]) -> Value {
    let mut map = Map::new();
    for (status, response) in success {
        map.insert(status.to_string(), response);
    }
    for status in errors {
        map.insert((*status).to_string(), error_ref(status));
    }
    Value::Object(map)
}

fn path_param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn query_param(name: &str, description: &str, required: bool, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema
    })
}

fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Value,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
    });
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op["responses"] = responses;
    op
}

/// The OpenAPI 3.1 document of the HTTP API. Schemas are JSON Schema 2020-12
/// (OpenAPI 3.1's dialect) under `components/schemas`.
pub fn openapi_document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut b = Builder {
        schemas: settings.into_generator(),
    };
    let agent = || vec![path_param("namespace"), path_param("agent")];
    let version = || {
        vec![
            path_param("namespace"),
            path_param("agent"),
            path_param("version"),
        ]
    };
    let ack = |b: &mut Builder| b.json::<ChangeAck>("The change was recorded.");
    let status_schema = b.schema::<VersionStatus>();

    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let item = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        item[method] = op;
    };

    let publish_body = json!({
        "required": true,
        "description": "The manifest of the version to publish (at most 65536 bytes).",
        "content": { "application/json": { "schema": b.schema::<AgentManifest>() } }
    });
    add(
        "/v1/agents",
        "post",
        operation(
            "publishAgent",
            "agents",
            "Publish a new version of an agent",
            vec![],
            Some(publish_body),
            responses(
                vec![
                    ("201", b.json::<PublishResponse>("The version was published.")),
                    (
                        "200",
                        b.json::<PublishResponse>(
                            "The identical version was already published (idempotent retry).",
                        ),
                    ),
                ],
                &["401", "403", "409", "413", "422"],
            ),
        ),
    );
    add(
        "/v1/agents",
        "get",
        operation(
            "listAgents",
            "agents",
            "List agents visible to the caller",
            vec![
                query_param(
                    "cursor",
                    "`next_cursor` of the previous page.",
                    false,
                    json!({ "type": "string" }),
                ),
                query_param(
                    "limit",
                    "Largest number of agents to return.",
                    false,
                    json!({ "type": "integer", "minimum": 1 }),
                ),
                query_param(
                    "namespace",
                    "Only agents in this namespace.",
                    false,
                    json!({ "type": "string" }),
                ),
                query_param(
                    "tag",
                    "Only agents with a skill carrying this tag.",
                    false,
                    json!({ "type": "string" }),
                ),
                query_param(
                    "status",
                    "Only agents with a version in this status.",
                    false,
                    status_schema.clone(),
                ),
                query_param(
                    "text",
                    "Only agents whose name, title or description contains this text.",
                    false,
                    json!({ "type": "string" }),
                ),
            ],
            None,
            responses(
                vec![("200", b.json::<AgentList>("One page of agents."))],
                &["400", "401"],
            ),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}",
        "get",
        operation(
            "getAgent",
            "agents",
            "Describe an agent and its versions",
            agent(),
            None,
            responses(
                vec![("200", b.json::<AgentDetail>("The agent."))],
                &["401", "404"],
            ),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}",
        "delete",
        operation(
            "deleteAgent",
            "agents",
            "Delete an agent and all its versions",
            agent(),
            None,
            responses(vec![("200", ack(&mut b))], &["401", "403", "404"]),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}/versions",
        "get",
        operation(
            "listVersions",
            "versions",
            "List the versions of an agent, oldest first in semver order",
            agent(),
            None,
            responses(
                vec![("200", b.json::<VersionList>("The versions."))],
                &["401", "404"],
            ),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}/versions/{version}",
        "get",
        operation(
            "getVersion",
            "versions",
            "Get one version with its manifest",
            version(),
            None,
            responses(
                vec![("200", b.json::<VersionRecord>("The version."))],
                &["401", "404"],
            ),
        ),
    );
    let patch_body = json!({
        "required": true,
        "content": { "application/json": { "schema": b.schema::<StatusPatch>() } }
    });
    add(
        "/v1/agents/{namespace}/{agent}/versions/{version}",
        "patch",
        operation(
            "setVersionStatus",
            "versions",
            "Deprecate, yank or reactivate a version",
            version(),
            Some(patch_body),
            responses(vec![("200", ack(&mut b))], &["401", "403", "404", "422"]),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}/versions/{version}",
        "delete",
        operation(
            "deleteVersion",
            "versions",
            "Delete one version",
            version(),
            None,
            responses(vec![("200", ack(&mut b))], &["401", "403", "404"]),
        ),
    );
    add(
        "/v1/agents/{namespace}/{agent}/resolve",
        "get",
        operation(
            "resolveVersion",
            "versions",
            "Resolve a semver range to the best routable version",
            {
                let mut params = agent();
                params.push(query_param(
                    "range",
                    "A semver requirement such as `^1.2` or `>=1.0, <2`.",
                    true,
                    json!({ "type": "string" }),
                ));
                params
            },
            None,
            responses(
                vec![("200", b.json::<Resolution>("The chosen version."))],
                &["400", "401", "404"],
            ),
        ),
    );
    add(
        "/v1/changes",
        "get",
        operation(
            "listChanges",
            "changes",
            "Read the change log after a sequence number",
            vec![
                query_param(
                    "since",
                    "Return changes with a sequence number greater than this.",
                    false,
                    json!({ "type": "integer", "format": "uint64", "minimum": 0 }),
                ),
                query_param(
                    "limit",
                    "Largest number of changes to return.",
                    false,
                    json!({ "type": "integer", "minimum": 1 }),
                ),
            ],
            None,
            responses(
                vec![("200", b.json::<ChangePage>("One page of changes."))],
                &["400", "401"],
            ),
        ),
    );
    let key_body = json!({
        "required": true,
        "content": { "application/json": { "schema": b.schema::<CreateKeyRequest>() } }
    });
    add(
        "/v1/keys",
        "post",
        operation(
            "createKey",
            "keys",
            "Create an API key (admin scope)",
            vec![],
            Some(key_body),
            responses(
                vec![(
                    "201",
                    b.json::<CreatedKey>("The key; its token is shown only this once."),
                )],
                &["401", "403", "422"],
            ),
        ),
    );
    for (path, id, summary, request, response, errors) in [
        (
            "/v1/route",
            "route",
            "Rank the agents that can do a task under the caller's constraints",
            b.schema::<RouteRequest>(),
            b.json::<RouteResponse>("Candidates best first, or an explicit abstention."),
            &["401", "403", "422"][..],
        ),
        (
            "/v1/route/batch",
            "routeBatch",
            "Route up to 100 requests; each item answers or carries its own error",
            b.schema::<RouteBatchRequest>(),
            b.json::<RouteBatchResponse>("One result per request, in order."),
            &["401", "403", "422"][..],
        ),
        (
            "/v1/feedback",
            "recordFeedback",
            "Record the outcome of one call of a routed agent",
            b.schema::<FeedbackRequest>(),
            b.json::<FeedbackResponse>("The statistics after the update."),
            &["401", "403", "404", "422"][..],
        ),
    ] {
        let body = json!({
            "required": true,
            "content": { "application/json": { "schema": request } }
        });
        add(
            path,
            "post",
            operation(
                id,
                "routing",
                summary,
                vec![],
                Some(body),
                responses(vec![("200", response)], errors),
            ),
        );
    }

    let design_body = json!({
        "required": true,
        "content": { "application/json": { "schema": b.schema::<DesignRequest>() } }
    });
    add(
        "/v1/workflows/design",
        "post",
        operation(
            "designWorkflow",
            "workflows",
            "Design a workflow for a query: pattern, agents and budget split, chosen by the learned policy",
            vec![],
            Some(design_body),
            responses(
                vec![(
                    "200",
                    b.json::<DesignResponse>("The spec to run and every arm considered."),
                )],
                &["401", "403", "422"],
            ),
        ),
    );
    let run_body = json!({
        "required": true,
        "description": "A query with a spec to run, or without one to have it designed (at most 1 MiB).",
        "content": { "application/json": { "schema": b.schema::<RunRequest>() } }
    });
    let accepted = json!({
        "description": "`mode: job`: the run started; poll `location`.",
        "headers": { "Location": { "schema": { "type": "string" } } },
        "content": { "application/json": { "schema": b.schema::<RunAccepted>() } }
    });
    add(
        "/v1/workflows/run",
        "post",
        operation(
            "runWorkflow",
            "workflows",
            "Run a workflow (given or designed), score it, and learn from the score",
            vec![],
            Some(run_body),
            responses(
                vec![
                    (
                        "200",
                        b.json::<Rollout>("`mode: sync`: the finished run, with its trace and score."),
                    ),
                    ("202", accepted),
                ],
                &["401", "403", "413", "422", "429", "503"],
            ),
        ),
    );
    add(
        "/v1/runs/{run_id}",
        "get",
        operation(
            "getRun",
            "workflows",
            "A run of the caller's tenant: still running, finished (its rollout), or aborted",
            vec![path_param("run_id")],
            None,
            responses(
                vec![("200", b.json::<RunRecord>("The run."))],
                &["401", "403", "404"],
            ),
        ),
    );
    add(
        "/v1/runs/export",
        "get",
        operation(
            "exportRuns",
            "workflows",
            "Every finished run of the caller's tenant (every tenant's for admin keys) as JSONL rollouts",
            vec![],
            None,
            responses(
                vec![(
                    "200",
                    json!({
                        "description": "One `Rollout` (see `rollout.schema.json`) per line, in the order the runs finished.",
                        "content": { "application/x-ndjson": { "schema": { "type": "string" } } }
                    }),
                )],
                &["401", "403"],
            ),
        ),
    );
    add(
        "/v1/designer/stats",
        "get",
        operation(
            "designerStats",
            "workflows",
            "What the designer has learned: cases, and mean reward, score and cost per pattern and arm",
            vec![],
            None,
            responses(
                vec![("200", b.json::<DesignerStats>("The designer's statistics."))],
                &["401", "403"],
            ),
        ),
    );

    let text = |description: &str| {
        json!({
            "description": description,
            "content": { "text/plain": { "schema": { "type": "string" } } }
        })
    };
    let mut unauthenticated = |path: &str, id: &str, summary: &str, ok: Value, errors: &[&str]| {
        let mut op = operation(
            id,
            "operations",
            summary,
            vec![],
            None,
            responses(vec![("200", ok)], errors),
        );
        op["security"] = json!([]);
        add(path, "get", op);
    };
    unauthenticated(
        "/healthz",
        "health",
        "Liveness: the process is up",
        text("Alive."),
        &[],
    );
    unauthenticated(
        "/readyz",
        "ready",
        "Readiness: the store and the index are loaded",
        text("Ready."),
        &["503"],
    );
    unauthenticated(
        "/metrics",
        "metrics",
        "Prometheus metrics",
        json!({
            "description": "Metrics in the Prometheus text exposition format.",
            "content": { "text/plain": { "schema": { "type": "string" } } }
        }),
        &[],
    );

    let error_schema = b.schema::<ErrorBody>();
    let mut error_responses = Map::new();
    for (_, name, description) in ERRORS {
        error_responses.insert(
            (*name).to_string(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": error_schema.clone() } }
            }),
        );
    }

    let components_schemas = b.schemas.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Switchyard API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Registry and router for a fleet of AI agents. Every error answer is an `ErrorBody`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "tags": [
            { "name": "agents", "description": "Publishing and browsing agents." },
            { "name": "versions", "description": "Versions of one agent and their lifecycle." },
            { "name": "changes", "description": "The registry's change log." },
            { "name": "keys", "description": "API keys." },
            { "name": "routing", "description": "Routing tasks to agents, and feedback on the calls." },
            { "name": "workflows", "description": "Designing, running and scoring workflows; runs and what the designer learned." },
            { "name": "operations", "description": "Health and metrics for operators." }
        ],
        "security": [ { "bearer": [] } ],
        "paths": Value::Object(paths),
        "components": {
            "schemas": Value::Object(components_schemas),
            "parameters": {
                "namespace": {
                    "name": "namespace", "in": "path", "required": true,
                    "description": "Namespace of the agent (lowercase `[a-z0-9._-]`, 2–64 characters).",
                    "schema": { "type": "string" }
                },
                "agent": {
                    "name": "agent", "in": "path", "required": true,
                    "description": "Agent name within the namespace (lowercase `[a-z0-9._-]`, 2–64 characters).",
                    "schema": { "type": "string" }
                },
                "run_id": {
                    "name": "run_id", "in": "path", "required": true,
                    "description": "The id a run was answered with.",
                    "schema": { "type": "string" }
                },
                "version": {
                    "name": "version", "in": "path", "required": true,
                    "description": "A semantic version, or `latest` for the highest non-prerelease active version (GET only).",
                    "schema": { "type": "string" }
                }
            },
            "responses": Value::Object(error_responses),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key created with `POST /v1/keys`."
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_are_exactly_the_routes() {
        let doc = openapi_document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }

    /// Every `$ref` points at something that exists in the document.
    #[test]
    fn openapi_refs_resolve() {
        fn walk(v: &Value, doc: &Value, bad: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        let pointer = r.strip_prefix('#').unwrap_or(r);
                        if doc.pointer(pointer).is_none() {
                            bad.push(r.clone());
                        }
                    }
                    map.values().for_each(|v| walk(v, doc, bad));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, bad)),
                _ => {}
            }
        }
        let doc = openapi_document();
        let mut bad = Vec::new();
        walk(&doc, &doc, &mut bad);
        assert!(bad.is_empty(), "dangling refs: {bad:?}");
        assert!(doc["components"]["schemas"]["AgentManifest"].is_object());
        assert!(!doc.to_string().contains("$defs"));
    }

    #[test]
    fn json_schemas_have_the_2020_12_dialect() {
        for (name, schema) in json_schemas() {
            assert!(name.ends_with(".schema.json"));
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{name}"
            );
        }
    }
}
