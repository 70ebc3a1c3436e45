//! The replay data set loader, cost model, answer rules and manifests, on the
//! fixture slice of the real HumanEval replay data set.

use std::fs;
use std::path::{Path, PathBuf};

use switchyard_meta_agent::MetaAgentError;
use switchyard_meta_agent::replay::cost::estimate_tokens;
use switchyard_meta_agent::replay::{
    AnswerSource, PriceSource, ReplayDataset, RunRole, TokenSource, manifest_for_run,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/humaneval")
}

fn dataset() -> ReplayDataset {
    ReplayDataset::load(fixture()).expect("the fixture loads")
}

/// A writable copy of the fixture, to break one thing at a time.
fn copy_fixture() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(), dir.path());
    dir
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = fs::read_to_string(path).unwrap();
    fs::write(path, f(text)).unwrap();
}

/// Replaces `from` by `to` in the runs.json line of run `id` (the fixture has
/// one run per line).
fn edit_run(dir: &Path, id: &str, from: &str, to: &str) {
    edit(&dir.join("runs.json"), |t| {
        let needle = format!(r#""id": "{id}""#);
        t.lines()
            .map(|l| {
                if l.contains(&needle) {
                    l.replace(from, to)
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect()
    });
}

fn assert_close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn loads_the_fixture() {
    let d = dataset();
    let tasks: Vec<&str> = d.problems().iter().map(|p| p.task_id.as_str()).collect();
    assert_eq!(
        tasks,
        [
            "HumanEval/0",
            "HumanEval/1",
            "HumanEval/2",
            "HumanEval/6",
            "HumanEval/32",
            "HumanEval/54"
        ]
    );
    assert_eq!(
        d.problem("HumanEval/6").unwrap().entry_point,
        "parse_nested_parens"
    );

    let runs: Vec<&str> = d.runs().iter().map(|r| r.id()).collect();
    assert_eq!(
        runs,
        [
            "gpt35-1106-cot",
            "gpt4t-mapcoder",
            "gpt4-reflexion",
            "gpt35-0613-direct",
            "gpt35-0613-ldb"
        ]
    );
    for run in d.runs() {
        assert_eq!(run.tasks.len(), 6, "{}", run.id());
        assert_eq!(run.price.source, PriceSource::Listed, "{}", run.id());
    }

    let ldb = d.run("gpt35-0613-ldb").unwrap();
    assert_eq!(ldb.run.role, RunRole::Revise);
    assert_eq!(d.seed_of(ldb).unwrap().id(), "gpt35-0613-direct");
    assert_eq!(ldb.run.params, Some(serde_json::json!({ "level": "block" })));
    assert!(d.seed_of(d.run("gpt35-1106-cot").unwrap()).is_none());

    let cot = d.run("gpt35-1106-cot").unwrap();
    assert_eq!((cot.price.input_per_1m, cot.price.output_per_1m), (1.0, 2.0));
    let t = cot.task("HumanEval/0").unwrap();
    assert_eq!(
        (t.prompt_tokens, t.completion_tokens, t.tokens_total),
        (Some(1796), Some(62), Some(1858))
    );
    assert!(cot.task("HumanEval/2").unwrap().prompt_prepended);
    assert!(cot.task("HumanEval/99").is_none());
}

#[test]
fn costs_follow_the_best_token_record() {
    let d = dataset();

    // Both counts recorded: priced directly, $1 in and $2 out per 1M.
    let c = d.task_cost("gpt35-1106-cot", "HumanEval/0").unwrap();
    assert_eq!(
        (c.prompt_tokens, c.completion_tokens, c.tokens),
        (1796, 62, TokenSource::Recorded)
    );
    assert_close(c.usd, (1796.0 * 1.0 + 62.0 * 2.0) / 1e6);

    // LDB made no model call for a seed that already passed: free.
    let c = d.task_cost("gpt35-0613-ldb", "HumanEval/0").unwrap();
    assert_eq!((c.prompt_tokens + c.completion_tokens, c.usd), (0, 0.0));
    assert_eq!(c.tokens, TokenSource::RecordedTotal);

    // Only LDB's total: split by the completion's length, still summing to it.
    let ldb = d.run("gpt35-0613-ldb").unwrap();
    let task = ldb.task("HumanEval/6").unwrap();
    let c = d.task_cost("gpt35-0613-ldb", "HumanEval/6").unwrap();
    assert_eq!(c.prompt_tokens + c.completion_tokens, 30095);
    assert_eq!(c.completion_tokens, estimate_tokens(&task.completion));
    assert_close(
        c.usd,
        (c.prompt_tokens as f64 * 1.5 + c.completion_tokens as f64 * 2.0) / 1e6,
    );

    // Nothing recorded: 4 characters a token, at GPT-4's $30/$60.
    let problem = d.problem("HumanEval/0").unwrap();
    let completion = &d
        .run("gpt4-reflexion")
        .unwrap()
        .task("HumanEval/0")
        .unwrap()
        .completion;
    let c = d.task_cost("gpt4-reflexion", "HumanEval/0").unwrap();
    let (p, o) = (
        problem.prompt.chars().count().div_ceil(4) as u64,
        completion.chars().count().div_ceil(4) as u64,
    );
    assert_eq!(
        (c.prompt_tokens, c.completion_tokens, c.tokens),
        (p, o, TokenSource::Estimated)
    );
    assert_close(c.usd, (p as f64 * 30.0 + o as f64 * 60.0) / 1e6);

    assert_eq!(d.run_costs(d.run("gpt4t-mapcoder").unwrap()).len(), 6);
    assert!(matches!(
        d.task_cost("nope", "HumanEval/0"),
        Err(MetaAgentError::UnknownRun { .. })
    ));
}

#[test]
fn a_model_missing_from_prices_is_charged_the_median() {
    let dir = copy_fixture();
    edit_run(
        dir.path(),
        "gpt4-reflexion",
        r#""model": "gpt-4","#,
        r#""model": "mystery-model","#,
    );
    let d = ReplayDataset::load(dir.path()).unwrap();
    let run = d.run("gpt4-reflexion").unwrap();
    // Medians of the 9 listed models: inputs 0.3 … 1.5 … 30, outputs 0.3 … 2 … 60.
    assert_eq!(
        (run.price.input_per_1m, run.price.output_per_1m, run.price.source),
        (1.5, 2.0, PriceSource::Median)
    );
    let manifest = manifest_for_run(run, &d, "replay", "http://127.0.0.1:9000/agents/x").unwrap();
    assert_eq!(
        manifest.metadata["replay.price"],
        "median of prices.json (model not listed)"
    );
}

#[test]
fn a_revise_run_repairs_only_the_code_it_was_recorded_repairing() {
    let d = dataset();
    let seed = d.run("gpt35-0613-direct").unwrap().task("HumanEval/6").unwrap();
    let repaired = d.run("gpt35-0613-ldb").unwrap().task("HumanEval/6").unwrap();
    assert_ne!(seed.completion, repaired.completion);

    let a = d
        .answer("gpt35-0613-ldb", "HumanEval/6", Some(&seed.completion))
        .unwrap();
    assert_eq!(
        (a.code, a.source),
        (repaired.completion.as_str(), AnswerSource::Recorded)
    );

    // Whitespace that cannot change the program does not matter…
    let reformatted = seed.completion.replace('\n', "  \r\n\n");
    let a = d
        .answer("gpt35-0613-ldb", "HumanEval/6", Some(&reformatted))
        .unwrap();
    assert_eq!(a.source, AnswerSource::Recorded);

    // …but any other code comes back unchanged: the run never saw it.
    let other = &d
        .run("gpt35-1106-cot")
        .unwrap()
        .task("HumanEval/6")
        .unwrap()
        .completion;
    let a = d.answer("gpt35-0613-ldb", "HumanEval/6", Some(other)).unwrap();
    assert_eq!((a.code, a.source), (other.as_str(), AnswerSource::UnchangedInput));
    let reindented = seed.completion.replace("    ", "  ");
    let a = d
        .answer("gpt35-0613-ldb", "HumanEval/6", Some(&reindented))
        .unwrap();
    assert_eq!(a.source, AnswerSource::UnchangedInput);

    assert!(matches!(
        d.answer("gpt35-0613-ldb", "HumanEval/6", None),
        Err(MetaAgentError::MissingCode { run }) if run == "gpt35-0613-ldb"
    ));
}

#[test]
fn a_generate_run_answers_with_its_completion() {
    let d = dataset();
    let cot = d.run("gpt35-1106-cot").unwrap().task("HumanEval/1").unwrap();
    for code in [None, Some("def anything(): pass")] {
        let a = d.answer("gpt35-1106-cot", "HumanEval/1", code).unwrap();
        assert_eq!(
            (a.code, a.source),
            (cot.completion.as_str(), AnswerSource::Recorded)
        );
    }
    assert!(matches!(
        d.answer("gpt35-1106-cot", "HumanEval/99", None),
        Err(MetaAgentError::UnknownTask { run, task_id }) if run == "gpt35-1106-cot" && task_id == "HumanEval/99"
    ));
}

#[test]
fn every_run_becomes_a_valid_manifest() {
    let d = dataset();
    for run in d.runs() {
        let m = manifest_for_run(run, &d, "replay", "http://127.0.0.1:9000/agents/x").unwrap();
        // Through the same parser the server runs on a publish.
        let body = serde_json::to_vec(&m).unwrap();
        let parsed =
            switchyard_schemas::parse_manifest(&body).unwrap_or_else(|e| panic!("{}: {e}", run.id()));
        // serde_json's default float parsing may be one ulp off; the rest
        // survives exactly.
        assert_eq!(
            (&parsed.name, &parsed.skills, &parsed.metadata),
            (&m.name, &m.skills, &m.metadata)
        );
        assert!((parsed.budget.cost_per_call_usd - m.budget.cost_per_call_usd).abs() < 1e-15);

        assert_eq!(m.name, format!("replay/{}", run.id()));
        let skill = &m.skills[0];
        let (id, name) = match run.run.role {
            RunRole::Generate => (
                "python-codegen",
                "Generate Python code from a function signature and docstring",
            ),
            RunRole::Revise => ("python-debug", "Debug and repair Python code"),
        };
        assert_eq!((skill.id.as_str(), skill.name.as_str()), (id, name));
        assert_eq!(skill.examples.len(), 3);
        assert!(skill.tags.contains(&format!("strategy:{}", run.run.strategy)));

        let costs = d.run_costs(run);
        let mean = costs.iter().map(|c| c.usd).sum::<f64>() / costs.len() as f64;
        assert_close(m.budget.cost_per_call_usd, mean);
        let latency = m.budget.latency_ms;
        assert!(
            latency.p50 >= 500 && latency.p50 <= latency.p95,
            "{}: {latency:?}",
            run.id()
        );
        assert_eq!(m.metadata["replay.licence"], run.run.licence.clone().unwrap());
    }

    // How the tokens behind the cost were obtained is stated.
    for (run, tokens) in [
        ("gpt4t-mapcoder", "recorded"),
        (
            "gpt35-0613-ldb",
            "total recorded, split by estimated completion length",
        ),
        ("gpt4-reflexion", "estimated from text length"),
    ] {
        let m = manifest_for_run(d.run(run).unwrap(), &d, "replay", "http://h/a").unwrap();
        assert_eq!(m.metadata["replay.tokens"], tokens);
        assert_eq!(m.metadata["replay.price"], "listed in prices.json");
    }

    // A tenfold pricier model on the same tasks must look pricier.
    let cot = manifest_for_run(d.run("gpt35-1106-cot").unwrap(), &d, "replay", "http://h/a").unwrap();
    let mapcoder = manifest_for_run(d.run("gpt4t-mapcoder").unwrap(), &d, "replay", "http://h/a").unwrap();
    assert!(mapcoder.budget.cost_per_call_usd > 10.0 * cot.budget.cost_per_call_usd);

    assert_eq!(
        cot.skills[0].examples[0],
        "Implement `def has_close_elements(numbers: List[float], threshold: float) -> bool`: \
         Check if in given list of numbers, are any two numbers closer to each other than"
    );
}

#[test]
fn an_invalid_manifest_is_refused_with_its_rule() {
    let d = dataset();
    let run = d.run("gpt4-reflexion").unwrap();
    let err = manifest_for_run(run, &d, "Not A Namespace", "ftp://example.com").unwrap_err();
    let MetaAgentError::InvalidManifest { run, source } = err else {
        panic!("expected InvalidManifest, got {err}");
    };
    assert_eq!(run, "gpt4-reflexion");
    let fields: Vec<&str> = source.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["name", "endpoint.url"]);
}

#[test]
fn unknown_fields_are_tolerated() {
    let dir = copy_fixture();
    edit_run(
        dir.path(),
        "gpt35-1106-cot",
        r#""strategy""#,
        r#""added_later": [1, 2], "strategy""#,
    );
    edit(&dir.path().join("runs/gpt4-reflexion.jsonl"), |t| {
        t.replace(r#""task_id": "#, r#""judge_score": 0.5, "task_id": "#)
    });
    let d = ReplayDataset::load(dir.path()).unwrap();
    assert_eq!(d.run("gpt4-reflexion").unwrap().tasks.len(), 6);
}

/// Loads a copy of the fixture broken by `breakage`; returns the error.
fn broken(breakage: impl FnOnce(&Path)) -> MetaAgentError {
    let dir = copy_fixture();
    breakage(dir.path());
    ReplayDataset::load(dir.path()).expect_err("the broken data set must not load")
}

fn dataset_error(err: &MetaAgentError) -> (String, Option<usize>, String) {
    match err {
        MetaAgentError::Dataset { path, line, message } => {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            (file, *line, message.clone())
        }
        other => panic!("expected a Dataset error, got {other:?}"),
    }
}

#[test]
fn load_errors_name_the_file_the_line_and_the_field() {
    // A malformed line in a run file.
    let err = broken(|d| {
        edit(&d.join("runs/gpt4t-mapcoder.jsonl"), |t| {
            let mut lines: Vec<String> = t.lines().map(String::from).collect();
            lines[2] = lines[2].replace(r#""recorded_passed": true"#, r#""recorded_passed": "yes""#);
            lines.join("\n") + "\n"
        })
    });
    let (file, line, message) = dataset_error(&err);
    assert_eq!((file.as_str(), line), ("gpt4t-mapcoder.jsonl", Some(3)));
    assert!(
        message.starts_with("recorded_passed: invalid type: string"),
        "{message}"
    );
    assert!(
        err.to_string()
            .contains("gpt4t-mapcoder.jsonl:3: recorded_passed"),
        "{err}"
    );

    // A missing field.
    let (file, line, message) = dataset_error(&broken(|d| {
        edit(&d.join("problems.jsonl"), |t| {
            t.replacen(r#""entry_point""#, r#""entry""#, 1)
        })
    }));
    assert_eq!((file.as_str(), line), ("problems.jsonl", Some(1)));
    assert!(message.contains("missing field `entry_point`"), "{message}");

    // An unknown role, by element path.
    let (file, _, message) = dataset_error(&broken(|d| {
        edit_run(d, "gpt35-1106-cot", r#""role": "generate""#, r#""role": "plan""#)
    }));
    assert_eq!(file, "runs.json");
    assert!(
        message.starts_with("[0].role: unknown variant `plan`"),
        "{message}"
    );

    // Fewer lines than runs.json announces.
    let (file, line, message) = dataset_error(&broken(|d| {
        edit(&d.join("runs/gpt35-1106-cot.jsonl"), |t| {
            t.lines().skip(1).map(|l| format!("{l}\n")).collect()
        })
    }));
    assert_eq!((file.as_str(), line), ("gpt35-1106-cot.jsonl", None));
    assert_eq!(
        message,
        "has 5 tasks; runs.json announces 6 for run `gpt35-1106-cot`"
    );

    // A task that is not a problem.
    let (file, line, message) = dataset_error(&broken(|d| {
        edit(&d.join("runs/gpt4-reflexion.jsonl"), |t| {
            t.replacen("HumanEval/54", "HumanEval/55", 1)
        })
    }));
    assert_eq!((file.as_str(), line), ("gpt4-reflexion.jsonl", Some(6)));
    assert_eq!(message, "task_id: `HumanEval/55` is not in problems.jsonl");

    // A revise run whose seed is not in runs.json.
    let (_, _, message) = dataset_error(&broken(|d| {
        edit_run(
            d,
            "gpt35-0613-ldb",
            r#""revises": "gpt35-0613-direct""#,
            r#""revises": "gone""#,
        )
    }));
    assert_eq!(message, "[4].revises: `gone` is not another run in runs.json");

    // A run id that would leave the runs directory.
    let (_, _, message) = dataset_error(&broken(|d| {
        edit_run(
            d,
            "gpt4-reflexion",
            r#""id": "gpt4-reflexion""#,
            r#""id": "../gpt4-reflexion""#,
        )
    }));
    assert!(
        message.starts_with("[2].id: `../gpt4-reflexion` is not a safe file name"),
        "{message}"
    );

    // A seed that does not cover a task its revise run revises.
    let (file, _, message) = dataset_error(&broken(|d| {
        edit(&d.join("runs/gpt35-0613-direct.jsonl"), |t| {
            t.lines()
                .filter(|l| !l.contains(r#""HumanEval/54""#))
                .map(|l| format!("{l}\n"))
                .collect()
        });
        edit_run(d, "gpt35-0613-direct", r#""tasks": 6"#, r#""tasks": 5"#);
    }));
    assert_eq!(file, "gpt35-0613-direct.jsonl");
    assert_eq!(
        message,
        "has no `HumanEval/54`, which run `gpt35-0613-ldb` revises"
    );

    // A missing file is an I/O error with its path.
    let err = broken(|d| fs::remove_file(d.join("prices.json")).unwrap());
    let MetaAgentError::Io { path, .. } = err else {
        panic!("expected Io, got {err:?}");
    };
    assert!(path.ends_with("prices.json"));
}
