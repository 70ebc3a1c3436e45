//! The run log on a real temporary directory: durability across reopen,
//! tenant privacy, crash recovery and the JSONL export.

use std::io::Write;

use serde_json::json;
use switchyard_meta_agent::runs::RunStore;
use switchyard_schemas::rollout::{Rollout, RunRecord};

fn rollout(id: &str, score: f64) -> Rollout {
    serde_json::from_value(json!({
        "run_id": id,
        "finished_at_ms": 1_700_000_000_000u64,
        "query": format!("query of {id}"),
        "spec": {"nodes": [{"id": "gen", "op": "generate", "role": "write code"}], "output": "gen"},
        "trace": {
            "run_id": id, "status": "succeeded", "output": "print(1)", "cost_usd": 0.01,
            "budget_usd": 0.1, "latency_ms": 12, "nodes": [],
            "score": {"value": score, "reason": "tests passed"}
        }
    }))
    .expect("a valid rollout")
}

fn finished(record: Option<RunRecord>) -> Rollout {
    match record {
        Some(RunRecord::Finished(r)) => *r,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

#[test]
fn runs_survive_reopen_and_stay_private() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RunStore::open(dir.path()).unwrap();
        store.finish("acme", &rollout("r1", 1.0)).unwrap();
        store.finish("globex", &rollout("r2", 0.0)).unwrap();
        store.start("r3", "acme");
        assert!(matches!(
            store.get("r3", "acme").unwrap(),
            Some(RunRecord::Running { .. })
        ));
        assert!(store.get("r3", "globex").unwrap().is_none());
    }
    let store = RunStore::open(dir.path()).unwrap();
    assert_eq!(finished(store.get("r1", "acme").unwrap()), rollout("r1", 1.0));
    assert_eq!(finished(store.get("r2", "globex").unwrap()), rollout("r2", 0.0));
    // Another tenant's run is indistinguishable from a missing one.
    assert!(store.get("r1", "globex").unwrap().is_none());
    assert!(store.get("nope", "acme").unwrap().is_none());
    // Jobs live in memory only.
    assert!(store.get("r3", "acme").unwrap().is_none());
}

#[test]
fn export_writes_one_rollout_per_line_in_finish_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    for (i, tenant) in ["acme", "globex", "acme"].iter().enumerate() {
        store.finish(tenant, &rollout(&format!("r{i}"), 0.5)).unwrap();
    }
    let mut out = Vec::new();
    assert_eq!(store.export(Some("acme"), &mut out).unwrap(), 2);
    let lines: Vec<Rollout> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![rollout("r0", 0.5), rollout("r2", 0.5)]);
    let mut all = Vec::new();
    assert_eq!(store.export(None, &mut all).unwrap(), 3);
}

#[test]
fn a_line_cut_short_by_a_crash_is_dropped_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RunStore::open(dir.path()).unwrap();
        store.finish("acme", &rollout("r1", 1.0)).unwrap();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("runs.jsonl"))
        .unwrap();
    f.write_all(br#"{"tenant":"acme","rollout":{"run_id":"r2""#)
        .unwrap();
    drop(f);
    let store = RunStore::open(dir.path()).unwrap();
    assert!(store.get("r2", "acme").unwrap().is_none());
    store.finish("acme", &rollout("r3", 0.0)).unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    assert_eq!(finished(store.get("r1", "acme").unwrap()), rollout("r1", 1.0));
    assert_eq!(finished(store.get("r3", "acme").unwrap()), rollout("r3", 0.0));
}
