//! Which store is this? The marker `.cloudstor-store.json` at a file system's root names the
//! file system and, since stores carry one, a store id drawn when the store was made. Each
//! node keeps what it last found there in its state dir (`stores/<id>.json`).
//!
//! The marker alone tells an unmounted EFS (an empty local directory) or a wrong mount from
//! the right store. The node's record also tells a file system that was emptied or replaced
//! behind cloudstor's back: the store this node used is gone, so tasks would start on empty
//! volumes. That is refused until an operator says the new store is meant.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::lease::NODES_DIR;
use super::store::{FsRoot, VOLUMES_DIR, replace_file};

const MARKER_FILE: &str = ".cloudstor-store.json";
/// What a store written by a plugin before markers existed holds; such a store is adopted.
const STORE_DIRS: [&str; 4] = [VOLUMES_DIR, "trash", ".staging", NODES_DIR];

static MARKER_SEQUENCE: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoreMarker {
    filesystem: String,
    /// Empty in markers written before stores had ids.
    #[serde(default)]
    store_id: String,
}

/// Where a node records the marker it last found on file system `id`.
pub fn record_path(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("stores").join(format!("{id}.json"))
}

impl FsRoot {
    /// Checks that this is the store of file system `id`, and the one this node used before,
    /// before anything writes to it. An empty directory (a new file system) or a store from
    /// before markers gets its marker now, unless this node used another store there; a
    /// missing directory, a foreign one or another file system's store is an error.
    pub fn verify(&self) -> Result<(), Error> {
        let path = self.path.join(MARKER_FILE);
        let found = match std::fs::read(&path) {
            Ok(bytes) => self.parse_marker(&path, &bytes)?,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                self.check_empty()?;
                self.check_record(None)?;
                self.write_marker()?
            }
            Err(err) => return Err(Error::io("cannot read", path)(err)),
        };
        self.check_record(Some(&found))
    }

    fn parse_marker(&self, path: &Path, bytes: &[u8]) -> Result<StoreMarker, Error> {
        let found: StoreMarker = serde_json::from_slice(bytes).map_err(|err| Error::Metadata {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        if found.filesystem != self.id {
            return Err(Error::WrongStore {
                filesystem: self.id.clone(),
                path: self.path.clone(),
                found: found.filesystem,
            });
        }
        Ok(found)
    }

    /// Refuses a store other than the one this node recorded (`None`: no store at all);
    /// records the store found when there is no record yet.
    fn check_record(&self, found: Option<&StoreMarker>) -> Result<(), Error> {
        let Some(record) = &self.record else {
            return Ok(());
        };
        let seen: StoreMarker = match std::fs::read(record) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| Error::Metadata {
                path: record.clone(),
                message: err.to_string(),
            })?,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return found.map_or(Ok(()), |found| self.write_record(record, found));
            }
            Err(err) => return Err(Error::io("cannot read", record)(err)),
        };
        match found {
            Some(found) if *found == seen => Ok(()),
            _ => Err(Error::StoreReplaced {
                filesystem: self.id.clone(),
                found: match found {
                    None => format!("{} has no store", self.path.display()),
                    Some(found) => format!(
                        "{} holds store {}",
                        self.path.display(),
                        shown_id(&found.store_id)
                    ),
                },
                seen: shown_id(&seen.store_id),
                record: record.clone(),
            }),
        }
    }

    fn write_record(&self, record: &Path, found: &StoreMarker) -> Result<(), Error> {
        let dir = record.parent().expect("a record is in stores/");
        std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
        let json = serde_json::to_vec_pretty(found).expect("marker serialises");
        let temporary = record.with_extension(format!("json.{}", std::process::id()));
        replace_file(record, &temporary, &json)
    }

    /// A store may be made only in an existing directory holding nothing but (from before
    /// markers) a store.
    fn check_empty(&self) -> Result<(), Error> {
        let entries: Vec<String> = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return Err(Error::StoreMissing {
                    filesystem: self.id.clone(),
                    path: self.path.clone(),
                });
            }
            Err(err) => return Err(Error::io("cannot read", &self.path)(err)),
        };
        let foreign = entries
            .iter()
            .find(|name| !STORE_DIRS.contains(&name.as_str()) && !name.starts_with(MARKER_FILE));
        if let Some(foreign) = foreign {
            return Err(Error::NotAStore {
                filesystem: self.id.clone(),
                path: self.path.clone(),
                entry: foreign.clone(),
            });
        }
        Ok(())
    }

    /// Written beside and linked into place: another node never reads half a marker, and
    /// when two nodes initialise at once the first link wins and the other adopts its marker.
    /// `nodes/` is made first, here only: a heartbeat never makes it (see `lease::beat`), so
    /// a file system replaced after a node last read its marker (which an NFS client may
    /// still serve from its cache) gets no heartbeat that would make it look like a store.
    /// `volumes/` is made with it: a node that lists the new store before its first volume
    /// exists would otherwise cache "no such directory" (NFS keeps that for up to 60 s) and
    /// not see a volume another node creates meanwhile.
    fn write_marker(&self) -> Result<StoreMarker, Error> {
        for dir in [NODES_DIR, VOLUMES_DIR] {
            let path = self.path.join(dir);
            match std::fs::create_dir(&path) {
                Err(err) if err.kind() != ErrorKind::AlreadyExists => {
                    return Err(Error::io("cannot create", path)(err));
                }
                _ => {}
            }
        }
        loop {
            let marker = StoreMarker {
                filesystem: self.id.clone(),
                store_id: new_store_id(),
            };
            if let Some(adopted) = self.publish_marker(&marker)? {
                return Ok(adopted);
            }
        }
    }

    /// Links `marker` into place from a temporary only this call wrote, and returns the marker
    /// now in place (ours, or the one another node linked first). `None` when the temporary's
    /// name is taken: nodes booted alike run the plugin under the same pid, and a temporary
    /// shared with another node could be linked holding that node's marker while this node
    /// recorded its own, which it would then refuse as a replaced store.
    fn publish_marker(&self, marker: &StoreMarker) -> Result<Option<StoreMarker>, Error> {
        let path = self.path.join(MARKER_FILE);
        let temporary = self.path.join(format!("{MARKER_FILE}.{}", marker.store_id));
        let json = serde_json::to_vec_pretty(marker).expect("marker serialises");
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary);
        let mut file = match created {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::AlreadyExists => return Ok(None),
            Err(err) => return Err(Error::io("cannot write store marker", temporary)(err)),
        };
        let linked = file
            .write_all(&json)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::hard_link(&temporary, &path));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                tracing::info!(filesystem = %self.id, path = %self.path.display(), store = %marker.store_id, "initialised the volume store");
                Ok(Some(marker.clone()))
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(&path).map_err(Error::io("cannot read", &path))?;
                self.parse_marker(&path, &bytes).map(Some)
            }
            Err(err) => Err(Error::io("cannot write store marker", path)(err)),
        }
    }
}

