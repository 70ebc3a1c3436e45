//! The pattern library: which steps each [`Pattern`] runs, which role each
//! step's agent plays, and what each step costs in agent calls.
//!
//! Role texts are capability queries in words, derived from the task's kind
//! ([`Roles::new`]), so the same patterns serve any task the router has
//! agents for: a code task routes "debug and repair Python code that fails
//! its tests", a prose task "revise an answer using the feedback on it".
//! Only the agents differ per arm; the shapes are fixed here.
//!
//! Testing patterns test inside their repair loop (`until: tests_pass`)
//! rather than in a `test` step before it: a loop reads one input, the
//! answer, and a loop that stops once the tests pass calls its repairer
//! only when the answer fails, which is what its expected cost counts on.
//! The cascade (`generate-test-escalate`) is the same loop with `generate`
//! as its body and another generator as its agent: a second opinion paid
//! for only when the first answer fails.

use switchyard_schemas::design::{Pattern, TaskKind, TaskProfile};
use switchyard_schemas::route::RouteCandidate;
use switchyard_schemas::workflow::{Node, NodeParams, Op, ROLE_MAX, Until};

/// Agents the ensemble patterns fan out to.
pub const ENSEMBLE_N: usize = 3;
/// Repair rounds of `generate-test-revise`: a second round catches a repair
/// that fixed one failure and exposed another, a third rarely pays.
pub const REPAIR_ROUNDS: u32 = 2;
/// Repair rounds of `plan-solve-verify`, whose plan already made the first
/// answer more deliberate.
pub const VERIFY_ROUNDS: u32 = 1;
/// Fresh answers of `generate-test-escalate`: one second opinion, the step
/// of a cascade that pays; a third agent would be asked rarely and cost a
/// third slot to learn.
pub const ESCALATE_ROUNDS: u32 = 1;

/// Role of the vote step, which no agent takes.
const VOTE_ROLE: &str = "pick the most common answer among the candidates";
const JUDGE_CRITERIA: &str = "the candidate most likely to be correct and complete";
const PLAN_PROMPT: &str = "Write a short step-by-step plan for this task; do not solve it yet.";

/// What the agent of a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Generate,
    Revise,
    Review,
    Judge,
    Plan,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Generate,
        Role::Revise,
        Role::Review,
        Role::Judge,
        Role::Plan,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The role texts for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    texts: [String; 5],
}

impl Roles {
    /// For a code task every role is a template in the task's language; for
    /// prose the generate role is the query itself (on one line, clipped to
    /// a role's length), since what to write is the query.
    pub fn new(query: &str, task: &TaskProfile) -> Roles {
        let texts = match task.kind {
            TaskKind::Code => {
                let lang = task
                    .language
                    .as_deref()
                    .map(|l| format!("{} ", l.trim()))
                    .unwrap_or_default();
                [
                    format!("write {lang}code that solves a programming task"),
                    format!("debug and repair {lang}code that fails its tests"),
                    format!("review {lang}code and point out bugs"),
                    format!("judge which candidate {lang}solution is correct"),
                    format!("write a step-by-step plan for a {lang}programming task"),
                ]
            }
            TaskKind::Text => [
                one_line(query),
                "revise an answer using the feedback on it".into(),
                "review an answer and point out its errors".into(),
                "judge which candidate answer is best".into(),
                "write a step-by-step plan for answering a request".into(),
            ],
        };
        Roles { texts }
    }

    pub fn text(&self, role: Role) -> &str {
        &self.texts[role.index()]
    }
}

/// Whitespace runs to one space, control characters dropped, at most
/// [`ROLE_MAX`] characters: the one-line rule of a role.
fn one_line(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(ROLE_MAX)
        .collect()
}

/// Whether the pattern runs tests, so it needs a task with tests.
pub fn needs_tests(pattern: Pattern) -> bool {
    matches!(
        pattern,
        Pattern::GenerateTestRevise | Pattern::PlanSolveVerify | Pattern::GenerateTestEscalate
    )
}

