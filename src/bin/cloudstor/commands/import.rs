use std::process::ExitCode;

use super::{SpecArgs, cloud_for};

/// Adopt a file system cloudstor did not create, as ADDRESS (filesystem.NAME) of the spec.
///
/// Plan never takes over a file system on its own, even one with the CreationToken cloudstor
/// would use. Import compares it with the spec first and refuses a difference that forces
/// replacement (performance mode, encryption, KMS key, One Zone zone); other differences show
/// in the next plan as in-place updates. It then tags the file system for this stack, with
/// protection on.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    /// Where the file system goes in the stack, e.g. filesystem.shared.
    address: String,
    /// The file system's id, e.g. fs-0123456789abcdef0.
    id: String,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec.load()?;
    let cloud = cloud_for(&spec, args.spec.region.as_ref()).await;
    let imported = cloudstor::import::import(&cloud, &spec, &args.address, &args.id).await?;
    if imported.already {
        println!(
            "{} is {} already; nothing to import.",
            imported.address, imported.id
        );
    } else {
        println!(
            "Import successful: {} is {}, protected (cloudstor:protect = true).",
            imported.address, imported.id
        );
        println!(
            "Run `cloudstor plan` to see how it differs from the spec; apply makes those changes in place."
        );
    }
    Ok(ExitCode::SUCCESS)
}
