//! The executor and the agent client against real HTTP: a fault-injecting
//! agent server on 127.0.0.1 (`fault`), agents published to a real registry
//! and routed by the real router with the committed embedder.

mod fault;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fault::{FaultServer, Mode};
use serde_json::{Value, json};
use switchyard_meta_agent::client::{AgentClient, CallError, ClientConfig};
use switchyard_meta_agent::executor::{
    BreakerConfig, BreakerState, Executor, ExecutorConfig, LOOP_TESTS_KEY, Ledger, RetryConfig, TimeoutConfig,
};
use switchyard_meta_agent::router::registry::embedder::{EmbeddingService, OnnxEmbedder, ServiceConfig};
use switchyard_meta_agent::router::registry::index::IndexConfig;
use switchyard_meta_agent::router::registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_meta_agent::router::stats::Record;
use switchyard_meta_agent::router::{Router, StatsKey};
use switchyard_meta_agent::scorers::sandbox::{Sandbox, SandboxConfig};
use switchyard_schemas::manifest::{
    AgentManifest, Budget, DataClass, Endpoint, LatencyBudget, Policy, Protocol, Provider, Skill, Visibility,
};
use switchyard_schemas::run::{
    AgentRequest, AgentTask, NodeOutcome, RunRequest, RunStatus, RunTrace, ScorerSpec, TaskSpec,
};
use switchyard_schemas::workflow::{Node, NodeParams, Op, Until, WorkflowSpec};

/// The embedder loads once per test binary.
fn embedder() -> Arc<OnnxEmbedder> {
    static EMBEDDER: OnceLock<Arc<OnnxEmbedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Arc::new(OnnxEmbedder::load_default().expect("the committed model loads")))
        .clone()
}

/// An agent to publish: `acme/<name>` with one skill.
struct Agent {
    name: &'static str,
    skill: &'static str,
    cost: f64,
    p95: u32,
    protocol: Protocol,
}

fn agent(name: &'static str, skill: &'static str, cost: f64) -> Agent {
    Agent {
        name,
        skill,
        cost,
        p95: 100,
        protocol: Protocol::SwitchyardHttp,
    }
}

const CODER: &str = "Writes Python functions from a specification in plain language.";
const FIXER: &str = "Repairs Python code so that failing unit tests pass, given the test report.";
const JUDGE: &str = "Judges how well an answer meets given criteria and scores it from 0 to 1.";
const PICKER: &str = "Picks the best of several candidate answers to a question.";

/// Timings scaled for tests: 300 ms per call for a 100 ms p95, quick
/// backoff, breakers that open after 3 failures for 300 ms.
fn config() -> ExecutorConfig {
    ExecutorConfig {
        retry: RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
        timeout: TimeoutConfig {
            p95_multiplier: 3.0,
            floor: Duration::from_millis(300),
            cap: Duration::from_secs(5),
        },
        breaker: BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_millis(300),
        },
        reserve_factor: 1.5,
        default_budget_usd: 10.0,
    }
}

struct World {
    exec: Executor,
    server: FaultServer,
    principal: Principal,
    _dir: tempfile::TempDir,
}

async fn world(agents: &[Agent], config: ExecutorConfig) -> World {
    let server = FaultServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let embedder = tokio::task::spawn_blocking(embedder).await.unwrap();
    let service = EmbeddingService::new(embedder, ServiceConfig::default());
    let store = Arc::new(Registry::open(dir.path(), AuthMode::Dev).unwrap());
    let catalog = Arc::new(Catalog::open(store, service, dir.path(), IndexConfig::default()).unwrap());
    let principal = Principal::superuser("acme", "test");
    for a in agents {
        catalog.publish(&principal, manifest(a, &server)).await.unwrap();
    }
    let router = Arc::new(Router::open(catalog, dir.path()).unwrap());
    let sandbox = Sandbox::new(SandboxConfig {
        timeout: Duration::from_secs(5),
        ..SandboxConfig::default()
    })
    .await
    .expect("python3 runs here");
    let client = AgentClient::new(ClientConfig::default()).unwrap();
    World {
        exec: Executor::new(router, client, Some(sandbox), config),
        server,
        principal,
        _dir: dir,
    }
}

