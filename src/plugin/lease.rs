//! Leases: one empty file per node that has a volume mounted, `leases/<node>.lease` in the
//! volume's directory on the shared file system. The file's modification time is when the
//! lease expires (by the holder's clock). Renewed while mounted; a dead node's lease simply
//! expires.
//!
//! Taking, renewing and releasing a lease only set that time, so each is one attribute
//! change: nothing to tear, and no file created or deleted per Mount, which on NFS would be
//! several round trips. Releasing sets the time to the epoch; the holder deletes its released
//! file later (`remove_released`), under the volume's lock, so no other writer races it.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::clock::unix_now;
use super::error::Error;

const SUFFIX: &str = ".lease";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub node: String,
    /// Unix seconds; compared with each reader's clock, so nodes need NTP-level agreement.
    pub expires_at: u64,
}

fn path(leases_dir: &Path, node: &str) -> PathBuf {
    leases_dir.join(format!("{node}{SUFFIX}"))
}

/// Takes or renews `node`'s lease for `ttl` from now.
pub fn hold(leases_dir: &Path, node: &str, ttl: Duration) -> Result<(), Error> {
    let path = path(leases_dir, node);
    let expires_at = SystemTime::now() + ttl;
    File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .and_then(|file| file.set_modified(expires_at))
        .map_err(Error::io("cannot write lease", path))
}

/// Marks `node`'s lease expired. A volume without one (removed meanwhile) is fine.
pub fn release(leases_dir: &Path, node: &str) -> Result<(), Error> {
    let path = path(leases_dir, node);
    match File::options().write(true).open(&path) {
        Ok(file) => file
            .set_modified(UNIX_EPOCH)
            .map_err(Error::io("cannot release lease", path)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("cannot release lease", path)(err)),
    }
}

/// Deletes `node`'s lease file if it is still released. The caller holds the volume's lock,
/// so this node cannot be taking the lease again meanwhile.
pub fn remove_released(leases_dir: &Path, node: &str) -> Result<(), Error> {
    let path = path(leases_dir, node);
    match expiry(&path) {
        Ok(0) => std::fs::remove_file(&path).or_else(not_found_is_fine),
        Ok(_) => Ok(()),
        Err(err) => not_found_is_fine(err),
    }
    .map_err(Error::io("cannot remove released lease", path))
}

fn not_found_is_fine(err: std::io::Error) -> std::io::Result<()> {
    match err.kind() {
        ErrorKind::NotFound => Ok(()),
        _ => Err(err),
    }
}

/// Unexpired leases, sorted by node.
pub fn holders(leases_dir: &Path) -> Result<Vec<Lease>, Error> {
    let entries = match std::fs::read_dir(leases_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("cannot read leases", leases_dir)(err)),
    };
    let now = unix_now();
    let mut leases: Vec<Lease> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let node = name.to_str()?.strip_suffix(SUFFIX)?.to_string();
            let expires_at = expiry(&entry.path()).ok()?;
            Some(Lease { node, expires_at })
        })
        .filter(|lease| lease.expires_at >= now)
        .collect();
    leases.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(leases)
}

/// Nodes other than `node` that hold an unexpired lease.
pub fn other_holders(leases_dir: &Path, node: &str) -> Result<Vec<String>, Error> {
    Ok(holders(leases_dir)?
        .into_iter()
        .map(|lease| lease.node)
        .filter(|holder| holder != node)
        .collect())
}

/// A lease file's expiry in Unix seconds. The file is opened rather than stat'ed because
/// opening makes an NFS client fetch fresh attributes (close-to-open consistency), where a
/// bare stat may answer from a cache up to a minute old.
fn expiry(path: &Path) -> std::io::Result<u64> {
    let modified = File::open(path)?.metadata()?.modified()?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn holders_see_live_leases_and_not_released_or_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), "node-a", MINUTE).unwrap();
        hold(dir.path(), "node-b", MINUTE).unwrap();
        let expired = File::create(dir.path().join("node-c.lease")).unwrap();
        expired
            .set_modified(SystemTime::now() - Duration::from_secs(5))
            .unwrap();
        assert_eq!(other_holders(dir.path(), "node-a").unwrap(), ["node-b"]);
        release(dir.path(), "node-b").unwrap();
        release(dir.path(), "node-b").unwrap();
        assert!(other_holders(dir.path(), "node-a").unwrap().is_empty());
        let holders = holders(dir.path()).unwrap();
        assert_eq!(holders.len(), 1);
        assert!(holders[0].expires_at >= unix_now() + 59, "{holders:?}");
    }

    #[test]
    fn a_released_lease_can_be_taken_again_and_only_a_released_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), "node-a", MINUTE).unwrap();
        remove_released(dir.path(), "node-a").unwrap();
        assert!(
            path(dir.path(), "node-a").exists(),
            "a held lease was removed"
        );
        release(dir.path(), "node-a").unwrap();
        hold(dir.path(), "node-a", MINUTE).unwrap();
        assert_eq!(other_holders(dir.path(), "node-b").unwrap(), ["node-a"]);
        release(dir.path(), "node-a").unwrap();
        remove_released(dir.path(), "node-a").unwrap();
        remove_released(dir.path(), "node-a").unwrap();
        assert!(!path(dir.path(), "node-a").exists());
    }

    #[test]
    fn a_missing_leases_dir_means_no_holders_and_nothing_to_release() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        assert!(holders(&gone).unwrap().is_empty());
        release(&gone, "node-a").unwrap();
        remove_released(&gone, "node-a").unwrap();
    }
}
