use std::path::PathBuf;
use std::process::ExitCode;

use cloudstor::plan::{Plan, render_json, render_text};

use super::{ColorArgs, json_errors};

/// Show a plan saved by `cloudstor plan --out FILE`, as text or JSON; AWS is not asked.
#[derive(clap::Args)]
pub struct Args {
    /// The saved plan.
    #[arg(value_name = "PLANFILE")]
    plan_file: PathBuf,
    /// Print the plan as JSON shaped like `terraform show -json`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    color: ColorArgs,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    json_errors(args.json, run(&args))
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let plan = Plan::load(&args.plan_file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&render_json(&plan))?);
    } else {
        print!("{}", args.color.paint(render_text(&plan)));
    }
    Ok(ExitCode::SUCCESS)
}
