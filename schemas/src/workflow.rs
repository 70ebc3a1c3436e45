//! Workflow specs: the graph of steps the meta-agent runs to answer one query.
//!
//! A spec lists its steps ([`Node`]s): what each step does ([`Op`]), which
//! capability the router should find an agent for (`role`, or a pinned
//! `agent`), and which other steps' outputs it reads (`inputs`). The designer
//! instantiates specs from patterns (single agent, vote of k, generate → test
//! → revise, …) and the executor runs them; the two meet on these types and on
//! [`validate_workflow`], which every spec must pass before it runs.
//!
//! As with manifests, serde checks the shape (unknown fields are rejected, so
//! a misspelt parameter is never silently ignored) and [`validate_workflow`]
//! checks the rules, reporting every violation with its field path, such as
//! `nodes[2].inputs[0]`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::{FieldError, Problems, text, validate_agent_name};

/// Most nodes in one spec. Specs are designed per query; anything larger is a
/// designer bug, and validation cost stays trivial.
pub const MAX_NODES: usize = 32;
/// Most nodes on one chain of inputs. Each level is at least one sequential
/// agent call, so depth bounds a workflow's latency.
pub const MAX_DEPTH: usize = 8;
/// Longest node id.
pub const NODE_ID_MAX: usize = 32;
/// Fewest agents an `ensemble` fans out to (one would be a `generate`).
pub const ENSEMBLE_MIN: u32 = 2;
/// Most agents an `ensemble` fans out to.
pub const ENSEMBLE_MAX: u32 = 8;
/// Most rounds of a `loop`.
pub const LOOP_ROUNDS_MAX: u32 = 5;
/// Longest `role`, in characters.
pub const ROLE_MAX: usize = 1000;
/// Longest agent pin, in characters.
pub const AGENT_PIN_MAX: usize = 200;
/// Longest `criteria` and `prompt`, in characters.
pub const INSTRUCTION_MAX: usize = 4000;
/// Longest `tests` source, in characters.
pub const TESTS_MAX: usize = 100_000;

/// A workflow: nodes wired by their inputs into an acyclic graph, and the
/// node whose output answers the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// The steps, 1 to 32, with unique ids.
    #[schemars(length(min = 1, max = MAX_NODES))]
    pub nodes: Vec<Node>,
    /// Id of the node whose output is the workflow's result.
    pub output: String,
    /// Most the whole run may spend, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub budget_usd: Option<f64>,
}

impl WorkflowSpec {
    /// Index of the first node with `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique within the spec: lowercase letters, digits, `_` and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,32}$"))]
    pub id: String,
    pub op: Op,
    /// What the agent for this step must be able to do, in words; the router
    /// resolves it to an agent unless `agent` pins one.
    #[schemars(length(min = 1, max = ROLE_MAX))]
    pub role: String,
    /// A pinned agent, `namespace/name@range` with a semver range such as
    /// `acme/coder@^1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = AGENT_PIN_MAX))]
    pub agent: Option<String>,
    /// Ids of the nodes whose outputs this step reads, in the order it reads
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    #[serde(default, skip_serializing_if = "NodeParams::is_empty")]
    pub params: NodeParams,
    /// Most this step may spend, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub budget_usd: Option<f64>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// An agent writes an answer from the query and any inputs.
    Generate,
    /// An agent critiques its inputs; the output is feedback, not an answer.
    Review,
    /// An agent rewrites its first input, using the others (reviews, test
    /// reports) as feedback.
    Revise,
    /// `n` agents for the role answer in parallel; the output is the `n`
    /// candidates.
    Ensemble,
    /// The most common answer among the input candidates wins.
    Vote,
    /// An agent picks the best input candidate by `criteria`.
    Select,
    /// Runs `tests` (or the task's own tests when absent) on its one input;
    /// the output is the test report.
    Test,
    /// An agent scores its inputs against `criteria`.
    Judge,
    /// Repeats `body` on its one input up to `max_rounds` times, stopping
    /// early once `until` holds.
    Loop,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Generate => "generate",
            Op::Review => "review",
            Op::Revise => "revise",
            Op::Ensemble => "ensemble",
            Op::Vote => "vote",
            Op::Select => "select",
            Op::Test => "test",
            Op::Judge => "judge",
            Op::Loop => "loop",
        }
    }

    /// Fewest and most inputs the op reads (`None`: no upper bound).
    fn input_arity(self) -> (usize, Option<usize>) {
        match self {
            Op::Generate | Op::Ensemble => (0, None),
            Op::Review | Op::Revise | Op::Vote | Op::Select | Op::Judge => (1, None),
            // One program to test, one answer to iterate on.
            Op::Test | Op::Loop => (1, Some(1)),
        }
    }
}