fn manifest(a: &Agent, server: &FaultServer) -> AgentManifest {
    AgentManifest {
        name: format!("acme/{}", a.name),
        version: "1.0.0".into(),
        title: a.name.into(),
        description: a.skill.into(),
        provider: Provider {
            organization: "Acme".into(),
            url: None,
        },
        endpoint: Endpoint {
            url: server.url(a.name),
            protocol: a.protocol,
        },
        skills: vec![Skill {
            id: "main".into(),
            name: "Main".into(),
            description: a.skill.into(),
            tags: vec![],
            examples: vec![],
            input_modes: vec![],
            output_modes: vec![],
            vector: None,
        }],
        policy: Policy {
            visibility: Visibility::PUBLIC,
            data_classes: vec![DataClass::Public],
            regions: vec![],
            compliance: vec![],
        },
        budget: Budget {
            cost_per_call_usd: a.cost,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget {
                p50: (a.p95 / 2).max(1),
                p95: a.p95,
            },
            max_concurrency: None,
        },
        metadata: BTreeMap::new(),
    }
}

/// A step pinned to `acme/<agent>`.
fn step(id: &str, op: Op, agent: &str, inputs: &[&str]) -> Node {
    Node {
        id: id.into(),
        op,
        role: "Do the task.".into(),
        agent: Some(format!("acme/{agent}@*")),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        params: NodeParams::default(),
        budget_usd: None,
    }
}

fn spec(nodes: Vec<Node>, output: &str) -> WorkflowSpec {
    WorkflowSpec {
        nodes,
        output: output.into(),
        budget_usd: None,
    }
}

fn request(query: &str) -> RunRequest {
    RunRequest {
        query: query.into(),
        ..RunRequest::default()
    }
}

fn node<'a>(trace: &'a RunTrace, id: &str) -> &'a switchyard_schemas::run::NodeTrace {
    trace.nodes.iter().find(|n| n.id == id).unwrap()
}

/// A loop pinned to `acme/<agent>` running `body` on `input` until the
/// tests pass, at most `max_rounds` times.
fn until_pass(id: &str, agent: &str, input: &str, body: Op, max_rounds: u32) -> Node {
    let mut node = step(id, Op::Loop, agent, &[input]);
    node.params = NodeParams {
        max_rounds: Some(max_rounds),
        body: Some(body),
        until: Some(Until::TestsPass),
        ..NodeParams::default()
    };
    node
}

/// "Write add(a, b)", with `tests` for the workflow and `hidden` for the
/// score.
fn add_request(tests: &str, hidden: &str) -> RunRequest {
    RunRequest {
        query: "Write add(a, b) returning the sum.".into(),
        task: Some(TaskSpec {
            id: "add".into(),
            context: None,
            entry_point: Some("add".into()),
            tests: Some(tests.into()),
        }),
        scorer: Some(ScorerSpec::Tests {
            source: hidden.into(),
            entry_point: "add".into(),
        }),
        ..RunRequest::default()
    }
}

impl World {
    /// The router's record of `acme/<agent>` 1.0.0's skill `main`.
    fn record(&self, agent: &str) -> Record {
        let key = StatsKey {
            agent: format!("acme/{agent}"),
            version: "1.0.0".into(),
            skill: "main".into(),
        };
        self.exec.router().stats().get(&key).unwrap()
    }
}

