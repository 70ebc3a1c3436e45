//! Workflow specs: the designer's patterns as specs that must pass, a table of
//! broken specs that must name the field and the rule, and the execution
//! order the executor relies on.

use serde_json::{Value, json};
use switchyard_schemas::workflow::{
    MAX_DEPTH, MAX_NODES, Op, WorkflowSpec, parse_agent_pin, topological_order, validate_workflow,
};

fn spec(v: Value) -> WorkflowSpec {
    serde_json::from_value(v).expect("spec has the right shape")
}

/// The designer's patterns, by name.
fn patterns() -> Vec<(&'static str, Value)> {
    vec![
        (
            "single agent",
            json!({
                "nodes": [{ "id": "answer", "op": "generate", "role": "write Python code from a docstring" }],
                "output": "answer"
            }),
        ),
        (
            "vote of k",
            json!({
                "nodes": [
                    { "id": "candidates", "op": "ensemble", "role": "write Python code", "params": { "n": 5 } },
                    { "id": "majority", "op": "vote", "role": "majority vote", "inputs": ["candidates"] }
                ],
                "output": "majority",
                "budget_usd": 0.5
            }),
        ),
        (
            "best of n, selected by criteria",
            json!({
                "nodes": [
                    { "id": "candidates", "op": "ensemble", "role": "write SQL", "params": { "n": 3 },
                      "budget_usd": 0.3 },
                    { "id": "pick", "op": "select", "role": "SQL reviewer", "inputs": ["candidates"],
                      "params": { "criteria": "correct, then shortest" }, "budget_usd": 0.05 }
                ],
                "output": "pick",
                "budget_usd": 0.35
            }),
        ),
        (
            "generate, test, revise",
            json!({
                "nodes": [
                    { "id": "draft", "op": "generate", "role": "write Python code" },
                    { "id": "check", "op": "test", "role": "python test runner", "inputs": ["draft"],
                      "params": { "tests": "def check(candidate):\n    assert candidate(1) == 2\n" } },
                    { "id": "fix", "op": "revise", "role": "debug Python code", "inputs": ["draft", "check"],
                      "agent": "acme/debugger@^1.2" }
                ],
                "output": "fix"
            }),
        ),
        (
            "generate, then revise until the tests pass",
            json!({
                "nodes": [
                    { "id": "draft", "op": "generate", "role": "write Python code" },
                    { "id": "repair", "op": "loop", "role": "debug Python code", "inputs": ["draft"],
                      "params": { "body": "revise", "max_rounds": 3, "until": "tests_pass" } }
                ],
                "output": "repair"
            }),
        ),
        (
            "review then revise",
            json!({
                "nodes": [
                    { "id": "draft", "op": "generate", "role": "summarise a contract" },
                    { "id": "critique", "op": "review", "role": "legal reviewer", "inputs": ["draft"],
                      "params": { "prompt": "Check every clause is covered." } },
                    { "id": "final", "op": "revise", "role": "summarise a contract", "inputs": ["draft", "critique"] }
                ],
                "output": "final"
            }),
        ),
        (
            "two models, judged",
            json!({
                "nodes": [
                    { "id": "a", "op": "generate", "role": "translate to German", "agent": "acme/translator@*" },
                    { "id": "b", "op": "generate", "role": "translate to German" },
                    { "id": "verdict", "op": "judge", "role": "translation judge", "inputs": ["a", "b"],
                      "params": { "criteria": "faithful and fluent" } }
                ],
                "output": "verdict"
            }),
        ),
    ]
}

#[test]
fn every_pattern_is_valid() {
    for (name, v) in patterns() {
        let s = spec(v.clone());
        assert_eq!(validate_workflow(&s), Ok(()), "{name}");
        // Serialising drops nothing and adds nothing: the spec round-trips.
        assert_eq!(serde_json::to_value(&s).unwrap(), v, "{name}");
    }
}

/// One broken spec: the mutation of a valid base, then the expected problem.
struct Case {
    what: &'static str,
    spec: Value,
    field: &'static str,
    message: &'static str,
}

fn chain(n: usize) -> Value {
    let nodes: Vec<Value> = (0..n)
        .map(|i| {
            let inputs: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("n{}", i - 1)]
            };
            json!({ "id": format!("n{i}"), "op": if i == 0 { "generate" } else { "revise" },
                    "role": "write code", "inputs": inputs })
        })
        .collect();
    json!({ "nodes": nodes, "output": format!("n{}", n - 1) })
}

fn gen_node(id: &str) -> Value {
    json!({ "id": id, "op": "generate", "role": "write code" })
}

