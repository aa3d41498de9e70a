//! Who holds a volume, visible to every node. Two kinds of empty file on each shared file
//! system, each meaning something through its modification time alone:
//!
//! - `nodes/<node>.alive`, the node's heartbeat: its mtime is when the node's leases lapse.
//!   A running plugin pushes it `lease_ttl` ahead every third of that; a plugin stopped by
//!   SIGTERM while containers still use its volumes pushes it `restart_grace` ahead, so an
//!   upgrade or restart never lets another node remove a live volume.
//! - `<volume>/leases/<node>.lease`: the node has the volume mounted. The epoch means
//!   released; any other time means held, for as long as the node's heartbeat stands.
//!
//! So a lease does not expire by itself: it stands while the holder's journal has mounts and
//! its heartbeat is alive, and a node gone for good releases everything when its heartbeat
//! lapses. Renewing is one attribute change per file system, not one per mounted volume.
//! The holder deletes its released files later (`remove_released`), under the volume's
//! lock, so no other writer races it.

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::clock::unix_now;
use super::error::Error;

const LEASE_SUFFIX: &str = ".lease";
const HEARTBEAT_SUFFIX: &str = ".alive";
/// Inside a volume (and a trash entry): one lease file per node.
pub const LEASES_DIR: &str = "leases";
/// At a file system's root: one heartbeat file per node.
pub const NODES_DIR: &str = "nodes";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub node: String,
    /// Unix seconds when the holder's heartbeat lapses; compared with each reader's clock,
    /// so nodes need NTP-level agreement.
    pub expires_at: u64,
}

fn lease_path(volume_dir: &Path, node: &str) -> PathBuf {
    volume_dir
        .join(LEASES_DIR)
        .join(format!("{node}{LEASE_SUFFIX}"))
}

/// A volume lives at `<root>/volumes/<name>` and a trash entry at `<root>/trash/<id>`; the
/// heartbeats are at `<root>/nodes` for both.
fn nodes_dir(volume_dir: &Path) -> PathBuf {
    volume_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(volume_dir)
        .join(NODES_DIR)
}

/// Pushes `node`'s heartbeat on the file system at `root` to `until`.
/// Creates no directory: `nodes/` is made with the store's marker (see `marker`), and a file
/// system replaced since the marker was read must not get a heartbeat.
pub fn beat(root: &Path, node: &str, until: SystemTime) -> Result<(), Error> {
    let dir = root.join(NODES_DIR);
    set_time(&dir.join(format!("{node}{HEARTBEAT_SUFFIX}")), until, true)
        .map_err(Error::io("cannot write heartbeat", dir))
}

/// Takes `node`'s lease on the volume in `volume_dir` (it stands while the heartbeat does).
pub fn hold(volume_dir: &Path, node: &str) -> Result<(), Error> {
    let path = lease_path(volume_dir, node);
    set_time(&path, SystemTime::now(), true).map_err(Error::io("cannot write lease", path))
}

/// Marks `node`'s lease released. A volume without one (removed meanwhile) is fine.
pub fn release(volume_dir: &Path, node: &str) -> Result<(), Error> {
    let path = lease_path(volume_dir, node);
    set_time(&path, UNIX_EPOCH, false)
        .or_else(not_found_is_fine)
        .map_err(Error::io("cannot release lease", path))
}

/// Deletes `node`'s lease file if it is released. The caller holds the volume's lock, so
/// this node cannot be taking the lease again meanwhile.
pub fn remove_released(volume_dir: &Path, node: &str) -> Result<(), Error> {
    let path = lease_path(volume_dir, node);
    match mtime_secs(&path) {
        Ok(0) => std::fs::remove_file(&path).or_else(not_found_is_fine),
        Ok(_) => Ok(()),
        Err(err) => not_found_is_fine(err),
    }
    .map_err(Error::io("cannot remove released lease", path))
}

fn set_time(path: &Path, time: SystemTime, create: bool) -> std::io::Result<()> {
    File::options()
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)?
        .set_modified(time)
}

fn not_found_is_fine(err: std::io::Error) -> std::io::Result<()> {
    match err.kind() {
        ErrorKind::NotFound => Ok(()),
        _ => Err(err),
    }
}

