//! `cloudstor volume ls|inspect|restore|release|reconcile|purge|mark-cluster`: admin of plugin volumes on
//! a node, straight on the shared file systems named in the plugin config; `release` and
//! `reconcile` ask the running plugin, which owns the mount journal.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cloudstor::plugin::adopt::{self, Marked};
use cloudstor::plugin::clock::rfc3339;
use cloudstor::plugin::name::VolumeName;
use cloudstor::plugin::store::{Store, Volume};
use cloudstor::plugin::{PluginConfig, admin, lease, trash};
use serde_json::json;

/// Manage the plugin's volumes on this node: list, inspect, restore or purge removed ones, release mounts, hand old cluster volumes back to Swarm.
///
/// Works straight on the shared file systems named in the plugin config, so it answers for the
/// whole cluster and needs no running plugin (except `release` and `reconcile`). `docker volume rm` never deletes data: it moves the
/// volume to the trash, kept for the configured retention (7 days by default).
#[derive(clap::Args)]
pub struct Args {
    /// The plugin configuration that names the file systems.
    #[arg(long, global = true, default_value = "/etc/cloudstor/plugin.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(clap::Subcommand)]
enum VolumeCommand {
    /// List volumes; with --trash, removed volumes waiting to be purged.
    Ls {
        /// Removed volumes, with the ID `restore` and `purge` take, instead of live ones.
        #[arg(long)]
        trash: bool,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a volume's metadata and the nodes that have it mounted.
    Inspect { name: String },
    /// Put a removed volume back under its name (ID from `ls --trash`).
    Restore { id: String },
    /// Drop this node's mounts of a volume whose containers are gone (removed while the
    /// plugin was down), so its lease is released and other nodes may remove it.
    ///
    /// Asks the plugin running on this node. The plugin also does this by itself at start,
    /// for every mount no running container has; use this when Docker could not be asked.
    Release {
        name: String,
        /// Only this Docker mount ID (default: every mount of the volume on this node).
        #[arg(long)]
        mount_id: Option<String>,
        /// Release without asking.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Ask Docker now which volumes running containers use, and release this node's mounts
    /// of the others (the plugin does this by itself at start).
    ///
    /// A volume mounted within the last `reconcile_grace_secs` (60) is left alone: Docker
    /// mounts a volume a moment before its container shows as running.
    Reconcile,
    /// Make a volume a Swarm cluster volume again: for cluster volumes created before
    /// cloudstor told the two kinds apart.
    ///
    /// Such a volume has no `"managed_by": "swarm"` in its record, so the VolumeDriver plugin
    /// lists it and the CSI plugin refuses to publish or delete it. Refused while any node has
    /// it mounted; running it again is harmless.
    MarkCluster {
        /// The volume, as `cloudstor volume ls` and `docker volume ls --cluster` show it.
        name: String,
        /// Mark without asking.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Delete removed volumes for good: the given IDs, or every one past retention.
    Purge {
        #[arg(required_unless_present = "expired")]
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        expired: bool,
    },
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let config = PluginConfig::load(&args.config)?;
    let store = Store::new(&config);
    match args.command {
        VolumeCommand::Ls { trash: false, json } => list_volumes(&store, json)?,
        VolumeCommand::Ls { trash: true, json } => list_trash(&store, &config, json)?,
        VolumeCommand::Inspect { name } => inspect(&store, &name)?,
        VolumeCommand::Restore { id } => {
            let volume = trash::restore(&store, &id)?;
            println!("restored {} to {}", volume.meta.name, volume.dir.display());
        }
        VolumeCommand::Release {
            name,
            mount_id,
            auto_approve,
        } => {
            if !auto_approve {
                let which = mount_id
                    .as_deref()
                    .map_or("every mount".into(), |id| format!("mount {id}"));
                println!(
                    "Releasing {which} of volume {name} on this node tells the plugin no container here uses it.\n\
                     If one still does, another node may then remove the volume under it."
                );
                super::confirm(&format!("release {which} of volume {name}"))?;
            }
            let released = admin::release(&config.socket, &name, mount_id.as_deref())?;
            println!("released {released} mount(s) of {name}");
        }
        VolumeCommand::Reconcile => {
            let released = admin::reconcile(&config.socket)?;
            if released.is_empty() {
                println!("every mount on this node has a running container; nothing released");
            }
            for volume in released {
                println!("released {} mount(s) of {}", volume.mounts, volume.name);
            }
        }
        VolumeCommand::MarkCluster { name, auto_approve } => {
            mark_cluster(&store, &config, &name, auto_approve)?;
        }
        VolumeCommand::Purge { ids, expired } => {
            let purged = if expired {
                trash::purge_expired(&store, config.trash_retention)?
            } else {
                ids.iter()
                    .map(|id| trash::purge(&store, id))
                    .collect::<Result<_, _>>()?
            };
            purged
                .iter()
                .for_each(|entry| println!("purged {}", entry.id));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_volumes(store: &Store, as_json: bool) -> anyhow::Result<()> {
    let volumes = store.list()?;
    if as_json {
        let rows: Vec<_> = volumes
            .iter()
            .map(|(name, mountpoint)| json!({ "name": name.as_str(), "mountpoint": mountpoint }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<40} MOUNTPOINT", "NAME");
    for (name, mountpoint) in volumes {
        println!("{name:<40} {}", mountpoint.display());
    }
    Ok(())
}

fn list_trash(store: &Store, config: &PluginConfig, as_json: bool) -> anyhow::Result<()> {
    let entries = trash::list(store)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    let retention = config.trash_retention.as_secs();
    println!(
        "{:<50} {:<30} {:<20} {:<16} PURGED AFTER",
        "ID", "NAME", "REMOVED AT", "REMOVED BY"
    );
    for entry in entries {
        println!(
            "{:<50} {:<30} {:<20} {:<16} {}",
            entry.id,
            entry.name,
            rfc3339(entry.removed_at),
            entry.removed_by,
            rfc3339(entry.removed_at + retention)
        );
    }
    Ok(())
}

fn find(store: &Store, raw_name: &str) -> anyhow::Result<Volume> {
    let name = VolumeName::parse(raw_name)?;
    store
        .find(&name)?
        .with_context(|| format!("no volume named {name}; `cloudstor volume ls` lists them"))
}

fn mark_cluster(
    store: &Store,
    config: &PluginConfig,
    raw_name: &str,
    auto_approve: bool,
) -> anyhow::Result<()> {
    let volume = find(store, raw_name)?;
    if !auto_approve {
        println!(
            "Marking volume {raw_name} as a Swarm cluster volume hands it to the CSI plugin:\n\
             the VolumeDriver plugin will no longer list, mount or remove it."
        );
        super::confirm(&format!("mark volume {raw_name} as a cluster volume"))?;
    }
    match adopt::mark_cluster_volume(store, volume, &config.node_id)? {
        Marked::Now => println!("volume {raw_name} is a Swarm cluster volume now"),
        Marked::Already => println!("volume {raw_name} already is a Swarm cluster volume"),
    }
    Ok(())
}

fn inspect(store: &Store, raw_name: &str) -> anyhow::Result<()> {
    let volume = find(store, raw_name)?;
    let holders = lease::holders(&volume.dir)?;
    let report = json!({
        "name": volume.meta.name,
        "filesystem": volume.meta.filesystem,
        "mountpoint": volume.data_dir(),
        "options": volume.meta.options.describe(),
        "created_at": rfc3339(volume.meta.created_at),
        "created_by": volume.meta.created_by,
        "mounted_on": holders,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
