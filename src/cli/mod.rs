//! The `switchyard` command line: `serve` runs the server; the other commands
//! are clients of a running server (`--server`, token from `SWITCHYARD_TOKEN`).

mod bench;
mod client;
mod commands;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use client::Client;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Registry, capability index and router for an agent fleet"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Publish, inspect and manage agents on a running server.
    Agents {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Convert an A2A AgentCard or an MCP server.json into a manifest (printed, or published with --publish).
    Import(ImportArgs),
    /// Export a published version in another ecosystem's format.
    Export {
        #[command(flatten)]
        conn: Connection,
        /// Target format.
        format: ExportFormat,
        /// `namespace/agent@version` (or `@latest`).
        reference: String,
    },
    /// Ask a running server which agents can do a task.
    Route(RouteArgs),
    /// Measure routing accuracy and latency, index speed or workflows (offline, in a local store).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Manage API keys (admin).
    Keys {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML or YAML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of the durable store (default ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:7878).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// Where the server is and who we are.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Base URL of the server.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_SERVER",
        default_value = "http://127.0.0.1:7878"
    )]
    pub server: String,
    /// API token.
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Publish a manifest file (JSON or YAML).
    Publish { file: PathBuf },
    /// List agents.
    List {
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        status: Option<StatusArg>,
        /// Case-insensitive substring of name, title, description or skill names.
        #[arg(long)]
        text: Option<String>,
        /// Page size.
        #[arg(long)]
        limit: Option<usize>,
        /// Follow cursors and print every page.
        #[arg(long)]
        all: bool,
    },
    /// Show an agent and its versions.
    Get { name: String },
    /// List an agent's versions in semver order.
    Versions { name: String },
    /// Resolve a semver range, e.g. `^1.2`.
    Resolve { name: String, range: String },
    /// Mark `name@version` deprecated (routable only when pinned).
    Deprecate { reference: String },
    /// Mark `name@version` yanked (never routable).
    Yank { reference: String },
    /// Mark `name@version` active again.
    Activate { reference: String },
    /// Delete `name@version`, or a whole agent when no version is given.
    Delete { reference: String },
    /// Serve every run of a replay data set as an HTTP agent on loopback
    /// (and publish their manifests with --register), until ctrl-c.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Data set directory (`problems.jsonl`, `runs.json`, `runs/`, `prices.json`).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Publish a manifest per run to the server.
    #[arg(long)]
    pub register: bool,
    /// Where the agents listen (loopback; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Namespace of the published agents.
    #[arg(long, default_value = "replay")]
    pub namespace: String,
    /// Multiplies each answer's modelled latency (0 answers at once).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// The task, in words.
    pub text: String,
    /// Candidates wanted.
    #[arg(long)]
    pub k: Option<usize>,
    /// Sensitivity of your data: public, internal, confidential, pii, phi, pci.
    #[arg(long)]
    pub data_class: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// Required compliance tag (repeat for several).
    #[arg(long = "compliance")]
    pub compliance: Vec<String>,
    /// Most a call may cost, USD.
    #[arg(long)]
    pub max_cost: Option<f64>,
    /// Most the agent's p95 latency may be, ms.
    #[arg(long)]
    pub max_latency: Option<u32>,
    /// Skill tag, any of which must match (repeat for several).
    #[arg(long = "tag")]
    pub tags_any: Vec<String>,
    /// Pin an agent to a range: `NAME@RANGE` (repeat for several).
    #[arg(long = "pin")]
    pub pins: Vec<String>,
    /// Agent never to return (repeat for several).
    #[arg(long = "exclude")]
    pub exclude: Vec<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub min_similarity: Option<f32>,
    /// Sample quality (Thompson sampling) instead of using its mean.
    #[arg(long)]
    pub explore: bool,
    /// Include exclusion counts and the search plan.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Routing accuracy on a tool catalogue with labelled queries (MetaTool format).
    Routing {
        /// JSONL lines `{name, description}`.
        #[arg(long)]
        tools: PathBuf,
        /// JSONL lines `{query, tools[]}`.
        #[arg(long)]
        queries: PathBuf,
        /// Route a seeded sample of at most this many queries.
        #[arg(long)]
        limit: Option<usize>,
        /// Share of tools held out for the abstention pass.
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Override the calibrated abstention threshold.
        #[arg(long, allow_negative_numbers = true)]
        min_similarity: Option<f32>,
        /// Override the default weight of the lexical (BM25) term.
        #[arg(long)]
        lexical_weight: Option<f64>,
        /// Write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fixed workflows against the learning meta-agent on a replay data set
    /// (HumanEval format), scored by the problems' hidden tests.
    Workflows {
        /// Data set directory (`problems.jsonl`, `runs.json`, `runs/`, `prices.json`).
        #[arg(long)]
        dataset: PathBuf,
        /// Most one task's workflow may spend, USD.
        #[arg(long, default_value_t = 0.25)]
        budget_usd: f64,
        /// First seed of the meta-agent's passes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Passes of the meta-agent (seeds seed, seed+1, …).
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Multiplies the replay agents' modelled latency (1 = real time).
        #[arg(long, default_value_t = 0.01)]
        time_scale: f64,
        /// Use a seeded sample of at most this many tasks.
        #[arg(long)]
        limit: Option<usize>,
        /// Tasks of a fixed workflow run at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the plots (accuracy against cost, learning curve) as SVG here.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Write every run's rollout (spec, trace, score) here, one JSONL file per arm.
        #[arg(long)]
        traces: Option<PathBuf>,
    },
    /// Route latency at catalogue scale (synthetic agents in a real
    /// registry) against the goals: vector p99 ≤ 1 ms, text p50 ≤ 5 ms.
    Route {
        /// Skills (index rows) to register.
        #[arg(long, default_value_t = 10_000)]
        skills: usize,
        #[arg(long, default_value_t = 4)]
        skills_per_agent: usize,
        /// Timed queries per case.
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Keep the registry here and reuse it on the next run with the same
        /// data instead of republishing and rebuilding the graphs (minutes
        /// at 100k skills); default: a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Tool catalogue whose embeddings are the skill clusters' centres.
        #[arg(long, default_value = "datasets/metatool/tools.jsonl")]
        tools: PathBuf,
        /// Labelled queries whose texts the text case routes.
        #[arg(long, default_value = "datasets/metatool/queries.jsonl")]
        texts: PathBuf,
        /// Write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Capability-index build, snapshot and filtered search on synthetic vectors.
    Index {
        /// Row counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Keep each size's snapshot here and load it on the next run
        /// instead of rebuilding the graph (minutes at 100k rows).
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
        /// Planner override: smallest allowed share for a graph walk.
        #[arg(long)]
        hnsw_min_selectivity: Option<f32>,
        /// Planner override: allowed-row count at or below which to scan in f32.
        #[arg(long)]
        exact_max_rows: Option<usize>,
        /// Write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Active,
    Deprecated,
    Yanked,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// Source format.
    pub format: ImportFormat,
    /// The AgentCard or server.json file.
    pub file: PathBuf,
    /// Namespace for the imported agent (default: derived from the source).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Publish the result instead of printing it.
    #[arg(long)]
    pub publish: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    A2a,
    Mcp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    A2a,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a tenant; the token is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        /// Repeat for several scopes.
        #[arg(long = "scope", value_enum, required = true)]
        scopes: Vec<ScopeArg>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Publish,
    Route,
    Admin,
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Agents { conn, command } => commands::agents(&conn, command).await,
        Command::Import(args) => commands::import(args).await,
        Command::Export {
            conn,
            format,
            reference,
        } => commands::export(&conn, format, &reference).await,
        Command::Route(args) => commands::route(args).await,
        Command::Bench { command } => bench::run(command).await,
        Command::Keys { conn, command } => commands::keys(&conn, command).await,
    }
}
