//! Routing: constraints to index filters, the searches, one candidate per
//! agent from its best skill, the score, abstention and explanations.
//!
//! # Which version of an agent
//! Unpinned agents route to their current version (`latest`), which the
//! index flags per row, so that search needs no per-row lookup. Pinned
//! agents (`constraints.agents`) route to the highest non-yanked version in
//! their range (deprecated included) through a second, predicate-filtered
//! search; the first search leaves them out. Yanked versions never route.
//!
//! # Score
//! `score = w_s·similarity + w_q·(quality − ½) − w_c·cost/(cost + $0.01)
//! − w_l·latency/(latency + 1000 ms)`, where quality is the posterior mean
//! (or its Thompson sample with `explore`), cost is per call and latency the
//! p95. The cost and latency terms saturate in [0, 1), so one outlier cannot
//! swamp similarity; the reference points sit where typical LLM agents are.
//! Hard constraints are filters applied before scoring, never weights.
//!
//! # Observed figures
//! Once a version's skill has [`RouterConfig::observed_min_calls`] reported
//! costs (latencies), their decayed mean (window p95) replaces the declared
//! figure for ranking and for `max_cost_usd` (`max_latency_ms`); the
//! candidate says which was used. The index prefilters on declared figures,
//! so an agent whose declared figure breaks a limit is never routed even if
//! its observed one would not.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use semver::VersionReq;
use switchyard_registry::catalog::{AgentCard, VersionCard};
use switchyard_registry::embedder::{EmbedError, check_client_vector};
use switchyard_registry::index::{Filter, Hit, QueryPlan, RowKey, SearchRequest, StatusSet};
use switchyard_registry::{Catalog, Principal};
use switchyard_schemas::api::Scope;
use switchyard_schemas::manifest::Policy;
use switchyard_schemas::route::{
    Abstention, Constraints, ExclusionCounts, MAX_K, MAX_QUERY_CHARS, Quality, RouteCandidate, RoutePlan,
    RouteRequest, RouteResponse, ScoreBreakdown, SearchPlan, SegmentSearch, Source, Weights,
};

use crate::Router;
use crate::error::{Result, RouterError};
use crate::neighbours::ROUTE_BUDGET;
use crate::stats::Record;

/// Candidates returned when a request does not say.
pub const DEFAULT_K: usize = 5;

/// Default `min_similarity`: below it the router abstains. Calibrated on
/// the routing benchmark (docs/benchmarks.md, "Abstention").
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.20;

/// Rows fetched at least, so the lexical signal has candidates to re-rank.
const LEXICAL_POOL: usize = 64;

/// Reference points of the saturating cost and latency terms.
const COST_REF_USD: f64 = 0.01;
const LATENCY_REF_MS: f64 = 1000.0;

/// Tuning of routing.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    pub min_similarity: f32,
    /// Reported costs or latencies needed before observed figures are used.
    pub observed_min_calls: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            min_similarity: DEFAULT_MIN_SIMILARITY,
            observed_min_calls: 20,
        }
    }
}

/// A request checked and resolved against the catalog.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub k: usize,
    pub weights: Weights,
    pub min_similarity: f32,
    /// Pinned agent → the version its range resolves to (None: no match).
    pub pins: HashMap<String, Option<String>>,
    pub exclude: HashSet<String>,
}