/// Unique enough across nodes and time: nanoseconds, process and a counter.
fn new_store_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        MARKER_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn shown_id(store_id: &str) -> String {
    if store_id.is_empty() {
        "(made before store ids)".to_string()
    } else {
        store_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::options::PerformanceMode;

    /// File system `efs` at `dir` as a node with state dir `state` sees it.
    fn root(dir: &Path, state: &Path) -> FsRoot {
        FsRoot {
            id: "efs".into(),
            performance_mode: PerformanceMode::GeneralPurpose,
            backend: "efs",
            path: dir.to_path_buf(),
            record: Some(record_path(state, "efs")),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn marker(dir: &Path) -> StoreMarker {
        serde_json::from_slice(&std::fs::read(dir.join(MARKER_FILE)).unwrap()).unwrap()
    }

    #[test]
    fn a_new_store_is_marked_recorded_and_verified_again() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let node = root(dir.path(), state.path());
        node.verify().unwrap();
        let made = marker(dir.path());
        assert_eq!(made.filesystem, "efs");
        assert!(!made.store_id.is_empty());
        let recorded: StoreMarker =
            serde_json::from_slice(&std::fs::read(record_path(state.path(), "efs")).unwrap())
                .unwrap();
        assert_eq!(recorded, made);
        node.verify().unwrap();
        assert_eq!(entries(dir.path()), [MARKER_FILE, NODES_DIR, VOLUMES_DIR]);
    }

    #[test]
    fn an_emptied_file_system_is_refused_and_left_as_it_is_until_the_record_goes() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let node = root(dir.path(), state.path());
        node.verify().unwrap();
        let used = marker(dir.path()).store_id;
        std::fs::remove_dir_all(dir.path()).unwrap();
        std::fs::create_dir(dir.path()).unwrap();

        let err = node.verify().unwrap_err().to_string();
        assert!(
            err.contains("has no store")
                && err.contains(&format!("last used store {used}"))
                && err.contains("emptied or replaced")
                && err.contains("stores/efs.json"),
            "{err}"
        );
        assert!(entries(dir.path()).is_empty(), "nothing written");

        std::fs::remove_file(record_path(state.path(), "efs")).unwrap();
        node.verify().unwrap();
        assert_ne!(marker(dir.path()).store_id, used, "a new store");
    }

    #[test]
    fn another_store_of_the_same_file_system_is_refused() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let node = root(dir.path(), state.path());
        node.verify().unwrap();
        let (other, other_state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        root(other.path(), other_state.path()).verify().unwrap();
        std::fs::copy(other.path().join(MARKER_FILE), dir.path().join(MARKER_FILE)).unwrap();

        let err = node.verify().unwrap_err().to_string();
        let replacement = marker(other.path()).store_id;
        assert!(err.contains(&format!("holds store {replacement}")), "{err}");
    }

    #[test]
    fn a_store_from_before_store_ids_is_adopted_and_then_held_to() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(dir.path().join(MARKER_FILE), r#"{"filesystem": "efs"}"#).unwrap();
        let node = root(dir.path(), state.path());
        node.verify().unwrap();
        std::fs::remove_file(dir.path().join(MARKER_FILE)).unwrap();
        let err = node.verify().unwrap_err().to_string();
        assert!(err.contains("(made before store ids)"), "{err}");
    }

    /// What broke the two-node rig: both nodes' plugins ran as pid 763 and wrote the same
    /// temporary, so the first node linked the second node's marker as its own.
    #[test]
    fn a_temporary_another_node_is_writing_is_never_written_into_or_linked() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let node = root(dir.path(), state.path());
        let ours = StoreMarker {
            filesystem: "efs".into(),
            store_id: "18ed03596fa47705-2fb-1".into(),
        };
        let theirs = dir.path().join(format!("{MARKER_FILE}.{}", ours.store_id));
        std::fs::write(&theirs, "the other node's marker, half written").unwrap();

        assert_eq!(node.publish_marker(&ours).unwrap(), None);
        assert_eq!(
            std::fs::read_to_string(&theirs).unwrap(),
            "the other node's marker, half written"
        );
        assert!(!dir.path().join(MARKER_FILE).exists(), "nothing linked");

        node.verify().unwrap();
        let recorded: StoreMarker =
            serde_json::from_slice(&std::fs::read(record_path(state.path(), "efs")).unwrap())
                .unwrap();
        assert_eq!(
            recorded,
            marker(dir.path()),
            "a fresh id was drawn and linked"
        );
        assert_ne!(recorded.store_id, ours.store_id);
    }

    #[test]
    fn nodes_initialising_one_file_system_at_once_all_adopt_one_marker() {
        let dir = tempfile::tempdir().unwrap();
        let states: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        std::thread::scope(|scope| {
            for state in &states {
                let node = root(dir.path(), state.path());
                scope.spawn(move || node.verify().unwrap());
            }
        });
        let marker = marker(dir.path());
        for state in &states {
            let recorded: StoreMarker =
                serde_json::from_slice(&std::fs::read(record_path(state.path(), "efs")).unwrap())
                    .unwrap();
            assert_eq!(recorded, marker);
        }
        assert_eq!(
            entries(dir.path()),
            [MARKER_FILE, NODES_DIR, VOLUMES_DIR],
            "no temporary left"
        );
    }
}
