use std::process::ExitCode;

use anyhow::Context;
use cloudstor::bootstrap;

use super::{SpecArgs, cloud_for};

/// Print the node user-data script: NFS client, volume plugin and its configuration.
///
/// The file system ids come from AWS (run `cloudstor apply` first); with --cloudformation
/// the script is printed as an `Fn::Sub` body with `${FsId...}` variables instead, and AWS
/// is not asked.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    /// Print the CloudFormation `Fn::Sub` form (variables listed on stderr) instead.
    #[arg(long)]
    cloudformation: bool,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec.load()?;
    if args.cloudformation {
        // Without AWS the subnets' zones are unknown, so the mount target addresses are left
        // out; `cloudstor template` and the CloudFormation engine add them where they know.
        let user_data = bootstrap::render_cloudformation_script(&spec, &[])?;
        user_data.check_size()?;
        for (variable, stands_for) in &user_data.variables {
            if let bootstrap::SubVariable::FileSystemId(filesystem) = stands_for {
                eprintln!("# Fn::Sub variable {variable}: the id of filesystem.{filesystem}");
            }
        }
        print!("{}", user_data.body);
        return Ok(ExitCode::SUCCESS);
    }
    let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
    let region = cloud
        .region()
        .context("no AWS region: set stack.region, --region or AWS_REGION")?;
    let observed = cloud.refresh(&spec).await?;
    let filesystems = bootstrap::node_filesystems(&spec, &observed, &region)?;
    let script = bootstrap::render_script(&spec, &filesystems)?;
    // EC2 refuses more user data than this; the launch template paths refuse it the same way.
    bootstrap::launch_template_user_data(&script)?;
    print!("{script}");
    Ok(ExitCode::SUCCESS)
}