/// Validates everything but the query itself; returns the resolved pins.
pub(crate) fn prepare(
    catalog: &Catalog,
    principal: &Principal,
    req: &RouteRequest,
    config: &RouterConfig,
) -> Result<Prepared> {
    let k = req.k.unwrap_or(DEFAULT_K);
    if !(1..=MAX_K).contains(&k) {
        return Err(RouterError::invalid(
            "k",
            format!("must be between 1 and {MAX_K}"),
        ));
    }
    let weights = req.weights.unwrap_or_default();
    for (name, w) in [
        ("similarity", weights.similarity),
        ("lexical", weights.lexical),
        ("quality", weights.quality),
        ("cost", weights.cost),
        ("latency", weights.latency),
    ] {
        if !w.is_finite() || w < 0.0 {
            return Err(RouterError::invalid(
                format!("weights.{name}"),
                "must be a finite number ≥ 0",
            ));
        }
    }
    let c = &req.constraints;
    if let Some(max) = c.max_cost_usd
        && (!max.is_finite() || max < 0.0)
    {
        return Err(RouterError::invalid(
            "constraints.max_cost_usd",
            "must be a finite number ≥ 0",
        ));
    }
    let min_similarity = c.min_similarity.unwrap_or(config.min_similarity);
    if !min_similarity.is_finite() || !(-1.0..=1.0).contains(&min_similarity) {
        return Err(RouterError::invalid(
            "constraints.min_similarity",
            "must be between -1 and 1",
        ));
    }
    let mut pins = HashMap::new();
    for (agent, range) in &c.agents {
        let field = format!("constraints.agents.{agent}");
        let req = VersionReq::parse(range.trim())
            .map_err(|e| RouterError::invalid(&field, format!("not a semver range: {e}")))?;
        let target = catalog
            .card(agent)
            .and_then(|card| resolve_visible(&card, principal, &req).map(|v| v.version.to_string()));
        pins.insert(agent.clone(), target);
    }
    Ok(Prepared {
        k,
        weights,
        min_similarity,
        pins,
        exclude: c.exclude.iter().cloned().collect(),
    })
}

/// The version a pin routes to among those `principal` may see.
fn resolve_visible<'a>(
    card: &'a AgentCard,
    principal: &Principal,
    req: &VersionReq,
) -> Option<&'a VersionCard> {
    let visible: Vec<&VersionCard> = card
        .versions
        .iter()
        .filter(|v| principal.can_see(&card.owner, &v.policy.visibility))
        .collect();
    let best = switchyard_registry::versions::resolve(req, visible.iter().map(|v| (&v.version, v.status)))?;
    visible.into_iter().find(|v| &v.version == best)
}

/// A caller's test on row keys (pins, excludes, skill tags).
type KeyPredicate<'a> = &'a dyn Fn(&RowKey) -> bool;

/// One index search of a route.
struct Search<'a> {
    purpose: &'static str,
    statuses: StatusSet,
    current_only: bool,
    predicate: Option<KeyPredicate<'a>>,
}

/// Checks the text or vector of a request; returns the text to embed, or
/// the normalised client vector.
pub(crate) enum QueryInput {
    Text(String),
    Vector(Vec<f32>),
}

pub(crate) fn query_input(catalog: &Catalog, req: &RouteRequest) -> Result<QueryInput> {
    match (&req.query, &req.vector) {
        (Some(_), Some(_)) => Err(RouterError::invalid(
            "query",
            "give either query or vector, not both",
        )),
        (None, None) => Err(RouterError::invalid("query", "give a query text or a vector")),
        (Some(q), None) => {
            if q.trim().is_empty() {
                return Err(RouterError::invalid("query", "is empty"));
            }
            if q.chars().count() > MAX_QUERY_CHARS {
                return Err(RouterError::invalid(
                    "query",
                    format!("longer than {MAX_QUERY_CHARS} characters"),
                ));
            }
            Ok(QueryInput::Text(q.clone()))
        }
        (None, Some(v)) => check_client_vector(catalog.embedder().space(), v)
            .map(QueryInput::Vector)
            .map_err(|e| {
                let field = match e {
                    EmbedError::UnknownSpace { .. } => "vector.space",
                    _ => "vector.values",
                };
                RouterError::invalid(field, e.to_string())
            }),
    }
}

