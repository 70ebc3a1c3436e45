//! Shared by the integration tests: a valid base manifest to mutate, and the
//! paths of the repository's example and fixture files.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};

/// A valid manifest that uses every optional field, so each rule can be
/// broken by one mutation.
pub fn base_manifest() -> Value {
    json!({
        "name": "acme/summarizer",
        "version": "1.2.3",
        "title": "Acme Summariser",
        "description": "Summarises long documents.\nKeeps citations.",
        "provider": { "organization": "Acme Corp", "url": "https://acme.example.com" },
        "endpoint": { "url": "https://agents.example.com/acme/summarizer", "protocol": "switchyard-http" },
        "skills": [
            {
                "id": "summarize",
                "name": "Summarise",
                "description": "Summarises a document into key points.",
                "tags": ["summarization", "lang:en"],
                "examples": ["Summarise this report", "TL;DR of this thread"],
                "input_modes": ["text/plain"],
                "output_modes": ["text/markdown"],
                "vector": { "space": "minilm-l6-v2", "values": [0.1, 0.2, 0.3, 0.4] }
            },
            {
                "id": "key-points",
                "name": "Key points",
                "description": "Lists the key points of a text.",
                "tags": ["summarization"],
                "examples": ["What are the key points?"]
            }
        ],
        "policy": {
            "visibility": ["acme", "globex"],
            "data_classes": ["internal", "pii"],
            "regions": ["eu-west"],
            "compliance": ["gdpr"]
        },
        "budget": {
            "cost_per_call_usd": 0.01,
            "cost_per_1k_tokens_usd": 0.002,
            "latency_ms": { "p50": 800, "p95": 3000 },
            "max_concurrency": 8
        },
        "metadata": { "team": "docs", "app.example.com/tier": "gold" }
    })
}

/// Sets the value at a JSON pointer, creating nothing: the parent must exist.
pub fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}"));
    match parent {
        Value::Object(map) => {
            map.insert(key.to_string(), new);
        }
        Value::Array(items) => {
            let i: usize = key.parse().unwrap();
            if i == items.len() {
                items.push(new);
            } else {
                items[i] = new;
            }
        }
        _ => panic!("{pointer}: parent is not a container"),
    }
}

/// Removes the value at a JSON pointer.
pub fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.remove(key).unwrap();
        }
        Value::Array(items) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        _ => panic!("{pointer}: parent is not a container"),
    }
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `*.json` file in a directory, sorted.
pub fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}
