//! Batch publish: one durable commit for many manifests, all or nothing,
//! the index updated before the call returns, as for a single publish.

use std::sync::Arc;

use switchyard_registry::embedder::{EmbedError, Embedder, EmbeddingService, EmbeddingSpace, ServiceConfig};
use switchyard_registry::index::{Filter, IndexConfig, SearchRequest, SkillVector};
use switchyard_registry::{
    AuthMode, Catalog, IndexOrigin, Principal, Registry, RegistryError, VersionVectors,
};
use switchyard_schemas::api::Scope;
use switchyard_schemas::manifest::{
    AgentManifest, Budget, CapabilityVector, Endpoint, LatencyBudget, Policy, Protocol, Provider, Skill,
    Visibility,
};

/// Every manifest here carries client vectors, so nothing is embedded.
#[derive(Debug)]
struct NoModel(EmbeddingSpace);

impl Embedder for NoModel {
    fn space(&self) -> &EmbeddingSpace {
        &self.0
    }
    fn embed_batch(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        panic!("the tests send client vectors only")
    }
}

const SPACE: &str = "test-space";

fn manifest(name: &str, version: &str, values: [f32; 4]) -> AgentManifest {
    AgentManifest {
        name: name.to_owned(),
        version: version.to_owned(),
        title: name.to_owned(),
        description: "A test agent.".to_owned(),
        provider: Provider {
            organization: "test".to_owned(),
            url: None,
        },
        endpoint: Endpoint {
            url: "http://127.0.0.1:9/agent".to_owned(),
            protocol: Protocol::SwitchyardHttp,
        },
        skills: vec![Skill {
            id: "main".to_owned(),
            name: "Main".to_owned(),
            description: "Does the thing.".to_owned(),
            tags: vec![],
            examples: vec![],
            input_modes: vec![],
            output_modes: vec![],
            vector: Some(CapabilityVector {
                space: SPACE.to_owned(),
                values: values.to_vec(),
            }),
        }],
        policy: Policy {
            visibility: Visibility::PUBLIC,
            data_classes: vec![],
            regions: vec![],
            compliance: vec![],
        },
        budget: Budget {
            cost_per_call_usd: 0.001,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget { p50: 100, p95: 200 },
            max_concurrency: None,
        },
        metadata: Default::default(),
    }
}

fn item(name: &str, version: &str, values: [f32; 4]) -> (AgentManifest, VersionVectors) {
    (
        manifest(name, version, values),
        VersionVectors {
            space: SPACE.to_owned(),
            vectors: vec![SkillVector {
                skill: "main".to_owned(),
                vector: 0,
                values: values.to_vec(),
            }],
        },
    )
}

fn publisher() -> Principal {
    Principal {
        tenant: "acme".to_owned(),
        scopes: [Scope::Publish].into(),
        key_id: "test".to_owned(),
    }
}

fn open(dir: &std::path::Path) -> Catalog {
    let store = Arc::new(Registry::open(dir, AuthMode::Dev).unwrap());
    let service = EmbeddingService::new(
        Arc::new(NoModel(EmbeddingSpace::new(SPACE, 4))),
        ServiceConfig::default(),
    );
    Catalog::open(store, service, dir, IndexConfig::default()).unwrap()
}

/// Agent names of the unpinned (current-version) hits for `v`, best first.
fn current_hits(catalog: &Catalog, v: [f32; 4]) -> Vec<(String, String)> {
    catalog
        .index()
        .search(&SearchRequest {
            vector: &v,
            k: 10,
            best_per_skill: true,
            filter: Filter {
                tenant: Some("acme"),
                current_only: true,
                ..Filter::default()
            },
        })
        .unwrap()
        .hits
        .into_iter()
        .map(|h| (h.key.agent, h.key.version))
        .collect()
}

#[test]
fn a_batch_is_one_commit_indexed_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    let responses = catalog
        .commit_publish_batch(
            &publisher(),
            vec![
                item("acme/alpha", "1.0.0", [1.0, 0.0, 0.0, 0.0]),
                item("acme/alpha", "1.1.0", [1.0, 0.1, 0.0, 0.0]),
                item("acme/beta", "2.0.0", [0.0, 1.0, 0.0, 0.0]),
                // The same content again within the batch is idempotent.
                item("acme/beta", "2.0.0", [0.0, 1.0, 0.0, 0.0]),
            ],
        )
        .unwrap();
    let created: Vec<bool> = responses.iter().map(|r| r.created).collect();
    assert_eq!(created, [true, true, true, false]);
    let seqs: Vec<u64> = responses.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 3]);
    assert_eq!(catalog.applied_seq(), 3);
    assert_eq!(catalog.store().stats().unwrap().versions, 3);

    // Routable at once, one (the latest) version per agent.
    assert_eq!(catalog.index().stats().live_rows, 3);
    let hits = current_hits(&catalog, [1.0, 0.05, 0.0, 0.0]);
    assert_eq!(
        hits,
        [
            ("acme/alpha".to_owned(), "1.1.0".to_owned()),
            ("acme/beta".to_owned(), "2.0.0".to_owned())
        ]
    );
    assert_eq!(catalog.card("acme/alpha").unwrap().versions.len(), 2);

    // A rebuild from the store alone finds the same rows.
    drop(catalog);
    let reopened = open(dir.path());
    assert!(matches!(
        reopened.origin(),
        IndexOrigin::Rebuilt { versions: 3, .. }
    ));
    assert_eq!(current_hits(&reopened, [1.0, 0.05, 0.0, 0.0]), hits);
}

#[test]
fn a_rejected_item_writes_nothing_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    catalog
        .commit_publish_batch(
            &publisher(),
            vec![item("acme/alpha", "1.0.0", [1.0, 0.0, 0.0, 0.0])],
        )
        .unwrap();
    let err = catalog
        .commit_publish_batch(
            &publisher(),
            vec![
                item("acme/gamma", "1.0.0", [0.0, 0.0, 1.0, 0.0]),
                // Same version, different content: a conflict.
                item("acme/alpha", "1.0.0", [0.0, 0.0, 0.0, 1.0]),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::VersionConflict { .. }), "{err:?}");
    assert_eq!(catalog.store().stats().unwrap().versions, 1);
    assert_eq!(catalog.store().stats().unwrap().last_seq, 1);
    assert!(catalog.card("acme/gamma").is_none());
    assert_eq!(catalog.index().stats().live_rows, 1);

    // Another tenant's namespace refuses the whole batch too.
    let intruder = Principal {
        tenant: "globex".to_owned(),
        ..publisher()
    };
    let err = catalog
        .commit_publish_batch(&intruder, vec![item("acme/delta", "1.0.0", [0.0, 1.0, 1.0, 0.0])])
        .unwrap_err();
    assert!(matches!(err, RegistryError::NamespaceOwned { .. }), "{err:?}");
    assert_eq!(catalog.store().stats().unwrap().versions, 1);
}
