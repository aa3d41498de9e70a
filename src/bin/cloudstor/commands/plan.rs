use std::path::PathBuf;
use std::process::ExitCode;

use cloudstor::plan::{render_json, render_text};

use super::{ColorArgs, SpecArgs, cloud_for, json_errors};

/// Show what apply would change: refresh the stack from AWS and diff it against the spec.
///
/// Nothing is changed. Symbols: + create, ~ update in place, -/+ replace, - destroy.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    color: ColorArgs,
    /// Save the plan (with a fingerprint of what refresh saw) for `cloudstor apply FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Print the plan as JSON shaped like `terraform show -json` (errors too, as diagnostics).
    #[arg(long)]
    json: bool,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    json_errors(args.json, run(&args).await)
}

async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec.load()?;
    let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
    let (plan, _) = cloudstor::plan::plan(&cloud, &spec, false).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&render_json(&plan))?);
    } else {
        print!("{}", args.color.paint(render_text(&plan)));
    }
    if let Some(out) = &args.out {
        plan.save(out)?;
        if !args.json {
            println!("\nSaved the plan to: {}", out.display());
            println!(
                "To perform exactly these actions, run: cloudstor apply {}",
                out.display()
            );
        }
    }
    Ok(match (args.detailed_exitcode, plan.is_empty()) {
        (true, false) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}