#[tokio::test]
async fn independent_steps_overlap_and_readers_wait_for_them() {
    let w = world(
        &[
            agent("first", CODER, 0.01),
            agent("second", FIXER, 0.02),
            agent("merger", JUDGE, 0.0),
        ],
        config(),
    )
    .await;
    w.server
        .set("first", Mode::slow("from a", 0.01, Duration::from_millis(250)));
    w.server.set(
        "second",
        Mode::slow(json!({"n": 2}), 0.02, Duration::from_millis(250)),
    );
    w.server.set("merger", Mode::ok("merged", 0.0));
    let s = spec(
        vec![
            step("a", Op::Generate, "first", &[]),
            step("b", Op::Generate, "second", &[]),
            step("c", Op::Generate, "merger", &["b", "a"]),
        ],
        "c",
    );
    let trace = w
        .exec
        .run(&w.principal, &s, &request("Add two numbers."))
        .await
        .unwrap();
    assert_eq!(trace.status, RunStatus::Succeeded, "{trace:#?}");
    assert_eq!(trace.output, Some(json!("merged")));
    assert!((trace.cost_usd - 0.03).abs() < 1e-9, "{}", trace.cost_usd);
    assert_eq!(trace.run_id.len(), 32);

    let (a, b, c) = (
        &w.server.received("first")[0],
        &w.server.received("second")[0],
        &w.server.received("merger")[0],
    );
    let (a_end, b_end) = (a.answered.unwrap(), b.answered.unwrap());
    assert!(
        a.arrived < b_end && b.arrived < a_end,
        "a and b ran one after the other"
    );
    assert!(c.arrived >= a_end && c.arrived >= b_end);
    // Inputs arrive in the order the step reads them, as the protocol says.
    let inputs: Vec<(&String, &Value)> = c.body["inputs"].as_object().unwrap().iter().collect();
    assert_eq!(
        inputs,
        [
            (&"b".to_string(), &json!({"n": 2})),
            (&"a".to_string(), &json!("from a"))
        ]
    );
    assert_eq!(c.body["task"]["input"], "Add two numbers.");
    assert_eq!(c.body["task"]["op"], "generate");

    let n = node(&trace, "b");
    assert_eq!(
        (n.agent.as_deref(), n.version.as_deref(), n.skill.as_deref()),
        (Some("acme/second"), Some("1.0.0"), Some("main"))
    );
    assert_eq!((n.outcome, n.attempts, n.calls.len()), (NodeOutcome::Ok, 1, 1));
    assert_eq!((n.input_bytes, n.output_bytes), (2, 7));
    assert!(n.latency_ms >= 250);
    assert_eq!(
        node(&trace, "c").input_bytes,
        json!({"b": {"n": 2}, "a": "from a"}).to_string().len() as u64
    );
}

/// Every fault an agent can throw, each under a budget that fits three
/// reservations: the run never spends more than its budget, no call is
/// made without a reservation, and every reservation is settled.
#[tokio::test]
async fn the_budget_holds_under_every_fault() {
    let faults = [
        ("overcharges", Mode::ok("x", 5.0)),
        ("hangs", Mode::Hang),
        ("errors", Mode::Status(500)),
        ("throttles", Mode::Status(429)),
        ("floods", Mode::Huge),
        ("garbles", Mode::Malformed),
        ("dawdles", Mode::slow("x", 0.05, Duration::from_millis(100))),
        ("redirects", Mode::Redirect),
    ];
    let agents: Vec<Agent> = faults.iter().map(|(name, _)| agent(name, CODER, 0.1)).collect();
    let w = world(&agents, config()).await;
    for (name, mode) in &faults {
        w.server.set(name, mode.clone());
        // 0.15 reserved per attempt (0.1 × 1.5): three fit in 0.5.
        let parent = Ledger::new(0.5);
        let mut nodes: Vec<Node> = (0..4)
            .map(|i| step(&format!("g{i}"), Op::Generate, name, &[]))
            .collect();
        nodes.push(step("v", Op::Vote, name, &["g0", "g1", "g2", "g3"]));
        nodes[4].agent = None;
        let trace = w
            .exec
            .run_within(&w.principal, &spec(nodes, "v"), &request("Say x."), &parent)
            .await
            .unwrap();
        assert!(trace.cost_usd <= 0.5, "{name}: spent {}", trace.cost_usd);
        assert!(parent.spent_usd() <= 0.5, "{name}");
        assert_eq!(parent.reserved_usd(), 0.0, "{name}: a reservation was left open");
        assert_eq!(parent.spent_usd(), trace.cost_usd, "{name}");
        let charged: f64 = trace.nodes.iter().map(|n| n.cost_usd).sum();
        assert!((charged - trace.cost_usd).abs() < 1e-9, "{name}");
        if *name == "dawdles" {
            // Settled at 0.05 each, so later calls may fit; only the budget binds.
            continue;
        }
        // Every other call is charged its whole reservation: at most three.
        assert!(
            w.server.calls(name) <= 3,
            "{name}: {} calls",
            w.server.calls(name)
        );
        let refused = trace
            .nodes
            .iter()
            .filter(|n| n.error.as_deref().is_some_and(|e| e.contains("budget exhausted")));
        assert!(refused.count() >= 1, "{name}: {trace:#?}");
        if *name == "overcharges" {
            let calls = trace
                .nodes
                .iter()
                .flat_map(|n| &n.calls)
                .filter(|c| c.attempts > 0);
            for call in calls {
                assert!(
                    call.over_reservation && (call.cost_usd - 0.15).abs() < 1e-9,
                    "{call:?}"
                );
            }
        }
    }
    assert_eq!(w.server.calls("redirect-target"), 0, "a redirect was followed");
}

