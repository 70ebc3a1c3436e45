//! Step traces: what each step of a run did, assembled from its record.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use switchyard_schemas::run::{NodeOutcome, NodeTrace};
use switchyard_schemas::workflow::Node;

use super::millis;
use super::node::Record;
use crate::MetaAgentError;

/// The trace of a step that ran.
pub(crate) fn node(
    node: &Node,
    latency: Duration,
    inputs: &[(String, Value)],
    result: &Result<Value, MetaAgentError>,
    record: Record,
) -> NodeTrace {
    let input_map: serde_json::Map<String, Value> = inputs.iter().cloned().collect();
    let (outcome, error, output_bytes) = match result {
        Ok(output) => (NodeOutcome::Ok, None, json_size(output)),
        Err(e) => (NodeOutcome::Failed, Some(e.to_string()), 0),
    };
    let bound = record.bound;
    NodeTrace {
        id: node.id.clone(),
        op: node.op,
        outcome,
        error,
        agent: bound.as_ref().map(|b| b.agent.clone()),
        version: bound.as_ref().map(|b| b.version.clone()),
        skill: bound.map(|b| b.skill),
        attempts: record.calls.iter().map(|c| c.attempts).sum(),
        latency_ms: millis(latency),
        cost_usd: record.calls.iter().map(|c| c.cost_usd).sum(),
        input_bytes: json_size(&Value::Object(input_map)),
        output_bytes,
        tests: record.tests,
        calls: record.calls,
    }
}

/// The trace of a step that did not run (or whose task died).
pub(crate) fn empty(node: &Node, outcome: NodeOutcome, reason: String) -> NodeTrace {
    NodeTrace {
        id: node.id.clone(),
        op: node.op,
        outcome,
        error: Some(reason),
        agent: None,
        version: None,
        skill: None,
        attempts: 0,
        latency_ms: 0,
        cost_usd: 0.0,
        input_bytes: 0,
        output_bytes: 0,
        tests: None,
        calls: Vec::new(),
    }
}

/// Bytes of `value` as compact JSON, counted without building the text.
pub(crate) fn json_size(value: &Value) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_are_those_of_compact_json() {
        for v in [json!("héllo"), json!({"a": [1, 2, null]}), json!(null)] {
            assert_eq!(json_size(&v), serde_json::to_vec(&v).unwrap().len() as u64);
        }
    }
}
