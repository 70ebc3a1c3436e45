//! The agent manifest a replayed run is published with.
//!
//! The router ranks agents by their manifests, so a replayed run's manifest
//! must describe it as a real agent of that kind would be described: skills
//! from its role and strategy, examples from the problems it answered, cost
//! from its mean recorded task cost and latency percentiles from the latency
//! model. Provenance (source, licence, model, how tokens and price were
//! obtained) goes into `metadata`.

use std::collections::BTreeMap;

use switchyard_schemas::limits::{LATENCY_MAX_MS, LATENCY_MIN_MS, METADATA_VALUE_MAX};
use switchyard_schemas::manifest::{
    AgentManifest, Budget, DataClass, Endpoint, LatencyBudget, Policy, Protocol, Provider, Skill, Visibility,
};
use switchyard_schemas::validate_manifest;

use super::cost::{LatencyModel, PriceSource, TaskCost, TokenSource};
use super::{Problem, ReplayDataset, ReplayRun, RunRole};
use crate::MetaAgentError;
use crate::scorers::clip;

/// How many problems a skill quotes as examples.
const EXAMPLES: usize = 3;

/// Builds the manifest of `run` as agent `namespace/<run id>` version `1.0.0`
/// at `endpoint_url`, and validates it: the error names every broken rule
/// (for instance a namespace that is not an identifier).
pub fn manifest_for_run(
    run: &ReplayRun,
    dataset: &ReplayDataset,
    namespace: &str,
    endpoint_url: &str,
) -> Result<AgentManifest, MetaAgentError> {
    let meta = &run.run;
    let costs = dataset.run_costs(run);
    let mean_usd = if costs.is_empty() {
        0.0
    } else {
        costs.iter().map(|c| c.usd).sum::<f64>() / costs.len() as f64
    };
    let latency = LatencyModel::default();
    let mut millis: Vec<f64> = costs.iter().map(|c| latency.millis(c)).collect();
    millis.sort_by(f64::total_cmp);
    let p50 = percentile_ms(&millis, 50);
    let p95 = percentile_ms(&millis, 95).max(p50);

    let solved = meta.recorded_pass_rate * 100.0;
    let mut description = format!(
        "Replays the recorded run `{}` of {} with the {} strategy: {} Recorded as solving {solved:.1}% of {} tasks.",
        meta.id,
        meta.model,
        meta.strategy,
        match meta.role {
            RunRole::Generate => "it answers each task with the code that run wrote.".to_string(),
            RunRole::Revise => format!(
                "it returns the repair that run recorded when given the code of run `{}`, and any other code unchanged.",
                meta.revises.as_deref().unwrap_or_default()
            ),
        },
        meta.tasks,
    );
    if let Some(note) = &meta.note {
        description.push_str(&format!("\nNote: {note}"));
    }

    let examples: Vec<String> = run
        .tasks
        .iter()
        .filter_map(|t| dataset.problem(&t.task_id))
        .take(EXAMPLES)
        .map(|p| example(meta.role, p))
        .collect();

    let manifest = AgentManifest {
        name: format!("{namespace}/{}", meta.id.to_ascii_lowercase()),
        version: "1.0.0".into(),
        title: clip(&format!("{} · {} (replay)", meta.model, meta.strategy), 120),
        description: clip(&description, 3900),
        provider: Provider {
            organization: "Switchyard replay".into(),
            url: None,
        },
        endpoint: Endpoint {
            url: endpoint_url.to_string(),
            protocol: Protocol::SwitchyardHttp,
        },
        skills: vec![skill(meta.role, &meta.strategy, &meta.model, examples)],
        policy: Policy {
            visibility: Visibility::PUBLIC,
            data_classes: vec![DataClass::Public],
            regions: Vec::new(),
            compliance: Vec::new(),
        },
        budget: Budget {
            cost_per_call_usd: mean_usd,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget { p50, p95 },
            max_concurrency: None,
        },
        metadata: metadata(run, &costs),
    };
    validate_manifest(&manifest).map_err(|source| MetaAgentError::InvalidManifest {
        run: meta.id.clone(),
        source,
    })?;
    Ok(manifest)
}

/// Nearest-rank percentile of sorted milliseconds, as whole milliseconds in
/// the manifest's range.
fn percentile_ms(sorted: &[f64], pct: usize) -> u32 {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    let ms = sorted.get(rank - 1).copied().unwrap_or(0.0).ceil();
    (ms as u32).clamp(LATENCY_MIN_MS, LATENCY_MAX_MS)
}

