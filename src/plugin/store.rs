//! The volume store: volumes as directories on the shared file systems, so every node sees
//! the same set.
//!
//! Layout under each file system root:
//!
//! ```text
//! volumes/<name>/volume.json     metadata (name, file system, options, created at/by)
//! volumes/<name>/data/           what containers see
//! volumes/<name>/leases/<node>.lease
//! nodes/<node>.alive             heartbeats (see `lease`)
//! cluster/<name>                 one empty file per Swarm cluster volume, so the VolumeDriver
//!                                List leaves them out without reading every volume.json
//! trash/<name>@<millis>/         removed volumes (see `trash`)
//! .staging/                      volumes being built; renamed into volumes/ when complete
//! .cloudstor-store.json          the marker: which file system this is
//! ```
//!
//! The marker (see `marker`) is how a node knows it is looking at the right store before it
//! writes: an EFS file system that is not mounted leaves an empty local directory, and a moved
//! share leaves nothing, and in neither case may a volume be rebuilt on the node's own disk.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::clock::unix_now;
use super::config::{Backend, FilesystemConfig, PluginConfig};
use super::error::Error;
use super::lane::Commit;
use super::lease::LEASES_DIR;
use super::name::VolumeName;
use super::options::{PerformanceMode, VolumeOptions};

const META_FILE: &str = "volume.json";
const DATA_DIR: &str = "data";
const CLUSTER_DIR: &str = "cluster";
pub const VOLUMES_DIR: &str = "volumes";

static STAGING_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// One configured file system as this node reaches it.
#[derive(Debug, Clone)]
pub struct FsRoot {
    pub id: String,
    pub performance_mode: PerformanceMode,
    pub backend: &'static str,
    pub path: PathBuf,
    /// Where this node keeps what it last found in the store's marker (see `marker`);
    /// `None` keeps no record.
    pub record: Option<PathBuf>,
}

impl FsRoot {
    pub fn new(fs: &FilesystemConfig, mount_root: &Path, state_dir: &Path) -> Self {
        let (backend, path) = match &fs.backend {
            Backend::Efs { .. } => ("efs", mount_root.join(&fs.id)),
            Backend::HostPath { path } => ("hostpath", path.clone()),
        };
        Self {
            id: fs.id.clone(),
            performance_mode: fs.performance_mode,
            backend,
            path,
            record: Some(super::marker::record_path(state_dir, &fs.id)),
        }
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.path.join(VOLUMES_DIR)
    }

    pub fn trash_dir(&self) -> PathBuf {
        self.path.join("trash")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.path.join(".staging")
    }

    fn cluster_entry(&self, name: &str) -> PathBuf {
        self.path.join(CLUSTER_DIR).join(name)
    }

    /// Records `name` as a cluster volume's. Written before the volume appears in `volumes/`
    /// (or comes back from the trash), so the VolumeDriver List never shows it.
    pub fn mark_cluster(&self, name: &str) -> Result<(), Error> {
        let entry = self.cluster_entry(name);
        let dir = entry.parent().expect("an entry is in cluster/");
        std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
        std::fs::write(&entry, b"").map_err(Error::io("cannot write", &entry))
    }

    /// Drops the cluster-volume entry of `name`, if there is one: the name is free again
    /// or belongs to a VolumeDriver volume.
    pub fn unmark_cluster(&self, name: &str) -> Result<(), Error> {
        let entry = self.cluster_entry(name);
        match std::fs::remove_file(&entry) {
            Err(err) if err.kind() != ErrorKind::NotFound => {
                Err(Error::io("cannot remove", entry)(err))
            }
            _ => Ok(()),
        }
    }

    /// The volume called `name` on this file system, if there is one.
    pub fn load(&self, name: &VolumeName) -> Result<Option<Volume>, Error> {
        Volume::load_if_present(&self.volumes_dir().join(name.as_str()))
    }

