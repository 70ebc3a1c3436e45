//! Per-row filter columns with interned strings, and the filter compiled
//! against them.
//!
//! Strings (tenants, agents, regions, compliance tags) are interned per
//! segment, and the sets rows carry (visibility lists, regions, tags) are
//! interned as whole sets, because all rows of an agent version share them.
//! A query is compiled once per segment into small lookup tables indexed by
//! set id, so checking a row costs a few array reads and no string compare.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use switchyard_schemas::manifest::{DataClass, Visibility, VisibilityScope};

use super::model::{CURRENT_FLAG, Filter, RowKey, RowMeta};

/// Visibility column value of a public row.
const VIS_PUBLIC: u32 = 0;
/// Visibility column value of a private row; list visibilities follow.
const VIS_PRIVATE: u32 = 1;
const VIS_LISTS: u32 = 2;

/// Strings to dense ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Dict {
    names: Vec<String>,
    #[serde(skip)]
    ids: HashMap<String, u32>,
}

impl Dict {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    fn reindex(&mut self) {
        self.ids = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
    }
}

/// Sorted id sets to dense ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SetTable {
    sets: Vec<Vec<u32>>,
    #[serde(skip)]
    ids: HashMap<Vec<u32>, u32>,
}

impl SetTable {
    fn intern(&mut self, mut set: Vec<u32>) -> u32 {
        set.sort_unstable();
        set.dedup();
        if let Some(&id) = self.ids.get(&set) {
            return id;
        }
        let id = self.sets.len() as u32;
        self.sets.push(set.clone());
        self.ids.insert(set, id);
        id
    }

    fn reindex(&mut self) {
        self.ids = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
    }
}

/// Filter columns of a segment, one entry per row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Columns {
    pub tenants: Dict,
    pub agents: Dict,
    regions: Dict,
    tags: Dict,
    vis_lists: SetTable,
    region_sets: SetTable,
    tag_sets: SetTable,
    pub agent: Vec<u32>,
    pub owner: Vec<u32>,
    vis: Vec<u32>,
    classes: Vec<u8>,
    region_set: Vec<u32>,
    tag_set: Vec<u32>,
    pub cost: Vec<f32>,
    pub latency: Vec<u32>,
    /// First row of each run of rows with identical columns (the rows of
    /// one agent version are one run): the filter is evaluated once per run.
    runs: Vec<u32>,
}

/// Interned values of one row's metadata, computed once per agent version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct InternedMeta {
    agent: u32,
    owner: u32,
    vis: u32,
    classes: u8,
    region_set: u32,
    tag_set: u32,
    cost: f32,
    latency: u32,
}

pub(crate) fn class_mask(classes: &[DataClass]) -> u8 {
    classes.iter().fold(0, |m, c| m | (1 << (*c as u8)))
}

impl Columns {
    pub fn len(&self) -> usize {
        self.agent.len()
    }