fn cases() -> Vec<Case> {
    let case = |what, spec, field, message| Case {
        what,
        spec,
        field,
        message,
    };
    vec![
        case(
            "no nodes",
            json!({ "nodes": [], "output": "x" }),
            "nodes",
            "at least 1 node is required",
        ),
        case(
            "bad id characters",
            json!({ "nodes": [{ "id": "Draft.1", "op": "generate", "role": "r" }], "output": "Draft.1" }),
            "nodes[0].id",
            "may contain only lowercase letters, digits, '_' and '-'",
        ),
        case(
            "id too long",
            json!({ "nodes": [gen_node(&"a".repeat(33))], "output": "a".repeat(33) }),
            "nodes[0].id",
            "longer than 32 characters",
        ),
        case(
            "duplicate id",
            json!({ "nodes": [gen_node("a"), gen_node("b"), gen_node("a")], "output": "a" }),
            "nodes[2].id",
            "duplicate node id `a` (also nodes[0].id)",
        ),
        case(
            "unknown input",
            json!({ "nodes": [gen_node("a"),
                    { "id": "v", "op": "vote", "role": "r", "inputs": ["a", "ghost"] }], "output": "v" }),
            "nodes[1].inputs[1]",
            "names no node (`ghost`)",
        ),
        case(
            "duplicate input",
            json!({ "nodes": [gen_node("a"),
                    { "id": "v", "op": "vote", "role": "r", "inputs": ["a", "a"] }], "output": "v" }),
            "nodes[1].inputs[1]",
            "duplicate input `a`",
        ),
        case(
            "cycle of three",
            json!({ "nodes": [
                gen_node("start"),
                { "id": "a", "op": "revise", "role": "r", "inputs": ["start", "c"] },
                { "id": "b", "op": "revise", "role": "r", "inputs": ["a"] },
                { "id": "c", "op": "review", "role": "r", "inputs": ["b"] }
            ], "output": "c" }),
            "nodes[1].inputs[1]",
            "closes a cycle: a -> b -> c -> a",
        ),
        case(
            "node reads itself",
            json!({ "nodes": [{ "id": "a", "op": "review", "role": "r", "inputs": ["a"] }], "output": "a" }),
            "nodes[0].inputs[0]",
            "closes a cycle: a -> a",
        ),
        case(
            "unknown output",
            json!({ "nodes": [gen_node("a")], "output": "b" }),
            "output",
            "names no node (`b`)",
        ),
        case(
            "too many nodes",
            json!({ "nodes": (0..MAX_NODES + 1).map(|i| gen_node(&format!("n{i}"))).collect::<Vec<_>>(),
                    "output": "n0" }),
            "nodes",
            "33 nodes; the limit is 32",
        ),
        case(
            "too deep",
            chain(MAX_DEPTH + 1),
            "nodes",
            "the longest chain has 9 nodes (n0 -> n1 -> n2 -> n3 -> n4 -> n5 -> n6 -> n7 -> n8); the limit is 8",
        ),
        case(
            "vote without inputs",
            json!({ "nodes": [{ "id": "v", "op": "vote", "role": "r" }], "output": "v" }),
            "nodes[0].inputs",
            "`vote` reads at least 1 input, found 0",
        ),
        case(
            "judge without inputs",
            json!({ "nodes": [{ "id": "j", "op": "judge", "role": "r", "params": { "criteria": "c" } }],
                    "output": "j" }),
            "nodes[0].inputs",
            "`judge` reads at least 1 input, found 0",
        ),
        case(
            "revise without inputs",
            json!({ "nodes": [{ "id": "r", "op": "revise", "role": "r" }], "output": "r" }),
            "nodes[0].inputs",
            "`revise` reads at least 1 input, found 0",
        ),
        case(
            "test with two inputs",
            json!({ "nodes": [gen_node("a"), gen_node("b"),
                    { "id": "t", "op": "test", "role": "r", "inputs": ["a", "b"] }], "output": "t" }),
            "nodes[2].inputs",
            "`test` reads exactly 1 input, found 2",
        ),
        case(
            "ensemble without n",
            json!({ "nodes": [{ "id": "e", "op": "ensemble", "role": "r" }], "output": "e" }),
            "nodes[0].params.n",
            "`ensemble` needs `n`",
        ),
        case(
            "ensemble too wide",
            json!({ "nodes": [{ "id": "e", "op": "ensemble", "role": "r", "params": { "n": 9 } }],
                    "output": "e" }),
            "nodes[0].params.n",
            "must be 2 to 8, found 9",
        ),
        case(
            "loop without max_rounds",
            json!({ "nodes": [gen_node("a"),
                    { "id": "l", "op": "loop", "role": "r", "inputs": ["a"], "params": { "body": "revise" } }],
                    "output": "l" }),
            "nodes[1].params.max_rounds",
            "`loop` needs `max_rounds`",
        ),
        case(
            "loop without body",
            json!({ "nodes": [gen_node("a"),
                    { "id": "l", "op": "loop", "role": "r", "inputs": ["a"], "params": { "max_rounds": 2 } }],
                    "output": "l" }),
            "nodes[1].params.body",
            "`loop` needs `body`",
        ),
        case(
            "loop of loops",
            json!({ "nodes": [gen_node("a"),
                    { "id": "l", "op": "loop", "role": "r", "inputs": ["a"],
                      "params": { "max_rounds": 2, "body": "loop" } }],
                    "output": "l" }),
            "nodes[1].params.body",
            "must be `generate` or `revise`",
        ),
        case(
            "too many rounds",
            json!({ "nodes": [gen_node("a"),
                    { "id": "l", "op": "loop", "role": "r", "inputs": ["a"],
                      "params": { "max_rounds": 6, "body": "revise" } }],
                    "output": "l" }),
            "nodes[1].params.max_rounds",
            "must be 1 to 5, found 6",
        ),
        case(
            "parameter the op ignores",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "params": { "n": 3 } }],
                    "output": "a" }),
            "nodes[0].params.n",
            "applies only to `ensemble`, not `generate`",
        ),
        case(
            "criteria on a vote",
            json!({ "nodes": [gen_node("a"),
                    { "id": "v", "op": "vote", "role": "r", "inputs": ["a"], "params": { "criteria": "best" } }],
                    "output": "v" }),
            "nodes[1].params.criteria",
            "applies only to `judge` and `select`, not `vote`",
        ),
        case(
            "empty role",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "" }], "output": "a" }),
            "nodes[0].role",
            "must not be empty",
        ),
        case(
            "agent pin without range",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "agent": "acme/coder" }],
                    "output": "a" }),
            "nodes[0].agent",
            "must be namespace/name@range",
        ),
        case(
            "agent pin with a bad range",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "agent": "acme/coder@latest" }],
                    "output": "a" }),
            "nodes[0].agent",
            "`latest` is not a semver range",
        ),
        case(
            "agent pin with a bad name",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "agent": "Acme/coder@^1" }],
                    "output": "a" }),
            "nodes[0].agent",
            "namespace may contain only lowercase letters",
        ),
        case(
            "negative node budget",
            json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "budget_usd": -0.01 }],
                    "output": "a" }),
            "nodes[0].budget_usd",
            "must not be negative",
        ),
        case(
            "negative workflow budget",
            json!({ "nodes": [gen_node("a")], "output": "a", "budget_usd": -1.0 }),
            "budget_usd",
            "must not be negative",
        ),
        case(
            "node budgets over the workflow budget",
            json!({ "nodes": [
                { "id": "a", "op": "generate", "role": "r", "budget_usd": 0.25 },
                { "id": "b", "op": "generate", "role": "r", "budget_usd": 0.5 },
                { "id": "v", "op": "vote", "role": "r", "inputs": ["a", "b"] }
            ], "output": "v", "budget_usd": 0.7 }),
            "budget_usd",
            "node budgets add up to 0.75 USD, more than the workflow's 0.7 USD",
        ),
    ]
}