/// Held leases whose node's heartbeat stands, sorted by node.
pub fn holders(volume_dir: &Path) -> Result<Vec<Lease>, Error> {
    let leases_dir = volume_dir.join(LEASES_DIR);
    let entries = match std::fs::read_dir(&leases_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("cannot read leases", leases_dir)(err)),
    };
    let held = entries.filter_map(Result::ok).filter_map(|entry| {
        let name = entry.file_name();
        let node = name.to_str()?.strip_suffix(LEASE_SUFFIX)?.to_string();
        (mtime_secs(&entry.path()).ok()? != 0).then_some(node)
    });
    let now = unix_now();
    let nodes = nodes_dir(volume_dir);
    let mut heartbeats = HashMap::new();
    let mut leases: Vec<Lease> = held
        .filter_map(|node| {
            let expires_at = *heartbeats
                .entry(node.clone())
                .or_insert_with(|| heartbeat_expiry(&nodes, &node));
            (expires_at >= now).then_some(Lease { node, expires_at })
        })
        .collect();
    leases.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(leases)
}

/// Nodes other than `node` that hold a standing lease.
pub fn other_holders(volume_dir: &Path, node: &str) -> Result<Vec<String>, Error> {
    Ok(holders(volume_dir)?
        .into_iter()
        .map(|lease| lease.node)
        .filter(|holder| holder != node)
        .collect())
}

/// A node that never beat, or whose heartbeat cannot be read, holds nothing.
fn heartbeat_expiry(nodes_dir: &Path, node: &str) -> u64 {
    mtime_secs(&nodes_dir.join(format!("{node}{HEARTBEAT_SUFFIX}"))).unwrap_or(0)
}

/// A file's mtime in Unix seconds. The file is opened rather than stat'ed because opening
/// makes an NFS client fetch fresh attributes (close-to-open consistency), where a bare stat
/// may answer from a cache up to a minute old.
fn mtime_secs(path: &Path) -> std::io::Result<u64> {
    let modified = File::open(path)?.metadata()?.modified()?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MINUTE: Duration = Duration::from_secs(60);

    /// A file system root with one volume directory; returns (root, volume dir).
    fn volume() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let volume = root.path().join("volumes").join("v1");
        std::fs::create_dir_all(volume.join(LEASES_DIR)).unwrap();
        std::fs::create_dir(root.path().join(NODES_DIR)).unwrap();
        (root, volume)
    }

    #[test]
    fn a_lease_stands_while_its_nodes_heartbeat_does() {
        let (root, volume) = volume();
        beat(root.path(), "node-a", SystemTime::now() + MINUTE).unwrap();
        beat(root.path(), "node-b", SystemTime::now() - MINUTE).unwrap();
        hold(&volume, "node-a").unwrap();
        hold(&volume, "node-b").unwrap();
        hold(&volume, "node-c").unwrap();
        assert_eq!(other_holders(&volume, "node-x").unwrap(), ["node-a"]);
        beat(root.path(), "node-b", SystemTime::now() + MINUTE).unwrap();
        assert_eq!(
            other_holders(&volume, "node-x").unwrap(),
            ["node-a", "node-b"]
        );
        let holders = holders(&volume).unwrap();
        assert!(holders[0].expires_at >= unix_now() + 59, "{holders:?}");
    }

    #[test]
    fn a_released_lease_stops_counting_can_be_taken_again_and_only_then_is_removed() {
        let (root, volume) = volume();
        beat(root.path(), "node-a", SystemTime::now() + MINUTE).unwrap();
        hold(&volume, "node-a").unwrap();
        remove_released(&volume, "node-a").unwrap();
        assert!(
            lease_path(&volume, "node-a").exists(),
            "a held lease was removed"
        );
        release(&volume, "node-a").unwrap();
        release(&volume, "node-a").unwrap();
        assert!(other_holders(&volume, "node-b").unwrap().is_empty());
        hold(&volume, "node-a").unwrap();
        assert_eq!(other_holders(&volume, "node-b").unwrap(), ["node-a"]);
        release(&volume, "node-a").unwrap();
        remove_released(&volume, "node-a").unwrap();
        remove_released(&volume, "node-a").unwrap();
        assert!(!lease_path(&volume, "node-a").exists());
    }

    #[test]
    fn a_heartbeat_never_creates_a_missing_store() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        beat(&gone, "node-a", SystemTime::now() + MINUTE).unwrap_err();
        assert!(!gone.exists());
    }

    #[test]
    fn a_missing_leases_dir_means_no_holders_and_nothing_to_release() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("volumes").join("gone");
        assert!(holders(&gone).unwrap().is_empty());
        release(&gone, "node-a").unwrap();
        remove_released(&gone, "node-a").unwrap();
    }
}
