//! The `switchyard` binary: parses the command line and hands over to [`switchyard::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    switchyard::cli::run(switchyard::cli::Cli::parse()).await
}
