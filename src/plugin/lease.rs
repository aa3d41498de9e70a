//! Leases: one file per node that has a volume mounted, in the volume's `leases/` directory
//! on the shared file system. Renewed while mounted; a dead node's lease simply expires.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::atomic_file;
use super::clock::unix_now;
use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub node: String,
    /// Unix seconds; compared with each reader's clock, so nodes need NTP-level agreement.
    pub expires_at: u64,
}

/// Takes or renews `node`'s lease for `ttl` from now.
pub fn hold(leases_dir: &Path, node: &str, ttl: Duration) -> Result<(), Error> {
    let lease = Lease {
        node: node.to_string(),
        expires_at: unix_now() + ttl.as_secs(),
    };
    let path = leases_dir.join(format!("{node}.json"));
    let json = serde_json::to_vec(&lease).expect("a lease serialises");
    atomic_file::write(&path, &json).map_err(Error::io("cannot write lease", path))
}

pub fn release(leases_dir: &Path, node: &str) -> Result<(), Error> {
    let path = leases_dir.join(format!("{node}.json"));
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot release lease", path)(err))
        }
        _ => Ok(()),
    }
}

/// Unexpired leases, sorted by node.
pub fn holders(leases_dir: &Path) -> Result<Vec<Lease>, Error> {
    let entries = match std::fs::read_dir(leases_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("cannot read leases", leases_dir)(err)),
    };
    let now = unix_now();
    let mut leases: Vec<Lease> = entries
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<Lease>(&bytes).ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_see_live_leases_and_not_released_or_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), "node-a", Duration::from_secs(60)).unwrap();
        hold(dir.path(), "node-b", Duration::from_secs(60)).unwrap();
        let expired = Lease {
            node: "node-c".into(),
            expires_at: unix_now() - 5,
        };
        std::fs::write(
            dir.path().join("node-c.json"),
            serde_json::to_vec(&expired).unwrap(),
        )
        .unwrap();
        assert_eq!(other_holders(dir.path(), "node-a").unwrap(), ["node-b"]);
        release(dir.path(), "node-b").unwrap();
        release(dir.path(), "node-b").unwrap();
        assert!(other_holders(dir.path(), "node-a").unwrap().is_empty());
        assert_eq!(holders(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_missing_leases_dir_means_no_holders() {
        let dir = tempfile::tempdir().unwrap();
        assert!(holders(&dir.path().join("gone")).unwrap().is_empty());
    }
}
