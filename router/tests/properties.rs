//! Property tests of routing over a random fleet in a real catalog (real
//! store, real index; skills carry client vectors so no text is embedded):
//! no candidate ever breaks a constraint or the caller's visibility, and
//! explanations never count agents the caller cannot see.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use switchyard_registry::embedder::{
    DEFAULT_DIMENSION, DEFAULT_SPACE_NAME, EmbeddingService, OnnxEmbedder, ServiceConfig,
};
use switchyard_registry::index::IndexConfig;
use switchyard_registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_router::Router;
use switchyard_schemas::api::{Scope, VersionStatus};
use switchyard_schemas::manifest::{
    AgentManifest, Budget, CapabilityVector, DataClass, Endpoint, LatencyBudget, Policy, Protocol, Provider,
    Skill, Visibility,
};
use switchyard_schemas::route::{Constraints, RouteRequest};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
const TAGS: [&str; 3] = ["soc2", "gdpr", "hipaa"];

struct Fleet {
    router: Arc<Router>,
    manifests: BTreeMap<String, (String, AgentManifest, VersionStatus)>,
    _dir: tempfile::TempDir,
}

fn tenant(name: &str) -> Principal {
    Principal {
        tenant: name.to_owned(),
        scopes: BTreeSet::from([Scope::Publish, Scope::Route]),
        key_id: format!("test-{name}"),
    }
}

fn unit(rng: &mut impl Rng, centre: &[f32]) -> Vec<f32> {
    centre.iter().map(|c| c + rng.random_range(-0.5..0.5)).collect()
}

/// 80 agents owned by four tenants with random policies, budgets,
/// visibilities and statuses; vectors around a few shared topics.
fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let seed = 7;
        eprintln!("fleet seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let embedder = OnnxEmbedder::load_default().unwrap();
        let service = EmbeddingService::new(Arc::new(embedder), ServiceConfig::default());
        let store = Arc::new(Registry::open(dir.path(), AuthMode::Dev).unwrap());
        let catalog = Arc::new(Catalog::open(store, service, dir.path(), IndexConfig::default()).unwrap());
        let topics: Vec<Vec<f32>> = (0..4)
            .map(|_| {
                (0..DEFAULT_DIMENSION)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect()
            })
            .collect();
        let mut manifests = BTreeMap::new();
        for i in 0..80 {
            let owner = TENANTS[i % 4];
            let pick = |rng: &mut rand::rngs::StdRng, items: &[&str]| -> Vec<String> {
                items
                    .iter()
                    .filter(|_| rng.random_bool(0.5))
                    .map(|s| (*s).to_owned())
                    .collect()
            };
            let visibility = match rng.random_range(0..3) {
                0 => Visibility::PUBLIC,
                1 => Visibility::PRIVATE,
                _ => Visibility::Tenants(vec![TENANTS[rng.random_range(0..4)].to_owned()]),
            };
            let data_classes: Vec<DataClass> = DataClass::ALL
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.5))
                .collect();
            let skills = (0..rng.random_range(1..=3))
                .map(|s| (s, rng.random_range(0..4usize)))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(s, topic)| Skill {
                    id: format!("skill-{s}"),
                    name: format!("Skill {s}"),
                    description: "A skill.".to_owned(),
                    tags: pick(&mut rng, &["alpha", "beta"]),
                    examples: vec![],
                    input_modes: vec![],
                    output_modes: vec![],
                    vector: Some(CapabilityVector {
                        space: DEFAULT_SPACE_NAME.to_owned(),
                        values: unit(&mut rng, &topics[topic]),
                    }),
                })
                .collect();
            let m = AgentManifest {
                name: format!("{owner}/agent-{i}"),
                version: "1.0.0".to_owned(),
                title: format!("Agent {i}"),
                description: "Random agent.".to_owned(),
                provider: Provider {
                    organization: owner.to_owned(),
                    url: None,
                },
                endpoint: Endpoint {
                    url: format!("http://127.0.0.1:9/{i}"),
                    protocol: Protocol::SwitchyardHttp,
                },
                skills,
                policy: Policy {
                    visibility,
                    data_classes,
                    regions: pick(&mut rng, &REGIONS),
                    compliance: pick(&mut rng, &TAGS),
                },
                budget: Budget {
                    cost_per_call_usd: rng.random_range(0.0..0.1),
                    cost_per_1k_tokens_usd: None,
                    latency_ms: LatencyBudget {
                        p50: 100,
                        p95: rng.random_range(100..10_000),
                    },
                    max_concurrency: None,
                },
                metadata: BTreeMap::new(),
            };
            let p = tenant(owner);
            let vectors = futures_lite(catalog.vectors_for(&m)).unwrap();
            catalog.commit_publish(&p, m.clone(), &vectors).unwrap();
            let status = match rng.random_range(0..6) {
                0 => VersionStatus::Deprecated,
                1 => VersionStatus::Yanked,
                _ => VersionStatus::Active,
            };
            if status != VersionStatus::Active {
                catalog.set_status(&p, &m.name, "1.0.0", status).unwrap();
            }
            manifests.insert(m.name.clone(), (owner.to_owned(), m, status));
        }
        let router = Arc::new(Router::open(catalog, dir.path()).unwrap());
        Fleet {
            router,
            manifests,
            _dir: dir,
        }
    })
}

