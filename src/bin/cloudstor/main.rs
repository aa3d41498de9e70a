//! The `cloudstor` command line: argument parsing and exit codes only; the work is in the library.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Persistent Docker Swarm volumes on AWS EFS.
///
/// Provision EFS file systems, mount targets and security groups from a declarative spec
/// (plan / apply / destroy), estimate what the storage costs, and manage volumes on a node.
/// Region and credentials come from the standard AWS chain; AWS_ENDPOINT_URL points every
/// AWS client at another endpoint (for example a local emulator).
#[derive(Parser)]
#[command(name = "cloudstor", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Plan(commands::plan::Args),
    Apply(commands::apply::Args),
    Destroy(commands::destroy::Args),
    Show(commands::show::Args),
    Import(commands::import::Args),
    Template(commands::template::Args),
    Bootstrap(commands::bootstrap::Args),
    Cost(commands::cost::Args),
    Volume(commands::volume::Args),
    Plugin(commands::plugin::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    commands::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => commands::plan::exec(args).await,
        Command::Apply(args) => commands::apply::exec(args).await,
        Command::Destroy(args) => commands::destroy::exec(args).await,
        Command::Show(args) => commands::show::exec(args).await,
        Command::Import(args) => commands::import::exec(args).await,
        Command::Template(args) => commands::template::exec(args).await,
        Command::Bootstrap(args) => commands::bootstrap::exec(args).await,
        Command::Cost(args) => commands::cost::exec(args).await,
        Command::Volume(args) => commands::volume::exec(args).await,
        Command::Plugin(args) => commands::plugin::exec(args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