#[tokio::test]
async fn a_steps_own_budget_caps_its_calls() {
    let w = world(&[agent("pricey", CODER, 0.1)], config()).await;
    w.server.set("pricey", Mode::ok("x", 0.1));
    // 0.15 is reserved per call: none fits 0.1, two fit 0.3.
    let mut lone = step("lone", Op::Generate, "pricey", &[]);
    lone.budget_usd = Some(0.1);
    let mut many = step("many", Op::Ensemble, "pricey", &[]);
    many.params.n = Some(3);
    many.budget_usd = Some(0.3);
    let s = spec(vec![lone, many], "many");
    let trace = w.exec.run(&w.principal, &s, &request("Say x.")).await.unwrap();
    let lone = node(&trace, "lone");
    assert!(
        lone.error.as_deref().unwrap().contains("budget exhausted"),
        "{lone:?}"
    );
    assert_eq!((lone.attempts, lone.cost_usd), (0, 0.0));
    // A pinned ensemble asks the pinned agent n times; the third call did
    // not fit the step's budget.
    assert_eq!(trace.output, Some(json!(["x", "x"])), "{trace:#?}");
    let many = node(&trace, "many");
    assert_eq!((many.attempts, many.calls.len()), (2, 3));
    assert!((many.cost_usd - 0.2).abs() < 1e-9);
    assert_eq!(w.server.calls("pricey"), 2);
}

#[tokio::test]
async fn retries_are_bounded_and_only_for_transient_errors() {
    let w = world(
        &[
            agent("unavailable", CODER, 0.0),
            agent("rejects", CODER, 0.0),
            agent("garbles", CODER, 0.0),
            agent("hangs", CODER, 0.0),
            agent("recovers", CODER, 0.0),
        ],
        ExecutorConfig {
            breaker: BreakerConfig {
                failure_threshold: 100,
                cool_down: Duration::from_secs(1),
            },
            ..config()
        },
    )
    .await;
    w.server.set("unavailable", Mode::Status(503));
    w.server.set("rejects", Mode::Status(400));
    w.server.set("garbles", Mode::Malformed);
    w.server.set("hangs", Mode::Hang);
    let run = |agent: &'static str| {
        let (exec, principal) = (w.exec.clone(), w.principal.clone());
        async move {
            let s = spec(vec![step("g", Op::Generate, agent, &[])], "g");
            exec.run(&principal, &s, &request("Hi.")).await.unwrap()
        }
    };
    for (agent, calls) in [("unavailable", 3), ("rejects", 1), ("garbles", 1), ("hangs", 1)] {
        let trace = run(agent).await;
        assert_eq!(trace.status, RunStatus::Failed);
        assert_eq!(w.server.calls(agent), calls, "{agent}");
        let g = node(&trace, "g");
        assert_eq!(g.attempts, calls as u32, "{agent}");
        assert!(
            g.error
                .as_deref()
                .unwrap()
                .contains(&format!("after {calls} attempt")),
            "{g:?}"
        );
    }
    // The hang took the whole deadline: max(3 × 100 ms, 300 ms), no retry.
    let started = Instant::now();
    run("hangs").await;
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(290)..Duration::from_millis(1500)).contains(&took),
        "{took:?}"
    );

    // Transient failures followed by success: three attempts, one answer.
    w.server.set(
        "recovers",
        Mode::Recovers {
            failures: 2,
            status: 502,
            output: json!("fine"),
        },
    );
    let trace = run("recovers").await;
    assert_eq!(trace.output, Some(json!("fine")));
    assert_eq!(node(&trace, "g").attempts, 3);
}

