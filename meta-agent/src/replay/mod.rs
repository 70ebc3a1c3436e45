//! Replay data sets: real recorded agent runs, served again as agents.
//!
//! A data set in the format of `shared/datasets/humaneval` (its README says
//! what every field means) holds benchmark problems and, per run, the code a
//! real system produced for each problem, with its token counts where
//! recorded:
//!
//! ```text
//! problems.jsonl     one Problem per line
//! runs.json          an array of Run
//! runs/<id>.jsonl    one RunTask per line, for each run in runs.json
//! prices.json        list prices per model, USD per 1M input/output tokens
//! ```
//!
//! Replaying lets the meta-agent be developed and evaluated against real
//! answers, costs and failure modes without calling any model: a generate run
//! answers with what it recorded, a revise run repairs exactly the code it
//! was recorded repairing ([`answer`]). Each run becomes an agent with a
//! valid manifest ([`manifest_for_run`]) whose price and latency come from
//! its recorded tokens ([`cost`]).
//!
//! Everything here is pure and synchronous: [`ReplayDataset::load`] reads a
//! few megabytes once at start-up (call it through `spawn_blocking` from
//! async code), and answering is a lookup.

pub mod answer;
pub mod cost;
mod load;
mod manifest;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use answer::{Answer, AnswerSource, normalize_code, same_code};
pub use cost::{LatencyModel, Price, PriceSource, TaskCost, TokenSource};
pub use manifest::manifest_for_run;

use crate::MetaAgentError;

/// One benchmark problem (a line of `problems.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `HumanEval/0` …
    pub task_id: String,
    /// Signature and docstring.
    pub prompt: String,
    /// Name of the function the tests call.
    pub entry_point: String,
    /// Python source defining `check(candidate)`.
    pub test: String,
    /// The reference body.
    pub canonical_solution: String,
}

impl Problem {
    /// The reference solution as a whole program (prompt plus body), ready
    /// for the sandbox.
    pub fn canonical_program(&self) -> String {
        format!("{}{}", self.prompt, self.canonical_solution)
    }
}

/// What a run's agent does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunRole {
    /// Writes code from the problem prompt.
    Generate,
    /// Debugs the code of the run named in `revises`.
    Revise,
}

/// One recorded run (an element of `runs.json`). Fields this crate does not
/// know are ignored, so newer data sets still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Short slug; also the file name `runs/<id>.jsonl`.
    pub id: String,
    /// Model name as the source states it (`unstated` when it does not).
    pub model: String,
    /// `direct`, `cot`, `mapcoder`, `ldb-debug`, …
    pub strategy: String,
    pub role: RunRole,
    /// The seed run a revise run debugs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revises: Option<String>,
    /// `owner/repo path` of the source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// Licence of the source repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Lines in `runs/<id>.jsonl`.
    pub tasks: usize,
    /// Share of tasks the source marked solved, 0 to 1.
    pub recorded_pass_rate: f64,
    /// Whether per-task prompt and completion token counts exist.
    #[serde(default)]
    pub tokens_recorded: bool,
    /// Strategy settings, as the source gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One task of a run (a line of `runs/<id>.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTask {
    pub task_id: String,
    /// The full, self-contained Python source the run produced.
    pub completion: String,
    /// Summed over the task's API calls; `None` when not recorded.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// Prompt plus completion tokens, or, for LDB debugging runs, LDB's own
    /// count of the debugging conversation (0 when no model call was made).
    #[serde(default)]
    pub tokens_total: Option<u64>,
    /// Whether the source recorded the task as solved.
    pub recorded_passed: bool,
    /// The source stored only a body and the problem prompt was put in front.
    #[serde(default)]
    pub prompt_prepended: bool,
}

/// `prices.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Model name to list price.
    pub prices_usd_per_1m_tokens: BTreeMap<String, ModelPrice>,
}

/// List price of one model, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
}

/// A run with its tasks and resolved price.
#[derive(Debug, Clone)]
pub struct ReplayRun {
    pub run: Run,
    /// In file order.
    pub tasks: Vec<RunTask>,
    /// The price its tokens are charged at.
    pub price: Price,
    task_index: HashMap<String, usize>,
}

impl ReplayRun {
    pub fn id(&self) -> &str {
        &self.run.id
    }

