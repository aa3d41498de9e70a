//! Mount reference counts, keyed by Docker's mount `ID`, persisted in the node's state dir
//! so a restarted plugin still knows which containers hold which volume.
//!
//! The state is an append-only journal (`mounts.journal`, one JSON line per change): a Mount
//! or Unmount costs one small `write`, where rewriting a file per change cost a file
//! creation, a rename and an unlink. The journal is rewritten to the live mounts when the
//! plugin starts and whenever it has grown well past them. A kill -9 cannot tear a line (one
//! `write` call each); a power cut can, so a torn last line is ignored on load.
//!
//! A repeated Mount with the same ID counts once, and an Unmount with an unknown ID is a
//! no-op: Docker does both (moby#34665).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use tracing::warn;

use super::error::Error;
use super::name::VolumeName;

const JOURNAL_FILE: &str = "mounts.journal";

/// Compaction waits for at least this many lines, so a handful of mounts never triggers it.
const MIN_LINES_BEFORE_COMPACTION: usize = 4096;

/// The journal is compacted once it is this many times its length after the last compaction,
/// which keeps the rewrite's cost a small share of the appends in between.
const GROWTH_BEFORE_COMPACTION: usize = 4;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Change {
    Mounted { volume: VolumeName, id: String },
    Unmounted { volume: VolumeName, id: String },
    Forgotten { volume: VolumeName },
}

type Table = HashMap<VolumeName, BTreeSet<String>>;

pub struct MountRefs {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    table: Table,
    journal: File,
    lines: usize,
    compact_at: usize,
}

impl MountRefs {
    /// Reads what an earlier run of the plugin left in `state_dir`.
    pub fn load(state_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(state_dir).map_err(Error::io("cannot create", state_dir))?;
        let path = state_dir.join(JOURNAL_FILE);
        let table = match std::fs::read_to_string(&path) {
            Ok(text) => replay(&path, &text)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Table::new(),
            Err(err) => return Err(Error::io("cannot read", &path)(err)),
        };
        let (journal, lines) = rewrite(&path, &table)?;
        let compact_at = compaction_threshold(lines);
        Ok(Self {
            path,
            state: Mutex::new(State {
                table,
                journal,
                lines,
                compact_at,
            }),
        })
    }

    /// Records a mount; returns how many mount IDs now hold the volume.
    pub fn add(&self, volume: &VolumeName, id: &str) -> Result<usize, Error> {
        let mut state = self.state.lock().expect("mount table lock");
        let held = state.table.get(volume).map_or(0, BTreeSet::len);
        if state.table.get(volume).is_some_and(|ids| ids.contains(id)) {
            return Ok(held);
        }
        self.append(
            &mut state,
            &Change::Mounted {
                volume: volume.clone(),
                id: id.to_string(),
            },
        )?;
        Ok(held + 1)
    }

    /// Drops a mount; returns the remaining count, or `None` if the ID was not mounted.
    pub fn remove(&self, volume: &VolumeName, id: &str) -> Result<Option<usize>, Error> {
        let mut state = self.state.lock().expect("mount table lock");
        let Some(held) = state.table.get(volume).filter(|ids| ids.contains(id)) else {
            return Ok(None);
        };
        let remaining = held.len() - 1;
        self.append(
            &mut state,
            &Change::Unmounted {
                volume: volume.clone(),
                id: id.to_string(),
            },
        )?;
        Ok(Some(remaining))
    }

    /// Drops every mount of a volume (released by an operator).
    pub fn forget_volume(&self, volume: &VolumeName) -> Result<(), Error> {
        let mut state = self.state.lock().expect("mount table lock");
        if !state.table.contains_key(volume) {
            return Ok(());
        }
        self.append(
            &mut state,
            &Change::Forgotten {
                volume: volume.clone(),
            },
        )
    }

    pub fn count(&self, volume: &VolumeName) -> usize {
        let state = self.state.lock().expect("mount table lock");
        state.table.get(volume).map_or(0, BTreeSet::len)
    }

    /// Volumes with at least one mount on this node.
    pub fn mounted_volumes(&self) -> Vec<VolumeName> {
        let state = self.state.lock().expect("mount table lock");
        state.table.keys().cloned().collect()
    }

    /// Every volume with its mount IDs.
    pub fn mounts(&self) -> HashMap<VolumeName, BTreeSet<String>> {
        self.state.lock().expect("mount table lock").table.clone()
    }

    pub fn ids(&self, volume: &VolumeName) -> BTreeSet<String> {
        let state = self.state.lock().expect("mount table lock");
        state.table.get(volume).cloned().unwrap_or_default()
    }

    /// Writes the change to the journal, then applies it: a change that did not reach the
    /// journal is not counted.
    fn append(&self, state: &mut State, change: &Change) -> Result<(), Error> {
        let mut line = serde_json::to_vec(change).expect("journal lines serialise");
        line.push(b'\n');
        state
            .journal
            .write_all(&line)
            .map_err(Error::io("cannot write", &self.path))?;
        state.lines += 1;
        apply(&mut state.table, change);
        if state.lines >= state.compact_at {
            // The change is recorded either way; a failed rewrite leaves the old journal whole.
            match rewrite(&self.path, &state.table) {
                Ok(rewritten) => (state.journal, state.lines) = rewritten,
                Err(err) => warn!(error = %err, "cannot compact the mount journal; appending on"),
            }
            state.compact_at = compaction_threshold(state.lines);
        }
        Ok(())
    }
}