#[test]
fn broken_specs_name_the_field_and_the_rule() {
    let cases = cases();
    assert!(cases.len() >= 12);
    for case in cases {
        let s = spec(case.spec);
        let problems = validate_workflow(&s).expect_err(case.what);
        let hit = problems
            .iter()
            .find(|p| p.field == case.field)
            .unwrap_or_else(|| panic!("{}: no problem at `{}`, got {problems:?}", case.what, case.field));
        assert!(
            hit.message.contains(case.message),
            "{}: expected `{}` in `{}`",
            case.what,
            case.message,
            hit.message
        );
        // One broken rule yields one problem, so a reader sees the cause
        // rather than its echoes.
        assert_eq!(problems.len(), 1, "{}: {problems:?}", case.what);
    }
}

#[test]
fn non_finite_budgets_are_rejected() {
    // JSON has no NaN or infinity, so these only arrive from Rust callers.
    let mut s = spec(json!({ "nodes": [gen_node("a")], "output": "a" }));
    s.budget_usd = Some(f64::INFINITY);
    s.nodes[0].budget_usd = Some(f64::NAN);
    let problems = validate_workflow(&s).unwrap_err();
    let fields: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("nodes[0].budget_usd", "must be a finite number"),
            ("budget_usd", "must be a finite number")
        ]
    );
}

