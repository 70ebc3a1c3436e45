//! What each command does.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_meta_agent::replay::ReplayDataset;
use switchyard_schemas::api::{AgentList, CreateKeyRequest, Scope, VersionRecord, VersionStatus};
use switchyard_schemas::import::{self, ImportOptions};
use switchyard_schemas::route::{Constraints, RouteRequest};

use super::{
    AgentsCommand, Client, Connection, ExportFormat, ImportArgs, ImportFormat, KeysCommand, ReplayArgs,
    RouteArgs, ScopeArg, ServeArgs, StatusArg,
};
use crate::config::{Overrides, Settings};
use crate::replay_agents::{ReplayOptions, ReplayServer};
use crate::startup::{Application, shutdown_signal};

const NO_BODY: Option<&Value> = None;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
    };
    let settings = Settings::load(args.config.as_deref(), &overrides)?;
    crate::telemetry::init(&settings.log);
    let app = Application::build(&settings).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

pub async fn agents(conn: &Connection, command: AgentsCommand) -> anyhow::Result<()> {
    let client = Client::new(&conn.server, conn.token.clone())?;
    let out: Value = match command {
        AgentsCommand::Replay(args) => return replay(&client, args).await,
        AgentsCommand::Publish { file } => {
            let manifest = read_document(&file)?;
            client
                .call(Method::POST, "/v1/agents", &[], Some(&manifest))
                .await?
        }
        AgentsCommand::List {
            namespace,
            tag,
            status,
            text,
            limit,
            all,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            query.extend(namespace.map(|v| ("namespace", v)));
            query.extend(tag.map(|v| ("tag", v)));
            query.extend(status.map(|s| ("status", status_of(s).as_str().to_string())));
            query.extend(text.map(|v| ("text", v)));
            query.extend(limit.map(|v| ("limit", v.to_string())));
            let mut agents = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut page_query = query.clone();
                page_query.extend(cursor.take().map(|c| ("cursor", c)));
                let page: AgentList = client
                    .call(Method::GET, "/v1/agents", &page_query, NO_BODY)
                    .await?;
                agents.extend(page.agents);
                match page.next_cursor {
                    Some(next) if all => cursor = Some(next),
                    next => break json!({"agents": agents, "next_cursor": next}),
                }
            }
        }
        AgentsCommand::Get { name } => {
            client
                .call(Method::GET, &agent_path(&name)?, &[], NO_BODY)
                .await?
        }
        AgentsCommand::Versions { name } => {
            let path = format!("{}/versions", agent_path(&name)?);
            client.call(Method::GET, &path, &[], NO_BODY).await?
        }
        AgentsCommand::Resolve { name, range } => {
            let path = format!("{}/resolve", agent_path(&name)?);
            client
                .call(Method::GET, &path, &[("range", range)], NO_BODY)
                .await?
        }
        AgentsCommand::Deprecate { reference } => {
            set_status(&client, &reference, VersionStatus::Deprecated).await?
        }
        AgentsCommand::Yank { reference } => set_status(&client, &reference, VersionStatus::Yanked).await?,
        AgentsCommand::Activate { reference } => {
            set_status(&client, &reference, VersionStatus::Active).await?
        }
        AgentsCommand::Delete { reference } => {
            let path = match reference.split_once('@') {
                Some((name, version)) => version_path(name, version)?,
                None => agent_path(&reference)?,
            };
            client.call(Method::DELETE, &path, &[], NO_BODY).await?
        }
    };
    print_json(&out)
}

/// Serves the replay agents until ctrl-c, publishing them first when asked.
async fn replay(client: &Client, args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "--listen must be a loopback address: replay agents are for local use"
    );
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale >= 0.0,
        "--time-scale must be a finite number ≥ 0"
    );
    let dir = args.dataset.clone();
    let dataset = tokio::task::spawn_blocking(move || ReplayDataset::load(&dir))
        .await?
        .with_context(|| format!("loading {}", args.dataset.display()))?;
    let options = ReplayOptions {
        time_scale: args.time_scale,
        ..ReplayOptions::default()
    };
    let server = ReplayServer::start(Arc::new(dataset), args.listen, options).await?;
    let manifests = server.manifests(&args.namespace)?;
    for manifest in &manifests {
        if args.register {
            let _: Value = client
                .call(Method::POST, "/v1/agents", &[], Some(manifest))
                .await
                .with_context(|| format!("publishing {}", manifest.name))?;
        }
        println!("{}\t{}", manifest.name, manifest.endpoint.url);
    }
    eprintln!(
        "{} replay agents on http://{}{}; ctrl-c stops",
        manifests.len(),
        server.addr(),
        if args.register { ", published" } else { "" }
    );
    shutdown_signal().await;
    server.stop().await?;
    Ok(())
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let source = read_document(&args.file)?;
    let options = ImportOptions {
        namespace: args.namespace.clone(),
        ..ImportOptions::default()
    };
    let manifest = match args.format {
        ImportFormat::A2a => import::a2a::import_agent_card(&source, &options),
        ImportFormat::Mcp => import::mcp::import_server_json(&source, &options),
    }
    .with_context(|| format!("importing {}", args.file.display()))?;
    if args.publish {
        let client = Client::new(&args.conn.server, args.conn.token.clone())?;
        let answer: Value = client
            .call(Method::POST, "/v1/agents", &[], Some(&manifest))
            .await?;
        print_json(&answer)
    } else {
        print_json(&manifest)
    }
}

