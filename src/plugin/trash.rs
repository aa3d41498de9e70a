//! The trash: `Remove` moves a volume here instead of deleting it; it is purged after the
//! retention period (default 7 days) or by `cloudstor volume purge`, and can be restored.
//!
//! An entry is `trash/<name>@<millis>` on the volume's own file system, so moving in and out
//! is one rename, and `removal.json` inside says who removed it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::{unix_now, unix_now_millis};
use super::error::Error;
use super::lease;
use super::store::{FsRoot, ManagedBy, Store, Volume};

const REMOVAL_FILE: &str = "removal.json";

#[derive(Debug, Clone, Serialize)]
pub struct TrashEntry {
    /// `<name>@<millis>`: what `restore` and `purge` take.
    pub id: String,
    pub name: String,
    pub filesystem: String,
    pub removed_at: u64,
    pub removed_by: String,
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Removal {
    removed_at: u64,
    removed_by: String,
}

/// Moves `volume` (which lives on `root`) into the trash in one rename.
pub fn move_in(root: &FsRoot, volume: &Volume, node: &str) -> Result<TrashEntry, Error> {
    let trash_dir = root.trash_dir();
    std::fs::create_dir_all(&trash_dir).map_err(Error::io("cannot create", &trash_dir))?;
    let (id, dir) = rename_into(&trash_dir, volume)?;
    let removal = Removal {
        removed_at: unix_now(),
        removed_by: node.to_string(),
    };
    let json = serde_json::to_vec(&removal).expect("removal record serialises");
    std::fs::write(dir.join(REMOVAL_FILE), json).map_err(Error::io("cannot write", &dir))?;
    Ok(TrashEntry {
        id,
        name: volume.meta.name.clone(),
        filesystem: root.id.clone(),
        removed_at: removal.removed_at,
        removed_by: removal.removed_by,
        dir,
    })
}

/// Renames the volume to `<name>@<millis>`, stepping past ids already taken by a removal of
/// the same name within the same millisecond.
fn rename_into(trash_dir: &Path, volume: &Volume) -> Result<(String, PathBuf), Error> {
    let mut millis = unix_now_millis();
    loop {
        let id = format!("{}@{millis}", volume.meta.name);
        let dir = trash_dir.join(&id);
        match std::fs::rename(&volume.dir, &dir) {
            Ok(()) => return Ok((id, dir)),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
                ) =>
            {
                millis += 1;
            }
            Err(err) => return Err(Error::io("cannot move to trash", &volume.dir)(err)),
        }
    }
}

/// Undoes `move_in` when a node took a lease during the move; its lease file stays intact.
pub fn put_back(entry: &TrashEntry, volume_dir: &Path) -> Result<(), Error> {
    std::fs::rename(&entry.dir, volume_dir).map_err(Error::io("cannot put back", &entry.dir))?;
    let _ = std::fs::remove_file(volume_dir.join(REMOVAL_FILE));
    Ok(())
}

/// Every trashed volume on every file system, oldest first.
pub fn list(store: &Store) -> Result<Vec<TrashEntry>, Error> {
    let mut entries = Vec::new();
    for root in store.roots() {
        let trash_dir = root.trash_dir();
        let dir_entries = match std::fs::read_dir(&trash_dir) {
            Ok(dir_entries) => dir_entries,
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io("cannot list", trash_dir)(err)),
        };
        for dir_entry in dir_entries.filter_map(Result::ok) {
            let id = dir_entry.file_name().to_string_lossy().into_owned();
            entries.extend(read_entry(root, id));
        }
    }
    entries.sort_by(|a, b| (a.removed_at, &a.id).cmp(&(b.removed_at, &b.id)));
    Ok(entries)
}

fn read_entry(root: &FsRoot, id: String) -> Option<TrashEntry> {
    let (name, millis) = id.rsplit_once('@')?;
    let millis: u64 = millis.parse().ok()?;
    let dir = root.trash_dir().join(&id);
    let removal = std::fs::read(dir.join(REMOVAL_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Removal>(&bytes).ok())
        .unwrap_or(Removal {
            removed_at: millis / 1000,
            removed_by: "unknown".into(),
        });
    Some(TrashEntry {
        name: name.to_string(),
        filesystem: root.id.clone(),
        removed_at: removal.removed_at,
        removed_by: removal.removed_by,
        dir,
        id,
    })
}

fn find(store: &Store, id: &str) -> Result<(FsRoot, TrashEntry), Error> {
    let entry = list(store)?
        .into_iter()
        .find(|entry| entry.id == id)
        .ok_or_else(|| Error::TrashNotFound { id: id.to_string() })?;
    let root = store
        .roots()
        .iter()
        .find(|root| root.id == entry.filesystem)
        .cloned()
        .expect("a listed entry's file system is configured");
    Ok((root, entry))
}

/// Puts a trashed volume back under its name, without the leases it had when removed.
pub fn restore(store: &Store, id: &str) -> Result<Volume, Error> {
    let (root, entry) = find(store, id)?;
    let target = root.volumes_dir().join(&entry.name);
    std::fs::create_dir_all(root.volumes_dir())
        .map_err(Error::io("cannot create", root.volumes_dir()))?;
    if Volume::load(&entry.dir)?.meta.managed_by == ManagedBy::Swarm {
        root.mark_cluster(&entry.name)?;
    }
    match std::fs::rename(&entry.dir, &target) {
        Ok(()) => {}
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
            ) =>
        {
            root.unmark_unless_cluster(&target)?;
            return Err(Error::RestoreConflict {
                id: id.to_string(),
                volume: entry.name,
            });
        }
        Err(err) => return Err(Error::io("cannot restore", entry.dir)(err)),
    }
    let _ = std::fs::remove_file(target.join(REMOVAL_FILE));
    let volume = Volume::load(&target)?;
    let leases = volume.leases_dir();
    let _ = std::fs::remove_dir_all(&leases);
    std::fs::create_dir_all(&leases).map_err(Error::io("cannot create", &leases))?;
    Ok(volume)
}

