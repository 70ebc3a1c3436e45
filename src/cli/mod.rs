//! The `switchyard` command line: `serve` runs the server; the other commands
//! are clients of a running server (`--server`, token from `SWITCHYARD_TOKEN`).

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
        Command::Keys { conn, command } => commands::keys(&conn, command).await,
    }
}
