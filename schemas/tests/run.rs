//! Run requests and traces on the wire: the JSON callers send parses, and
//! misspelt fields are rejected rather than ignored.

use serde_json::json;
use switchyard_schemas::run::{AgentResponse, RunRequest, RunStatus, RunTrace, ScorerSpec};

#[test]
fn a_full_request_parses() {
    let req: RunRequest = serde_json::from_value(json!({
        "query": "Write add(a, b).",
        "task": {"id": "HumanEval/0", "entry_point": "add", "tests": "def check(c): pass"},
        "constraints": {"region": "eu-west", "exclude": ["acme/slow"]},
        "budget_usd": 0.5,
        "scorer": {"kind": "tests", "source": "def check(c): pass", "entry_point": "add"}
    }))
    .unwrap();
    assert_eq!(req.task.unwrap().entry_point.as_deref(), Some("add"));
    assert_eq!(
        req.scorer,
        Some(ScorerSpec::Tests {
            source: "def check(c): pass".into(),
            entry_point: "add".into()
        })
    );
    let judge: ScorerSpec =
        serde_json::from_value(json!({"kind": "judge", "criteria": "correct", "agent": "acme/j@^1"}))
            .unwrap();
    assert!(matches!(judge, ScorerSpec::Judge { agent: Some(_), .. }));
}

#[test]
fn unknown_fields_are_rejected() {
    for bad in [
        json!({"query": "q", "budget": 1}),
        json!({"query": "q", "task": {"id": "t", "test": "x"}}),
        json!({"query": "q", "scorer": {"kind": "exact", "expected": "a", "trim": true}}),
        json!({"query": "q", "scorer": {"kind": "fuzzy"}}),
    ] {
        assert!(
            serde_json::from_value::<RunRequest>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn agent_answers_may_omit_usage_and_traces_round_trip() {
    let answer: AgentResponse = serde_json::from_value(json!({"output": "hi"})).unwrap();
    assert_eq!(answer.usage.cost_usd, None);
    let trace = RunTrace {
        run_id: "r".into(),
        status: RunStatus::Failed,
        output: None,
        error: Some("the output step `g` has no output: x".into()),
        cost_usd: 0.1,
        budget_usd: 1.0,
        latency_ms: 3,
        nodes: vec![],
        score: None,
    };
    let wire = serde_json::to_value(&trace).unwrap();
    assert_eq!(wire["status"], "failed");
    assert!(wire.get("output").is_none());
    assert_eq!(serde_json::from_value::<RunTrace>(wire).unwrap(), trace);
}
