use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub async fn exec(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("cloudstor plan is being built")
}
