//! Wire types of the workflow designer: `POST /v1/workflows/design` and
//! `GET /v1/designer/stats`.
//!
//! The designer instantiates a [`Pattern`] for one query, binds its main
//! steps to agents the router found, splits the budget over the steps and
//! answers with the [`WorkflowSpec`] and the alternatives it weighed, so a
//! caller can see why this workflow and not another.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::route::{Constraints, MAX_QUERY_CHARS};
use crate::validate::{FieldError, Problems, text};
use crate::workflow::WorkflowSpec;

/// Longest `task.language`, in characters.
pub const LANGUAGE_MAX: usize = 32;

/// A workflow shape the designer can instantiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum Pattern {
    /// One agent answers.
    #[serde(rename = "single")]
    Single,
    /// Three agents answer; the most common answer wins.
    #[serde(rename = "vote-of-3")]
    VoteOf3,
    /// One agent answers; while the tests fail, another repairs it (two
    /// rounds at most).
    #[serde(rename = "generate-test-revise")]
    GenerateTestRevise,
    /// One agent answers, another reviews it, a third revises it.
    #[serde(rename = "generate-review-revise")]
    GenerateReviewRevise,
    /// Three agents answer; a judge picks the best.
    #[serde(rename = "ensemble-judge")]
    EnsembleJudge,
    /// One agent plans, another solves with the plan; a failing solution is
    /// repaired once.
    #[serde(rename = "plan-solve-verify")]
    PlanSolveVerify,
    /// One agent answers; if the tests fail, a second agent answers afresh
    /// with the failed answer and the test report as context (a cascade).
    #[serde(rename = "generate-test-escalate")]
    GenerateTestEscalate,
}

impl Pattern {
    pub const ALL: [Pattern; 7] = [
        Pattern::Single,
        Pattern::VoteOf3,
        Pattern::GenerateTestRevise,
        Pattern::GenerateReviewRevise,
        Pattern::EnsembleJudge,
        Pattern::PlanSolveVerify,
        Pattern::GenerateTestEscalate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Single => "single",
            Pattern::VoteOf3 => "vote-of-3",
            Pattern::GenerateTestRevise => "generate-test-revise",
            Pattern::GenerateReviewRevise => "generate-review-revise",
            Pattern::EnsembleJudge => "ensemble-judge",
            Pattern::PlanSolveVerify => "plan-solve-verify",
            Pattern::GenerateTestEscalate => "generate-test-escalate",
        }
    }
}

/// `POST /v1/workflows/design`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignRequest {
    /// The task in words.
    #[schemars(length(min = 1, max = MAX_QUERY_CHARS))]
    pub query: String,
    /// Hard constraints every agent of the workflow satisfies.
    #[serde(default)]
    pub constraints: Constraints,
    /// Most the whole workflow may spend, in US dollars.
    #[schemars(range(min = 0.0))]
    pub budget_usd: f64,
    /// What kind of answer the task wants; without it the task is prose
    /// without tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskProfile>,
    /// Choose by the posterior mean instead of a Thompson sample: no
    /// exploration (evaluation).
    #[serde(default)]
    pub greedy: bool,
}

/// What the answer is and whether it can be tested; the designer derives
/// the roles of the workflow's steps from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskProfile {
    pub kind: TaskKind,
    /// Programming language of a `code` answer, e.g. `Python`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = LANGUAGE_MAX))]
    pub language: Option<String>,
    /// Whether the executor can test an answer (the task's own tests), which
    /// patterns that test and repair need.
    #[serde(default)]
    pub tests: bool,
}

/// Kind of answer a task wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Prose or data.
    #[default]
    Text,
    /// A program.
    Code,
}

/// Checks the rules serde cannot: every problem, with its field path.
pub fn validate_design_request(req: &DesignRequest) -> Result<(), Vec<FieldError>> {
    let mut p = Problems::default();
    p.check(
        || "query".into(),
        text::prose(&req.query, 1, MAX_QUERY_CHARS).or_else(|| {
            req.query
                .trim()
                .is_empty()
                .then(|| "must not be blank".to_string())
        }),
    );
    p.check(
        || "budget_usd".into(),
        if !req.budget_usd.is_finite() {
            Some("must be a finite number".to_string())
        } else if req.budget_usd < 0.0 {
            Some("must not be negative".to_string())
        } else {
            None
        },
    );
    if let Some(task) = &req.task
        && let Some(language) = &task.language
    {
        p.check(
            || "task.language".into(),
            if task.kind != TaskKind::Code {
                Some("applies only to `code` tasks".to_string())
            } else {
                text::token(
                    language,
                    1,
                    LANGUAGE_MAX,
                    |c| c.is_ascii_alphanumeric() || " +#._-".contains(c),
                    "letters, digits, spaces, '+', '#', '.', '_' and '-'",
                )
            },
        );
    }
    if p.0.is_empty() { Ok(()) } else { Err(p.0) }
}