    /// Builds a new volume in `.staging/` and renames it into `volumes/`, unless `commit`
    /// says the caller gave up first. A volume of that name already here (another node won
    /// the race) is accepted when its options match.
    pub fn create(
        &self,
        name: &VolumeName,
        requested: Option<&VolumeOptions>,
        managed_by: ManagedBy,
        node: &str,
        commit: &Commit,
    ) -> Result<Volume, Error> {
        let meta = VolumeMeta {
            name: name.to_string(),
            filesystem: self.id.clone(),
            options: requested.cloned().unwrap_or_default(),
            created_at: unix_now(),
            created_by: node.to_string(),
            managed_by,
        };
        let staging = build_staged(self, &meta, node)?;
        let target = self.volumes_dir().join(name.as_str());
        let renamed = match managed_by {
            ManagedBy::Swarm => self
                .mark_cluster(name.as_str())
                .and_then(|()| self.commit_staged(&staging, &target, commit)),
            ManagedBy::VolumeDriver => self.commit_staged(&staging, &target, commit),
        };
        if !matches!(renamed, Ok(true)) {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let created = match renamed {
            Ok(true) => Ok(Volume {
                meta,
                dir: target.clone(),
            }),
            Ok(false) => Volume::load(&target)
                .and_then(|existing| existing.managed_by(managed_by))
                .and_then(|existing| same_options(existing, requested)),
            Err(err) => Err(err),
        };
        // A failed create reports why it failed, not a failure to tidy up after it.
        let settled = self.settle_cluster_entry(&target, &created);
        let volume = created?;
        settled?;
        Ok(volume)
    }

    /// After a create: a cluster volume keeps its entry; any other outcome leaves none (a
    /// VolumeDriver volume, or a cluster create that lost or failed, or one that crashed
    /// between entry and rename and left the entry behind).
    fn settle_cluster_entry(
        &self,
        target: &Path,
        created: &Result<Volume, Error>,
    ) -> Result<(), Error> {
        match created {
            Ok(volume) if volume.meta.managed_by == ManagedBy::Swarm => Ok(()),
            Ok(volume) => self.unmark_cluster(&volume.meta.name),
            Err(_) => self.unmark_unless_cluster(target),
        }
    }

    /// Drops the cluster-volume entry of the volume at `target` unless a cluster volume is
    /// there: after a create or restore that did not put one there.
    pub fn unmark_unless_cluster(&self, target: &Path) -> Result<(), Error> {
        let there = Volume::load_if_present(target)?;
        if there.is_some_and(|volume| volume.meta.managed_by == ManagedBy::Swarm) {
            return Ok(());
        }
        let name = target.file_name().expect("a volume dir has a name");
        self.unmark_cluster(&name.to_string_lossy())
    }

    /// `Ok(false)` when a volume of that name appeared meanwhile.
    fn commit_staged(&self, staging: &Path, target: &Path, commit: &Commit) -> Result<bool, Error> {
        let volumes_dir = self.volumes_dir();
        std::fs::create_dir_all(&volumes_dir).map_err(Error::io("cannot create", &volumes_dir))?;
        commit.enter().map_err(|_| Error::Abandoned {
            what: format!("creation of {}", target.display()),
        })?;
        match std::fs::rename(staging, target) {
            Ok(()) => Ok(true),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(Error::io("cannot create volume directory", target)(err)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub filesystem: String,
    pub options: VolumeOptions,
    pub created_at: u64,
    pub created_by: String,
    /// Missing in VolumeDriver volumes and in every volume from before cluster volumes
    /// were told apart, which are VolumeDriver volumes.
    #[serde(default, skip_serializing_if = "ManagedBy::is_volume_driver")]
    pub managed_by: ManagedBy,
}

/// Which protocol a volume belongs to: each plugin serves only its own, so Docker never
/// knows one name twice and neither side can remove or mount the other's volume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    /// Docker's VolumeDriver protocol (`docker volume create -d`, `docker run -v`).
    #[default]
    VolumeDriver,
    /// Swarm, through CSI CreateVolume: a cluster volume.
    Swarm,
}

impl ManagedBy {
    fn is_volume_driver(&self) -> bool {
        *self == Self::VolumeDriver
    }
}

#[derive(Debug, Clone)]
pub struct Volume {
    pub meta: VolumeMeta,
    pub dir: PathBuf,
}

impl Volume {
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Self::load_if_present(dir)?.ok_or_else(|| {
            let path = dir.join(META_FILE);
            Error::io("cannot read", &path)(ErrorKind::NotFound.into())
        })
    }

    /// `None` when the directory holds no volume. Reads without a stat first: Mount runs this
    /// on every call, and on NFS each extra call is a round trip.
    fn load_if_present(dir: &Path) -> Result<Option<Self>, Error> {
        let path = dir.join(META_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Error::io("cannot read", &path)(err)),
        };
        let meta = serde_json::from_slice(&bytes).map_err(|err| Error::Metadata {
            path,
            message: err.to_string(),
        })?;
        Ok(Some(Self {
            meta,
            dir: dir.to_path_buf(),
        }))
    }

    /// The volume, if it belongs to `side`; otherwise the refusal that says whose it is.
    pub fn managed_by(self, side: ManagedBy) -> Result<Self, Error> {
        let volume = self.meta.name.clone();
        match (self.meta.managed_by, side) {
            (owner, side) if owner == side => Ok(self),
            (ManagedBy::Swarm, _) => Err(Error::ClusterVolume { volume }),
            (ManagedBy::VolumeDriver, _) => Err(Error::NotClusterVolume { volume }),
        }
    }

    /// `volume.json`: the volume's name, options, origin and side.
    pub fn record_path(&self) -> PathBuf {
        self.dir.join(META_FILE)
    }

    /// The directory Docker bind-mounts into containers.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    pub fn leases_dir(&self) -> PathBuf {
        self.dir.join(LEASES_DIR)
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    roots: Arc<[FsRoot]>,
}

impl Store {
    pub fn new(config: &PluginConfig) -> Self {
        let roots = config
            .filesystems
            .iter()
            .map(|fs| FsRoot::new(fs, &config.mount_root, &config.state_dir))
            .collect();
        Self { roots }
    }