/// Deletes one trashed volume for good.
pub fn purge(store: &Store, id: &str) -> Result<TrashEntry, Error> {
    let (_, entry) = find(store, id)?;
    std::fs::remove_dir_all(&entry.dir).map_err(Error::io("cannot purge", &entry.dir))?;
    Ok(entry)
}

/// Deletes every trashed volume older than `retention` that no node holds (a node whose
/// plugin was away when the volume was removed restores it); returns what it deleted.
pub fn purge_expired(store: &Store, retention: Duration) -> Result<Vec<TrashEntry>, Error> {
    let cutoff = unix_now().saturating_sub(retention.as_secs());
    let mut purged = Vec::new();
    for entry in list(store)?.into_iter().filter(|e| e.removed_at < cutoff) {
        if !lease::holders(&entry.dir)?.is_empty() {
            continue;
        }
        std::fs::remove_dir_all(&entry.dir).map_err(Error::io("cannot purge", &entry.dir))?;
        purged.push(entry);
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::name::VolumeName;
    use crate::plugin::options::PerformanceMode;
    use crate::plugin::store::tests::store_over;

    #[test]
    fn remove_restore_and_purge_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let name = VolumeName::parse("v1").unwrap();
        let volume = store.create(&name, None, "n1").unwrap();
        std::fs::write(volume.data_dir().join("f"), "kept").unwrap();
        let entry = move_in(&store.roots()[0], &volume, "n2").unwrap();
        assert!(store.find(&name).unwrap().is_none());
        let listed = list(&store).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].name.as_str(), listed[0].removed_by.as_str()),
            ("v1", "n2")
        );

        store.create(&name, None, "n1").unwrap();
        let err = restore(&store, &entry.id).unwrap_err();
        assert!(matches!(err, Error::RestoreConflict { .. }), "{err}");
        let again = store.find(&name).unwrap().unwrap();
        move_in(&store.roots()[0], &again, "n1").unwrap();

        let restored = restore(&store, &entry.id).unwrap();
        assert_eq!(
            std::fs::read_to_string(restored.data_dir().join("f")).unwrap(),
            "kept"
        );
        assert_eq!(list(&store).unwrap().len(), 1);
        assert!(
            purge_expired(&store, Duration::from_secs(3600))
                .unwrap()
                .is_empty()
        );
        let remaining = list(&store).unwrap();
        purge(&store, &remaining[0].id).unwrap();
        assert!(list(&store).unwrap().is_empty());
        assert!(matches!(
            purge(&store, "v1@1"),
            Err(Error::TrashNotFound { .. })
        ));
    }

    /// A restored cluster volume is listed as one again before it reappears, and a restore
    /// refused because a VolumeDriver volume took the name leaves that volume listed.
    #[test]
    fn a_restored_cluster_volume_stays_out_of_the_volume_driver_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let root = &store.roots()[0];
        let name = VolumeName::parse("web").unwrap();
        let commit = crate::plugin::lane::Commit::unbounded();
        root.verify().unwrap();
        let volume = root
            .create(&name, None, ManagedBy::Swarm, "n1", &commit)
            .unwrap();
        let entry = move_in(root, &volume, "n1").unwrap();
        root.unmark_cluster("web").unwrap();
        let listed = |side| root.list_managed_by(side).unwrap().len();

        store.create(&name, None, "n1").unwrap();
        let err = restore(&store, &entry.id).unwrap_err();
        assert!(matches!(err, Error::RestoreConflict { .. }), "{err}");
        assert_eq!(
            listed(ManagedBy::VolumeDriver),
            1,
            "the local volume stays listed"
        );
        let local = store.find(&name).unwrap().unwrap();
        move_in(root, &local, "n1").unwrap();

        restore(&store, &entry.id).unwrap();
        assert_eq!(
            (listed(ManagedBy::VolumeDriver), listed(ManagedBy::Swarm)),
            (0, 1)
        );
    }
}