/// Runs the searches and ranks: the CPU part of a route (run it on a
/// blocking thread).
pub(crate) fn route_vector(
    router: &Router,
    principal: &Principal,
    req: &RouteRequest,
    prepared: &Prepared,
    vector: &[f32],
    embed_micros: u64,
) -> Result<RouteResponse> {
    let start = Instant::now();
    principal.require(Scope::Route)?;
    let (catalog, quality, config) = (&*router.catalog, &router.quality, &router.config);
    let c = &req.constraints;
    let tags_any: HashSet<&str> = c.tags_any.iter().map(String::as_str).collect();
    let tag_ok = |key: &RowKey| -> bool {
        tags_any.is_empty()
            || catalog.card(&key.agent).is_some_and(|card| {
                card.version(&key.version).is_some_and(|v| {
                    v.skills
                        .iter()
                        .find(|s| s.id == key.skill)
                        .is_some_and(|s| s.tags.iter().any(|t| tags_any.contains(t.as_str())))
                })
            })
    };
    let pinned: &HashMap<String, Option<String>> = &prepared.pins;
    let exclude = &prepared.exclude;
    let unpinned_pred = |key: &RowKey| -> bool {
        !pinned.contains_key(&key.agent) && !exclude.contains(&key.agent) && tag_ok(key)
    };
    let pinned_pred = |key: &RowKey| -> bool {
        !exclude.contains(&key.agent)
            && pinned
                .get(&key.agent)
                .is_some_and(|t| t.as_deref() == Some(key.version.as_str()))
            && tag_ok(key)
    };
    let needs_pred = !pinned.is_empty() || !exclude.is_empty() || !tags_any.is_empty();
    let data_classes = c.data_class.into_iter().collect::<Vec<_>>();
    let regions: Vec<&str> = c.region.as_deref().into_iter().collect();
    let compliance: Vec<&str> = c.compliance.iter().map(String::as_str).collect();

    let mut plans = Vec::new();
    // Best row per agent: the hits come best first, so the first row of an
    // agent is its best skill.
    let mut best: BTreeMap<String, Hit> = BTreeMap::new();
    let mut searches = vec![Search {
        purpose: "current",
        statuses: StatusSet::ACTIVE,
        current_only: true,
        predicate: needs_pred.then_some(&unpinned_pred as KeyPredicate<'_>),
    }];
    if pinned.values().any(Option::is_some) {
        searches.push(Search {
            purpose: "pinned",
            statuses: StatusSet::ROUTABLE_WHEN_PINNED,
            current_only: false,
            predicate: Some(&pinned_pred),
        });
    }
    for Search {
        purpose,
        statuses,
        current_only,
        predicate,
    } in searches
    {
        // Skills per agent vary: over-fetch rows, and widen until k distinct
        // agents are found or the index has no more.
        let mut fetch = (prepared.k * 4 + 8).max(LEXICAL_POOL);
        loop {
            let result = catalog.index().search(&SearchRequest {
                vector,
                k: fetch,
                best_per_skill: true,
                filter: Filter {
                    tenant: Some(principal.tenant.as_str()),
                    see_all: principal.is_admin(),
                    data_classes: data_classes.clone(),
                    regions: regions.clone(),
                    compliance: compliance.clone(),
                    statuses,
                    current_only,
                    max_cost_usd: c.max_cost_usd.map(|m| m as f32),
                    max_latency_p95_ms: c.max_latency_ms,
                    key_predicate: predicate,
                },
            })?;
            let found = result.hits.len();
            let mut agents: BTreeMap<String, Hit> = BTreeMap::new();
            for h in result.hits {
                agents.entry(h.key.agent.clone()).or_insert(h);
            }
            plans.push(search_plan(purpose, fetch, &result.plan));
            if agents.len() >= prepared.k || found < fetch || fetch >= 4096 {
                for (a, h) in agents {
                    match best.get(&a) {
                        Some(b) if b.similarity >= h.similarity => {}
                        _ => {
                            best.insert(a, h);
                        }
                    }
                }
                break;
            }
            fetch *= 4;
        }
    }

    // BM25 of each agent's best skill, normalised by the best of them over
    // every fetched agent (eligible or not) once all are scored.
    let lexical_query = req
        .query
        .as_deref()
        .map(switchyard_registry::lexical::terms)
        .filter(|q| !q.is_empty())
        .map(|q| catalog.lexical().query(&q));
    let mut lexical_max = 0.0f64;
    let mut rng = rand::rng();
    let mut ranked: Vec<Scored> = Vec::new();
    let mut below = 0usize;
    let mut over_budget = 0usize;
    let mut best_similarity: Option<f32> = None;
    let mut prior_budget = ROUTE_BUDGET;
    for (agent, hit) in best {
        let Some(card) = catalog.card(&agent) else {
            continue;
        };
        let Some(version) = card.version(&hit.key.version) else {
            continue;
        };
        let lex = lexical_query
            .as_ref()
            .and_then(|q| {
                let skill = version.skills.iter().find(|s| s.id == hit.key.skill)?;
                Some(q.bm25(&skill.terms))
            })
            .unwrap_or(0.0);
        lexical_max = lexical_max.max(lex);
        let (est, record) = quality.estimate(&card, version, &hit.key.skill, &mut prior_budget);
        let (cost, cost_source) = effective_cost(version, record.as_ref(), config);
        let (latency, latency_source) = effective_latency(version, record.as_ref(), config);
        if c.max_cost_usd.is_some_and(|m| cost > m) || c.max_latency_ms.is_some_and(|m| latency > m) {
            over_budget += 1;
            continue;
        }
        best_similarity = Some(best_similarity.map_or(hit.similarity, |b| b.max(hit.similarity)));
        if hit.similarity < prepared.min_similarity {
            below += 1;
            continue;
        }
        let sampled = req.explore.then(|| est.sample(&mut rng));
        let q = sampled.unwrap_or_else(|| est.mean());
        let w = &prepared.weights;
        let breakdown = ScoreBreakdown {
            similarity: w.similarity * f64::from(hit.similarity),
            // Raw BM25 until `lexical_max` is known, below.
            lexical: lex,
            quality: w.quality * (q - 0.5),
            cost: w.cost * cost / (cost + COST_REF_USD),
            latency: w.latency * f64::from(latency) / (f64::from(latency) + LATENCY_REF_MS),
        };
        let quality = Quality {
            mean: est.mean(),
            n: est.n,
            prior: est.prior,
            sampled,
        };
        ranked.push(Scored {
            agent,
            hit,
            card,
            quality,
            cost: (cost, cost_source),
            latency: (latency, latency_source),
            score: 0.0,
            breakdown,
        });
    }
    let w = &prepared.weights;
    for s in &mut ranked {
        let b = &mut s.breakdown;
        b.lexical = if lexical_max > 0.0 {
            w.lexical * b.lexical / lexical_max
        } else {
            0.0
        };
        s.score = b.similarity + b.lexical + b.quality - b.cost - b.latency;
    }
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.hit.similarity.total_cmp(&a.hit.similarity))
            .then_with(|| a.agent.cmp(&b.agent))
    });
    ranked.truncate(prepared.k);
    let candidates: Vec<RouteCandidate> = ranked.into_iter().filter_map(Scored::into_candidate).collect();
    let abstained = candidates.is_empty().then(|| Abstention {
        reason: if best_similarity.is_some() {
            "below_threshold".to_owned()
        } else {
            "no_eligible_agent".to_owned()
        },
        min_similarity: prepared.min_similarity,
        best_similarity,
    });
    let (excluded, plan) = if req.explain {
        let mut counts = exclusion_counts(catalog, principal, c, prepared);
        counts.below_threshold = below;
        // Observed figures can break a limit the declared ones kept.
        counts.budget += over_budget;
        counts.eligible = counts.eligible.saturating_sub(over_budget);
        (
            Some(counts),
            Some(RoutePlan {
                space: catalog.index().space().to_owned(),
                embed_micros,
                searches: plans,
                total_micros: embed_micros + start.elapsed().as_micros() as u64,
            }),
        )
    } else {
        (None, None)
    };
    Ok(RouteResponse {
        candidates,
        abstained,
        excluded,
        plan,
    })
}