/// Runs a future to completion on a small runtime (fixture set-up only).
fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn constraints() -> impl Strategy<Value = (usize, Constraints, u64, bool)> {
    (
        0..4usize,
        proptest::option::of(0..6usize),
        proptest::option::of(0..3usize),
        proptest::sample::subsequence(TAGS.to_vec(), 0..=2),
        proptest::option::of(0.0..0.1f64),
        proptest::option::of(100..10_000u32),
        proptest::sample::subsequence(vec!["alpha", "beta"], 0..=1),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(t, dc, region, compliance, cost, latency, tags, seed, explore)| {
                (
                    t,
                    Constraints {
                        data_class: dc.map(|i| DataClass::ALL[i]),
                        region: region.map(|i| REGIONS[i].to_owned()),
                        compliance: compliance.into_iter().map(str::to_owned).collect(),
                        max_cost_usd: cost,
                        max_latency_ms: latency,
                        tags_any: tags.into_iter().map(str::to_owned).collect(),
                        min_similarity: Some(-1.0),
                        ..Default::default()
                    },
                    seed,
                    explore,
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn candidates_satisfy_every_constraint_and_visibility((t, c, seed, explore) in constraints()) {
        let fleet = fleet();
        let caller = tenant(TENANTS[t]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let query: Vec<f32> = (0..DEFAULT_DIMENSION).map(|_| rng.random_range(-1.0..1.0)).collect();
        let out = fleet.router.route_blocking(&caller, &RouteRequest {
            vector: Some(CapabilityVector { space: DEFAULT_SPACE_NAME.to_owned(), values: query }),
            k: Some(50),
            constraints: c.clone(),
            explore,
            explain: true,
            ..Default::default()
        }).unwrap();
        let visible = fleet.manifests.values()
            .filter(|(owner, m, _)| m.policy.visibility.allows(owner, &caller.tenant))
            .count();
        for cand in &out.candidates {
            let (owner, m, status) = &fleet.manifests[&cand.agent];
            prop_assert!(m.policy.visibility.allows(owner, &caller.tenant), "{} invisible to {}", cand.agent, caller.tenant);
            prop_assert_eq!(*status, VersionStatus::Active);
            if let Some(dc) = c.data_class { prop_assert!(m.policy.data_classes.contains(&dc)); }
            if let Some(r) = &c.region { prop_assert!(m.policy.regions.contains(r)); }
            for tag in &c.compliance { prop_assert!(m.policy.compliance.contains(tag)); }
            if let Some(max) = c.max_cost_usd { prop_assert!(cand.cost_usd <= max + 1e-6); }
            if let Some(max) = c.max_latency_ms { prop_assert!(cand.latency_ms <= max); }
            if !c.tags_any.is_empty() {
                let skill = m.skills.iter().find(|s| s.id == cand.skill).unwrap();
                prop_assert!(skill.tags.iter().any(|t| c.tags_any.contains(t)));
            }
        }
        let ex = out.excluded.unwrap();
        let counted = ex.status + ex.pin + ex.excluded + ex.policy + ex.budget + ex.tags + ex.eligible;
        prop_assert_eq!(counted, visible);
        prop_assert!(out.candidates.len() <= ex.eligible);
    }
}