    /// The recorded task, if the run covers it.
    pub fn task(&self, task_id: &str) -> Option<&RunTask> {
        self.task_index.get(task_id).map(|&i| &self.tasks[i])
    }
}

/// A loaded, cross-checked data set.
#[derive(Debug, Clone)]
pub struct ReplayDataset {
    dir: PathBuf,
    problems: Vec<Problem>,
    problem_index: HashMap<String, usize>,
    runs: Vec<ReplayRun>,
    run_index: HashMap<String, usize>,
    prices: Prices,
}

impl ReplayDataset {
    /// Reads and cross-checks a data set directory. Errors name the file and,
    /// for JSON Lines files, the line.
    ///
    /// Checked: every file parses; task ids and run ids are unique; run ids
    /// are safe file names; each run's file has the `tasks` lines runs.json
    /// announces, all for known problems; a revise run names an existing seed
    /// run that covers each of its tasks; prices are finite and not negative.
    pub fn load(dir: impl AsRef<Path>) -> Result<ReplayDataset, MetaAgentError> {
        load::load(dir.as_ref())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// In file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn problem(&self, task_id: &str) -> Option<&Problem> {
        self.problem_index.get(task_id).map(|&i| &self.problems[i])
    }

    /// In `runs.json` order.
    pub fn runs(&self) -> &[ReplayRun] {
        &self.runs
    }

    pub fn run(&self, id: &str) -> Option<&ReplayRun> {
        self.run_index.get(id).map(|&i| &self.runs[i])
    }

    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    fn run_or_err(&self, id: &str) -> Result<&ReplayRun, MetaAgentError> {
        self.run(id)
            .ok_or_else(|| MetaAgentError::UnknownRun { run: id.to_string() })
    }

    /// The seed run of a revise run; `None` for a generate run. Loading
    /// checked that it exists.
    pub fn seed_of(&self, run: &ReplayRun) -> Option<&ReplayRun> {
        run.run.revises.as_deref().and_then(|id| self.run(id))
    }

    /// What `run_id` answers for `task_id`. A generate run ignores `code`; a
    /// revise run needs it (the code it is asked to revise), see
    /// [`answer::revise`].
    pub fn answer<'a>(
        &'a self,
        run_id: &str,
        task_id: &str,
        code: Option<&'a str>,
    ) -> Result<Answer<'a>, MetaAgentError> {
        let run = self.run_or_err(run_id)?;
        let task = run.task(task_id).ok_or_else(|| MetaAgentError::UnknownTask {
            run: run_id.to_string(),
            task_id: task_id.to_string(),
        })?;
        match run.run.role {
            RunRole::Generate => Ok(answer::generate(task)),
            RunRole::Revise => {
                let code = code.ok_or_else(|| MetaAgentError::MissingCode {
                    run: run_id.to_string(),
                })?;
                // Loading checked that the seed exists and covers the task.
                let seed = self
                    .seed_of(run)
                    .and_then(|seed| seed.task(task_id))
                    .ok_or_else(|| MetaAgentError::UnknownTask {
                        run: run.run.revises.clone().unwrap_or_default(),
                        task_id: task_id.to_string(),
                    })?;
                Ok(answer::revise(task, seed, code))
            }
        }
    }

    /// Tokens and price of `run_id`'s recorded answer to `task_id`, see
    /// [`cost::task_cost`].
    pub fn task_cost(&self, run_id: &str, task_id: &str) -> Result<TaskCost, MetaAgentError> {
        let run = self.run_or_err(run_id)?;
        let task = run.task(task_id).ok_or_else(|| MetaAgentError::UnknownTask {
            run: run_id.to_string(),
            task_id: task_id.to_string(),
        })?;
        Ok(self.cost_of(run, task))
    }

    /// The cost of every task of a run, in file order.
    pub fn run_costs(&self, run: &ReplayRun) -> Vec<TaskCost> {
        run.tasks.iter().map(|task| self.cost_of(run, task)).collect()
    }

    fn cost_of(&self, run: &ReplayRun, task: &RunTask) -> TaskCost {
        // Loading checked both lookups; empty text only lowers an estimate.
        let prompt = self.problem(&task.task_id).map_or("", |p| p.prompt.as_str());
        let seed_code = self
            .seed_of(run)
            .and_then(|seed| seed.task(&task.task_id))
            .map(|t| t.completion.as_str());
        cost::task_cost(&run.price, task, prompt, seed_code)
    }
}
