//! One file per subcommand: `Args` (clap) and `exec`, a thin wrapper over the library.

pub mod apply;
pub mod bootstrap;
pub mod cloudformation;
pub mod cost;
pub mod destroy;
pub mod import;
pub mod plan;
pub mod plugin;
pub mod template;
pub mod volume;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;
use cloudstor::cloud::Cloud;
use cloudstor::spec::Spec;

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

/// Who carries out apply and destroy.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// cloudstor calls the EFS and EC2 APIs itself (state found by tags).
    Api,
    /// cloudstor deploys a CloudFormation stack through a change set.
    Cloudformation,
}

/// The options every command that talks to AWS about a spec takes.
#[derive(clap::Args)]
pub struct SpecArgs {
    /// The spec to read.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "SPEC",
        default_value = "cloudstor.toml"
    )]
    pub file: PathBuf,
    /// AWS region; overrides the spec's `stack.region` and the AWS chain (AWS_REGION, profile).
    #[arg(long)]
    pub region: Option<String>,
}

impl SpecArgs {
    pub fn load(&self) -> anyhow::Result<Spec> {
        Ok(Spec::load(&self.file)?)
    }
}

pub async fn cloud_for(spec: &Spec, region: Option<&String>) -> Cloud {
    let region = region.or(spec.stack.region.as_ref()).cloned();
    Cloud::from_env(region).await
}

/// Asks as Terraform does; without a terminal there is nobody to ask, so it refuses.
pub fn confirm(what: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {what} without confirmation: stdin is not a terminal; pass --auto-approve to {what} non-interactively"
        );
    }
    print!("\nDo you want to {what}? Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("{what} cancelled");
    }
    Ok(())
}

/// First Ctrl-C: let running AWS operations finish and start no more. Second: stop at once.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            seen.store(true, Ordering::SeqCst);
            eprintln!(
                "\nInterrupt received: waiting for running operations to finish (Ctrl-C again to stop now)."
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    flag
}