fn skill(role: RunRole, strategy: &str, model: &str, examples: Vec<String>) -> Skill {
    let how = strategy_description(strategy);
    let (id, name, description, mut tags) = match role {
        RunRole::Generate => (
            "python-codegen",
            "Generate Python code from a function signature and docstring",
            format!(
                "Writes a complete, self-contained Python function from its signature and docstring. {how}"
            ),
            vec!["code", "python", "code-generation"],
        ),
        RunRole::Revise => (
            "python-debug",
            "Debug and repair Python code",
            format!("Takes a Python function that fails its tests and returns a repaired version. {how}"),
            vec!["code", "python", "debugging", "repair"],
        ),
    };
    tags.push(role_tag(role));
    let mut tags: Vec<String> = tags.into_iter().map(String::from).collect();
    tags.push(format!("strategy:{}", tag_part(strategy)));
    tags.push(format!("model:{}", tag_part(model)));
    Skill {
        id: id.into(),
        name: name.into(),
        description,
        tags,
        examples,
        input_modes: vec!["text/plain".into(), "text/x-python".into()],
        output_modes: vec!["text/x-python".into()],
        vector: None,
    }
}

/// How the strategy works, in one or two sentences.
fn strategy_description(strategy: &str) -> String {
    match strategy {
        "direct" => "Answers in one model call, without intermediate reasoning.".into(),
        "cot" => "Reasons step by step (chain of thought) before writing the code.".into(),
        "analogical" => {
            "Recalls similar solved problems and adapts their solutions (analogical prompting).".into()
        }
        "self-planning" => "Writes a plan first, then implements it step by step.".into(),
        "mapcoder" => "Multi-agent pipeline (MapCoder): retrieves similar problems, plans, codes, and \
                       debugs against sample tests over several iterations."
            .into(),
        "reflexion" => "Writes tests, runs the code, reflects on failures and retries (Reflexion).".into(),
        "reflexion-ucs" => {
            "Reflexion with a search over candidate programs guided by their own tests.".into()
        }
        "ldb-debug" => "Debugs like LDB: runs the program on the visible tests, inspects intermediate \
                        values block by block, and rewrites the faulty parts."
            .into(),
        other => format!("Strategy: {}.", clip(other, 64)),
    }
}

/// An example request quoting the problem's signature and the first line of
/// its docstring.
fn example(role: RunRole, problem: &Problem) -> String {
    let signature = problem
        .prompt
        .lines()
        .find(|l| l.trim_start().starts_with("def "))
        .map(|l| l.trim().trim_end_matches(':'))
        .unwrap_or(problem.entry_point.as_str());
    let summary = problem
        .prompt
        .split_once("\"\"\"")
        .or_else(|| problem.prompt.split_once("'''"))
        .and_then(|(_, doc)| doc.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("");
    let ask = match role {
        RunRole::Generate => "Implement",
        RunRole::Revise => "Fix this implementation so it passes its tests:",
    };
    let text = if summary.is_empty() {
        format!("{ask} `{signature}`")
    } else {
        format!("{ask} `{signature}`: {summary}")
    };
    clip(&text, 900)
}

fn role_tag(role: RunRole) -> &'static str {
    match role {
        RunRole::Generate => "role:generate",
        RunRole::Revise => "role:revise",
    }
}

/// A tag fragment: lowercase, characters tags may not hold as `-`, and short
/// enough for the longest prefix (`strategy:`) within a tag's 64.
fn tag_part(s: &str) -> String {
    s.to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect()
}

fn metadata(run: &ReplayRun, costs: &[TaskCost]) -> BTreeMap<String, String> {
    let meta = &run.run;
    let all = |source: TokenSource| costs.iter().all(|c| c.tokens == source);
    let tokens = if all(TokenSource::Recorded) {
        "recorded"
    } else if all(TokenSource::RecordedTotal) {
        "total recorded, split by estimated completion length"
    } else if all(TokenSource::Estimated) {
        "estimated from text length"
    } else {
        "recorded for some tasks, estimated for others"
    };
    let price = match run.price.source {
        PriceSource::Listed => "listed in prices.json",
        PriceSource::Median => "median of prices.json (model not listed)",
    };
    let mut m = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        m.insert(format!("replay.{key}"), clip(value, METADATA_VALUE_MAX - 1));
    };
    put("run", &meta.id);
    put("model", &meta.model);
    put("strategy", &meta.strategy);
    if let Some(seed) = &meta.revises {
        put("revises", seed);
    }
    if let Some(source) = &meta.source {
        put("source", source);
    }
    if let Some(commit) = &meta.source_commit {
        put("source_commit", commit);
    }
    if let Some(licence) = &meta.licence {
        put("licence", licence);
    }
    put("recorded_pass_rate", &meta.recorded_pass_rate.to_string());
    put("tokens", tokens);
    put("price", price);
    m
}
