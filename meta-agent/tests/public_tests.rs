//! Public tests parsed from every prompt of the committed HumanEval data
//! set never reject the reference solution: a wrong public test would send
//! correct answers to be repaired and teach the designer lies.

use switchyard_meta_agent::replay::Problem;
use switchyard_meta_agent::scorers::doctest::public_tests;
use switchyard_meta_agent::scorers::sandbox::{Sandbox, SandboxConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reference_solution_passes_its_public_tests() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/humaneval/problems.jsonl"
    );
    let problems: Vec<Problem> = std::fs::read_to_string(path)
        .expect("the committed data set")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sandbox = Sandbox::new(SandboxConfig::default())
        .await
        .expect("python3 runs here");
    let mut with_tests = 0;
    let mut failures = Vec::new();
    for p in &problems {
        let Some(tests) = public_tests(&p.prompt, &p.entry_point) else {
            continue;
        };
        with_tests += 1;
        let run = sandbox
            .run_tests(&p.canonical_program(), &tests, &p.entry_point)
            .await
            .unwrap();
        // The docstrings of these two are wrong: HumanEval/47's median
        // example says 15.0 (it is 8.0), HumanEval/148's says ("Venus"), a
        // string, for a one-element tuple.
        if !run.passed && !["HumanEval/47", "HumanEval/148"].contains(&p.task_id.as_str()) {
            failures.push(format!("{}: {}", p.task_id, run.score().reason));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Most prompts show examples; a parser regression shows up here.
    assert!(
        with_tests >= 130,
        "only {with_tests} of {} prompts",
        problems.len()
    );
}
