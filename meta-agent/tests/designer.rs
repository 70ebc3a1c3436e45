//! The workflow designer end to end: it learns the best arm per query
//! cluster in a simulated environment, its memory survives a reopen and
//! stays bounded, and over a real router (real store, index and embedder)
//! serving the replay fleet it designs valid, budgeted specs pinned to that
//! fleet, fast.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_meta_agent::designer::{Case, Design, DesignInput, Designer, DesignerConfig, RoleCandidates};
use switchyard_meta_agent::replay::{ReplayDataset, manifest_for_run};
use switchyard_router::Router;
use switchyard_router::registry::embedder::{EmbeddingService, OnnxEmbedder, ServiceConfig};
use switchyard_router::registry::index::IndexConfig;
use switchyard_router::registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_schemas::api::Scope;
use switchyard_schemas::design::{DesignRequest, Pattern, TaskKind, TaskProfile};
use switchyard_schemas::manifest::{Endpoint, Protocol};
use switchyard_schemas::route::{Quality, QualityPrior, RouteCandidate, ScoreBreakdown, Source};
use switchyard_schemas::workflow::{parse_agent_pin, validate_workflow};

const DIM: usize = 384;

fn candidate(name: &str, cost_usd: f64, quality: f64) -> RouteCandidate {
    RouteCandidate {
        agent: name.into(),
        version: "1.0.0".into(),
        skill: "skill".into(),
        endpoint: Endpoint {
            url: "http://127.0.0.1:9/agent".into(),
            protocol: Protocol::SwitchyardHttp,
        },
        similarity: 0.8,
        quality: Quality {
            mean: quality,
            n: 0.0,
            prior: QualityPrior::Uninformed,
            sampled: None,
        },
        cost_usd,
        cost_source: Source::Declared,
        latency_ms: 1000,
        latency_source: Source::Declared,
        score: 1.0,
        breakdown: ScoreBreakdown {
            similarity: 0.8,
            lexical: 0.0,
            quality: 0.1,
            cost: 0.0,
            latency: 0.0,
        },
    }
}

/// 29 arms: four generators (three enumerated, the fourth explored by a
/// single arm), three repairers, three judges, a reviewer and a planner.
fn fleet() -> RoleCandidates {
    RoleCandidates {
        generate: vec![
            candidate("acme/gen-a", 0.002, 0.7),
            candidate("acme/gen-b", 0.01, 0.8),
            candidate("acme/gen-c", 0.03, 0.85),
            candidate("acme/gen-d", 0.05, 0.9),
        ],
        revise: vec![
            candidate("acme/fix-a", 0.004, 0.5),
            candidate("acme/fix-b", 0.02, 0.6),
            candidate("acme/fix-c", 0.01, 0.55),
        ],
        review: vec![candidate("acme/rev-a", 0.003, 0.5)],
        judge: vec![
            candidate("acme/judge-a", 0.002, 0.5),
            candidate("acme/judge-b", 0.004, 0.6),
            candidate("acme/judge-c", 0.001, 0.4),
        ],
        plan: vec![candidate("acme/plan-a", 0.001, 0.5)],
    }
}

fn code_request(budget_usd: f64, greedy: bool) -> DesignRequest {
    DesignRequest {
        query: "Implement the function described by its docstring.".into(),
        constraints: Default::default(),
        budget_usd,
        task: Some(TaskProfile {
            kind: TaskKind::Code,
            language: Some("Python".into()),
            tests: true,
        }),
        greedy,
    }
}

/// `request` for a task without tests.
fn untested(mut request: DesignRequest) -> DesignRequest {
    if let Some(task) = request.task.as_mut() {
        task.tests = false;
    }
    request
}

