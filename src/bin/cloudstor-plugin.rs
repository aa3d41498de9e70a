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

/// File-system calls run on a few blocking threads: twice the cores, at least four. They are
/// short, and idle threads beyond that only add wake-ups (8 threads on 2 cores cost half as
/// much again CPU per Mount as 4; docs/benchmarks.md). When NFS stalls, each stuck call keeps
/// its thread and later calls queue, but every request still gets its timeout `Err` on time,
/// and a call that timed out while queued is dropped unrun.
fn blocking_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    (2 * cores).max(4)
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads())
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => Err(anyhow::Error::new(error).context("cannot start the async runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own heap arena, up to eight per core, and keeps
/// what it freed; with a pool of blocking threads that multiplied the daemon's resident memory
/// (36.8 MB against 14 MB with two arenas after listing 10,000 volumes).
#[cfg(target_env = "gnu")]
fn limit_malloc_arenas() {
    const MALLOC_ARENAS: i32 = 2;
    // SAFETY: called first thing in main, before any other thread exists or allocates.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

#[cfg(not(target_env = "gnu"))]
fn limit_malloc_arenas() {}

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
