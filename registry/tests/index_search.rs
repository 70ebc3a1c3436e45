//! Capability index: filtered search against brute force (property tests),
//! and mutations being visible to the very next search.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_registry::index::distance::{dot, normalize};
use switchyard_registry::index::{
    CapabilityIndex, Filter, HnswParams, IndexConfig, IndexError, RowKey, RowMeta, SearchRequest,
    SkillVector, StatusSet, Strategy, VersionRows,
};
use switchyard_schemas::api::VersionStatus;
use switchyard_schemas::manifest::{DataClass, Visibility};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
const TAGS: [&str; 3] = ["soc2", "hipaa", "gdpr"];

fn unit(rng: &mut StdRng, centre: &[f32], noise: f32) -> Vec<f32> {
    centre
        .iter()
        .map(|c| c + noise * (rng.random::<f32>() * 2.0 - 1.0))
        .collect()
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str], p: f64) -> Vec<&'a str> {
    from.iter().copied().filter(|_| rng.random_bool(p)).collect()
}

/// Random agents with random policies; rows cluster around a few centres.
fn dataset(seed: u64, versions: usize, dim: usize) -> Vec<VersionRows> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect())
        .collect();
    (0..versions)
        .map(|i| {
            let owner = TENANTS[rng.random_range(0..TENANTS.len())];
            let visibility = match rng.random_range(0..4) {
                0 => Visibility::PRIVATE,
                1 => Visibility::Tenants(
                    pick(&mut rng, &TENANTS, 0.4)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                ),
                _ => Visibility::PUBLIC,
            };
            let status = match rng.random_range(0..10) {
                0 => VersionStatus::Yanked,
                1 => VersionStatus::Deprecated,
                _ => VersionStatus::Active,
            };
            let skills = rng.random_range(1..4);
            let mut vectors = Vec::new();
            for s in 0..skills {
                for v in 0..rng.random_range(1..3u16) {
                    let c = &centres[rng.random_range(0..centres.len())];
                    vectors.push(SkillVector {
                        skill: format!("s{s}"),
                        vector: v,
                        values: unit(&mut rng, c, 0.5),
                    });
                }
            }
            VersionRows {
                agent: format!("ns{}/agent-{}", i % 5, i / 2),
                version: format!("1.{}.0", i % 2),
                meta: RowMeta {
                    owner_tenant: owner.to_owned(),
                    visibility,
                    data_classes: DataClass::ALL
                        .iter()
                        .copied()
                        .filter(|_| rng.random_bool(0.6))
                        .collect(),
                    regions: pick(&mut rng, &REGIONS, 0.5)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                    compliance: pick(&mut rng, &TAGS, 0.5).into_iter().map(String::from).collect(),
                    status,
                    cost_usd: rng.random_range(0.0..0.1),
                    latency_p95_ms: rng.random_range(50..5000),
                    current: false,
                },
                vectors,
            }
        })
        .collect()
}

/// Stable pseudo-random bucket of an agent version in 0..100, for
/// predicate-controlled selectivity.
fn bucket(key: &RowKey) -> u64 {
    let h = key
        .agent
        .bytes()
        .chain(key.version.bytes())
        .fold(1469598103934665603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
    h % 100
}

struct Case {
    tenant: Option<&'static str>,
    see_all: bool,
    classes: Vec<DataClass>,
    regions: Vec<&'static str>,
    compliance: Vec<&'static str>,
    statuses: StatusSet,
    max_cost: Option<f32>,
    max_latency: Option<u32>,
    pct: u64,
}

fn random_case(rng: &mut StdRng, pct: u64) -> Case {
    Case {
        tenant: if rng.random_bool(0.8) {
            Some(TENANTS[rng.random_range(0..TENANTS.len())])
        } else {
            None
        },
        see_all: rng.random_bool(0.1),
        classes: DataClass::ALL
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.15))
            .collect(),
        regions: pick(rng, &REGIONS, 0.3),
        compliance: pick(rng, &TAGS, 0.15),
        statuses: [StatusSet::ACTIVE, StatusSet::ROUTABLE_WHEN_PINNED, StatusSet::ALL]
            [rng.random_range(0..3)],
        max_cost: rng.random_bool(0.3).then(|| rng.random_range(0.02..0.1)),
        max_latency: rng.random_bool(0.3).then(|| rng.random_range(500..5000)),
        pct,
    }
}

