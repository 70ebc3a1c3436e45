//! Capability index snapshots: persist + reload answers exactly like the
//! original; a missing or corrupt snapshot is reported and a rebuild works.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_registry::index::{
    CapabilityIndex, Filter, HnswParams, IndexConfig, RowMeta, SearchRequest, SkillVector, SnapshotError,
    StatusSet, VersionRows,
};
use switchyard_schemas::api::VersionStatus;
use switchyard_schemas::manifest::{DataClass, Visibility};

const DIM: usize = 24;

fn versions(seed: u64, n: usize, prefix: &str) -> Vec<VersionRows> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| VersionRows {
            agent: format!("{prefix}/agent-{i}"),
            version: "1.0.0".to_owned(),
            meta: RowMeta {
                owner_tenant: ["acme", "globex"][i % 2].to_owned(),
                visibility: match i % 3 {
                    0 => Visibility::PRIVATE,
                    1 => Visibility::Tenants(vec!["initech".to_owned()]),
                    _ => Visibility::PUBLIC,
                },
                data_classes: vec![DataClass::Public, DataClass::Pii],
                regions: vec![["eu-west", "us-east"][i % 2].to_owned()],
                compliance: if i % 4 == 0 {
                    vec!["soc2".to_owned()]
                } else {
                    vec![]
                },
                status: VersionStatus::Active,
                cost_usd: 0.01 * (i % 10) as f32,
                latency_p95_ms: 100 * (i % 7) as u32,
                current: false,
            },
            vectors: (0..2)
                .map(|s| SkillVector {
                    skill: format!("s{s}"),
                    vector: 0,
                    values: (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect(),
                })
                .collect(),
        })
        .collect()
}

fn config() -> IndexConfig {
    IndexConfig {
        open_segment_max_rows: 64,
        hnsw_min_rows: 300,
        max_small_segments: 8,
        exact_max_rows: 10,
        background_builds: false,
        hnsw: HnswParams {
            ef_construction: 40,
            ef_search: 80,
            seed: 3,
        },
        ..IndexConfig::default()
    }
}

/// A graph segment, flat sealed segments, an open segment, tombstones and
/// status changes.
fn populated() -> CapabilityIndex {
    let index = CapabilityIndex::new("space-a", DIM, config());
    index.bulk_insert(&versions(1, 200, "big")).unwrap();
    for v in versions(2, 80, "small") {
        index.insert_version(&v).unwrap();
    }
    index.remove_agent("big/agent-3");
    index.remove_version("small/agent-5", "1.0.0");
    index.set_status("big/agent-7", "1.0.0", VersionStatus::Deprecated);
    index.set_status("small/agent-9", "1.0.0", VersionStatus::Yanked);
    let s = index.stats();
    assert!(s.graphs_ready >= 1 && s.segments >= 3, "{s:?}");
    index
}

fn answers(index: &CapabilityIndex) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(99);
    let mut out = Vec::new();
    for i in 0..30 {
        let q: Vec<f32> = (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect();
        let regions = if i % 3 == 0 { vec!["eu-west"] } else { vec![] };
        let filter = Filter {
            tenant: Some(["acme", "globex", "initech"][i % 3]),
            see_all: i % 5 == 0,
            regions,
            statuses: if i % 2 == 0 {
                StatusSet::ALL
            } else {
                StatusSet::ACTIVE
            },
            ..Filter::default()
        };
        let res = index
            .search(&SearchRequest {
                vector: &q,
                k: 8,
                best_per_skill: i % 4 == 0,
                filter,
            })
            .unwrap();
        out.push(format!("{:?}", res.hits));
    }
    out
}

fn load(dir: &Path) -> Result<CapabilityIndex, SnapshotError> {
    CapabilityIndex::load(dir, "space-a", DIM, config()).map(|l| l.index)
}

#[test]
fn persist_and_reload_answer_identically() {
    let dir = tempfile::tempdir().unwrap();
    let index = populated();
    let report = index.persist(dir.path(), 42).unwrap();
    assert_eq!(report.files_written, report.segments);
    let loaded = CapabilityIndex::load(dir.path(), "space-a", DIM, config()).unwrap();
    assert_eq!(loaded.checkpoint, 42);
    assert_eq!(
        loaded.index.stats().graphs_ready,
        index.stats().graphs_ready,
        "graphs load, not rebuild"
    );
    assert_eq!(answers(&loaded.index), answers(&index));

    // The reloaded index keeps working, and a second persist only writes
    // what changed and removes files of the old snapshot.
    let again = loaded.index;
    again.insert_version(&versions(3, 1, "late")[0]).unwrap();
    let r2 = again.persist(dir.path(), 43).unwrap();
    assert!(r2.files_written >= 1 && r2.files_written < r2.segments, "{r2:?}");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, r2.segments + 1, "stale segment files were left behind");
    let third = load(dir.path()).unwrap();
    assert_eq!(answers(&third), answers(&again));
}

#[test]
fn missing_and_corrupt_snapshots_are_reported_and_rebuild_works() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(dir.path()), Err(SnapshotError::Missing { .. })));

    let index = populated();
    index.persist(dir.path(), 1).unwrap();
    assert!(matches!(
        CapabilityIndex::load(dir.path(), "other-space", DIM, config()),
        Err(SnapshotError::SpaceMismatch { .. })
    ));

    // Flip one byte in the largest segment file.
    let mut segs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = segs.last().unwrap().clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    match load(dir.path()) {
        Err(SnapshotError::Corrupt { path, reason }) => {
            assert_eq!(path, victim);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Truncated, too.
    std::fs::write(&victim, &bytes[..100]).unwrap();
    assert!(matches!(load(dir.path()), Err(SnapshotError::Corrupt { .. })));
    std::fs::remove_file(&victim).unwrap();
    assert!(matches!(
        load(dir.path()),
        Err(SnapshotError::MissingSegment { .. })
    ));

    // The caller rebuilds from its store and persists over the wreck.
    let rebuilt = CapabilityIndex::new("space-a", DIM, config());
    rebuilt.bulk_insert(&versions(1, 200, "big")).unwrap();
    rebuilt.persist(dir.path(), 2).unwrap();
    let back = CapabilityIndex::load(dir.path(), "space-a", DIM, config()).unwrap();
    assert_eq!(back.checkpoint, 2);
    assert_eq!(answers(&back.index), answers(&rebuilt));
}
