//! Merge policy tests: convergence, exactness and recall after merges, and
//! changes made while a background rewrite is pending. In the crate so a
//! test can hold the one build thread and so decide when a rewrite runs.

use std::collections::BTreeMap;
use std::sync::mpsc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_schemas::api::VersionStatus;
use switchyard_schemas::manifest::{DataClass, Visibility};

use super::*;

const DIM: usize = 12;

fn seed(name: &str) -> u64 {
    let seed = std::env::var("INDEX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_202);
    eprintln!("{name}: data seed {seed}");
    seed
}

/// `n` one-version agents named `{prefix}-{i}`, two skills each, vectors
/// around 8 cluster centres.
fn versions(rng: &mut StdRng, prefix: &str, n: usize) -> Vec<VersionRows> {
    let centres: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..DIM).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect())
        .collect();
    (0..n)
        .map(|i| {
            let c = &centres[rng.random_range(0..centres.len())];
            VersionRows {
                agent: format!("{prefix}-{i}"),
                version: "1.0.0".to_owned(),
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
                vectors: (0..2)
                    .map(|s| SkillVector {
                        skill: format!("s{s}"),
                        vector: 0,
                        values: c.iter().map(|x| x + 0.4 * (rng.random::<f32>() - 0.5)).collect(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What the index should hold: live versions and their statuses.
#[derive(Default, Clone)]
struct Model(BTreeMap<String, (VersionRows, VersionStatus)>);

impl Model {
    fn insert(&mut self, v: &VersionRows) {
        self.0.insert(v.agent.clone(), (v.clone(), v.meta.status));
    }

    /// Exact top-k of active rows (ties by key, as the index breaks them).
    fn top(&self, q: &[f32], k: usize) -> Vec<(RowKey, f32)> {
        let mut qn = q.to_vec();
        distance::normalize("t", DIM, &mut qn, String::new).unwrap();
        let mut all: Vec<(RowKey, f32)> = Vec::new();
        for (v, st) in self.0.values() {
            if *st != VersionStatus::Active {
                continue;
            }
            for sv in &v.vectors {
                let mut x = sv.values.clone();
                distance::normalize("t", DIM, &mut x, String::new).unwrap();
                let key = RowKey {
                    agent: v.agent.clone(),
                    version: v.version.clone(),
                    skill: sv.skill.clone(),
                    vector: sv.vector,
                };
                all.push((key, distance::dot(&qn, &x)));
            }
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }
}

fn search(index: &CapabilityIndex, q: &[f32], k: usize) -> Vec<(RowKey, f32)> {
    index
        .search(&SearchRequest {
            vector: q,
            k,
            best_per_skill: false,
            filter: Filter {
                see_all: true,
                ..Filter::default()
            },
        })
        .unwrap()
        .hits
        .into_iter()
        .map(|h| (h.key, h.similarity))
        .collect()
}

fn query(rng: &mut StdRng) -> Vec<f32> {
    (0..DIM).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

/// Exact answers equal the model's (keys, and scores to rounding).
fn assert_exact(index: &CapabilityIndex, model: &Model, rng: &mut StdRng, seed: u64) {
    for _ in 0..40 {
        let q = query(rng);
        let k = rng.random_range(1..20);
        let got = search(index, &q, k);
        let want = model.top(&q, k);
        let keys = |v: &[(RowKey, f32)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want), "seed {seed}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g.1 - w.1).abs() < 1e-4, "seed {seed}: {g:?} vs {w:?}");
        }
    }
}

/// Sizes of the sealed segments, smallest first.
fn sealed_sizes(index: &CapabilityIndex) -> Vec<usize> {
    let w = lock(&index.inner.writer);
    let mut s: Vec<usize> = w.sealed.iter().map(SegmentView::live_rows).collect();
    s.sort_unstable();
    s
}

fn small_graph_config() -> IndexConfig {
    IndexConfig {
        open_segment_max_rows: 32,
        hnsw_min_rows: 150,
        max_small_segments: 3,
        merge_factor: 3,
        max_segment_rows: 100_000,
        idle_merge_after_ms: Some(50),
        exact_max_rows: 20,
        background_builds: false,
        hnsw: HnswParams {
            ef_construction: 40,
            ef_search: 80,
            seed: 3,
        },
        ..IndexConfig::default()
    }
}

/// A trickle of single-version inserts stays within the tiered bound
/// while it runs and settles to a geometric layout (each sealed segment
/// holds more than `merge_factor` times all smaller ones together) when
/// waited for; exact answers equal brute force throughout, and the graphs
/// of the merged segments reach recall@10 ≥ 0.95.
#[test]
fn trickle_inserts_converge_and_answer_exactly() {
    let seed = seed("trickle_inserts_converge_and_answer_exactly");
    let mut rng = StdRng::seed_from_u64(seed);
    let data = versions(&mut rng, "a/agent", 1_200);
    let exact_cfg = IndexConfig {
        exact_max_rows: usize::MAX,
        ..small_graph_config()
    };
    let exact = CapabilityIndex::new("t", DIM, exact_cfg);
    let graphs = CapabilityIndex::new("t", DIM, small_graph_config());
    let mut model = Model::default();
    let cfg = small_graph_config();
    for (i, v) in data.iter().enumerate() {
        for index in [&exact, &graphs] {
            index.insert_version(v).unwrap();
        }
        model.insert(v);
        if i % 7 == 3 {
            // Tombstones too, so rewrites of segments with dead rows run.
            let gone = &data[rng.random_range(0..=i)].agent;
            if model.0.remove(gone).is_some() {
                exact.remove_agent(gone);
                graphs.remove_agent(gone);
            }
        }
        // Busy: at most `max_small_segments` flat segments and fewer than
        // `merge_factor` graph-sized ones per size class.
        let w = lock(&exact.inner.writer);
        let flats = w
            .sealed
            .iter()
            .filter(|v| v.data.rows() < cfg.hnsw_min_rows)
            .count();
        assert!(
            flats <= cfg.max_small_segments,
            "{flats} flat segments after insert {i}"
        );
        let mut classes = BTreeMap::new();
        for v in w.sealed.iter().filter(|v| v.live_rows() >= cfg.hnsw_min_rows) {
            *classes
                .entry(size_class(v.live_rows(), cfg.hnsw_min_rows, cfg.merge_factor))
                .or_insert(0) += 1;
        }
        assert!(
            classes.values().all(|&n| n < cfg.merge_factor),
            "size classes {classes:?} after insert {i}"
        );
    }
    assert_exact(&exact, &model, &mut rng, seed);

    for index in [&exact, &graphs] {
        index.wait_for_background();
        let sizes = sealed_sizes(index);
        let mut below = 0;
        for &s in &sizes {
            assert!(below * 3 < s, "not settled: {sizes:?}");
            below += s;
        }
        assert!(sizes.len() <= 4, "{sizes:?}");
        assert_eq!(index.stats().live_rows, model.0.len() * 2);
    }
    assert!(exact.stats().segments <= 5, "{:?}", exact.stats());
    assert_exact(&exact, &model, &mut rng, seed);

    let s = graphs.stats();
    assert!(s.graphs_ready >= 1, "{s:?}");
    let (mut found, mut wanted) = (0, 0);
    for _ in 0..100 {
        let near = &data[rng.random_range(0..data.len())].vectors[0].values;
        let q: Vec<f32> = near
            .iter()
            .map(|x| x + 0.2 * (rng.random::<f32>() - 0.5))
            .collect();
        let want = model.top(&q, 10);
        let got = search(&graphs, &q, 10);
        wanted += want.len();
        found += want.iter().filter(|w| got.iter().any(|g| g.0 == w.0)).count();
    }
    let recall = found as f64 / wanted as f64;
    eprintln!("recall@10 after merges {recall:.3}");
    assert!(recall >= 0.95, "recall@10 {recall} (seed {seed})");
}

/// Idle merges respect `max_segment_rows` and leave a small tail alone
/// rather than rebuild a big graph for it.
#[test]
fn idle_merges_are_capped_and_proportionate() {
    let seed = seed("idle_merges_are_capped_and_proportionate");
    let mut rng = StdRng::seed_from_u64(seed);
    let config = IndexConfig {
        max_segment_rows: 600,
        exact_max_rows: usize::MAX,
        ..small_graph_config()
    };
    let index = CapabilityIndex::new("t", DIM, config);
    let mut model = Model::default();
    // Two bulk segments of 400 rows: together above the cap of 600.
    for prefix in ["b/one", "b/two"] {
        let vs = versions(&mut rng, prefix, 200);
        index.bulk_insert(&vs).unwrap();
        vs.iter().for_each(|v| model.insert(v));
    }
    // A tail of 40 rows (one sealed segment of 32, 8 rows open): below a
    // third of either big segment.
    for v in versions(&mut rng, "t/tail", 20) {
        index.insert_version(&v).unwrap();
        model.insert(&v);
    }
    index.wait_for_background();
    let sizes = sealed_sizes(&index);
    assert_eq!(sizes, vec![32, 400, 400], "tail folded or cap broken");
    // 120 rows more: sealed flats of 32 and 128, which together pass a third
    // of a big segment and are folded into one (the other is left: the cap).
    for v in versions(&mut rng, "t/more", 60) {
        index.insert_version(&v).unwrap();
        model.insert(&v);
    }
    index.wait_for_background();
    let sizes = sealed_sizes(&index);
    assert_eq!(sizes, vec![400, 560]);
    assert_exact(&index, &model, &mut rng, seed);
}

/// Holds the index's one build thread until the returned sender is dropped
/// or sent to, so background tasks queue behind it.
fn hold_build_thread(index: &CapabilityIndex) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let tasks = index.inner.tasks.clone();
    tasks.start();
    index.inner.pool().spawn_fifo(move || {
        let _ = rx.recv();
        tasks.finish();
    });
    tx
}

/// Statuses, removals and re-inserts made while a background merge of
/// several graph segments is pending are all carried into the merged
/// segment; a snapshot persisted meanwhile loads with the old layout and
/// answers as of its time; the merged index persists and loads too.
#[test]
fn changes_during_a_background_merge_are_kept() {
    let seed = seed("changes_during_a_background_merge_are_kept");
    let mut rng = StdRng::seed_from_u64(seed);
    let config = IndexConfig {
        open_segment_max_rows: 10_000,
        hnsw_min_rows: 100,
        merge_factor: 3,
        idle_merge_after_ms: None,
        exact_max_rows: usize::MAX,
        background_builds: true,
        ..small_graph_config()
    };
    let index = CapabilityIndex::new("t", DIM, config.clone());
    let mut model = Model::default();
    let hold = hold_build_thread(&index);
    let mut all = Vec::new();
    for prefix in ["m/a", "m/b", "m/c"] {
        let vs = versions(&mut rng, prefix, 60);
        index.bulk_insert(&vs).unwrap();
        vs.iter().for_each(|v| model.insert(v));
        all.extend(vs);
    }
    {
        let w = lock(&index.inner.writer);
        assert_eq!(w.rewriting.len(), 3, "three 120-row segments should be merging");
    }
    // Changes on every old segment while the merge waits.
    for (i, v) in all.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        match (i / 5) % 3 {
            0 => {
                index.set_status(&v.agent, &v.version, VersionStatus::Yanked);
                model.0.get_mut(&v.agent).unwrap().1 = VersionStatus::Yanked;
            }
            1 => {
                index.remove_agent(&v.agent);
                model.0.remove(&v.agent);
            }
            _ => {
                // Re-publishing a version supersedes its old rows.
                let mut nv = v.clone();
                nv.vectors[0].values.iter_mut().for_each(|x| *x = -*x);
                index.insert_version(&nv).unwrap();
                model.insert(&nv);
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    index.persist(dir.path(), 7).unwrap();
    let model_then = model.clone();
    // And after the snapshot: a yanked version back to active.
    let back = &all[0];
    index.set_status(&back.agent, &back.version, VersionStatus::Active);
    model.0.get_mut(&back.agent).unwrap().1 = VersionStatus::Active;
    assert_exact(&index, &model, &mut rng, seed);

    drop(hold);
    index.wait_for_background();
    let s = index.stats();
    assert_eq!(sealed_sizes(&index).len(), 1, "{s:?}");
    assert_eq!(s.graphs_ready, 1, "{s:?}");
    assert_eq!(s.live_rows, model.0.len() * 2, "{s:?}");
    assert_exact(&index, &model, &mut rng, seed);

    // The snapshot taken mid-merge holds the three old segments (merged
    // again on load, inline here) and answers as of its time.
    let mid = CapabilityIndex::load(
        dir.path(),
        "t",
        DIM,
        IndexConfig {
            background_builds: false,
            ..config.clone()
        },
    )
    .unwrap();
    assert_eq!(mid.checkpoint, 7);
    assert_exact(&mid.index, &model_then, &mut rng, seed);

    let dir2 = tempfile::tempdir().unwrap();
    index.persist(dir2.path(), 8).unwrap();
    let after = CapabilityIndex::load(dir2.path(), "t", DIM, config).unwrap();
    after.index.wait_for_background();
    assert_eq!(after.index.stats().graphs_ready, 1);
    assert_exact(&after.index, &model, &mut rng, seed);
}

/// With background builds the idle timer merges by itself once writes stop
/// (nothing here waits for the background, which would merge too).
#[test]
fn idle_timer_merges_a_quiet_index() {
    let seed = seed("idle_timer_merges_a_quiet_index");
    let mut rng = StdRng::seed_from_u64(seed);
    let config = IndexConfig {
        hnsw_min_rows: usize::MAX,
        max_small_segments: 100,
        idle_merge_after_ms: Some(50),
        background_builds: true,
        exact_max_rows: usize::MAX,
        ..small_graph_config()
    };
    let index = CapabilityIndex::new("t", DIM, config);
    let mut model = Model::default();
    // 80 rows: two sealed flat segments of 32 (the flat rule would wait
    // for 101), 16 rows open.
    for v in versions(&mut rng, "q/agent", 40) {
        index.insert_version(&v).unwrap();
        model.insert(&v);
    }
    let start = Instant::now();
    while sealed_sizes(&index) != [64] {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no idle merge: {:?}",
            sealed_sizes(&index)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_exact(&index, &model, &mut rng, seed);
}