/// When a `loop` may stop before `max_rounds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// The latest answer passes the tests (`tests`, or the task's own).
    TestsPass,
}

/// Per-op settings. Each applies to the ops named on it; setting one on any
/// other op is an error, since it would be ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeParams {
    /// `ensemble`, required: how many agents answer in parallel, 2 to 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = ENSEMBLE_MIN, max = ENSEMBLE_MAX))]
    pub n: Option<u32>,
    /// `loop`, required: most rounds, 1 to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = LOOP_ROUNDS_MAX))]
    pub max_rounds: Option<u32>,
    /// `loop`, required: the op each round runs, `generate` or `revise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Op>,
    /// `loop`: stop early once this holds; without it every round runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// `test` and `loop`: Python test source defining `check(candidate)`;
    /// without it the task's own tests are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = TESTS_MAX))]
    pub tests: Option<String>,
    /// `judge` and `select`: what a good answer is, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = INSTRUCTION_MAX))]
    pub criteria: Option<String>,
    /// Any op: extra instruction given to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = INSTRUCTION_MAX))]
    pub prompt: Option<String>,
}

impl NodeParams {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == NodeParams::default()
    }
}

/// A parsed agent pin: `namespace/name@range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPin {
    /// `namespace/name`.
    pub name: String,
    pub range: semver::VersionReq,
}

/// Parses `namespace/name@range`, e.g. `acme/coder@^1.2` or `acme/coder@*`;
/// the error is the rule text.
pub fn parse_agent_pin(pin: &str) -> Result<AgentPin, String> {
    if let Some(problem) = text::line(pin, 1, AGENT_PIN_MAX) {
        return Err(problem);
    }
    let (name, range) = pin
        .split_once('@')
        .ok_or_else(|| "must be namespace/name@range, e.g. acme/coder@^1.2".to_string())?;
    validate_agent_name(name)?;
    let range = semver::VersionReq::parse(range)
        .map_err(|e| format!("`{range}` is not a semver range (use `*` for any version): {e}"))?;
    Ok(AgentPin {
        name: name.to_string(),
        range,
    })
}

/// Indices of the nodes in an order where every node comes after the nodes
/// it reads; among nodes that are ready together, the earlier in `nodes`
/// comes first, so the order is deterministic.
///
/// On a spec that fails [`validate_workflow`], inputs naming no node are
/// ignored and nodes on or downstream of a cycle are left out: a result
/// shorter than `nodes` means the graph has a cycle.
pub fn topological_order(spec: &WorkflowSpec) -> Vec<usize> {
    Graph::new(spec).order()
}

/// Checks every rule on a spec and reports every violation: node by node in
/// field order, then the graph as a whole, `output` and `budget_usd`.
pub fn validate_workflow(spec: &WorkflowSpec) -> Result<(), Vec<FieldError>> {
    let mut p = Problems::default();
    if spec.nodes.is_empty() {
        p.push("nodes", "at least 1 node is required");
    }
    if spec.nodes.len() > MAX_NODES {
        p.push(
            "nodes",
            format!("{} nodes; the limit is {MAX_NODES}", spec.nodes.len()),
        );
    }
    let all_ids: HashSet<&str> = spec.nodes.iter().map(|n| n.id.as_str()).collect();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        let at = format!("nodes[{i}]");
        match ids.get(node.id.as_str()) {
            Some(first) => p.push(
                format!("{at}.id"),
                format!("duplicate node id `{}` (also nodes[{first}].id)", node.id),
            ),
            None => {
                ids.insert(&node.id, i);
                p.check(|| format!("{at}.id"), node_id(&node.id));
            }
        }
        one_node(&mut p, &at, node, &all_ids);
    }
    graph_shape(&mut p, spec);
    // With no nodes the output cannot name one; that is the same problem.
    if !spec.nodes.is_empty() && !spec.nodes.iter().any(|n| n.id == spec.output) {
        p.push("output", format!("names no node (`{}`)", spec.output));
    }
    budgets(&mut p, spec);
    if p.0.is_empty() { Ok(()) } else { Err(p.0) }
}

fn node_id(id: &str) -> Option<String> {
    text::token(
        id,
        1,
        NODE_ID_MAX,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'),
        "lowercase letters, digits, '_' and '-'",
    )
}