    /// Row ranges sharing all column values, in order.
    pub fn runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let n = self.len();
        self.runs.iter().enumerate().map(move |(i, &start)| {
            let end = self.runs.get(i + 1).map_or(n, |&e| e as usize);
            start as usize..end
        })
    }

    /// Whether the persisted columns are consistent with each other.
    pub fn is_consistent(&self) -> bool {
        let n = self.len();
        [
            self.owner.len(),
            self.vis.len(),
            self.classes.len(),
            self.region_set.len(),
            self.tag_set.len(),
            self.cost.len(),
            self.latency.len(),
        ]
        .iter()
        .all(|&l| l == n)
            && self.runs.windows(2).all(|w| w[0] < w[1])
            && self.runs.first().is_none_or(|&f| f == 0)
            && self.runs.last().is_none_or(|&l| (l as usize) < n)
            && (n == 0) == self.runs.is_empty()
            && self
                .vis
                .iter()
                .all(|&v| v < VIS_LISTS || ((v - VIS_LISTS) as usize) < self.vis_lists.sets.len())
            && self
                .region_set
                .iter()
                .all(|&r| (r as usize) < self.region_sets.sets.len())
            && self
                .tag_set
                .iter()
                .all(|&t| (t as usize) < self.tag_sets.sets.len())
            && self
                .owner
                .iter()
                .all(|&t| (t as usize) < self.tenants.names.len())
            && self.agent.iter().all(|&a| (a as usize) < self.agents.names.len())
            && self
                .vis_lists
                .sets
                .iter()
                .flatten()
                .all(|&t| (t as usize) < self.tenants.names.len())
            && self
                .region_sets
                .sets
                .iter()
                .flatten()
                .all(|&r| (r as usize) < self.regions.names.len())
            && self
                .tag_sets
                .sets
                .iter()
                .flatten()
                .all(|&t| (t as usize) < self.tags.names.len())
    }

    /// Rebuilds the lookup maps that are not persisted.
    pub fn reindex(&mut self) {
        for d in [
            &mut self.tenants,
            &mut self.agents,
            &mut self.regions,
            &mut self.tags,
        ] {
            d.reindex();
        }
        for t in [&mut self.vis_lists, &mut self.region_sets, &mut self.tag_sets] {
            t.reindex();
        }
    }

    pub fn intern_meta(&mut self, agent: &str, meta: &RowMeta) -> InternedMeta {
        let owner = self.tenants.intern(&meta.owner_tenant);
        let vis = match &meta.visibility {
            Visibility::Scope(VisibilityScope::Public) => VIS_PUBLIC,
            Visibility::Scope(VisibilityScope::Private) => VIS_PRIVATE,
            Visibility::Tenants(list) => {
                let ids = list.iter().map(|t| self.tenants.intern(t)).collect();
                VIS_LISTS + self.vis_lists.intern(ids)
            }
        };
        let regions = meta.regions.iter().map(|r| self.regions.intern(r)).collect();
        let tags = meta.compliance.iter().map(|t| self.tags.intern(t)).collect();
        InternedMeta {
            agent: self.agents.intern(agent),
            owner,
            vis,
            classes: class_mask(&meta.data_classes),
            region_set: self.region_sets.intern(regions),
            tag_set: self.tag_sets.intern(tags),
            cost: meta.cost_usd,
            latency: meta.latency_p95_ms,
        }
    }

    fn meta(&self, row: usize) -> InternedMeta {
        InternedMeta {
            agent: self.agent[row],
            owner: self.owner[row],
            vis: self.vis[row],
            classes: self.classes[row],
            region_set: self.region_set[row],
            tag_set: self.tag_set[row],
            cost: self.cost[row],
            latency: self.latency[row],
        }
    }

    pub fn push(&mut self, m: &InternedMeta) {
        let n = self.len();
        if n == 0 || self.meta(n - 1) != *m {
            self.runs.push(n as u32);
        }
        self.agent.push(m.agent);
        self.owner.push(m.owner);
        self.vis.push(m.vis);
        self.classes.push(m.classes);
        self.region_set.push(m.region_set);
        self.tag_set.push(m.tag_set);
        self.cost.push(m.cost);
        self.latency.push(m.latency);
    }

    /// Copies row `row` of `other` (with its own dictionaries) into `self`.
    pub fn push_from(&mut self, other: &Columns, row: usize) {
        let owner = self.tenants.intern(other.tenants.name(other.owner[row]));
        let vis = match other.vis[row] {
            v if v < VIS_LISTS => v,
            v => {
                let ids = other.vis_lists.sets[(v - VIS_LISTS) as usize]
                    .iter()
                    .map(|&t| self.tenants.intern(other.tenants.name(t)))
                    .collect();
                VIS_LISTS + self.vis_lists.intern(ids)
            }
        };
        let regions = other.region_sets.sets[other.region_set[row] as usize]
            .iter()
            .map(|&r| self.regions.intern(other.regions.name(r)))
            .collect();
        let tags = other.tag_sets.sets[other.tag_set[row] as usize]
            .iter()
            .map(|&t| self.tags.intern(other.tags.name(t)))
            .collect();
        let m = InternedMeta {
            agent: self.agents.intern(other.agents.name(other.agent[row])),
            owner,
            vis,
            classes: other.classes[row],
            region_set: self.region_sets.intern(regions),
            tag_set: self.tag_sets.intern(tags),
            cost: other.cost[row],
            latency: other.latency[row],
        };
        self.push(&m);
    }

    /// Compiles `filter` against this segment's dictionaries.
    pub fn compile<'f>(&self, filter: &'f Filter<'f>) -> CompiledFilter<'f> {
        let tenant = filter.tenant.and_then(|t| self.tenants.get(t));
        let mut vis_ok = vec![true, false];
        vis_ok.extend(
            self.vis_lists
                .sets
                .iter()
                .map(|s| tenant.is_some_and(|t| s.binary_search(&t).is_ok())),
        );
        let region_ok = if filter.regions.is_empty() {
            None
        } else {
            let wanted: Vec<u32> = filter
                .regions
                .iter()
                .filter_map(|r| self.regions.get(r))
                .collect();
            Some(
                self.region_sets
                    .sets
                    .iter()
                    .map(|s| s.iter().any(|r| wanted.contains(r)))
                    .collect(),
            )
        };
        let tag_ok = if filter.compliance.is_empty() {
            None
        } else {
            let required: Option<Vec<u32>> = filter.compliance.iter().map(|t| self.tags.get(t)).collect();
            Some(match required {
                // A tag no row here holds: nothing in this segment qualifies.
                None => vec![false; self.tag_sets.sets.len()],
                Some(req) => self
                    .tag_sets
                    .sets
                    .iter()
                    .map(|s| req.iter().all(|t| s.binary_search(t).is_ok()))
                    .collect(),
            })
        };
        CompiledFilter {
            vis_ok,
            key: FilterKey {
                see_all: filter.see_all,
                tenant: tenant.unwrap_or(u32::MAX),
                classes: class_mask(&filter.data_classes),
                region_ok,
                tag_ok,
                statuses: filter.statuses.bits(),
                required_flags: if filter.current_only { CURRENT_FLAG } else { 0 },
                max_cost: filter.max_cost_usd.unwrap_or(f32::INFINITY),
                max_latency: filter.max_latency_p95_ms.unwrap_or(u32::MAX),
            },
            predicate: filter.key_predicate,
        }
    }
}

