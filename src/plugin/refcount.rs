//! Mount reference counts, keyed by Docker's mount `ID`, persisted per volume in the node's
//! state dir (`mounts/<volume>.json`) so a restarted plugin still knows which containers
//! hold which volume.
//!
//! A repeated Mount with the same ID counts once, and an Unmount with an unknown ID is a
//! no-op: Docker does both (moby#34665).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::atomic_file;
use super::error::Error;
use super::name::VolumeName;

pub struct MountRefs {
    dir: PathBuf,
    table: Mutex<HashMap<VolumeName, BTreeSet<String>>>,
}

impl MountRefs {
    /// Reads what an earlier run of the plugin left in `state_dir`.
    pub fn load(state_dir: &Path) -> Result<Self, Error> {
        let dir = state_dir.join("mounts");
        std::fs::create_dir_all(&dir).map_err(Error::io("cannot create", &dir))?;
        let mut table = HashMap::new();
        for entry in std::fs::read_dir(&dir).map_err(Error::io("cannot read", &dir))? {
            let path = entry.map_err(Error::io("cannot read", &dir))?.path();
            let Some(name) = path
                .file_name()
                .and_then(|file| file.to_str()?.strip_suffix(".json"))
                .and_then(|stem| VolumeName::parse(stem).ok())
            else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(Error::io("cannot read", &path))?;
            let ids: BTreeSet<String> =
                serde_json::from_slice(&bytes).map_err(|err| Error::Metadata {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
            table.insert(name, ids);
        }
        Ok(Self {
            dir,
            table: Mutex::new(table),
        })
    }

    /// Records a mount; returns how many mount IDs now hold the volume.
    pub fn add(&self, volume: &VolumeName, id: &str) -> Result<usize, Error> {
        let ids = {
            let mut table = self.table.lock().expect("mount table lock");
            let ids = table.entry(volume.clone()).or_default();
            if !ids.insert(id.to_string()) {
                return Ok(ids.len());
            }
            ids.clone()
        };
        self.persist(volume, &ids).inspect_err(|_| {
            self.forget_id(volume, id);
        })?;
        Ok(ids.len())
    }

    /// Drops a mount; returns the remaining count, or `None` if the ID was not mounted.
    pub fn remove(&self, volume: &VolumeName, id: &str) -> Result<Option<usize>, Error> {
        let Some(ids) = self.forget_id(volume, id) else {
            return Ok(None);
        };
        self.persist(volume, &ids)?;
        Ok(Some(ids.len()))
    }

    /// Drops every mount of a volume that no longer exists.
    pub fn forget_volume(&self, volume: &VolumeName) -> Result<(), Error> {
        self.table.lock().expect("mount table lock").remove(volume);
        self.persist(volume, &BTreeSet::new())
    }

    pub fn count(&self, volume: &VolumeName) -> usize {
        let table = self.table.lock().expect("mount table lock");
        table.get(volume).map_or(0, BTreeSet::len)
    }

    /// Volumes with at least one mount on this node.
    pub fn mounted_volumes(&self) -> Vec<VolumeName> {
        let table = self.table.lock().expect("mount table lock");
        table.keys().cloned().collect()
    }

    fn forget_id(&self, volume: &VolumeName, id: &str) -> Option<BTreeSet<String>> {
        let mut table = self.table.lock().expect("mount table lock");
        let ids = table.get_mut(volume)?;
        if !ids.remove(id) {
            return None;
        }
        let remaining = ids.clone();
        if remaining.is_empty() {
            table.remove(volume);
        }
        Some(remaining)
    }

    fn persist(&self, volume: &VolumeName, ids: &BTreeSet<String>) -> Result<(), Error> {
        let path = self.dir.join(format!("{volume}.json"));
        if ids.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("cannot remove", path)(err))
                }
                _ => Ok(()),
            };
        }
        let json = serde_json::to_vec(ids).expect("mount ids serialise");
        atomic_file::write(&path, &json).map_err(Error::io("cannot write", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_id_and_survives_a_reload() {
        let state = tempfile::tempdir().unwrap();
        let volume = VolumeName::parse("v1").unwrap();
        let refs = MountRefs::load(state.path()).unwrap();
        assert_eq!(refs.add(&volume, "c1").unwrap(), 1);
        assert_eq!(refs.add(&volume, "c1").unwrap(), 1);
        assert_eq!(refs.add(&volume, "c2").unwrap(), 2);
        assert_eq!(refs.remove(&volume, "unknown").unwrap(), None);

        let reloaded = MountRefs::load(state.path()).unwrap();
        assert_eq!(reloaded.count(&volume), 2);
        assert_eq!(reloaded.remove(&volume, "c1").unwrap(), Some(1));
        assert_eq!(reloaded.remove(&volume, "c2").unwrap(), Some(0));
        assert!(reloaded.mounted_volumes().is_empty());
        assert_eq!(MountRefs::load(state.path()).unwrap().count(&volume), 0);
    }
}
