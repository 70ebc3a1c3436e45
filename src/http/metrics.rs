//! Prometheus metrics: request counts and latencies per route and status, and
//! the registry's sizes (refreshed on each scrape).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, TextEncoder};
use switchyard_registry::RegistryStats;
use switchyard_registry::index::IndexStats;

use super::AppState;

/// The server's metric families, in their own prometheus registry so tests can
/// run several servers in one process.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: prometheus::Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    agents: IntGauge,
    versions: IntGauge,
    keys: IntGauge,
    last_seq: IntGauge,
    index_rows: IntGauge,
    index_segments: IntGauge,
    index_graphs: IntGauge,
    feedback_records: IntGauge,
}

/// Sizes refreshed on each scrape.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub registry: RegistryStats,
    pub index: IndexStats,
    pub feedback_records: usize,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = prometheus::Registry::new_custom(Some("switchyard".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .buckets(vec![
                0.000_25, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        let agents = IntGauge::new("registry_agents", "Agents in the registry")?;
        let versions = IntGauge::new("registry_versions", "Agent versions in the registry")?;
        let keys = IntGauge::new("registry_api_keys", "API keys issued")?;
        let last_seq = IntGauge::new("registry_change_seq", "Last change-log sequence number")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(agents.clone()))?;
        registry.register(Box::new(versions.clone()))?;
        registry.register(Box::new(keys.clone()))?;
        registry.register(Box::new(last_seq.clone()))?;
        let index_rows = IntGauge::new("index_live_rows", "Live skill vectors in the capability index")?;
        let index_segments = IntGauge::new("index_segments", "Segments of the capability index")?;
        let index_graphs = IntGauge::new("index_graphs_ready", "Index segments searched by HNSW")?;
        let feedback_records = IntGauge::new(
            "router_feedback_records",
            "(agent version, skill) pairs with feedback statistics",
        )?;
        for g in [&index_rows, &index_segments, &index_graphs, &feedback_records] {
            registry.register(Box::new(g.clone()))?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            agents,
            versions,
            keys,
            last_seq,
            index_rows,
            index_segments,
            index_graphs,
            feedback_records,
        })
    }

    /// The text exposition of every metric, after refreshing registry sizes.
    pub fn render(&self, sizes: Sizes) -> String {
        let stats = sizes.registry;
        self.index_rows.set(sizes.index.live_rows as i64);
        self.index_segments.set(sizes.index.segments as i64);
        self.index_graphs.set(sizes.index.graphs_ready as i64);
        self.feedback_records.set(sizes.feedback_records as i64);
        self.agents.set(stats.agents as i64);
        self.versions.set(stats.versions as i64);
        self.keys.set(stats.keys as i64);
        self.last_seq.set(stats.last_seq as i64);
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Middleware recording each request under its route template, so
/// `/v1/agents/acme/x` and `/v1/agents/acme/y` share one series.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .latency
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    response
}