/// A pinned step's role, and whether it is a main slot: the arm enumerates
/// the router's top candidates for a main slot and takes the top one for
/// the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub role: Role,
    pub main: bool,
}

const fn main(role: Role) -> Slot {
    Slot { role, main: true }
}

const fn top(role: Role) -> Slot {
    Slot { role, main: false }
}

/// The pinned steps' slots, main ones first. A generate agent and the agent
/// repairing its answers are both main where both appear: a repairer is
/// only as good as its fit to the code it is given.
pub fn slots(pattern: Pattern) -> &'static [Slot] {
    match pattern {
        Pattern::Single => const { &[main(Role::Generate)] },
        Pattern::VoteOf3 => &[],
        Pattern::GenerateTestRevise => const { &[main(Role::Generate), main(Role::Revise)] },
        Pattern::GenerateReviewRevise => {
            const { &[main(Role::Generate), main(Role::Revise), top(Role::Review)] }
        }
        Pattern::EnsembleJudge => const { &[main(Role::Judge)] },
        Pattern::PlanSolveVerify => const { &[main(Role::Generate), top(Role::Plan), top(Role::Revise)] },
        // The second generator is not a slot: it is the arm's escalation,
        // chosen per first generator (`arms::escalation`).
        Pattern::GenerateTestEscalate => const { &[main(Role::Generate)] },
    }
}

/// Whether the pattern's main generator comes from the single-agent pool,
/// explorers included: the patterns that cost about one generator call.
pub fn generator_pool(pattern: Pattern) -> bool {
    matches!(pattern, Pattern::Single | Pattern::GenerateTestEscalate)
}

/// Whether the pattern fans out to the top [`ENSEMBLE_N`] generate agents.
pub fn has_ensemble(pattern: Pattern) -> bool {
    matches!(pattern, Pattern::VoteOf3 | Pattern::EnsembleJudge)
}

/// The agents of one arm: one per pinned role, the ensemble's, and the
/// generator a failing answer escalates to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binding<'a> {
    agents: [Option<&'a RouteCandidate>; 5],
    ensemble: &'a [RouteCandidate],
    escalation: Option<&'a RouteCandidate>,
}

impl<'a> Binding<'a> {
    pub fn pin(&mut self, role: Role, agent: &'a RouteCandidate) {
        self.agents[role.index()] = Some(agent);
    }

    pub fn ensemble(&mut self, agents: &'a [RouteCandidate]) {
        self.ensemble = agents;
    }

    pub fn escalate_to(&mut self, agent: &'a RouteCandidate) {
        self.escalation = Some(agent);
    }

    fn agent(&self, role: Role) -> Option<&'a RouteCandidate> {
        self.agents[role.index()]
    }
}

/// Agent calls a step makes, for its expected cost.
#[derive(Debug, Clone, Copy)]
pub enum Calls<'a> {
    /// No agent (a vote).
    None,
    One(&'a RouteCandidate),
    /// Each of these, in parallel.
    Each(&'a [RouteCandidate]),
    /// Up to `max_rounds` calls of `agent`: the first with probability
    /// `need` (the answer it repairs fails), each further one only if the
    /// previous repair failed too.
    Rounds {
        agent: &'a RouteCandidate,
        max_rounds: u32,
        need: f64,
    },
}

impl<'a> Calls<'a> {
    /// The agent the step is pinned to; an ensemble is left to the router.
    pub fn pinned(&self) -> Option<&'a RouteCandidate> {
        match *self {
            Calls::One(agent) | Calls::Rounds { agent, .. } => Some(agent),
            Calls::None | Calls::Each(_) => None,
        }
    }
}

/// One step of an instantiated pattern, before its role text and budget
/// are filled in.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub id: &'static str,
    pub op: Op,
    /// `None` for a step no agent takes.
    pub role: Option<Role>,
    pub inputs: &'static [&'static str],
    pub params: NodeParams,
    pub calls: Calls<'a>,
}