/// A filter resolved against one segment's dictionaries.
pub(crate) struct CompiledFilter<'f> {
    /// Per visibility list: whether the tenant is on it (a function of
    /// `key.tenant` within one segment, so not part of the key).
    vis_ok: Vec<bool>,
    key: FilterKey,
    predicate: Option<&'f dyn Fn(&RowKey) -> bool>,
}

/// Everything a compiled filter selects by besides its key predicate, so a
/// segment's live state can keep the rows a filter without one allowed
/// (`SelectCache`). A NaN cost limit never equals itself: such a filter is
/// selected afresh each time, which is still right.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilterKey {
    see_all: bool,
    /// `u32::MAX` when the tenant owns nothing here, so no owner matches.
    tenant: u32,
    classes: u8,
    region_ok: Option<Vec<bool>>,
    tag_ok: Option<Vec<bool>>,
    statuses: u8,
    /// Flag bits every row must carry besides an allowed status.
    required_flags: u8,
    max_cost: f32,
    max_latency: u32,
}

impl CompiledFilter<'_> {
    /// The cache key of this filter; `None` with a key predicate (caller
    /// code, which may answer differently each time).
    pub fn cache_key(&self) -> Option<FilterKey> {
        self.predicate.is_none().then(|| self.key.clone())
    }

    /// Whether the column values of `row` (shared by its whole run) pass.
    #[inline]
    pub fn allows_columns(&self, c: &Columns, row: usize) -> bool {
        let k = &self.key;
        (k.see_all || c.owner[row] == k.tenant || self.vis_ok[c.vis[row] as usize])
            && c.classes[row] & k.classes == k.classes
            && k.region_ok
                .as_ref()
                .is_none_or(|ok| ok[c.region_set[row] as usize])
            && k.tag_ok.as_ref().is_none_or(|ok| ok[c.tag_set[row] as usize])
            && c.cost[row] <= k.max_cost
            && c.latency[row] <= k.max_latency
    }

    /// Marks in `out` the live rows of `c` that pass; returns their count.
    ///
    /// This runs on every query over every row of a segment, so it works a
    /// run or a 64-row word at a time: whole runs are set from one column
    /// check, then each non-empty word is masked by row liveness and status.
    /// Only the caller's predicate, when there is one, looks at single rows.
    pub fn select(
        &self,
        c: &Columns,
        keys: &[RowKey],
        dead: &Bitset,
        status: &[u8],
        out: &mut Bitset,
    ) -> usize {
        for run in c.runs() {
            if self.allows_columns(c, run.start) {
                out.set_range(run);
            }
        }
        let mut count = 0;
        for (w, word) in out.words.iter_mut().enumerate() {
            if *word == 0 {
                continue;
            }
            let base = w * 64;
            let rows = &status[base..(base + 64).min(status.len())];
            *word &= !dead.words.get(w).copied().unwrap_or(0) & self.status_mask(rows);
            if let Some(p) = self.predicate {
                let mut bits = *word;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if !p(&keys[base + b]) {
                        *word &= !(1 << b);
                    }
                }
            }
            count += word.count_ones() as usize;
        }
        count
    }

    /// Bit `i` set when `rows[i]` (at most 64 status bytes) passes the
    /// status part of the filter, computed eight rows at a time in a u64.
    #[inline]
    fn status_mask(&self, rows: &[u8]) -> u64 {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // Status bytes use only their low four bits, so adding 0x7f to a
        // byte sets its high bit exactly when the byte is non-zero, with no
        // carry into the next byte.
        let nonzero = |v: u64| v.wrapping_add(0x7f * ONES) & HIGH;
        let (st, req) = (
            u64::from(self.key.statuses) * ONES,
            u64::from(self.key.required_flags) * ONES,
        );
        let mut mask = 0u64;
        for (i, chunk) in rows.chunks(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            let x = u64::from_le_bytes(bytes);
            let pass = nonzero(x & st) & !nonzero((x & req) ^ req) & HIGH;
            // Gather the eight high bits into one byte, row order kept.
            let byte = ((pass >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) & 0xff;
            mask |= byte << (8 * i);
        }
        mask
    }
}