fn one_node(p: &mut Problems, at: &str, node: &Node, ids: &HashSet<&str>) {
    p.check(|| format!("{at}.role"), text::line(&node.role, 1, ROLE_MAX));
    if let Some(pin) = &node.agent {
        p.check(|| format!("{at}.agent"), parse_agent_pin(pin).err());
    }

    let (min, max) = node.op.input_arity();
    let count = node.inputs.len();
    let op = node.op.as_str();
    if count < min {
        p.push(
            format!("{at}.inputs"),
            format!("`{op}` reads at least {min} input, found {count}"),
        );
    }
    if let Some(max) = max.filter(|&max| count > max) {
        let bound = if max == min { "exactly" } else { "at most" };
        p.push(
            format!("{at}.inputs"),
            format!("`{op}` reads {bound} {max} input, found {count}"),
        );
    }
    let mut seen = HashSet::new();
    for (j, input) in node.inputs.iter().enumerate() {
        let field = || format!("{at}.inputs[{j}]");
        if !ids.contains(input.as_str()) {
            p.push(field(), format!("names no node (`{input}`)"));
        } else if !seen.insert(input.as_str()) {
            p.push(field(), format!("duplicate input `{input}`"));
        }
    }

    params(p, &format!("{at}.params"), node.op, &node.params);

    if let Some(budget) = node.budget_usd {
        p.check(|| format!("{at}.budget_usd"), money(budget));
    }
}

fn params(p: &mut Problems, at: &str, op: Op, params: &NodeParams) {
    // A parameter the op does not read would be silently ignored.
    let only = |p: &mut Problems, key: &str, set: bool, ops: &[Op]| {
        if set && !ops.contains(&op) {
            let names: Vec<String> = ops.iter().map(|o| format!("`{}`", o.as_str())).collect();
            p.push(
                format!("{at}.{key}"),
                format!("applies only to {}, not `{}`", names.join(" and "), op.as_str()),
            );
        }
    };
    only(p, "n", params.n.is_some(), &[Op::Ensemble]);
    only(p, "max_rounds", params.max_rounds.is_some(), &[Op::Loop]);
    only(p, "body", params.body.is_some(), &[Op::Loop]);
    only(p, "until", params.until.is_some(), &[Op::Loop]);
    only(p, "tests", params.tests.is_some(), &[Op::Test, Op::Loop]);
    only(p, "criteria", params.criteria.is_some(), &[Op::Judge, Op::Select]);

    match (op, params.n) {
        (Op::Ensemble, None) => p.push(format!("{at}.n"), "`ensemble` needs `n`, the number of agents"),
        (_, Some(n)) if !(ENSEMBLE_MIN..=ENSEMBLE_MAX).contains(&n) => p.push(
            format!("{at}.n"),
            format!("must be {ENSEMBLE_MIN} to {ENSEMBLE_MAX}, found {n}"),
        ),
        _ => {}
    }
    match (op, params.max_rounds) {
        (Op::Loop, None) => p.push(format!("{at}.max_rounds"), "`loop` needs `max_rounds`"),
        (_, Some(r)) if !(1..=LOOP_ROUNDS_MAX).contains(&r) => p.push(
            format!("{at}.max_rounds"),
            format!("must be 1 to {LOOP_ROUNDS_MAX}, found {r}"),
        ),
        _ => {}
    }
    match (op, params.body) {
        (Op::Loop, None) => p.push(
            format!("{at}.body"),
            "`loop` needs `body`, the op each round runs",
        ),
        (_, Some(body)) if !matches!(body, Op::Generate | Op::Revise) => p.push(
            format!("{at}.body"),
            format!(
                "must be `generate` or `revise` (an op that turns one answer into the next), not `{}`",
                body.as_str()
            ),
        ),
        _ => {}
    }

    if let Some(tests) = &params.tests {
        p.check(|| format!("{at}.tests"), text::prose(tests, 1, TESTS_MAX));
    }
    for (key, value) in [("criteria", &params.criteria), ("prompt", &params.prompt)] {
        if let Some(value) = value {
            p.check(|| format!("{at}.{key}"), text::prose(value, 1, INSTRUCTION_MAX));
        }
    }
}

/// Cycles and depth. Inputs that name no node were reported already and are
/// ignored here, and so is the graph of a spec with too many nodes: the
/// count is its problem, and analysing an arbitrarily large graph would let
/// one request cost arbitrarily much.
fn graph_shape(p: &mut Problems, spec: &WorkflowSpec) {
    if spec.nodes.len() > MAX_NODES {
        return;
    }
    let graph = Graph::new(spec);
    let order = graph.order();
    if order.len() < spec.nodes.len() {
        let (cycle, slot) = graph.find_cycle(&order);
        let mut names: Vec<&str> = cycle.iter().map(|&i| spec.nodes[i].id.as_str()).collect();
        names.push(names[0]);
        p.push(
            format!("nodes[{}].inputs[{slot}]", cycle[0]),
            format!(
                "closes a cycle: {} (each node reads the one before)",
                names.join(" -> ")
            ),
        );
        return;
    }

    // Longest chain ending at each node, with its predecessor on that chain.
    let mut depth = vec![1usize; spec.nodes.len()];
    let mut via: Vec<Option<usize>> = vec![None; spec.nodes.len()];
    for &i in &order {
        for &input in &graph.inputs[i] {
            if depth[input] + 1 > depth[i] {
                depth[i] = depth[input] + 1;
                via[i] = Some(input);
            }
        }
    }
    if let Some((mut end, &longest)) = depth.iter().enumerate().max_by_key(|&(i, d)| (*d, Reverse(i)))
        && longest > MAX_DEPTH
    {
        let mut chain = vec![spec.nodes[end].id.as_str()];
        while let Some(prev) = via[end] {
            chain.push(&spec.nodes[prev].id);
            end = prev;
        }
        chain.reverse();
        p.push(
            "nodes",
            format!(
                "the longest chain has {longest} nodes ({}); the limit is {MAX_DEPTH}",
                chain.join(" -> ")
            ),
        );
    }
}

