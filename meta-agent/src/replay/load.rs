//! Reading a data set directory and checking that its files agree.
//!
//! Every error names the file, and the line for JSON Lines files or the
//! element path (`[3].role`) for JSON files, so a broken data set is fixed
//! without guessing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::cost::Price;
use super::{Prices, Problem, ReplayDataset, ReplayRun, Run, RunRole, RunTask};
use crate::MetaAgentError;

pub(super) fn load(dir: &Path) -> Result<ReplayDataset, MetaAgentError> {
    let (problems, problem_index) = load_problems(&dir.join("problems.jsonl"))?;

    let prices_path = dir.join("prices.json");
    let prices: Prices = read_json(&prices_path)?;
    for (model, price) in &prices.prices_usd_per_1m_tokens {
        for (direction, x) in [("input", price.input), ("output", price.output)] {
            if !x.is_finite() || x < 0.0 {
                return Err(dataset(
                    &prices_path,
                    None,
                    format!(
                        "prices_usd_per_1m_tokens.{model}.{direction}: must be a finite number, at least 0"
                    ),
                ));
            }
        }
    }

    let runs_path = dir.join("runs.json");
    let runs: Vec<Run> = read_json(&runs_path)?;
    let mut run_index = HashMap::new();
    for (i, run) in runs.iter().enumerate() {
        check_run(&runs_path, i, run)?;
        if let Some(first) = run_index.insert(run.id.clone(), i) {
            return Err(dataset(
                &runs_path,
                None,
                format!("[{i}].id: duplicate run id `{}` (also [{first}])", run.id),
            ));
        }
    }

    let median = Price::median(prices.prices_usd_per_1m_tokens.values());
    let mut loaded = Vec::with_capacity(runs.len());
    for (i, run) in runs.into_iter().enumerate() {
        if let Some(seed) = &run.revises
            && (!run_index.contains_key(seed) || *seed == run.id)
        {
            return Err(dataset(
                &runs_path,
                None,
                format!("[{i}].revises: `{seed}` is not another run in runs.json"),
            ));
        }
        let price = match prices.prices_usd_per_1m_tokens.get(&run.model) {
            Some(listed) => Price::listed(*listed),
            None => {
                let median = median.ok_or_else(|| {
                    dataset(
                        &prices_path,
                        None,
                        format!("lists no models, so run `{}` cannot be priced", run.id),
                    )
                })?;
                tracing::warn!(run = %run.id, model = %run.model, "model not in prices.json; charging the median price");
                median
            }
        };
        let tasks_path = dir.join("runs").join(format!("{}.jsonl", run.id));
        let tasks = load_tasks(&tasks_path, &run, &problem_index)?;
        let task_index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.task_id.clone(), i))
            .collect();
        loaded.push(ReplayRun {
            run,
            tasks,
            price,
            task_index,
        });
    }

    // A revise run answers from its seed's completion, so the seed must
    // cover every task the revise run does.
    for run in &loaded {
        let Some(seed) = run.run.revises.as_deref().map(|id| &loaded[run_index[id]]) else {
            continue;
        };
        if let Some(task) = run.tasks.iter().find(|t| seed.task(&t.task_id).is_none()) {
            return Err(dataset(
                &dir.join("runs").join(format!("{}.jsonl", seed.run.id)),
                None,
                format!("has no `{}`, which run `{}` revises", task.task_id, run.run.id),
            ));
        }
    }

    Ok(ReplayDataset {
        dir: dir.to_path_buf(),
        problems,
        problem_index,
        runs: loaded,
        run_index,
        prices,
    })
}

type ProblemIndex = HashMap<String, usize>;

