//! One file per subcommand: `Args` (clap) and `exec`, a thin wrapper over the library.

pub mod apply;
pub mod bootstrap;
pub mod cost;
pub mod destroy;
pub mod plan;
pub mod plugin;
pub mod volume;

/// Logs go to stderr and are quiet unless `RUST_LOG` asks for more.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
