//! `switchyard bench`: offline benchmarks in a temporary store, printing
//! their JSON report (and writing it with `--out`).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use switchyard_registry::index::{IndexBenchConfig, run_index_bench};
use switchyard_router::bench::{RoutingBenchConfig, run_routing_bench};

use super::BenchCommand;

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Routing {
            tools,
            queries,
            limit,
            holdout,
            seed,
            min_similarity,
            lexical_weight,
            out,
        } => {
            anyhow::ensure!((0.0..1.0).contains(&holdout), "--holdout must be in [0, 1)");
            let report = run_routing_bench(&RoutingBenchConfig {
                tools,
                queries,
                limit,
                holdout,
                seed,
                min_similarity,
                lexical_weight,
            })
            .await?;
            emit(&report, out.as_deref())
        }
        BenchCommand::Index {
            sizes,
            queries,
            seed,
            out,
        } => {
            let cfg = IndexBenchConfig {
                sizes,
                queries,
                seed,
                ..IndexBenchConfig::default()
            };
            let report = tokio::task::spawn_blocking(move || run_index_bench(&cfg)).await?;
            emit(&report, out.as_deref())
        }
    }
}

fn emit(report: &impl Serialize, out: Option<&Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    if let Some(path) = out {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{text}");
    Ok(())
}