fn budgets(p: &mut Problems, spec: &WorkflowSpec) {
    let Some(total) = spec.budget_usd else {
        return;
    };
    if let Some(problem) = money(total) {
        p.push("budget_usd", problem);
        return;
    }
    let node_budgets: Vec<f64> = spec.nodes.iter().filter_map(|n| n.budget_usd).collect();
    if node_budgets.iter().any(|&b| money(b).is_some()) {
        return; // reported on the node
    }
    let sum: f64 = node_budgets.iter().sum();
    // A relative tolerance so 0.1 + 0.2 fits a budget of 0.3.
    if sum > total + total.max(sum) * 1e-9 {
        p.push(
            "budget_usd",
            format!("node budgets add up to {sum} USD, more than the workflow's {total} USD"),
        );
    }
}

fn money(x: f64) -> Option<String> {
    if !x.is_finite() {
        Some("must be a finite number".into())
    } else if x < 0.0 {
        Some("must not be negative".into())
    } else {
        None
    }
}

/// Edges by index. An input naming a duplicated id resolves to the first node
/// with it; an input naming no node is dropped.
struct Graph {
    /// For each node, the nodes it reads (one entry per input).
    inputs: Vec<Vec<usize>>,
    /// For each node, the nodes that read it.
    readers: Vec<Vec<usize>>,
}

impl Graph {
    fn new(spec: &WorkflowSpec) -> Graph {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, node) in spec.nodes.iter().enumerate() {
            index.entry(&node.id).or_insert(i);
        }
        let mut inputs = vec![Vec::new(); spec.nodes.len()];
        let mut readers = vec![Vec::new(); spec.nodes.len()];
        for (i, node) in spec.nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Some(&j) = index.get(input.as_str()) {
                    inputs[i].push(j);
                    readers[j].push(i);
                }
            }
        }
        Graph { inputs, readers }
    }

    /// Kahn's algorithm, taking the lowest ready index first.
    fn order(&self) -> Vec<usize> {
        let mut missing: Vec<usize> = self.inputs.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> = (0..missing.len())
            .filter(|&i| missing[i] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(missing.len());
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &reader in &self.readers[i] {
                missing[reader] -= 1;
                if missing[reader] == 0 {
                    ready.push(Reverse(reader));
                }
            }
        }
        order
    }

    /// One cycle among the nodes `order` left out, in data-flow order and
    /// starting at its earliest node, with the input slot of that node which
    /// closes the cycle (where it reads the cycle's last node).
    ///
    /// Every left-out node reads some left-out node, so walking from one to
    /// such an input must revisit a node; the walk from there is a cycle.
    fn find_cycle(&self, order: &[usize]) -> (Vec<usize>, usize) {
        let emitted: HashSet<usize> = order.iter().copied().collect();
        let left = |i: usize| !emitted.contains(&i);
        let start = (0..self.inputs.len()).find(|&i| left(i)).unwrap_or_default();
        let mut walk = vec![start];
        let mut at = start;
        let mut cycle = loop {
            let Some(&next) = self.inputs[at].iter().find(|&&j| left(j)) else {
                // Unreachable for a real leftover; report the node alone.
                break vec![at];
            };
            if let Some(pos) = walk.iter().position(|&w| w == next) {
                // The walk follows inputs, against the data flow.
                let mut cycle = walk.split_off(pos);
                cycle.reverse();
                break cycle;
            }
            walk.push(next);
            at = next;
        };
        let first = cycle
            .iter()
            .enumerate()
            .min_by_key(|&(_, &i)| i)
            .map_or(0, |(k, _)| k);
        cycle.rotate_left(first);
        let (head, last) = (cycle[0], cycle[cycle.len() - 1]);
        let slot = self.inputs[head]
            .iter()
            .position(|&j| j == last)
            .unwrap_or_default();
        (cycle, slot)
    }
}
