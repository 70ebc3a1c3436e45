//! `switchyard bench`: offline benchmarks in a local store, printing
//! their JSON report (and writing it with `--out`).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use switchyard_registry::index::{IndexBenchConfig, run_index_bench};
use switchyard_router::bench::{RoutingBenchConfig, run_routing_bench};
use switchyard_router::latency_bench::{RouteBenchConfig, run_route_bench};

use super::BenchCommand;
use crate::workflow_bench::{WorkflowBenchConfig, run_workflow_bench, write_plot};

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    // Progress goes to stderr; the report to stdout.
    crate::telemetry::init(&crate::config::Settings::default().log);
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
        BenchCommand::Workflows {
            dataset,
            budget_usd,
            seed,
            seeds,
            time_scale,
            limit,
            concurrency,
            out,
            plot,
            traces,
        } => {
            anyhow::ensure!(seeds >= 1, "--seeds must be at least 1");
            anyhow::ensure!(
                time_scale.is_finite() && time_scale >= 0.0,
                "--time-scale must be a finite number ≥ 0"
            );
            let report = run_workflow_bench(&WorkflowBenchConfig {
                dataset,
                budget_usd,
                seeds: (seed..seed + seeds).collect(),
                time_scale,
                limit,
                concurrency,
                traces,
            })
            .await?;
            if let Some(plot) = &plot {
                write_plot(&report, plot).with_context(|| format!("writing {}", plot.display()))?;
            }
            emit(&report, out.as_deref())
        }
        BenchCommand::Route {
            skills,
            skills_per_agent,
            queries,
            seed,
            data_dir,
            tools,
            texts,
            out,
        } => {
            let report = run_route_bench(&RouteBenchConfig {
                skills,
                skills_per_agent,
                queries,
                seed,
                data_dir,
                tools,
                texts,
            })
            .await?;
            emit(&report, out.as_deref())
        }
        BenchCommand::Index {
            sizes,
            queries,
            seed,
            snapshot_dir,
            hnsw_min_selectivity,
            exact_max_rows,
            out,
        } => {
            let defaults = IndexBenchConfig::default();
            let cfg = IndexBenchConfig {
                sizes,
                queries,
                seed,
                snapshot_dir,
                hnsw_min_selectivity: hnsw_min_selectivity.unwrap_or(defaults.hnsw_min_selectivity),
                exact_max_rows: exact_max_rows.unwrap_or(defaults.exact_max_rows),
                ..defaults
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