fn random_vector(rng: &mut StdRng) -> Vec<f32> {
    (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A query of a cluster: its centre plus noise (cosine ≈ 0.8 between two
/// queries of one cluster, ≈ 0 across clusters).
fn query_near(rng: &mut StdRng, centre: &[f32]) -> Vec<f32> {
    centre.iter().map(|c| c + rng.random_range(-0.5..0.5)).collect()
}

fn design(designer: &Designer, request: &DesignRequest, vector: &[f32], rng: &mut StdRng) -> Design {
    let candidates = fleet();
    let input = DesignInput {
        request,
        query_vector: vector,
        candidates: &candidates,
    };
    designer.design_from(&input, rng).unwrap()
}

#[test]
fn the_policy_learns_the_best_arm_of_each_query_cluster() {
    let seed = std::env::var("DESIGNER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_240_601u64);
    eprintln!("designer convergence seed {seed} (set DESIGNER_SEED to change)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let designer = Designer::open(dir.path(), DesignerConfig::default()).unwrap();
    let centres = [random_vector(&mut rng), random_vector(&mut rng)];
    // Cluster 0 (tasks without tests) is best served by one cheap-ish
    // generator, cluster 1 (tasks with tests) by a generator repaired by the
    // repairer that fits it; everything else is mediocre, by an arbitrary
    // but fixed amount per arm (0.1 to 0.4, so that a cascade of two
    // mediocre generators stays below the best arm). Cluster 1's tested cases are far from
    // cluster 0, so cluster 0 keeps exploring on its own.
    let best = [
        "single(acme/gen-b@=1.0.0)",
        "generate-test-revise(acme/gen-a@=1.0.0, acme/fix-b@=1.0.0)",
    ];
    let mut mediocre: HashMap<String, f64> = HashMap::new();
    let mut success = |rng: &mut StdRng, cluster: usize, arm: &str| -> f64 {
        if arm == best[cluster] {
            0.9
        } else {
            *mediocre
                .entry(format!("{cluster} {arm}"))
                .or_insert_with(|| rng.random_range(0.1..0.4))
        }
    };

    let requests = [untested(code_request(1.0, false)), code_request(1.0, false)];
    // About 600 per cluster. Cluster 1 has 33 arms (28 over the top three
    // candidates per role, a cascade from each of the top three, and a
    // single arm and a cascade exploring gen-d, the one generator below
    // them); cluster 0 the 17 of them that need no tests.
    let rounds = 1200;
    let tail = 400;
    let mut hits = [0usize; 2];
    let mut seen = [0usize; 2];
    let mut counterfactuals = 0;
    for round in 0..rounds {
        let cluster = rng.random_range(0..2);
        let vector = query_near(&mut rng, &centres[cluster]);
        let d = design(&designer, &requests[cluster], &vector, &mut rng);
        assert_eq!(d.response.alternatives.len(), [17, 33][cluster]);
        let mut cases = Vec::new();
        let score = if d.response.pattern == Pattern::GenerateTestEscalate {
            // As the executor runs a cascade: the first generator's answer,
            // and only if it fails (tests catch every failure here) the
            // second's. Its single arm learns what it would have scored,
            // as the meta-agent records it.
            let pins: Vec<&str> = d
                .response
                .spec
                .nodes
                .iter()
                .filter_map(|n| n.agent.as_deref())
                .collect();
            let single = |pin: &str| format!("single({pin})");
            let p = success(&mut rng, cluster, &single(pins[0]));
            let first = rng.random_bool(p);
            let mut counterfactual = case(
                &single(pins[0]),
                d.query_vector.clone(),
                f64::from(u8::from(first)),
            );
            counterfactual.agents = vec![pins[0].to_string()];
            counterfactual.tested = true;
            cases.push(counterfactual);
            let p = success(&mut rng, cluster, &single(pins[1]));
            first || rng.random_bool(p)
        } else {
            let p = success(&mut rng, cluster, &d.response.arm);
            rng.random_bool(p)
        };
        cases.insert(
            0,
            d.case(f64::from(u8::from(score)), d.response.expected_cost_usd),
        );
        counterfactuals += cases.len() - 1;
        for c in &cases {
            designer.record(c).unwrap();
        }
        if round >= rounds - tail {
            seen[cluster] += 1;
            hits[cluster] += usize::from(d.response.arm == best[cluster]);
        }
    }
    for cluster in 0..2 {
        let rate = hits[cluster] as f64 / seen[cluster] as f64;
        eprintln!("cluster {cluster}: best arm sampled in {rate:.3} of the last {tail} rounds");
        // Sampling keeps trying the others now and then (0.95 to 1.00 over
        // this seed and seeds 1 to 3).
        assert!(rate >= 0.85, "cluster {cluster}: {rate} (seed {seed})");
    }

    // Exploiting on fresh queries picks the best arm for each cluster.
    let greedy = [untested(code_request(1.0, true)), code_request(1.0, true)];
    for (cluster, centre) in centres.iter().enumerate() {
        let picks = (0..50)
            .filter(|_| {
                let vector = query_near(&mut rng, centre);
                design(&designer, &greedy[cluster], &vector, &mut rng)
                    .response
                    .arm
                    == best[cluster]
            })
            .count();
        eprintln!("cluster {cluster}: greedy picks the best arm {picks}/50");
        assert!(picks >= 45, "cluster {cluster}: {picks}/50 (seed {seed})");
    }
    let stats = designer.stats();
    assert_eq!(stats.cases, rounds + counterfactuals);
    assert!(stats.arms[0].arm == best[0] || stats.arms[0].arm == best[1]);
}

fn case(arm: &str, vector: Vec<f32>, score: f64) -> Case {
    Case {
        query_vector: vector,
        pattern: Pattern::Single,
        arm: arm.into(),
        agents: vec![],
        nodes: 1,
        score,
        cost_usd: 0.01,
        tested: false,
    }
}

#[test]
fn the_case_memory_survives_reopen_and_keeps_the_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let vector = random_vector(&mut rng);
    // Without tests, so that the single arm runs as itself.
    let greedy = untested(code_request(1.0, true));
    let (before, stats) = {
        let designer = Designer::open(dir.path(), DesignerConfig::default()).unwrap();
        // Teach it that the cheapest generator alone is excellent here.
        for _ in 0..20 {
            designer
                .record(&case("single(acme/gen-a@=1.0.0)", vector.clone(), 1.0))
                .unwrap();
        }
        let d = design(&designer, &greedy, &vector, &mut rng);
        assert_eq!(d.response.arm, "single(acme/gen-a@=1.0.0)");
        (d.response.alternatives, designer.stats())
    };
    let designer = Designer::open(dir.path(), DesignerConfig::default()).unwrap();
    assert_eq!(designer.stats(), stats);
    let after = design(&designer, &greedy, &vector, &mut rng)
        .response
        .alternatives;
    assert_eq!(after, before);
}

#[test]
fn the_memory_is_capped_and_evicts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let config = DesignerConfig {
        capacity: 5,
        ..DesignerConfig::default()
    };
    {
        let designer = Designer::open(dir.path(), config.clone()).unwrap();
        for i in 0..8 {
            designer
                .record(&case(&format!("arm-{i}"), vec![1.0, 0.0], 0.5))
                .unwrap();
        }
        assert_eq!(designer.stats().cases, 5);
    }
    let designer = Designer::open(dir.path(), config).unwrap();
    let stats = designer.stats();
    assert_eq!(stats.cases, 5);
    assert_eq!(stats.capacity, 5);
    let arms: BTreeSet<String> = stats.arms.into_iter().map(|a| a.arm).collect();
    let expected: BTreeSet<String> = (3..8).map(|i| format!("arm-{i}")).collect();
    assert_eq!(arms, expected);
}

/// Runs a future to completion on a small runtime (fixture set-up only).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn principal() -> Principal {
    Principal {
        tenant: "replay".into(),
        scopes: BTreeSet::from([Scope::Publish, Scope::Route]),
        key_id: "test-replay".into(),
    }
}

/// A real router serving the replay fixture's runs as agents.
fn replay_router(dir: &Path, dataset: &ReplayDataset) -> Router {
    let embedder = OnnxEmbedder::load_default().unwrap();
    let service = EmbeddingService::new(Arc::new(embedder), ServiceConfig::default());
    let store = Arc::new(Registry::open(dir, AuthMode::Dev).unwrap());
    let catalog = Arc::new(Catalog::open(store, service, dir, IndexConfig::default()).unwrap());
    for run in dataset.runs() {
        let url = format!("http://127.0.0.1:9/replay/{}", run.id());
        let m = manifest_for_run(run, dataset, "replay", &url).unwrap();
        let vectors = block_on(catalog.vectors_for(&m)).unwrap();
        catalog.commit_publish(&principal(), m, &vectors).unwrap();
    }
    Router::open(catalog, dir).unwrap()
}

#[test]
fn over_a_real_router_designs_are_valid_pinned_to_the_fleet_and_fast() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/humaneval");
    let dataset = ReplayDataset::load(&fixture).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = replay_router(dir.path(), &dataset);
    let designer = Designer::open(&dir.path().join("designer"), DesignerConfig::default()).unwrap();
    let fleet: BTreeSet<String> = dataset
        .runs()
        .iter()
        .map(|r| format!("replay/{}", r.id().to_ascii_lowercase()))
        .collect();
    let mut rng = StdRng::seed_from_u64(11);

    let mut design_micros = Vec::new();
    let mut route_micros = Vec::new();
    let mut patterns = BTreeSet::new();
    for (i, problem) in dataset.problems().iter().cycle().take(60).enumerate() {
        let request = DesignRequest {
            query: problem.prompt.clone(),
            ..code_request(0.5, false)
        };
        let d = designer
            .design(&router, &principal(), &request, &mut rng)
            .unwrap();
        let r = &d.response;
        assert_eq!(validate_workflow(&r.spec), Ok(()));
        for node in &r.spec.nodes {
            if let Some(pin) = &node.agent {
                let pin = parse_agent_pin(pin).unwrap();
                assert!(fleet.contains(&pin.name), "{} is not a replay agent", pin.name);
            }
        }
        assert!(r.expected_cost_usd <= 0.5);
        let spent: f64 = r.spec.nodes.iter().filter_map(|n| n.budget_usd).sum();
        assert!(spent <= 0.5 * (1.0 + 1e-9));
        if i == 0 {
            eprintln!(
                "first design: {} (expected {:.5} USD), {} arms considered",
                r.arm,
                r.expected_cost_usd,
                r.alternatives.len()
            );
        } else {
            // The first design embedded the role texts; the rest reuse them.
            assert!(r.embed_micros > 0, "the query is embedded");
            design_micros.push(r.design_micros);
            route_micros.push(r.route_micros);
        }
        patterns.insert(r.pattern);
        // Recording is what the caller does after running the spec.
        designer.record(&d.case(0.5, r.expected_cost_usd)).unwrap();
    }
    design_micros.sort_unstable();
    route_micros.sort_unstable();
    let pct = |v: &[u64], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    eprintln!(
        "design µs p50 {} p95 {}; routing µs p50 {} p95 {}",
        pct(&design_micros, 50),
        pct(&design_micros, 95),
        pct(&route_micros, 50),
        pct(&route_micros, 95)
    );
    assert!(
        patterns.len() >= 2,
        "exploration tries several patterns: {patterns:?}"
    );
    assert_eq!(designer.stats().cases, 60);

    // A prose request routes its generate role by the query itself; the
    // replay fleet writes only code, so whatever it finds is still valid.
    let started = Instant::now();
    let prose = DesignRequest {
        query: "Write a Python function that checks whether a number is prime.".into(),
        constraints: Default::default(),
        budget_usd: 0.5,
        task: None,
        greedy: true,
    };
    let d = designer.design(&router, &principal(), &prose, &mut rng).unwrap();
    assert_eq!(validate_workflow(&d.response.spec), Ok(()));
    assert!(
        d.response
            .alternatives
            .iter()
            .all(|a| !matches!(a.pattern, Pattern::GenerateTestRevise | Pattern::PlanSolveVerify))
    );
    eprintln!("prose design in {:?}: {}", started.elapsed(), d.response.arm);
}

/// Design latency with a full memory (10 000 cases, 29 arms): the policy
/// compares the query with every case. Ignored by default (filling the
/// memory takes 10 000 fsyncs); in an optimised build:
///
/// ```text
/// cargo test -p switchyard-meta-agent --release --test designer -- --ignored --nocapture
/// ```
#[test]
#[ignore]
fn design_latency_at_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let config = DesignerConfig::default();
    let designer = Designer::open(dir.path(), config.clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let request = code_request(1.0, false);
    for _ in 0..config.capacity {
        let d = design(&designer, &request, &random_vector(&mut rng), &mut rng);
        let score = if rng.random_bool(0.5) { 1.0 } else { 0.0 };
        designer.record(&d.case(score, 0.01)).unwrap();
    }
    let mut micros: Vec<u64> = (0..300)
        .map(|_| {
            design(&designer, &request, &random_vector(&mut rng), &mut rng)
                .response
                .design_micros
        })
        .collect();
    micros.sort_unstable();
    eprintln!(
        "design µs over {} cases: p50 {} p95 {} p99 {}",
        config.capacity, micros[150], micros[285], micros[297]
    );
}