fn load_problems(path: &Path) -> Result<(Vec<Problem>, ProblemIndex), MetaAgentError> {
    let mut problems = Vec::new();
    let mut index = HashMap::new();
    let mut lines = HashMap::new();
    for (line, problem) in read_jsonl::<Problem>(path)? {
        for (field, value) in [
            ("task_id", &problem.task_id),
            ("entry_point", &problem.entry_point),
        ] {
            if value.trim().is_empty() {
                return Err(dataset(path, Some(line), format!("{field}: must not be empty")));
            }
        }
        if let Some(first) = lines.insert(problem.task_id.clone(), line) {
            return Err(dataset(
                path,
                Some(line),
                format!("duplicate task_id `{}` (also line {first})", problem.task_id),
            ));
        }
        index.insert(problem.task_id.clone(), problems.len());
        problems.push(problem);
    }
    Ok((problems, index))
}

/// Rules on one element of runs.json that need no other file.
fn check_run(path: &Path, i: usize, run: &Run) -> Result<(), MetaAgentError> {
    let fail = |message: String| Err(dataset(path, None, format!("[{i}].{message}")));
    // The id becomes a file name.
    let safe = !run.id.is_empty()
        && run.id.len() <= 128
        && !run.id.starts_with('.')
        && run
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !safe {
        return fail(format!(
            "id: `{}` is not a safe file name (1 to 128 of letters, digits, '.', '_', '-'; no leading '.')",
            run.id
        ));
    }
    match (run.role, &run.revises) {
        (RunRole::Revise, None) => return fail("revises: a revise run must name its seed run".into()),
        (RunRole::Generate, Some(_)) => return fail("revises: only revise runs have a seed run".into()),
        _ => {}
    }
    if !(0.0..=1.0).contains(&run.recorded_pass_rate) {
        return fail(format!(
            "recorded_pass_rate: must be between 0 and 1, found {}",
            run.recorded_pass_rate
        ));
    }
    Ok(())
}

fn load_tasks(path: &Path, run: &Run, problems: &ProblemIndex) -> Result<Vec<RunTask>, MetaAgentError> {
    let mut tasks = Vec::new();
    let mut lines = HashMap::new();
    for (line, task) in read_jsonl::<RunTask>(path)? {
        if !problems.contains_key(&task.task_id) {
            return Err(dataset(
                path,
                Some(line),
                format!("task_id: `{}` is not in problems.jsonl", task.task_id),
            ));
        }
        if let Some(first) = lines.insert(task.task_id.clone(), line) {
            return Err(dataset(
                path,
                Some(line),
                format!("duplicate task_id `{}` (also line {first})", task.task_id),
            ));
        }
        tasks.push(task);
    }
    if tasks.len() != run.tasks {
        return Err(dataset(
            path,
            None,
            format!(
                "has {} tasks; runs.json announces {} for run `{}`",
                tasks.len(),
                run.tasks,
                run.id
            ),
        ));
    }
    Ok(tasks)
}

fn dataset(path: &Path, line: Option<usize>, message: String) -> MetaAgentError {
    MetaAgentError::Dataset {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn read_text(path: &Path) -> Result<String, MetaAgentError> {
    std::fs::read_to_string(path).map_err(|source| MetaAgentError::Io {
        path: PathBuf::from(path),
        source,
    })
}

/// A whole JSON file; the error names the element path and the line.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, MetaAgentError> {
    let text = read_text(path)?;
    parse(&text).map_err(|(line, message)| dataset(path, line, message))
}

/// A JSON Lines file as `(line number, value)`; blank lines are skipped.
fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, MetaAgentError> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = parse(line).map_err(|(_, message)| dataset(path, Some(i + 1), message))?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// Parses with the path of the failing element; returns the line serde
/// stopped at and the message.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, (Option<usize>, String)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        let mut message = inner.to_string();
        // The line is reported separately; the column is noise.
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
        let at = e.path().to_string();
        let message = if at == "." {
            message
        } else {
            format!("{at}: {message}")
        };
        (Some(inner.line()).filter(|&l| l > 0), message)
    })?;
    de.end().map_err(|e| (Some(e.line()), e.to_string()))?;
    Ok(value)
}