    pub fn from_roots(roots: Vec<FsRoot>) -> Self {
        Self {
            roots: roots.into(),
        }
    }

    pub fn roots(&self) -> &[FsRoot] {
        &self.roots
    }

    /// The file system a loaded volume lives on.
    pub fn root_of(&self, volume: &Volume) -> &FsRoot {
        self.roots
            .iter()
            .find(|root| volume.dir.starts_with(root.volumes_dir()))
            .expect("volumes are only loaded from a configured file system")
    }

    /// The first file system with the wanted performance mode; general purpose volumes fall
    /// back to the first file system when no generalPurpose one is configured.
    pub fn root_for(&self, mode: PerformanceMode) -> Result<&FsRoot, Error> {
        Ok(&self.roots[self.index_for(mode)?])
    }

    /// Like [`Store::root_for`], as a position in [`Store::roots`].
    pub fn index_for(&self, mode: PerformanceMode) -> Result<usize, Error> {
        let exact = self
            .roots
            .iter()
            .position(|root| root.performance_mode == mode);
        match (exact, mode) {
            (Some(index), _) => Ok(index),
            (None, PerformanceMode::GeneralPurpose) if !self.roots.is_empty() => Ok(0),
            (None, mode) => Err(Error::NoFilesystem {
                mode: mode.as_str(),
            }),
        }
    }

    pub fn find(&self, name: &VolumeName) -> Result<Option<Volume>, Error> {
        for dir in self.candidate_dirs(name) {
            if let Some(volume) = Volume::load_if_present(&dir)? {
                return Ok(Some(volume));
            }
        }
        Ok(None)
    }

    /// Where a volume of this name would live on each file system; at most one holds it.
    pub fn candidate_dirs(&self, name: &VolumeName) -> impl Iterator<Item = PathBuf> + '_ {
        let name = name.as_str().to_string();
        self.roots
            .iter()
            .map(move |root| root.volumes_dir().join(&name))
    }

    /// Creates the volume on the file system its options ask for, or accepts it as it is
    /// when it already exists with the same options (Swarm calls Create on every node).
    /// `requested` is `None` when Docker passed no options at all, which accepts an existing
    /// volume whatever its options. Without a deadline: the plugin goes through its lanes.
    pub fn create(
        &self,
        name: &VolumeName,
        requested: Option<&VolumeOptions>,
        node: &str,
    ) -> Result<Volume, Error> {
        if let Some(existing) = self.find(name)? {
            return same_options(existing, requested);
        }
        let perfmode = requested
            .map(|options| options.perfmode)
            .unwrap_or_default();
        let root = self.root_for(perfmode)?;
        root.verify()?;
        let side = ManagedBy::VolumeDriver;
        root.create(name, requested, side, node, &Commit::unbounded())
    }