/// A fixed-size bitset over row ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub fn grow(&mut self, len: usize) {
        self.words.resize(len.div_ceil(64), 0);
    }

    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    #[inline]
    pub fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Sets bits `range.start..range.end`.
    pub fn set_range(&mut self, range: std::ops::Range<usize>) {
        let (start, end) = (range.start, range.end);
        if start >= end {
            return;
        }
        let (first, last) = (start / 64, (end - 1) / 64);
        let head = !0u64 << (start % 64);
        let tail = !0u64 >> (63 - (end - 1) % 64);
        if first == last {
            self.words[first] |= head & tail;
            return;
        }
        self.words[first] |= head;
        for w in &mut self.words[first + 1..last] {
            *w = !0;
        }
        self.words[last] |= tail;
    }

    /// Ids of the set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use switchyard_schemas::api::VersionStatus;

    use super::*;
    use crate::index::model::status_bit;

    fn meta(owner: &str, vis: Visibility, regions: &[&str]) -> RowMeta {
        RowMeta {
            owner_tenant: owner.to_owned(),
            visibility: vis,
            data_classes: vec![DataClass::Pii],
            regions: regions.iter().map(|r| r.to_string()).collect(),
            compliance: vec![],
            status: VersionStatus::Active,
            cost_usd: 0.5,
            latency_p95_ms: 10,
            current: false,
        }
    }

    #[test]
    fn set_range_sets_exactly_the_range() {
        for start in 0..140 {
            for end in start..200 {
                let mut b = Bitset::new(200);
                b.set_range(start..end);
                let got: Vec<usize> = b.ones().collect();
                assert_eq!(got, (start..end).collect::<Vec<_>>(), "range {start}..{end}");
            }
        }
    }

    #[test]
    fn bitset_ones_in_order() {
        let mut b = Bitset::new(200);
        for i in [0, 63, 64, 130, 199] {
            b.set(i);
        }
        assert_eq!(b.ones().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        assert!(b.get(130) && !b.get(131) && !b.get(10_000));
    }

    #[test]
    fn runs_group_rows_with_equal_columns_and_filter_per_run() {
        let mut c = Columns::default();
        let a = c.intern_meta("ns/a", &meta("acme", Visibility::PRIVATE, &["eu"]));
        let b = c.intern_meta(
            "ns/b",
            &meta("globex", Visibility::Tenants(vec!["acme".into()]), &["us"]),
        );
        for m in [a, a, b, b, b, a] {
            c.push(&m);
        }
        assert_eq!(c.runs().collect::<Vec<_>>(), [0..2, 2..5, 5..6]);
        assert!(c.is_consistent());
        let keys: Vec<RowKey> = (0..6)
            .map(|i| RowKey {
                agent: String::new(),
                version: String::new(),
                skill: String::new(),
                vector: i,
            })
            .collect();
        let status = vec![1u8; 6];
        let dead = Bitset::new(6);
        let count = |f: &Filter<'_>| {
            let mut out = Bitset::new(6);
            c.compile(f).select(&c, &keys, &dead, &status, &mut out)
        };
        // acme owns a (private) and is listed on b; globex sees only its own b.
        assert_eq!(
            count(&Filter {
                tenant: Some("acme"),
                ..Filter::default()
            }),
            6
        );
        assert_eq!(
            count(&Filter {
                tenant: Some("globex"),
                ..Filter::default()
            }),
            3
        );
        assert_eq!(
            count(&Filter {
                tenant: Some("nobody"),
                ..Filter::default()
            }),
            0
        );
        assert_eq!(
            count(&Filter {
                see_all: true,
                regions: vec!["eu"],
                ..Filter::default()
            }),
            3
        );
        assert_eq!(
            count(&Filter {
                see_all: true,
                compliance: vec!["soc2"],
                ..Filter::default()
            }),
            0
        );
        let classes = vec![DataClass::Pii, DataClass::Phi];
        assert_eq!(
            count(&Filter {
                see_all: true,
                data_classes: classes,
                ..Filter::default()
            }),
            0
        );
        let odd = |k: &RowKey| k.vector % 2 == 1;
        assert_eq!(
            count(&Filter {
                see_all: true,
                key_predicate: Some(&odd),
                ..Filter::default()
            }),
            3
        );
        assert_eq!(
            count(&Filter {
                see_all: true,
                max_cost_usd: Some(0.4),
                ..Filter::default()
            }),
            0
        );
        // Row state: a yanked row and a dead row drop out of their runs.
        let mut status = status;
        status[1] = status_bit(VersionStatus::Yanked);
        let mut dead = dead;
        dead.set(2);
        let mut out = Bitset::new(6);
        let all = Filter {
            see_all: true,
            ..Filter::default()
        };
        assert_eq!(c.compile(&all).select(&c, &keys, &dead, &status, &mut out), 4);
        assert_eq!(out.ones().collect::<Vec<_>>(), [0, 3, 4, 5]);
    }
}
