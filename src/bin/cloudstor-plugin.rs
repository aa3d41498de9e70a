//! `cloudstor-plugin`: the Docker volume plugin daemon. Argument parsing and logging only;
//! the work is in `cloudstor::plugin`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Docker volume plugin for cloudstor: volumes on shared file systems (AWS EFS) that follow
/// their tasks between swarm nodes.
#[derive(Parser)]
#[command(name = "cloudstor-plugin", version)]
struct Cli {
    /// Plugin configuration (socket, state dir, file systems).
    #[arg(long, default_value = "/etc/cloudstor/plugin.toml")]
    config: PathBuf,
    /// `text` for people, `json` for log shippers; both carry `volume` and `mount_id` fields.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cloudstor::plugin::PluginConfig::load(&cli.config)?;
    cloudstor::plugin::serve(config)
        .await
        .context("cloudstor-plugin stopped")
}