    /// Names and mountpoints of every volume on every file system, sorted.
    pub fn list(&self) -> Result<Vec<(VolumeName, PathBuf)>, Error> {
        let mut volumes = Vec::new();
        for root in self.roots.iter() {
            volumes.extend(root.list()?);
        }
        volumes.sort();
        Ok(volumes)
    }
}

impl FsRoot {
    /// Names and mountpoints of this file system's volumes, from its directory listing
    /// alone (no metadata reads), so listing 10,000 volumes stays fast.
    pub fn list(&self) -> Result<Vec<(VolumeName, PathBuf)>, Error> {
        let dir = self.volumes_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(Error::io("cannot list", dir)(err)),
        };
        let mut volumes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("cannot list", &dir))?;
            if let Ok(name) = VolumeName::parse(&entry.file_name().to_string_lossy()) {
                volumes.push((name, entry.path().join(DATA_DIR)));
            }
        }
        Ok(volumes)
    }

    /// Like [`FsRoot::list`], only the volumes of one side. Cluster volumes are known from
    /// `cluster/` (one more directory listing), not from each volume's metadata.
    pub fn list_managed_by(&self, side: ManagedBy) -> Result<Vec<(VolumeName, PathBuf)>, Error> {
        let dir = self.path.join(CLUSTER_DIR);
        let cluster: HashSet<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<_>>()
                .map_err(Error::io("cannot list", &dir))?,
            Err(err) if err.kind() == ErrorKind::NotFound => HashSet::new(),
            Err(err) => return Err(Error::io("cannot list", dir)(err)),
        };
        let wanted = side == ManagedBy::Swarm;
        let mut volumes = self.list()?;
        volumes.retain(|(name, _)| cluster.contains(name.as_str()) == wanted);
        Ok(volumes)
    }
}

/// Writes `bytes` to `temporary` and renames it over `path`: a reader sees the old file or the
/// new one, never half of one. `temporary` must be this writer's alone.
pub fn replace_file(path: &Path, temporary: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(temporary, bytes)
        .and_then(|()| std::fs::rename(temporary, path))
        .map_err(Error::io("cannot write", path))
}

pub fn same_options(existing: Volume, requested: Option<&VolumeOptions>) -> Result<Volume, Error> {
    match requested {
        Some(requested) if *requested != existing.meta.options => Err(Error::OptionsConflict {
            volume: existing.meta.name.clone(),
            existing: existing.meta.options.describe(),
            requested: requested.describe(),
        }),
        _ => Ok(existing),
    }
}

