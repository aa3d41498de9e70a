//! One file per subcommand: `Args` (clap) and `exec`, a thin wrapper over the library.

pub mod apply;
pub mod bootstrap;
pub mod cloudformation;
pub mod cost;
pub mod destroy;
pub mod import;
pub mod plan;
pub mod plugin;
pub mod show;
pub mod template;
pub mod volume;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
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

/// Colour for commands that print plans.
#[derive(clap::Args)]
pub struct ColorArgs {
    /// Plain text even on a terminal (as does a non-empty NO_COLOR).
    #[arg(long)]
    no_color: bool,
}

impl ColorArgs {
    /// The plan text as it should reach stdout.
    pub fn paint(&self, text: String) -> String {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if use_color(self.no_color, no_color_env, std::io::stdout().is_terminal()) {
            cloudstor::plan::colorize(&text)
        } else {
            text
        }
    }
}

/// As Terraform: colour on a terminal, unless `--no-color` or `NO_COLOR` (no-color.org) asks
/// otherwise; never into a pipe or file, where escapes would be noise.
fn use_color(no_color_flag: bool, no_color_env: bool, terminal: bool) -> bool {
    terminal && !no_color_flag && !no_color_env
}

/// With `--json`, an error goes to stdout as a JSON diagnostic (exit 1), so a script reading
/// stdout parses it whether the command worked or not.
pub fn json_errors(json: bool, result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Err(error) if json => {
            let error: &(dyn std::error::Error + 'static) = error.as_ref();
            let diagnostics = cloudstor::plan::render_error_json(error);
            println!("{}", serde_json::to_string_pretty(&diagnostics)?);
            Ok(ExitCode::FAILURE)
        }
        result => result,
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

#[cfg(test)]
mod tests {
    use super::use_color;

    #[test]
    fn colour_only_on_a_terminal_without_an_opt_out() {
        assert!(use_color(false, false, true));
        assert!(!use_color(true, false, true));
        assert!(!use_color(false, true, true));
        assert!(!use_color(false, false, false));
    }
}