impl Step<'_> {
    /// The spec node, pinned to `name@=version` of the step's agent.
    pub fn node(&self, roles: &Roles, budget_usd: Option<f64>) -> Node {
        Node {
            id: self.id.into(),
            op: self.op,
            role: self.role.map_or(VOTE_ROLE, |r| roles.text(r)).into(),
            agent: self.calls.pinned().map(pin),
            inputs: self.inputs.iter().map(|&i| i.into()).collect(),
            params: self.params.clone(),
            budget_usd,
        }
    }
}

/// Exact version: the arm's record is of that version, and a later one is
/// a different arm that learns afresh.
pub fn pin(agent: &RouteCandidate) -> String {
    format!("{}@={}", agent.agent, agent.version)
}

/// The steps of `pattern` with `binding`'s agents, the output last; `None`
/// when the binding lacks an agent the pattern needs.
pub fn steps<'a>(pattern: Pattern, binding: &Binding<'a>) -> Option<Vec<Step<'a>>> {
    let agent = |role| binding.agent(role);
    let ensemble = || (binding.ensemble.len() >= ENSEMBLE_N).then(|| &binding.ensemble[..ENSEMBLE_N]);
    let generate = |g| {
        step(
            "generate",
            Op::Generate,
            Some(Role::Generate),
            &[],
            NodeParams::default(),
            Calls::One(g),
        )
    };
    Some(match pattern {
        Pattern::Single => vec![generate(agent(Role::Generate)?)],
        Pattern::VoteOf3 => vec![
            answers(ensemble()?),
            step(
                "vote",
                Op::Vote,
                None,
                &["answers"],
                NodeParams::default(),
                Calls::None,
            ),
        ],
        Pattern::GenerateTestRevise => {
            let g = agent(Role::Generate)?;
            let r = agent(Role::Revise)?;
            vec![generate(g), repair("repair", &["generate"], g, r, REPAIR_ROUNDS)]
        }
        Pattern::GenerateReviewRevise => vec![
            generate(agent(Role::Generate)?),
            step(
                "review",
                Op::Review,
                Some(Role::Review),
                &["generate"],
                NodeParams::default(),
                Calls::One(agent(Role::Review)?),
            ),
            step(
                "revise",
                Op::Revise,
                Some(Role::Revise),
                &["generate", "review"],
                NodeParams::default(),
                Calls::One(agent(Role::Revise)?),
            ),
        ],
        Pattern::EnsembleJudge => vec![
            answers(ensemble()?),
            step(
                "judge",
                Op::Select,
                Some(Role::Judge),
                &["answers"],
                NodeParams {
                    criteria: Some(JUDGE_CRITERIA.into()),
                    ..NodeParams::default()
                },
                Calls::One(agent(Role::Judge)?),
            ),
        ],
        Pattern::PlanSolveVerify => {
            let g = agent(Role::Generate)?;
            vec![
                step(
                    "plan",
                    Op::Generate,
                    Some(Role::Plan),
                    &[],
                    NodeParams {
                        prompt: Some(PLAN_PROMPT.into()),
                        ..NodeParams::default()
                    },
                    Calls::One(agent(Role::Plan)?),
                ),
                step(
                    "solve",
                    Op::Generate,
                    Some(Role::Generate),
                    &["plan"],
                    NodeParams::default(),
                    Calls::One(g),
                ),
                repair("verify", &["solve"], g, agent(Role::Revise)?, VERIFY_ROUNDS),
            ]
        }
        Pattern::GenerateTestEscalate => {
            let g = agent(Role::Generate)?;
            let e = binding.escalation?;
            vec![generate(g), escalate(g, e)]
        }
    })
}

fn step<'a>(
    id: &'static str,
    op: Op,
    role: Option<Role>,
    inputs: &'static [&'static str],
    params: NodeParams,
    calls: Calls<'a>,
) -> Step<'a> {
    Step {
        id,
        op,
        role,
        inputs,
        params,
        calls,
    }
}