/// Builds the complete volume in `.staging/` so that it appears in `volumes/` in one rename.
fn build_staged(root: &FsRoot, meta: &VolumeMeta, node: &str) -> Result<PathBuf, Error> {
    let staging = root.staging_dir().join(format!(
        "{}.{node}.{}.{}",
        meta.name,
        std::process::id(),
        STAGING_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let build = || -> std::io::Result<()> {
        let data = staging.join(DATA_DIR);
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir(staging.join(LEASES_DIR))?;
        let json = serde_json::to_vec_pretty(meta).expect("metadata serialises");
        std::fs::write(staging.join(META_FILE), json)?;
        let options = &meta.options;
        std::os::unix::fs::chown(&data, options.uid, options.gid)?;
        let mode = options.mode.unwrap_or(0o755);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode))
    };
    build().map_err(|err| {
        let _ = std::fs::remove_dir_all(&staging);
        Error::io("cannot build volume in", staging.clone())(err)
    })?;
    Ok(staging)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plugin::options::Access;

    pub(crate) fn store_over(dirs: &[(&str, PerformanceMode, &Path)]) -> Store {
        let roots = dirs
            .iter()
            .map(|(id, mode, path)| FsRoot {
                id: id.to_string(),
                performance_mode: *mode,
                backend: "hostpath",
                path: path.to_path_buf(),
                record: None,
            })
            .collect();
        Store::from_roots(roots)
    }

    fn name(raw: &str) -> VolumeName {
        VolumeName::parse(raw).unwrap()
    }

    #[test]
    fn create_is_idempotent_and_refuses_different_options() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let options = VolumeOptions {
            mode: Some(0o750),
            ..Default::default()
        };
        let created = store.create(&name("v1"), Some(&options), "n1").unwrap();
        let mode = std::fs::metadata(created.data_dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        let again = store.create(&name("v1"), Some(&options), "n2").unwrap();
        assert_eq!(again.meta.created_by, "n1");
        store.create(&name("v1"), None, "n2").unwrap();
        let other = VolumeOptions {
            access: Access::SingleNode,
            ..Default::default()
        };
        let err = store.create(&name("v1"), Some(&other), "n2").unwrap_err();
        assert!(matches!(err, Error::OptionsConflict { .. }), "{err}");
        assert!(err.to_string().contains("access=single-node"), "{err}");
    }

    #[test]
    fn perfmode_picks_the_file_system_and_list_sees_all() {
        let gp = tempfile::tempdir().unwrap();
        let max = tempfile::tempdir().unwrap();
        let store = store_over(&[
            ("gp", PerformanceMode::GeneralPurpose, gp.path()),
            ("max", PerformanceMode::MaxIo, max.path()),
        ]);
        let maxio = VolumeOptions {
            perfmode: PerformanceMode::MaxIo,
            ..Default::default()
        };
        let fast = store.create(&name("fast"), Some(&maxio), "n1").unwrap();
        assert_eq!(fast.meta.filesystem, "max");
        store.create(&name("plain"), None, "n1").unwrap();
        let listed: Vec<String> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(listed, ["fast", "plain"]);
        assert_eq!(
            store.find(&name("fast")).unwrap().unwrap().meta.filesystem,
            "max"
        );
        assert!(store.find(&name("nope")).unwrap().is_none());
    }

    #[test]
    fn maxio_without_a_maxio_file_system_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let maxio = VolumeOptions {
            perfmode: PerformanceMode::MaxIo,
            ..Default::default()
        };
        let err = store.create(&name("v1"), Some(&maxio), "n1").unwrap_err();
        assert!(err.to_string().contains("no maxIO file system"), "{err}");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn a_record_without_managed_by_is_a_volume_driver_volume_and_stays_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let volume = store.create(&name("old"), None, "n1").unwrap();
        let record = std::fs::read_to_string(volume.dir.join(META_FILE)).unwrap();
        assert!(!record.contains("managed_by"), "{record}");
        let loaded = Volume::load(&volume.dir).unwrap();
        assert_eq!(loaded.meta.managed_by, ManagedBy::VolumeDriver);
        let err = loaded.managed_by(ManagedBy::Swarm).unwrap_err();
        assert!(matches!(err, Error::NotClusterVolume { .. }), "{err}");
    }

    #[test]
    fn only_a_cluster_volume_keeps_an_entry_in_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_over(&[("gp", PerformanceMode::GeneralPurpose, dir.path())]);
        let root = &store.roots()[0];
        let create =
            |raw: &str, side| root.create(&name(raw), None, side, "n1", &Commit::unbounded());
        create("web", ManagedBy::Swarm).unwrap();
        create("plain", ManagedBy::VolumeDriver).unwrap();
        // A cluster create that crashed after its entry, then the name taken locally.
        root.mark_cluster("late").unwrap();
        create("late", ManagedBy::VolumeDriver).unwrap();
        let err = create("plain", ManagedBy::Swarm).unwrap_err();
        assert!(matches!(err, Error::NotClusterVolume { .. }), "{err}");
        let names = |side| -> Vec<String> {
            let listed = root.list_managed_by(side).unwrap();
            listed
                .into_iter()
                .map(|(name, _)| name.to_string())
                .collect()
        };
        assert_eq!(names(ManagedBy::VolumeDriver), ["late", "plain"]);
        assert_eq!(names(ManagedBy::Swarm), ["web"]);
        let record = std::fs::read_to_string(dir.path().join("volumes/web").join(META_FILE));
        assert!(record.unwrap().contains(r#""managed_by": "swarm""#));
    }
}
