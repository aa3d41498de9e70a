use std::io::Write;
use std::process::ExitCode;

use cloudstor::cfn::{TemplateOptions, template_for, to_yaml};

use super::{SpecArgs, cloud_for};

/// Print the spec as a CloudFormation template (to stdout), for review or for your own pipeline.
///
/// File systems are kept (DeletionPolicy and UpdateReplacePolicy Retain) unless the spec says
/// `protect = false`. AWS is only asked when a One Zone file system needs its subnet's zone.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Make the VPC and subnets template parameters, defaulting to the spec's values.
    #[arg(long)]
    parameterize: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Yaml,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec.load()?;
    let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
    let options = TemplateOptions {
        parameterize: args.parameterize,
    };
    let template = template_for(&spec, &cloud, options).await?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&template)? + "\n",
        Format::Yaml => to_yaml(&template),
    };
    match std::io::stdout().write_all(text.as_bytes()) {
        // `cloudstor template | head` closing the pipe early is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