#[tokio::test]
async fn an_open_breaker_steers_routing_away_until_a_probe_succeeds() {
    let w = world(
        &[agent("primary", CODER, 0.001), agent("backup", CODER, 0.01)],
        ExecutorConfig {
            retry: RetryConfig {
                max_attempts: 1,
                ..config().retry
            },
            breaker: BreakerConfig {
                failure_threshold: 2,
                cool_down: Duration::from_millis(400),
            },
            ..config()
        },
    )
    .await;
    w.server.set("primary", Mode::Status(500));
    w.server.set("backup", Mode::ok("from backup", 0.01));
    let routed = Node {
        role: CODER.into(),
        agent: None,
        ..step("g", Op::Generate, "unused", &[])
    };
    let s = spec(vec![routed], "g");
    let req = request("Write fizzbuzz.");
    let run = || w.exec.run(&w.principal, &s, &req);

    for _ in 0..2 {
        let trace = run().await.unwrap();
        assert_eq!(node(&trace, "g").agent.as_deref(), Some("acme/primary"));
        assert_eq!(trace.status, RunStatus::Failed);
    }
    assert!(matches!(
        w.exec.breakers().state("acme/primary"),
        BreakerState::Open { .. }
    ));
    assert_eq!(w.exec.breakers().blocked(), ["acme/primary"]);
    let trace = run().await.unwrap();
    assert_eq!(node(&trace, "g").agent.as_deref(), Some("acme/backup"));
    assert_eq!(trace.output, Some(json!("from backup")));
    assert_eq!(
        w.server.calls("primary"),
        2,
        "the open breaker let a call through"
    );

    // A pinned step does not call an agent whose breaker is open.
    let pinned = spec(vec![step("g", Op::Generate, "primary", &[])], "g");
    let trace = w.exec.run(&w.principal, &pinned, &request("Hi.")).await.unwrap();
    assert!(
        node(&trace, "g")
            .error
            .as_deref()
            .unwrap()
            .contains("circuit open"),
        "{trace:#?}"
    );
    assert_eq!(w.server.calls("primary"), 2);

    // After the cool-down one probe goes to the primary; it succeeds and
    // closes the breaker.
    w.server.set("primary", Mode::ok("from primary", 0.001));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        w.exec.breakers().state("acme/primary"),
        BreakerState::HalfOpen { probing: false }
    );
    let trace = run().await.unwrap();
    assert_eq!(trace.output, Some(json!("from primary")));
    assert_eq!(
        w.exec.breakers().state("acme/primary"),
        BreakerState::Closed { failures: 0 }
    );
}

#[tokio::test]
async fn calls_time_out_by_the_agents_latency() {
    let mut slow_agent = agent("deliberate", CODER, 0.0);
    slow_agent.p95 = 400; // 1.2 s per call
    let w = world(&[agent("quick", CODER, 0.0), slow_agent], config()).await;
    // quick gets max(3 × 100 ms, 300 ms) and answers in 500 ms; deliberate
    // gets 1.2 s and answers in 700 ms.
    w.server
        .set("quick", Mode::slow("late", 0.0, Duration::from_millis(500)));
    w.server.set(
        "deliberate",
        Mode::slow("worth the wait", 0.0, Duration::from_millis(700)),
    );
    let s = spec(
        vec![
            step("q", Op::Generate, "quick", &[]),
            step("d", Op::Generate, "deliberate", &[]),
        ],
        "d",
    );
    let trace = w.exec.run(&w.principal, &s, &request("Hi.")).await.unwrap();
    let q = node(&trace, "q");
    assert_eq!(q.outcome, NodeOutcome::Failed);
    assert!(q.error.as_deref().unwrap().contains("no answer within"), "{q:?}");
    assert!(q.latency_ms < 1000, "{q:?}");
    assert_eq!(trace.output, Some(json!("worth the wait")));
}

#[tokio::test]
async fn dropping_a_run_stops_its_calls_and_settles_its_reservations() {
    let w = world(&[agent("slow", CODER, 0.1)], config()).await;
    w.server
        .set("slow", Mode::slow("x", 0.1, Duration::from_millis(250)));
    let s = spec(
        vec![
            step("a", Op::Generate, "slow", &[]),
            step("b", Op::Revise, "slow", &["a"]),
            step("c", Op::Revise, "slow", &["b"]),
        ],
        "c",
    );
    let parent = Ledger::new(1.0);
    let req = request("Hi.");
    let run = w.exec.run_within(&w.principal, &s, &req, &parent);
    // Drop the run as soon as its first call is in flight.
    tokio::select! {
        _ = run => panic!("the run finished before it was dropped"),
        _ = async {
            while w.server.calls("slow") == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        } => {}
    }
    // Aborted tasks are dropped at their next poll.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(parent.reserved_usd(), 0.0);
    // The abandoned call may have spent its reservation: 0.1 × 1.5.
    assert!((parent.spent_usd() - 0.15).abs() < 1e-9, "{}", parent.spent_usd());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.server.calls("slow"), 1, "a step ran after its run was dropped");
}