/// The filter semantics, written independently of the index.
fn allowed(c: &Case, v: &VersionRows, status: VersionStatus, key: &RowKey) -> bool {
    let m = &v.meta;
    let visible = c.see_all
        || match c.tenant {
            Some(t) => m.visibility.allows(&m.owner_tenant, t),
            None => m.visibility == Visibility::PUBLIC,
        };
    visible
        && c.classes.iter().all(|x| m.data_classes.contains(x))
        && (c.regions.is_empty() || c.regions.iter().any(|r| m.regions.iter().any(|x| x == r)))
        && c.compliance.iter().all(|t| m.compliance.iter().any(|x| x == t))
        && c.statuses.contains(status)
        && c.max_cost.is_none_or(|x| m.cost_usd <= x)
        && c.max_latency.is_none_or(|x| m.latency_p95_ms <= x)
        && bucket(key) < c.pct
}

fn filter_of<'a>(c: &'a Case, pred: &'a dyn Fn(&RowKey) -> bool) -> Filter<'a> {
    Filter {
        tenant: c.tenant,
        see_all: c.see_all,
        data_classes: c.classes.clone(),
        regions: c.regions.clone(),
        compliance: c.compliance.clone(),
        statuses: c.statuses,
        current_only: false,
        max_cost_usd: c.max_cost,
        max_latency_p95_ms: c.max_latency,
        key_predicate: Some(pred),
    }
}

/// Live rows: (agent, version) → (rows, status).
type Model = BTreeMap<(String, String), (VersionRows, VersionStatus)>;