fn compaction_threshold(lines: usize) -> usize {
    (GROWTH_BEFORE_COMPACTION * lines).max(MIN_LINES_BEFORE_COMPACTION)
}

fn apply(table: &mut Table, change: &Change) {
    match change {
        Change::Mounted { volume, id } => {
            table.entry(volume.clone()).or_default().insert(id.clone());
        }
        Change::Unmounted { volume, id } => {
            if let Some(ids) = table.get_mut(volume) {
                ids.remove(id);
                if ids.is_empty() {
                    table.remove(volume);
                }
            }
        }
        Change::Forgotten { volume } => {
            table.remove(volume);
        }
    }
}

/// Rebuilds the table from the journal; only a last line without its newline (a write cut
/// short by a power loss) may be unreadable.
fn replay(path: &Path, text: &str) -> Result<Table, Error> {
    let mut table = Table::new();
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    for (number, line) in complete.lines().enumerate() {
        let change: Change = serde_json::from_str(line).map_err(|err| Error::Metadata {
            path: path.to_path_buf(),
            message: format!("line {}: {err}", number + 1),
        })?;
        apply(&mut table, &change);
    }
    Ok(table)
}

/// Replaces the journal with one line per live mount and returns it open for appending. The
/// temp file is opened before the rename, so on any failure the old journal and its handle
/// stay as they were, and a crash leaves the old or the new journal.
fn rewrite(path: &Path, table: &Table) -> Result<(File, usize), Error> {
    let mut text = Vec::new();
    let mut lines = 0;
    for (volume, ids) in table {
        for id in ids {
            let change = Change::Mounted {
                volume: volume.clone(),
                id: id.clone(),
            };
            serde_json::to_writer(&mut text, &change).expect("journal lines serialise");
            text.push(b'\n');
            lines += 1;
        }
    }
    let temp = path.with_extension("journal.tmp");
    let _ = std::fs::remove_file(&temp);
    let mut journal = File::options()
        .append(true)
        .create_new(true)
        .open(&temp)
        .map_err(Error::io("cannot create", &temp))?;
    journal
        .write_all(&text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(Error::io("cannot write", path))?;
    Ok((journal, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str) -> VolumeName {
        VolumeName::parse(name).unwrap()
    }

    #[test]
    fn counts_by_id_and_survives_a_reload() {
        let state = tempfile::tempdir().unwrap();
        let v1 = volume("v1");
        let refs = MountRefs::load(state.path()).unwrap();
        assert_eq!(refs.add(&v1, "c1").unwrap(), 1);
        assert_eq!(refs.add(&v1, "c1").unwrap(), 1);
        assert_eq!(refs.add(&v1, "c2").unwrap(), 2);
        assert_eq!(refs.remove(&v1, "unknown").unwrap(), None);

        let reloaded = MountRefs::load(state.path()).unwrap();
        assert_eq!(reloaded.count(&v1), 2);
        assert_eq!(reloaded.remove(&v1, "c1").unwrap(), Some(1));
        assert_eq!(reloaded.remove(&v1, "c2").unwrap(), Some(0));
        assert!(reloaded.mounted_volumes().is_empty());
        assert_eq!(MountRefs::load(state.path()).unwrap().count(&v1), 0);
    }

    #[test]
    fn a_forgotten_volume_stays_forgotten_after_a_reload() {
        let state = tempfile::tempdir().unwrap();
        let refs = MountRefs::load(state.path()).unwrap();
        refs.add(&volume("gone"), "c1").unwrap();
        refs.add(&volume("kept"), "c2").unwrap();
        refs.forget_volume(&volume("gone")).unwrap();
        let reloaded = MountRefs::load(state.path()).unwrap();
        assert_eq!(reloaded.mounted_volumes(), [volume("kept")]);
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_corrupt_middle_is_an_error() {
        let state = tempfile::tempdir().unwrap();
        let path = state.path().join(JOURNAL_FILE);
        let whole = r#"{"mounted":{"volume":"v1","id":"c1"}}"#;
        std::fs::write(&path, format!("{whole}\n{{\"mounted\":{{\"vol")).unwrap();
        assert_eq!(
            MountRefs::load(state.path()).unwrap().count(&volume("v1")),
            1
        );

        std::fs::write(&path, format!("garbage\n{whole}\n")).unwrap();
        let err = MountRefs::load(state.path()).err().unwrap().to_string();
        assert!(
            err.contains("mounts.journal") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn the_journal_is_compacted_to_the_live_mounts() {
        let state = tempfile::tempdir().unwrap();
        let refs = MountRefs::load(state.path()).unwrap();
        let v1 = volume("v1");
        refs.add(&v1, "kept").unwrap();
        for cycle in 0..MIN_LINES_BEFORE_COMPACTION {
            let id = format!("c{cycle}");
            refs.add(&v1, &id).unwrap();
            refs.remove(&v1, &id).unwrap();
        }
        let journal = std::fs::read_to_string(state.path().join(JOURNAL_FILE)).unwrap();
        assert!(
            journal.lines().count() < MIN_LINES_BEFORE_COMPACTION,
            "not compacted"
        );
        refs.add(&v1, "after").unwrap();
        let reloaded = MountRefs::load(state.path()).unwrap();
        assert_eq!(reloaded.count(&v1), 2, "a mount after compaction was lost");
        assert_eq!(reloaded.remove(&v1, "kept").unwrap(), Some(1));
    }
}