#[tokio::test]
async fn a_loop_revises_until_the_tests_pass_then_scores_and_credits_its_agents() {
    let w = world(
        &[agent("coder", CODER, 0.01), agent("fixer", FIXER, 0.02)],
        config(),
    )
    .await;
    w.server.set(
        "coder",
        Mode::ok("```python\ndef add(a, b):\n    return a - b\n```", 0.01),
    );
    w.server.set(
        "fixer",
        Mode::Script {
            outputs: vec![
                json!("def add(a, b):\n    return a * b\n"),
                json!("def add(a, b):\n    return a + b\n"),
                json!("def add(a, b):\n    raise ValueError\n"),
            ],
            cost: Some(0.02),
        },
    );
    let fix = until_pass("fix", "fixer", "gen", Op::Revise, 4);
    let s = spec(vec![step("gen", Op::Generate, "coder", &[]), fix], "fix");
    let req = add_request(
        "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "def check(candidate):\n    assert candidate(-1, 1) == 0\n    assert candidate(2, 2) == 4\n",
    );
    let mut trace = w.exec.run(&w.principal, &s, &req).await.unwrap();
    assert_eq!(
        trace.output,
        Some(json!("def add(a, b):\n    return a + b\n")),
        "{trace:#?}"
    );
    let fix = node(&trace, "fix");
    assert_eq!(fix.calls.len(), 2, "the loop went on after the tests passed");
    assert_eq!(fix.tests.as_ref().map(|t| t.passed), Some(true));
    // Round two saw round one's failing report.
    let second = &w.server.received("fixer")[1].body;
    assert_eq!(second["task"]["id"], "add");
    assert_eq!(second["inputs"]["gen"], "def add(a, b):\n    return a * b\n");
    assert_eq!(second["inputs"][LOOP_TESTS_KEY]["passed"], false);
    assert!(
        second["inputs"][LOOP_TESTS_KEY]["reason"]
            .as_str()
            .unwrap()
            .contains("AssertionError")
    );

    let score = w
        .exec
        .score(&w.principal, &req, &mut trace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(score.value, 1.0, "{score:?}");
    assert_eq!(trace.score.as_ref().map(|s| s.value), Some(1.0));

    let credited = w
        .exec
        .feedback(&w.principal, &req.query, &s, &trace, score.value)
        .await;
    assert_eq!(credited, 3);
    // The run scored 1, but only the last repair earned it: the coder's
    // answer and the first repair failed the loop's tests.
    let fixer = w.record("fixer");
    assert_eq!(fixer.calls, 2);
    // Outcomes decay with age, so one success weighs a little under 1.
    assert!(fixer.successes > 0.9 && fixer.successes <= 1.0, "{fixer:?}");
    assert!(fixer.failures > 0.9 && fixer.failures <= 1.0, "{fixer:?}");
    let coder = w.record("coder");
    assert_eq!((coder.calls, coder.successes), (1, 0.0), "{coder:?}");
}

#[tokio::test]
async fn a_cascade_asks_a_second_agent_only_when_the_tests_fail_and_credits_it_alone() {
    let w = world(
        &[agent("cheap", CODER, 0.01), agent("strong", CODER, 0.05)],
        config(),
    )
    .await;
    w.server
        .set("cheap", Mode::ok("def add(a, b):\n    return a - b\n", 0.01));
    w.server
        .set("strong", Mode::ok("def add(a, b):\n    return a + b\n", 0.05));
    let escalate = until_pass("escalate", "strong", "gen", Op::Generate, 1);
    let s = spec(
        vec![step("gen", Op::Generate, "cheap", &[]), escalate],
        "escalate",
    );
    let tests = "def check(candidate):\n    assert candidate(2, 3) == 5\n";
    let req = add_request(tests, tests);
    let mut trace = w.exec.run(&w.principal, &s, &req).await.unwrap();
    assert_eq!(trace.output, Some(json!("def add(a, b):\n    return a + b\n")));
    // The second agent answered afresh, told what failed.
    let asked = &w.server.received("strong")[0].body;
    assert_eq!(asked["task"]["op"], "generate");
    assert_eq!(asked["inputs"][LOOP_TESTS_KEY]["passed"], false);
    let score = w
        .exec
        .score(&w.principal, &req, &mut trace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(score.value, 1.0);
    assert!((trace.cost_usd - 0.06).abs() < 1e-9, "{}", trace.cost_usd);
    assert_eq!(
        w.exec.feedback(&w.principal, &req.query, &s, &trace, 1.0).await,
        2
    );
    // The cheap agent's answer failed the tests: the run's 1 is not its.
    assert_eq!(
        (w.record("cheap").successes, w.record("cheap").failures),
        (0.0, 1.0)
    );
    assert!(w.record("strong").successes > 0.9 && w.record("strong").failures == 0.0);

    // An answer that passes is not escalated, and its agent earns the score.
    w.server
        .set("cheap", Mode::ok("def add(a, b):\n    return b + a\n", 0.01));
    let trace = w.exec.run(&w.principal, &s, &req).await.unwrap();
    assert_eq!(w.server.calls("strong"), 1, "escalated a passing answer");
    assert!(node(&trace, "escalate").calls.is_empty());
    assert_eq!(trace.output, Some(json!("def add(a, b):\n    return b + a\n")));
    assert!((trace.cost_usd - 0.01).abs() < 1e-9, "{}", trace.cost_usd);
    assert_eq!(
        w.exec.feedback(&w.principal, &req.query, &s, &trace, 1.0).await,
        1
    );
    assert!(w.record("cheap").successes > 0.9);
}

#[tokio::test]
async fn failed_calls_are_credited_with_zero() {
    let w = world(&[agent("broken", CODER, 0.0)], config()).await;
    w.server.set("broken", Mode::Status(404));
    let s = spec(vec![step("g", Op::Generate, "broken", &[])], "g");
    let trace = w.exec.run(&w.principal, &s, &request("Hi.")).await.unwrap();
    assert_eq!(w.exec.feedback(&w.principal, "Hi.", &s, &trace, 1.0).await, 1);
    let record = w.record("broken");
    assert_eq!((record.successes, record.failures), (0.0, 1.0));
}

#[tokio::test]
async fn ensemble_vote_select_and_judge() {
    let w = world(
        &[
            agent("e1", CODER, 0.01),
            agent("e2", CODER, 0.01),
            agent("e3", CODER, 0.01),
            agent("picker", PICKER, 0.0),
            agent("judge", JUDGE, 0.0),
        ],
        config(),
    )
    .await;
    w.server.set("e1", Mode::ok("x = 1", 0.01));
    w.server.set("e2", Mode::ok("y", 0.01));
    w.server.set("e3", Mode::ok("x  =  1\n", 0.01));
    w.server.set("picker", Mode::ok("Candidate 1", 0.0));
    w.server.set("judge", Mode::ok(json!({"score": 0.75}), 0.0));
    let mut ens = Node {
        role: CODER.into(),
        agent: None,
        ..step("ens", Op::Ensemble, "unused", &[])
    };
    ens.params.n = Some(3);
    let mut vote = step("vote", Op::Vote, "unused", &["ens"]);
    vote.agent = None;
    let sel = step("sel", Op::Select, "picker", &["ens"]);
    let judge = step("judge", Op::Judge, "judge", &["vote"]);
    let s = spec(vec![ens, vote, sel, judge], "judge");
    let trace = w
        .exec
        .run(&w.principal, &s, &request("Set x to 1."))
        .await
        .unwrap();
    let ens = node(&trace, "ens");
    let mut agents: Vec<&str> = ens.calls.iter().map(|c| c.agent.as_str()).collect();
    agents.sort();
    assert_eq!(agents, ["acme/e1", "acme/e2", "acme/e3"], "{trace:#?}");
    assert_eq!(ens.agent, None);
    assert_eq!(node(&trace, "vote").outcome, NodeOutcome::Ok);
    let candidates = w.server.received("picker")[0].body["inputs"]["ens"].clone();
    assert_eq!(candidates.as_array().map(Vec::len), Some(3));
    assert_eq!(trace.output, Some(json!(0.75)));
    let judged = &w.server.received("judge")[0].body;
    assert_eq!(judged["task"]["op"], "judge");
    let voted = &judged["inputs"]["vote"];
    assert!(voted == "x = 1" || voted == "x  =  1\n", "{voted}");

    // Text scorers read the output as text.
    let mut t = trace.clone();
    let exact = RunRequest {
        scorer: Some(ScorerSpec::Exact {
            expected: "0.75".into(),
        }),
        ..request("Set x to 1.")
    };
    assert_eq!(
        w.exec
            .score(&w.principal, &exact, &mut t)
            .await
            .unwrap()
            .unwrap()
            .value,
        1.0
    );
    // A routed judge scores the answer from the run's remaining budget.
    let judged = RunRequest {
        scorer: Some(ScorerSpec::Judge {
            criteria: "Is it correct?".into(),
            agent: None,
        }),
        ..request("Set x to 1.")
    };
    let score = w
        .exec
        .score(&w.principal, &judged, &mut t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(score.value, 0.75);
    assert!(score.reason.contains("acme/"), "{score:?}");
}

#[tokio::test]
async fn a2a_agents_are_called_with_message_send() {
    let a2a = |name| Agent {
        protocol: Protocol::A2aJsonRpc,
        ..agent(name, CODER, 0.02)
    };
    let w = world(&[a2a("speaker"), a2a("worker")], config()).await;
    w.server.set("speaker", Mode::A2aMessage("hello".into()));
    w.server.set("worker", Mode::A2aTask("done".into()));
    let s = spec(
        vec![
            step("s", Op::Generate, "speaker", &[]),
            step("w", Op::Review, "worker", &["s"]),
        ],
        "w",
    );
    let trace = w.exec.run(&w.principal, &s, &request("Greet.")).await.unwrap();
    assert_eq!(trace.output, Some(json!("done")), "{trace:#?}");
    // A2A reports no usage: each call is charged its declared cost.
    assert!((trace.cost_usd - 0.04).abs() < 1e-9);
    let body = &w.server.received("worker")[0].body;
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["method"], "message/send");
    let parts = &body["params"]["message"]["parts"];
    let text = parts[0]["text"].as_str().unwrap();
    assert!(
        text.contains("Greet.") && text.contains("Input `s`:\nhello"),
        "{text}"
    );
    assert_eq!(parts[1]["data"]["inputs"]["s"], "hello");
    assert_eq!(parts[1]["data"]["task"]["op"], "review");
}

#[tokio::test]
async fn the_client_refuses_redirects_floods_garbage_and_slowness() {
    let server = FaultServer::start().await;
    server.set("moved", Mode::Redirect);
    server.set("huge", Mode::Huge);
    server.set("garbled", Mode::Malformed);
    server.set("busy", Mode::Status(429));
    server.set("hang", Mode::Hang);
    let client = AgentClient::new(ClientConfig::default()).unwrap();
    let req = AgentRequest {
        task: AgentTask {
            id: "t".into(),
            input: "q".into(),
            context: None,
            op: Op::Generate,
            instruction: "Answer.".into(),
        },
        inputs: Default::default(),
    };
    let call = |agent: &str, timeout: Duration| {
        let endpoint = Endpoint {
            url: server.url(agent),
            protocol: Protocol::SwitchyardHttp,
        };
        let (client, req) = (client.clone(), req.clone());
        async move { client.call(&endpoint, &req, timeout).await }
    };
    let second = Duration::from_secs(2);
    let e = call("moved", second).await.unwrap_err();
    assert!(
        matches!(&e, CallError::Redirect { status: 302, location: Some(l) } if l.ends_with("/redirect-target"))
    );
    assert_eq!(server.calls("redirect-target"), 0);
    assert_eq!(
        call("huge", second).await.unwrap_err(),
        CallError::TooLarge { limit: 1 << 20 }
    );
    assert!(matches!(
        call("garbled", second).await,
        Err(CallError::Malformed { .. })
    ));
    let busy = call("busy", second).await.unwrap_err();
    assert!(busy.is_transient() && busy == CallError::Status { status: 429 });
    let started = Instant::now();
    let e = call("hang", Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(e, CallError::Timeout { .. }) && e.is_transient());
    assert!(started.elapsed() < Duration::from_secs(1));
    let refused = client
        .call(
            &Endpoint {
                url: "http://127.0.0.1:9/".into(),
                protocol: Protocol::SwitchyardHttp,
            },
            &req,
            second,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, CallError::Connect { .. }) && refused.is_transient(),
        "{refused:?}"
    );
}