fn search_plan(purpose: &str, fetch: usize, plan: &QueryPlan) -> SearchPlan {
    SearchPlan {
        purpose: purpose.to_owned(),
        fetch,
        segments: plan
            .segments
            .iter()
            .map(|s| SegmentSearch {
                segment: s.segment,
                rows: s.rows,
                live: s.live,
                allowed: s.allowed,
                strategy: serde_json::to_value(s.strategy)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                returned: s.returned,
                micros: s.micros,
            })
            .collect(),
        micros: plan.micros,
    }
}

/// An agent that passed every filter, scored. Only the top k become
/// [`RouteCandidate`]s: most fetched agents are dropped, and a candidate
/// owns four strings.
struct Scored {
    agent: String,
    hit: Hit,
    card: Arc<AgentCard>,
    quality: Quality,
    cost: (f64, Source),
    latency: (u32, Source),
    score: f64,
    breakdown: ScoreBreakdown,
}

impl Scored {
    fn into_candidate(self) -> Option<RouteCandidate> {
        let endpoint = self.card.version(&self.hit.key.version)?.endpoint.clone();
        Some(RouteCandidate {
            agent: self.agent,
            version: self.hit.key.version,
            skill: self.hit.key.skill,
            endpoint,
            similarity: self.hit.similarity,
            quality: self.quality,
            cost_usd: self.cost.0,
            cost_source: self.cost.1,
            latency_ms: self.latency.0,
            latency_source: self.latency.1,
            score: self.score,
            breakdown: self.breakdown,
        })
    }
}