pub async fn export(conn: &Connection, format: ExportFormat, reference: &str) -> anyhow::Result<()> {
    let client = Client::new(&conn.server, conn.token.clone())?;
    let (name, version) = split_reference(reference)?;
    let record: VersionRecord = client
        .call(Method::GET, &version_path(name, version)?, &[], NO_BODY)
        .await?;
    match format {
        ExportFormat::A2a => print_json(&switchyard_schemas::export::to_a2a_card(&record.manifest)),
    }
}

pub async fn route(args: RouteArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn.server, args.conn.token.clone())?;
    let data_class = args
        .data_class
        .map(|d| {
            serde_json::from_value(Value::String(d.clone())).with_context(|| format!("--data-class {d}"))
        })
        .transpose()?;
    let mut agents = std::collections::BTreeMap::new();
    for pin in &args.pins {
        let (name, range) = pin
            .split_once('@')
            .with_context(|| format!("--pin {pin}: expected NAME@RANGE"))?;
        agents.insert(name.to_owned(), range.to_owned());
    }
    let request = RouteRequest {
        query: Some(args.text),
        k: args.k,
        constraints: Constraints {
            data_class,
            region: args.region,
            compliance: args.compliance,
            max_cost_usd: args.max_cost,
            max_latency_ms: args.max_latency,
            tags_any: args.tags_any,
            agents,
            exclude: args.exclude,
            min_similarity: args.min_similarity,
        },
        explore: args.explore,
        explain: args.explain,
        ..Default::default()
    };
    let out: Value = client
        .call(Method::POST, "/v1/route", &[], Some(&request))
        .await?;
    print_json(&out)
}

pub async fn keys(conn: &Connection, command: KeysCommand) -> anyhow::Result<()> {
    let client = Client::new(&conn.server, conn.token.clone())?;
    let KeysCommand::Create { tenant, scopes } = command;
    let request = CreateKeyRequest {
        tenant,
        scopes: scopes
            .into_iter()
            .map(|s| match s {
                ScopeArg::Publish => Scope::Publish,
                ScopeArg::Route => Scope::Route,
                ScopeArg::Admin => Scope::Admin,
            })
            .collect(),
    };
    let created: Value = client.call(Method::POST, "/v1/keys", &[], Some(&request)).await?;
    print_json(&created)
}

async fn set_status(client: &Client, reference: &str, status: VersionStatus) -> anyhow::Result<Value> {
    let (name, version) = split_reference(reference)?;
    client
        .call(
            Method::PATCH,
            &version_path(name, version)?,
            &[],
            Some(&json!({"status": status})),
        )
        .await
}

fn status_of(s: StatusArg) -> VersionStatus {
    match s {
        StatusArg::Active => VersionStatus::Active,
        StatusArg::Deprecated => VersionStatus::Deprecated,
        StatusArg::Yanked => VersionStatus::Yanked,
    }
}

/// Splits `namespace/agent@version`.
fn split_reference(reference: &str) -> anyhow::Result<(&str, &str)> {
    reference
        .split_once('@')
        .with_context(|| format!("`{reference}`: expected namespace/agent@version"))
}

fn agent_path(name: &str) -> anyhow::Result<String> {
    switchyard_schemas::validate::validate_agent_name(name)
        .map_err(|m| anyhow::anyhow!("agent name `{name}`: {m}"))?;
    Ok(format!("/v1/agents/{name}"))
}

fn version_path(name: &str, version: &str) -> anyhow::Result<String> {
    Ok(format!("{}/versions/{version}", agent_path(name)?))
}

/// Reads a JSON or YAML document (YAML when the extension says so).
fn read_document(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    if yaml {
        serde_norway::from_str(&text).with_context(|| format!("{}: not valid YAML", path.display()))
    } else {
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
