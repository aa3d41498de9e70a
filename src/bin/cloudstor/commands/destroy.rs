use std::process::ExitCode;

use cloudstor::apply::{ApplyOptions, Progress};
use cloudstor::plan::render_text;

use super::{ColorArgs, Engine, SpecArgs, cloud_for, cloudformation, confirm, interrupt_flag};

/// Delete every resource of the stack: mount targets, then file systems and the security group.
///
/// File systems with `protect = true` (the default) are refused unless --allow-data-loss is
/// given; the refusal names each and how much data it holds.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    color: ColorArgs,
    /// Destroy without asking.
    #[arg(long)]
    auto_approve: bool,
    /// Allow destroying file systems that have `protect = true`.
    #[arg(long)]
    allow_data_loss: bool,
    /// How many AWS operations run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallelism: u16,
    /// `api`: delete through EFS and EC2; `cloudformation`: delete the CloudFormation stack
    /// (protected file systems are retained by CloudFormation and listed).
    #[arg(long, value_enum, default_value_t = Engine::Api)]
    engine: Engine,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec.load()?;
    if args.engine == Engine::Cloudformation {
        return cloudformation::destroy(&spec, args.spec.region.as_ref(), args.auto_approve).await;
    }
    let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
    let (plan, _) = cloudstor::plan::plan(&cloud, &spec, true).await?;
    if plan.is_empty() {
        println!("No changes. No objects need to be destroyed.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", args.color.paint(render_text(&plan)));
    cloudstor::apply::check_protection(&plan, args.allow_data_loss)?;
    if !args.auto_approve {
        confirm("destroy all resources of this stack")?;
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        allow_data_loss: args.allow_data_loss,
        interrupted: interrupt_flag(),
    };
    println!();
    let report = cloudstor::apply::apply(&cloud, &plan, options, Progress::for_stdout()).await?;
    println!(
        "\nDestroy complete! Resources: {} destroyed.",
        report.destroyed
    );
    Ok(ExitCode::SUCCESS)
}