#[test]
fn budgets_that_add_up_exactly_fit() {
    // 0.1 + 0.2 is 0.30000000000000004 in f64; it must still fit 0.3.
    let s = spec(json!({ "nodes": [
        { "id": "a", "op": "generate", "role": "r", "budget_usd": 0.1 },
        { "id": "b", "op": "revise", "role": "r", "inputs": ["a"], "budget_usd": 0.2 }
    ], "output": "b", "budget_usd": 0.3 }));
    assert_eq!(validate_workflow(&s), Ok(()));
}

#[test]
fn every_problem_is_reported_at_once() {
    let s = spec(json!({ "nodes": [
        { "id": "A", "op": "ensemble", "role": "" },
        { "id": "v", "op": "vote", "role": "r", "inputs": ["nowhere"] }
    ], "output": "missing" }));
    let fields: Vec<String> = validate_workflow(&s)
        .unwrap_err()
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        [
            "nodes[0].id",
            "nodes[0].role",
            "nodes[0].params.n",
            "nodes[1].inputs[0]",
            "output"
        ]
    );
}

#[test]
fn unknown_fields_and_ops_are_shape_errors() {
    let typo = json!({ "nodes": [{ "id": "a", "op": "generate", "role": "r", "params": { "rounds": 2 } }],
                       "output": "a" });
    let err = serde_json::from_value::<WorkflowSpec>(typo)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `rounds`"), "{err}");

    let op = json!({ "nodes": [{ "id": "a", "op": "brainstorm", "role": "r" }], "output": "a" });
    let err = serde_json::from_value::<WorkflowSpec>(op)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `brainstorm`"), "{err}");

    let until = json!({ "nodes": [{ "id": "a", "op": "loop", "role": "r",
                        "params": { "until": "judge_happy" } }], "output": "a" });
    assert!(serde_json::from_value::<WorkflowSpec>(until).is_err());
}

#[test]
fn agent_pins_parse_into_name_and_range() {
    let pin = parse_agent_pin("acme/coder@>=1.2, <2").unwrap();
    assert_eq!(pin.name, "acme/coder");
    assert!(pin.range.matches(&semver::Version::new(1, 9, 0)));
    assert!(!pin.range.matches(&semver::Version::new(2, 0, 0)));
    assert!(parse_agent_pin("acme/coder@*").is_ok());
    assert!(parse_agent_pin("acme/coder@").is_err());
}

#[test]
fn topological_order_puts_inputs_first_and_breaks_ties_by_position() {
    // Listed out of order on purpose: the reader comes before what it reads.
    let s = spec(json!({ "nodes": [
        { "id": "final", "op": "judge", "role": "r", "inputs": ["fix", "alt"] },
        { "id": "fix", "op": "revise", "role": "r", "inputs": ["draft", "check"] },
        { "id": "check", "op": "test", "role": "r", "inputs": ["draft"] },
        gen_node("alt"),
        gen_node("draft")
    ], "output": "final" }));
    assert_eq!(validate_workflow(&s), Ok(()));
    let order = topological_order(&s);
    let ids: Vec<&str> = order.iter().map(|&i| s.nodes[i].id.as_str()).collect();
    assert_eq!(ids, ["alt", "draft", "check", "fix", "final"]);
    // Every node after each of its inputs.
    for (pos, &i) in order.iter().enumerate() {
        for input in &s.nodes[i].inputs {
            let j = s.index_of(input).unwrap();
            assert!(order[..pos].contains(&j), "{input} before {}", s.nodes[i].id);
        }
    }
}

#[test]
fn topological_order_leaves_out_cycles() {
    let s = spec(json!({ "nodes": [
        gen_node("root"),
        { "id": "a", "op": "revise", "role": "r", "inputs": ["root", "b"] },
        { "id": "b", "op": "revise", "role": "r", "inputs": ["a"] },
        { "id": "after", "op": "review", "role": "r", "inputs": ["b"] },
        { "id": "side", "op": "review", "role": "r", "inputs": ["root"] }
    ], "output": "after" }));
    let order = topological_order(&s);
    // The cycle and everything downstream of it cannot run.
    assert_eq!(order, [0, 4]);
}

#[test]
fn op_names_match_the_wire_format() {
    for op in [
        Op::Generate,
        Op::Review,
        Op::Revise,
        Op::Ensemble,
        Op::Vote,
        Op::Select,
        Op::Test,
        Op::Judge,
        Op::Loop,
    ] {
        assert_eq!(serde_json::to_value(op).unwrap(), json!(op.as_str()));
    }
}
