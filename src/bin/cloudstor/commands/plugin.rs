use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cloudstor::bootstrap;

/// The volume plugin as a managed Docker plugin.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(clap::Subcommand)]
enum PluginCommand {
    /// Write DIR/config.json and DIR/rootfs for `docker plugin create cloudstor:aws DIR`.
    Package {
        dir: PathBuf,
        /// Package the CSI plugin for Swarm cluster volumes (docs/csi.md) instead of the
        /// VolumeDriver plugin.
        #[arg(long)]
        csi: bool,
        /// The statically linked plugin binary; default: cloudstor-plugin beside this program.
        #[arg(long)]
        binary: Option<PathBuf>,
        /// A statically linked busybox (Debian: busybox-static) for the entrypoint.
        #[arg(long, default_value = "/bin/busybox")]
        busybox: PathBuf,
    },
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let PluginCommand::Package {
        dir,
        csi,
        binary,
        busybox,
    } = args.command;
    let binary = match binary {
        Some(binary) => binary,
        None => std::env::current_exe()
            .context("cannot find this program's directory; pass --binary")?
            .with_file_name("cloudstor-plugin"),
    };
    let (kind, name) = if csi {
        (bootstrap::PackageKind::Csi, "cloudstor-csi:aws")
    } else {
        (bootstrap::PackageKind::VolumeDriver, "cloudstor:aws")
    };
    let packaged = bootstrap::package_managed_plugin(&dir, &binary, &busybox, kind)?;
    println!(
        "wrote {} and {}",
        packaged.config.display(),
        packaged.rootfs.display()
    );
    println!("install:  docker plugin create {name} {}", dir.display());
    println!(
        "ship:     tar -C {} -czf cloudstor-plugin.tar.gz .",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