/// Observed mean cost once enough costs were reported, else declared.
pub(crate) fn effective_cost(
    version: &VersionCard,
    record: Option<&Record>,
    config: &RouterConfig,
) -> (f64, Source) {
    match record.and_then(|r| {
        (r.cost_weight > 0.0 && r.calls >= config.observed_min_calls)
            .then(|| r.cost_mean())
            .flatten()
    }) {
        Some(c) => (c, Source::Observed),
        None => (version.budget.cost_per_call_usd, Source::Declared),
    }
}

/// Observed window p95 once enough latencies were reported, else declared.
pub(crate) fn effective_latency(
    version: &VersionCard,
    record: Option<&Record>,
    config: &RouterConfig,
) -> (u32, Source) {
    match record.and_then(|r| {
        (r.latency_samples >= config.observed_min_calls)
            .then(|| r.latency_p95())
            .flatten()
    }) {
        Some(l) => (l, Source::Observed),
        None => (version.budget.latency_ms.p95, Source::Declared),
    }
}

/// Counts, over the agents `principal` may see, the first rule each one
/// fails; `eligible` are those that fail none.
fn exclusion_counts(
    catalog: &Catalog,
    principal: &Principal,
    c: &Constraints,
    prepared: &Prepared,
) -> ExclusionCounts {
    let mut counts = ExclusionCounts::default();
    for card in catalog.cards() {
        let visible: Vec<&VersionCard> = card
            .versions
            .iter()
            .filter(|v| principal.can_see(&card.owner, &v.policy.visibility))
            .collect();
        if visible.is_empty() {
            continue;
        }
        if prepared.exclude.contains(&card.name) {
            counts.excluded += 1;
            continue;
        }
        let target = match prepared.pins.get(&card.name) {
            Some(None) => {
                counts.pin += 1;
                continue;
            }
            Some(Some(v)) => card.version(v),
            None => card
                .current()
                .filter(|v| principal.can_see(&card.owner, &v.policy.visibility)),
        };
        let Some(target) = target else {
            counts.status += 1;
            continue;
        };
        if !policy_allows(&target.policy, c) {
            counts.policy += 1;
            continue;
        }
        // Declared figures gate in the index; observed ones are counted by
        // the caller, which saw them.
        let declared_over = c
            .max_cost_usd
            .is_some_and(|m| target.budget.cost_per_call_usd as f32 > m as f32)
            || c.max_latency_ms.is_some_and(|m| target.budget.latency_ms.p95 > m);
        if declared_over {
            counts.budget += 1;
            continue;
        }
        if !c.tags_any.is_empty()
            && !target
                .skills
                .iter()
                .any(|s| s.tags.iter().any(|t| c.tags_any.contains(t)))
        {
            counts.tags += 1;
            continue;
        }
        counts.eligible += 1;
    }
    counts
}

/// The index's policy rules, for explanations: the agent handles the data
/// class, runs in the region, and holds every compliance tag.
fn policy_allows(policy: &Policy, c: &Constraints) -> bool {
    c.data_class.is_none_or(|d| policy.data_classes.contains(&d))
        && c.region.as_ref().is_none_or(|r| policy.regions.contains(r))
        && c.compliance.iter().all(|t| policy.compliance.contains(t))
}
