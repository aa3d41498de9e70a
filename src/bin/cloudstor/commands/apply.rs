use std::path::PathBuf;
use std::process::ExitCode;

use cloudstor::apply::{ApplyError, ApplyOptions, Progress};
use cloudstor::plan::{Plan, render_text};

use super::{ColorArgs, Engine, SpecArgs, cloud_for, cloudformation, confirm, interrupt_flag};

/// Create or change the stack's resources so AWS matches the spec.
///
/// Shows the plan and asks for confirmation (or needs --auto-approve). Given a plan file saved
/// by `cloudstor plan --out`, applies exactly that plan, and refuses it if the stack changed
/// since. Safe to re-run after an error or Ctrl-C: it finishes what is left.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    color: ColorArgs,
    /// A plan file saved by `cloudstor plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    plan_file: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long)]
    auto_approve: bool,
    /// How many AWS operations run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallelism: u16,
    /// Allow destroying or replacing file systems that have `protect = true`.
    #[arg(long)]
    allow_data_loss: bool,
    /// `api`: call EFS and EC2 directly; `cloudformation`: deploy a stack through a change set.
    #[arg(long, value_enum, default_value_t = Engine::Api)]
    engine: Engine,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    if args.engine == Engine::Cloudformation {
        if args.plan_file.is_some() {
            anyhow::bail!(
                "a saved plan is for the api engine; with --engine cloudformation the change set is the plan, so pass the spec with -f"
            );
        }
        let spec = args.spec.load()?;
        return cloudformation::apply(
            &spec,
            args.spec.region.as_ref(),
            args.auto_approve,
            args.allow_data_loss,
        )
        .await;
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        allow_data_loss: args.allow_data_loss,
        interrupted: interrupt_flag(),
    };
    let plan = match &args.plan_file {
        Some(path) => saved_plan(path, &args).await?,
        None => {
            let spec = args.spec.load()?;
            let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
            let (plan, _) = cloudstor::plan::plan(&cloud, &spec, false).await?;
            print!("{}", args.color.paint(render_text(&plan)));
            if plan.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            cloudstor::apply::check_protection(&plan, args.allow_data_loss)?;
            if !args.auto_approve {
                confirm("perform these actions")?;
            }
            plan
        }
    };
    let cloud = cloud_for(&plan.spec, args.spec.region.as_ref()).await;
    println!();
    let report = cloudstor::apply::apply(&cloud, &plan, options, Progress::for_stdout()).await?;
    println!(
        "\nApply complete! Resources: {} added, {} changed, {} destroyed.",
        report.added, report.changed, report.destroyed
    );
    Ok(ExitCode::SUCCESS)
}

/// A saved plan applies as saved, unless refresh now sees something else.
async fn saved_plan(path: &std::path::Path, args: &Args) -> anyhow::Result<Plan> {
    let plan = Plan::load(path)?;
    let cloud = cloud_for(&plan.spec, args.spec.region.as_ref()).await;
    let observed = cloud.refresh(&plan.spec).await?;
    if observed.fingerprint() != plan.fingerprint {
        return Err(ApplyError::Stale.into());
    }
    Ok(plan)
}