fn brute_force(model: &Model, dim: usize, q: &[f32], c: &Case, k: usize) -> Vec<(RowKey, f32)> {
    let mut qn = q.to_vec();
    normalize("t", dim, &mut qn, String::new).unwrap();
    let mut all = Vec::new();
    for (v, status) in model.values() {
        for sv in &v.vectors {
            let key = RowKey {
                agent: v.agent.clone(),
                version: v.version.clone(),
                skill: sv.skill.clone(),
                vector: sv.vector,
            };
            if allowed(c, v, *status, &key) {
                let mut x = sv.values.clone();
                normalize("t", dim, &mut x, String::new).unwrap();
                all.push((key, dot(&qn, &x)));
            }
        }
    }
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn query_vec(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

fn flat_config() -> IndexConfig {
    IndexConfig {
        open_segment_max_rows: 40,
        hnsw_min_rows: usize::MAX,
        max_small_segments: 3,
        background_builds: false,
        ..IndexConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Flat segments (open, sealed, merged, compacted) answer exactly like
    /// brute force under random filters at every selectivity.
    #[test]
    fn flat_filtered_topk_equals_brute_force(seed in any::<u64>()) {
        eprintln!("flat_filtered_topk_equals_brute_force: data seed {seed}");
        let dim = 16;
        let data = dataset(seed, 160, dim);
        let index = CapabilityIndex::new("t", dim, flat_config());
        let mut model = Model::new();
        for v in &data {
            index.insert_version(v).unwrap();
            model.insert((v.agent.clone(), v.version.clone()), (v.clone(), v.meta.status));
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37);
        // Tombstones and status changes, so compaction and metadata paths run.
        for v in data.iter().step_by(3) {
            match rng.random_range(0..3) {
                0 => { index.remove_version(&v.agent, &v.version); model.remove(&(v.agent.clone(), v.version.clone())); }
                1 => { index.set_status(&v.agent, &v.version, VersionStatus::Yanked);
                       if let Some(e) = model.get_mut(&(v.agent.clone(), v.version.clone())) { e.1 = VersionStatus::Yanked; } }
                _ => { index.set_status(&v.agent, &v.version, VersionStatus::Active);
                       if let Some(e) = model.get_mut(&(v.agent.clone(), v.version.clone())) { e.1 = VersionStatus::Active; } }
            }
        }
        prop_assert!(index.stats().segments > 1);
        for pct in [1u64, 5, 20, 100] {
            for _ in 0..6 {
                let c = random_case(&mut rng, pct);
                let q = query_vec(&mut rng, dim);
                let pred = |k: &RowKey| bucket(k) < c.pct;
                let k = rng.random_range(1..15);
                let res = index.search(&SearchRequest { vector: &q, k, best_per_skill: false, filter: filter_of(&c, &pred) }).unwrap();
                let want = brute_force(&model, dim, &q, &c, k);
                let got: Vec<(RowKey, f32)> = res.hits.iter().map(|h| (h.key.clone(), h.similarity)).collect();
                prop_assert_eq!(got, want, "pct {} seed {}", pct, seed);
            }
        }
    }
}

/// HNSW segments reach recall@10 ≥ 0.95 under filters, and never return a
/// row that fails its filter.
#[test]
fn hnsw_filtered_recall() {
    let seed: u64 = std::env::var("INDEX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_122);
    eprintln!("hnsw_filtered_recall: data seed {seed}");
    let dim = 32;
    let data = dataset(seed, 1_200, dim);
    let config = IndexConfig {
        hnsw_min_rows: 500,
        exact_max_rows: 50,
        background_builds: false,
        hnsw: HnswParams {
            ef_construction: 64,
            ef_search: 160,
            seed: 7,
        },
        ..IndexConfig::default()
    };
    let index = CapabilityIndex::new("t", dim, config);
    index.bulk_insert(&data).unwrap();
    assert_eq!(index.stats().graphs_ready, 1);
    let model: Model = data
        .iter()
        .map(|v| ((v.agent.clone(), v.version.clone()), (v.clone(), v.meta.status)))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 1);
    for pct in [1u64, 5, 20, 100] {
        let (mut found, mut wanted, mut hnsw_plans, mut int8_plans) = (0usize, 0usize, 0usize, 0usize);
        for _ in 0..60 {
            // Tenant and visibility checks run, but an admin view keeps the
            // selectivity at `pct`, so each plan is exercised.
            let c = Case {
                tenant: Some(TENANTS[rng.random_range(0..TENANTS.len())]),
                see_all: true,
                classes: vec![],
                regions: vec![],
                compliance: vec![],
                statuses: StatusSet::ALL,
                max_cost: None,
                max_latency: None,
                pct,
            };
            // Queries near the data, as real queries are.
            let near = &data[rng.random_range(0..data.len())].vectors[0].values;
            let q: Vec<f32> = near
                .iter()
                .map(|x| x + 0.3 * (rng.random::<f32>() * 2.0 - 1.0))
                .collect();
            let pred = |k: &RowKey| bucket(k) < c.pct;
            let res = index
                .search(&SearchRequest {
                    vector: &q,
                    k: 10,
                    best_per_skill: false,
                    filter: filter_of(&c, &pred),
                })
                .unwrap();
            hnsw_plans += res
                .plan
                .segments
                .iter()
                .filter(|p| p.strategy == Strategy::Hnsw)
                .count();
            int8_plans += res
                .plan
                .segments
                .iter()
                .filter(|p| p.strategy == Strategy::QuantizedScan)
                .count();
            let want = brute_force(&model, dim, &q, &c, 10);
            for h in &res.hits {
                let (v, st) = &model[&(h.key.agent.clone(), h.key.version.clone())];
                assert!(
                    allowed(&c, v, *st, &h.key),
                    "returned a filtered-out row {:?}",
                    h.key
                );
            }
            wanted += want.len();
            found += want
                .iter()
                .filter(|(k, _)| res.hits.iter().any(|h| &h.key == k))
                .count();
        }
        let recall = found as f64 / wanted.max(1) as f64;
        eprintln!(
            "selectivity {pct}%: recall@10 {recall:.3}, hnsw plans {hnsw_plans}, int8 scans {int8_plans}"
        );
        assert!(recall >= 0.95, "recall@10 {recall} at {pct}% (seed {seed})");
        if pct == 5 {
            assert!(int8_plans > 0, "the 5% case should scan int8 codes");
        }
        if pct >= 20 {
            assert!(hnsw_plans > 0, "the {pct}% case should use the graph");
        }
    }
}

fn one(agent: &str, version: &str, values: Vec<f32>) -> VersionRows {
    VersionRows {
        agent: agent.to_owned(),
        version: version.to_owned(),
        meta: RowMeta {
            owner_tenant: "acme".to_owned(),
            visibility: Visibility::PUBLIC,
            data_classes: vec![DataClass::Public],
            regions: vec![],
            compliance: vec![],
            status: VersionStatus::Active,
            cost_usd: 0.01,
            latency_p95_ms: 100,
            current: false,
        },
        vectors: vec![SkillVector {
            skill: "main".to_owned(),
            vector: 0,
            values,
        }],
    }
}

fn top(index: &CapabilityIndex, q: &[f32], k: usize) -> Vec<String> {
    seen(index, q, k, None)
}

#[test]
fn mutations_are_visible_to_the_next_search() {
    let index = CapabilityIndex::new("t", 3, flat_config());
    let q = [1.0, 0.0, 0.0];
    assert!(top(&index, &q, 5).is_empty());
    index
        .insert_version(&one("a/x", "1.0.0", vec![1.0, 0.1, 0.0]))
        .unwrap();
    assert_eq!(top(&index, &q, 5), ["a/x@1.0.0"]);
    index
        .insert_version(&one("a/x", "2.0.0", vec![1.0, 0.0, 0.0]))
        .unwrap();
    index
        .insert_version(&one("a/y", "1.0.0", vec![0.0, 1.0, 0.0]))
        .unwrap();
    assert_eq!(top(&index, &q, 2), ["a/x@2.0.0", "a/x@1.0.0"]);

    assert_eq!(index.set_status("a/x", "2.0.0", VersionStatus::Yanked), 1);
    assert_eq!(top(&index, &q, 2), ["a/x@1.0.0", "a/y@1.0.0"]);
    index.set_status("a/x", "2.0.0", VersionStatus::Active);
    assert_eq!(top(&index, &q, 1), ["a/x@2.0.0"]);

    // Re-inserting a version replaces its rows (superseded → tombstones).
    let r = index
        .insert_version(&one("a/x", "2.0.0", vec![0.0, 0.0, 1.0]))
        .unwrap();
    assert_eq!(r.superseded, 1);
    assert_eq!(top(&index, &q, 1), ["a/x@1.0.0"]);

    assert_eq!(index.remove_version("a/x", "1.0.0"), 1);
    assert_eq!(top(&index, &q, 1), ["a/y@1.0.0"]);
    assert_eq!(index.remove_agent("a/x"), 1);
    assert_eq!(top(&index, &q, 5), ["a/y@1.0.0"]);
    assert_eq!(index.stats().live_rows, 1);
}

#[test]
fn mutations_on_graph_segments_are_visible_at_once() {
    let dim = 8;
    let mut data = dataset(5, 300, dim);
    for (i, v) in data.iter_mut().enumerate() {
        v.agent = format!("g/agent-{i}");
        v.meta.visibility = Visibility::PUBLIC;
        v.meta.status = VersionStatus::Active;
    }
    let config = IndexConfig {
        hnsw_min_rows: 100,
        exact_max_rows: 0,
        ..IndexConfig::default()
    };
    let index = CapabilityIndex::new("t", dim, config);
    index.bulk_insert(&data).unwrap();
    index.wait_for_background();
    assert_eq!(index.stats().graphs_ready, 1);
    let q = data[0].vectors[0].values.clone();
    let first = index
        .search(&SearchRequest {
            vector: &q,
            k: 1,
            best_per_skill: false,
            filter: Filter::default(),
        })
        .unwrap();
    assert_eq!(first.hits[0].key.agent, "g/agent-0");
    assert!(first.plan.segments[0].has_graph);
    index.set_status("g/agent-0", &data[0].version, VersionStatus::Yanked);
    assert!(top(&index, &q, 20).iter().all(|a| !a.starts_with("g/agent-0@")));
    index.set_status("g/agent-0", &data[0].version, VersionStatus::Active);
    assert!(top(&index, &q, 1)[0].starts_with("g/agent-0@"));
    index.remove_agent("g/agent-0");
    assert!(top(&index, &q, 20).iter().all(|a| !a.starts_with("g/agent-0@")));

    // Removing over 20% of rows rewrites the segment in the background.
    let before = index.stats().rows;
    for v in data.iter().take(100) {
        index.remove_version(&v.agent, &v.version);
    }
    index.wait_for_background();
    let s = index.stats();
    assert!(s.rows < before, "segment not rewritten: {s:?}");
    assert!((s.rows - s.live_rows) as f32 <= 0.2 * s.rows as f32, "{s:?}");
    assert_eq!(s.graphs_ready, 1);
    assert!(top(&index, &q, 50).iter().all(|a| !a.starts_with("g/agent-0@")));
}

#[test]
fn best_per_skill_keeps_one_row_per_skill() {
    let index = CapabilityIndex::new("t", 2, flat_config());
    let mut v = one("a/multi", "1.0.0", vec![1.0, 0.0]);
    v.vectors = (0..5)
        .map(|i| SkillVector {
            skill: "near".to_owned(),
            vector: i,
            values: vec![1.0, 0.01 * f32::from(i)],
        })
        .collect();
    v.vectors.push(SkillVector {
        skill: "other".to_owned(),
        vector: 0,
        values: vec![1.0, 0.5],
    });
    index.insert_version(&v).unwrap();
    index
        .insert_version(&one("a/far", "1.0.0", vec![1.0, 1.0]))
        .unwrap();
    let q = [1.0, 0.0];
    let plain = index
        .search(&SearchRequest {
            vector: &q,
            k: 3,
            best_per_skill: false,
            filter: Filter::default(),
        })
        .unwrap();
    assert!(plain.hits.iter().all(|h| h.key.skill == "near"));
    let best = index
        .search(&SearchRequest {
            vector: &q,
            k: 3,
            best_per_skill: true,
            filter: Filter::default(),
        })
        .unwrap();
    let skills: Vec<(&str, &str)> = best
        .hits
        .iter()
        .map(|h| (h.key.agent.as_str(), h.key.skill.as_str()))
        .collect();
    assert_eq!(
        skills,
        [("a/multi", "near"), ("a/multi", "other"), ("a/far", "main")]
    );
    assert_eq!(best.hits[0].key.vector, 0);
}

#[test]
fn rejects_bad_vectors() {
    let index = CapabilityIndex::new("minilm", 3, flat_config());
    let err = index
        .insert_version(&one("a/x", "1.0.0", vec![1.0, 2.0]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::WrongDimension {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = index
        .insert_version(&one("a/x", "1.0.0", vec![0.0; 3]))
        .unwrap_err();
    assert!(matches!(err, IndexError::ZeroNorm { .. }), "{err}");
    let err = index
        .search(&SearchRequest {
            vector: &[1.0; 4],
            k: 1,
            best_per_skill: false,
            filter: Filter::default(),
        })
        .unwrap_err();
    assert!(matches!(err, IndexError::WrongDimension { got: 4, .. }), "{err}");
    let mut dup = one("a/x", "1.0.0", vec![1.0, 0.0, 0.0]);
    dup.vectors.push(dup.vectors[0].clone());
    assert!(matches!(
        index.insert_version(&dup).unwrap_err(),
        IndexError::DuplicateRow { .. }
    ));
}

/// The top `k` agents@versions `tenant` sees for `q`, best first
/// (anonymous: `None`).
fn seen(index: &CapabilityIndex, q: &[f32], k: usize, tenant: Option<&str>) -> Vec<String> {
    index
        .search(&SearchRequest {
            vector: q,
            k,
            best_per_skill: false,
            filter: Filter {
                tenant,
                ..Filter::default()
            },
        })
        .unwrap()
        .hits
        .into_iter()
        .map(|h| format!("{}@{}", h.key.agent, h.key.version))
        .collect()
}

/// A segment keeps the rows a repeated filter allowed until a write changes
/// it: each view is asked twice (the second answer comes from that cache)
/// between changes, for several tenants, and must follow every change.
#[test]
fn repeated_filters_follow_every_change() {
    let config = IndexConfig {
        open_segment_max_rows: 2,
        ..flat_config()
    };
    let index = CapabilityIndex::new("t", 3, config);
    let row = |agent: &str, owner: &str, visibility: Visibility, x: f32| {
        let mut v = one(agent, "1.0.0", vec![x, 1.0 - x, 0.0]);
        v.meta.owner_tenant = owner.to_owned();
        v.meta.visibility = visibility;
        v
    };
    let initech = Visibility::Tenants(vec!["initech".to_owned()]);
    for v in [
        row("a/x", "acme", Visibility::PRIVATE, 1.0),
        row("g/y", "globex", Visibility::PUBLIC, 0.9),
        row("g/z", "globex", initech, 0.8),
        row("a/w", "acme", Visibility::PUBLIC, 0.7),
    ] {
        index.insert_version(&v).unwrap();
    }
    assert!(index.stats().segments >= 2, "{:?}", index.stats());
    let q = [1.0, 0.0, 0.0];
    let check = |want: [(Option<&str>, &[&str]); 4]| {
        for _ in 0..2 {
            for (tenant, agents) in &want {
                assert_eq!(seen(&index, &q, 10, *tenant), *agents, "as {tenant:?}");
            }
        }
    };
    check([
        (Some("acme"), &["a/x@1.0.0", "g/y@1.0.0", "a/w@1.0.0"]),
        (Some("globex"), &["g/y@1.0.0", "g/z@1.0.0", "a/w@1.0.0"]),
        (Some("initech"), &["g/y@1.0.0", "g/z@1.0.0", "a/w@1.0.0"]),
        (None, &["g/y@1.0.0", "a/w@1.0.0"]),
    ]);
    index.set_status("g/y", "1.0.0", VersionStatus::Yanked);
    check([
        (Some("acme"), &["a/x@1.0.0", "a/w@1.0.0"]),
        (Some("globex"), &["g/z@1.0.0", "a/w@1.0.0"]),
        (Some("initech"), &["g/z@1.0.0", "a/w@1.0.0"]),
        (None, &["a/w@1.0.0"]),
    ]);
    index.remove_agent("a/x");
    index.set_status("g/y", "1.0.0", VersionStatus::Active);
    let mut w2 = row("a/w", "acme", Visibility::PRIVATE, 0.95);
    w2.version = "2.0.0".to_owned();
    index.insert_version(&w2).unwrap();
    check([
        (Some("acme"), &["a/w@2.0.0", "g/y@1.0.0", "a/w@1.0.0"]),
        (Some("globex"), &["g/y@1.0.0", "g/z@1.0.0", "a/w@1.0.0"]),
        (Some("initech"), &["g/y@1.0.0", "g/z@1.0.0", "a/w@1.0.0"]),
        (None, &["g/y@1.0.0", "a/w@1.0.0"]),
    ]);
}