/// The ensemble step, answering in parallel with `agents`.
fn answers(agents: &[RouteCandidate]) -> Step<'_> {
    step(
        "answers",
        Op::Ensemble,
        Some(Role::Generate),
        &[],
        NodeParams {
            n: Some(agents.len() as u32),
            ..NodeParams::default()
        },
        Calls::Each(agents),
    )
}

/// A loop repairing `generator`'s answer with `repairer` until the tests
/// pass, at most `rounds` times.
fn repair<'a>(
    id: &'static str,
    input: &'static [&'static str],
    generator: &RouteCandidate,
    repairer: &'a RouteCandidate,
    rounds: u32,
) -> Step<'a> {
    step(
        id,
        Op::Loop,
        Some(Role::Revise),
        input,
        NodeParams {
            body: Some(Op::Revise),
            until: Some(Until::TestsPass),
            max_rounds: Some(rounds),
            ..NodeParams::default()
        },
        Calls::Rounds {
            agent: repairer,
            max_rounds: rounds,
            need: failure(generator),
        },
    )
}

/// A loop asking `second` for a fresh answer when `first`'s fails the tests.
/// The round sees the failed answer and the test report, as any loop round
/// does: a second opinion that knows what went wrong.
fn escalate<'a>(first: &RouteCandidate, second: &'a RouteCandidate) -> Step<'a> {
    step(
        "escalate",
        Op::Loop,
        Some(Role::Generate),
        &["generate"],
        NodeParams {
            body: Some(Op::Generate),
            until: Some(Until::TestsPass),
            max_rounds: Some(ESCALATE_ROUNDS),
            ..NodeParams::default()
        },
        Calls::Rounds {
            agent: second,
            max_rounds: ESCALATE_ROUNDS,
            need: failure(first),
        },
    )
}

/// Chance an agent's answer fails: one minus the router's quality estimate.
pub fn failure(agent: &RouteCandidate) -> f64 {
    (1.0 - agent.quality.mean).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(language: Option<&str>) -> TaskProfile {
        TaskProfile {
            kind: TaskKind::Code,
            language: language.map(Into::into),
            tests: true,
        }
    }

    #[test]
    fn code_roles_are_templates_in_the_language() {
        let roles = Roles::new("def f(x): ...", &code(Some("Python")));
        assert_eq!(
            roles.text(Role::Generate),
            "write Python code that solves a programming task"
        );
        assert_eq!(
            roles.text(Role::Revise),
            "debug and repair Python code that fails its tests"
        );
        assert_eq!(
            roles.text(Role::Judge),
            "judge which candidate Python solution is correct"
        );
        let roles = Roles::new("anything", &code(None));
        assert_eq!(roles.text(Role::Review), "review code and point out bugs");
        assert_eq!(
            roles.text(Role::Plan),
            "write a step-by-step plan for a programming task"
        );
    }

    #[test]
    fn a_prose_generate_role_is_the_query_on_one_line() {
        let query = format!("Summarise\n\tthis  report:\u{7} {}", "x".repeat(2 * ROLE_MAX));
        let roles = Roles::new(&query, &TaskProfile::default());
        let role = roles.text(Role::Generate);
        assert!(role.starts_with("Summarise this report: xxx"), "{role}");
        assert_eq!(role.chars().count(), ROLE_MAX);
        assert_eq!(
            roles.text(Role::Revise),
            "revise an answer using the feedback on it"
        );
    }

    #[test]
    fn only_testing_patterns_need_tests() {
        let testing: Vec<Pattern> = Pattern::ALL.into_iter().filter(|&p| needs_tests(p)).collect();
        assert_eq!(
            testing,
            [
                Pattern::GenerateTestRevise,
                Pattern::PlanSolveVerify,
                Pattern::GenerateTestEscalate
            ]
        );
        for p in Pattern::ALL {
            let mains = slots(p).iter().take_while(|s| s.main).count();
            assert!(
                slots(p)[mains..].iter().all(|s| !s.main),
                "{p:?}: main slots first"
            );
        }
    }
}