/// Answer to `POST /v1/workflows/design`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignResponse {
    /// The workflow to run: main steps pinned to agents, budgets split.
    pub spec: WorkflowSpec,
    pub pattern: Pattern,
    /// The chosen arm: the pattern and the agents pinned to its main steps,
    /// e.g. `generate-test-revise(acme/coder@=1.0.0, acme/fixer@=2.1.0)`.
    pub arm: String,
    /// What the workflow is expected to spend, in US dollars.
    pub expected_cost_usd: f64,
    /// Choosing and instantiating, in microseconds (no embedding, no routing).
    pub design_micros: u64,
    /// Routing the workflow's roles, in microseconds.
    pub route_micros: u64,
    /// Embedding the query and any role text not cached, in microseconds.
    pub embed_micros: u64,
    /// Every arm considered, the chosen one included: arms within budget by
    /// value (best first), then the others by expected cost.
    pub alternatives: Vec<ArmValue>,
}

/// How the designer valued one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArmValue {
    pub arm: String,
    pub pattern: Pattern,
    pub expected_cost_usd: f64,
    /// Arms whose expected cost does not fit the budget are never chosen
    /// (and not valued).
    pub fits_budget: bool,
    /// Estimated score in [0, 1]: a Thompson sample of the posterior, or its
    /// mean when greedy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<f64>,
    /// `success − λ·expected cost − μ·nodes`, which the designer maximises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Observations behind the estimate: similarity-weighted past cases of
    /// this arm near the query, plus its discounted global record.
    pub evidence: f64,
}

/// Answer to `GET /v1/designer/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignerStats {
    /// Cases in the memory.
    pub cases: usize,
    /// Most cases kept; the oldest are evicted beyond it.
    pub capacity: usize,
    /// λ of the reward `score − λ·cost − μ·nodes`, per US dollar.
    pub lambda_per_usd: f64,
    /// μ of the reward, per node.
    pub mu_per_node: f64,
    /// Per pattern, in pattern order.
    pub patterns: Vec<PatternStats>,
    /// Per arm, most cases first.
    pub arms: Vec<ArmStats>,
}

/// Recorded outcomes of one pattern, whatever its agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatternStats {
    pub pattern: Pattern,
    pub cases: usize,
    pub mean_reward: f64,
    pub mean_score: f64,
    pub mean_cost_usd: f64,
}

/// Recorded outcomes of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArmStats {
    pub arm: String,
    pub pattern: Pattern,
    pub cases: usize,
    pub mean_reward: f64,
    pub mean_score: f64,
    pub mean_cost_usd: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> DesignRequest {
        DesignRequest {
            query: "Write a function that reverses a list.".into(),
            constraints: Constraints::default(),
            budget_usd: 0.1,
            task: Some(TaskProfile {
                kind: TaskKind::Code,
                language: Some("Python".into()),
                tests: true,
            }),
            greedy: false,
        }
    }

    #[test]
    fn patterns_serialise_as_their_names() {
        for p in Pattern::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn a_good_request_passes_and_each_bad_field_is_named() {
        assert_eq!(validate_design_request(&request()), Ok(()));
        let mut bad = request();
        bad.query = "  \n ".into();
        bad.budget_usd = f64::NAN;
        bad.task = Some(TaskProfile {
            kind: TaskKind::Text,
            language: Some("Python".into()),
            tests: false,
        });
        let fields: Vec<String> = validate_design_request(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["query", "budget_usd", "task.language"]);
        let mut bad = request();
        bad.budget_usd = -1.0;
        bad.task.as_mut().unwrap().language = Some("py\u{7}".into());
        assert_eq!(validate_design_request(&bad).unwrap_err().len(), 2);
    }

    #[test]
    fn unknown_request_fields_are_rejected() {
        let body = r#"{"query": "q", "budget_usd": 1, "budget": 2}"#;
        assert!(serde_json::from_str::<DesignRequest>(body).is_err());
        let body = r#"{"query": "q", "budget_usd": 1, "task": {"kind": "code", "test": true}}"#;
        assert!(serde_json::from_str::<DesignRequest>(body).is_err());
    }
}
