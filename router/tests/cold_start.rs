//! Cold-start priors through the router's public API, on a real catalog
//! (real store, real index; skills carry client vectors): a new version
//! starts from its previous version's record, a new agent from the records
//! of its nearest neighbours' skills (read live), a skill with no near
//! record from the optimism bonus alone; and the priors survive a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use switchyard_registry::embedder::{
    DEFAULT_DIMENSION, DEFAULT_SPACE_NAME, EmbeddingService, OnnxEmbedder, ServiceConfig,
};
use switchyard_registry::index::IndexConfig;
use switchyard_registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_router::Router;
use switchyard_schemas::api::Scope;
use switchyard_schemas::manifest::{
    AgentManifest, Budget, CapabilityVector, Endpoint, LatencyBudget, Policy, Protocol, Provider, Skill,
    Visibility,
};
use switchyard_schemas::route::{Constraints, FeedbackRequest, QualityPrior, RouteRequest};

fn principal() -> Principal {
    Principal {
        tenant: "acme".to_owned(),
        scopes: BTreeSet::from([Scope::Publish, Scope::Route]),
        key_id: "test-acme".to_owned(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn open(dir: &Path) -> Arc<Router> {
    let embedder = OnnxEmbedder::load_default().unwrap();
    let service = EmbeddingService::new(Arc::new(embedder), ServiceConfig::default());
    let store = Arc::new(Registry::open(dir, AuthMode::Dev).unwrap());
    let catalog = Arc::new(Catalog::open(store, service, dir, IndexConfig::default()).unwrap());
    Arc::new(Router::open(catalog, dir).unwrap())
}

fn publish(router: &Router, name: &str, version: &str, vector: &[f32]) {
    let m = AgentManifest {
        name: format!("acme/{name}"),
        version: version.to_owned(),
        title: name.to_owned(),
        description: "An agent.".to_owned(),
        provider: Provider {
            organization: "acme".to_owned(),
            url: None,
        },
        endpoint: Endpoint {
            url: format!("http://127.0.0.1:9/{name}"),
            protocol: Protocol::SwitchyardHttp,
        },
        skills: vec![Skill {
            id: "s".to_owned(),
            name: "Skill".to_owned(),
            description: "A skill.".to_owned(),
            tags: vec![],
            examples: vec![],
            input_modes: vec![],
            output_modes: vec![],
            vector: Some(CapabilityVector {
                space: DEFAULT_SPACE_NAME.to_owned(),
                values: vector.to_vec(),
            }),
        }],
        policy: Policy {
            visibility: Visibility::PUBLIC,
            data_classes: vec![],
            regions: vec![],
            compliance: vec![],
        },
        budget: Budget {
            cost_per_call_usd: 0.01,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget { p50: 100, p95: 200 },
            max_concurrency: None,
        },
        metadata: BTreeMap::new(),
    };
    let catalog = router.catalog();
    let vectors = runtime().block_on(catalog.vectors_for(&m)).unwrap();
    catalog.commit_publish(&principal(), m, &vectors).unwrap();
}

fn feedback(router: &Router, name: &str, version: &str, outcome: f64, times: usize) {
    for _ in 0..times {
        let req = FeedbackRequest {
            agent: format!("acme/{name}"),
            version: version.to_owned(),
            skill: "s".to_owned(),
            outcome,
            cost_usd: None,
            latency_ms: None,
            query: None,
        };
        router.feedback(&principal(), &req).unwrap();
    }
}

/// The quality the router reports for `name` when routing to `query`.
fn quality(router: &Router, query: &[f32], name: &str) -> (QualityPrior, f64) {
    let req = RouteRequest {
        vector: Some(CapabilityVector {
            space: DEFAULT_SPACE_NAME.to_owned(),
            values: query.to_vec(),
        }),
        k: Some(10),
        constraints: Constraints {
            min_similarity: Some(-1.0),
            ..Default::default()
        },
        ..Default::default()
    };
    let out = router.route_blocking(&principal(), &req).unwrap();
    let c = out
        .candidates
        .iter()
        .find(|c| c.agent == format!("acme/{name}"))
        .unwrap_or_else(|| panic!("acme/{name} not routed to"));
    (c.quality.prior, c.quality.mean)
}

fn random_unit(rng: &mut impl Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..DEFAULT_DIMENSION)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// `centre` moved by `amount` towards a random direction.
fn near(rng: &mut impl Rng, centre: &[f32], amount: f32) -> Vec<f32> {
    let d = random_unit(rng);
    centre.iter().zip(&d).map(|(c, d)| c + amount * d).collect()
}

#[test]
fn priors_come_from_the_previous_version_then_the_neighbours_then_the_bonus() {
    let seed = 11;
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (topic, elsewhere) = (random_unit(&mut rng), random_unit(&mut rng));
    let router = open(dir.path());
    publish(&router, "incumbent", "1.0.0", &near(&mut rng, &topic, 0.3));
    publish(&router, "stranger", "1.0.0", &elsewhere);

    // Nothing recorded anywhere: the optimism bonus alone.
    let (prior, uninformed) = quality(&router, &topic, "stranger");
    assert_eq!(prior, QualityPrior::Uninformed);
    feedback(&router, "incumbent", "1.0.0", 1.0, 10);

    // A newcomer published after the record borrows it; the stranger,
    // whose nearest record is far, does not.
    publish(&router, "newcomer", "1.0.0", &near(&mut rng, &topic, 0.3));
    let (prior, borrowed) = quality(&router, &topic, "newcomer");
    assert_eq!(prior, QualityPrior::Neighbours);
    assert!(borrowed > uninformed + 0.05, "{borrowed} against {uninformed}");
    assert_eq!(quality(&router, &topic, "stranger").0, QualityPrior::Uninformed);

    // The neighbour's later failures reach the newcomer's prior at once.
    feedback(&router, "incumbent", "1.0.0", 0.0, 30);
    let (prior, after_failures) = quality(&router, &topic, "newcomer");
    assert_eq!(prior, QualityPrior::Neighbours);
    assert!(
        after_failures < uninformed,
        "{after_failures} against {uninformed}"
    );

    // A record appearing later near the stranger is found too.
    publish(
        &router,
        "stranger-peer",
        "1.0.0",
        &near(&mut rng, &elsewhere, 0.3),
    );
    feedback(&router, "stranger-peer", "1.0.0", 1.0, 5);
    assert_eq!(
        quality(&router, &elsewhere, "stranger").0,
        QualityPrior::Neighbours
    );

    // A new version of the incumbent starts from its own history.
    publish(&router, "incumbent", "1.1.0", &near(&mut rng, &topic, 0.3));
    let (prior, inherited) = quality(&router, &topic, "incumbent");
    assert_eq!(prior, QualityPrior::PreviousVersion);
    assert!(inherited < uninformed, "{inherited} against {uninformed}");

    // After a restart the records are indexed again for the priors.
    drop(router);
    let router = open(dir.path());
    let (prior, reopened) = quality(&router, &topic, "newcomer");
    assert_eq!(prior, QualityPrior::Neighbours);
    assert!(
        (reopened - after_failures).abs() < 0.05,
        "{reopened} against {after_failures}"
    );
}
