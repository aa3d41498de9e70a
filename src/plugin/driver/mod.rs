//! What each VolumeDriver call does, independent of HTTP: names and options are checked
//! before anything touches a disk, file-system work runs in that file system's lane under
//! a time limit, and calls for one volume are serialised on this node.
//!
//! Order matters for what a crash can leave behind: a Mount is written to the journal
//! before its lease is taken, so every lease this node holds belongs to a volume its journal
//! knows; leases without a mount (a Mount that failed late, an Unmount) are settled at the
//! next heartbeat round. Start-up, heartbeats and reconciliation are in [`maintenance`].

mod maintenance;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;
use tracing::{info, warn};

use super::clock::rfc3339;
use super::config::{FilesystemConfig, PluginConfig, Protocol};
use super::error::Error;
use super::imds::{NodeZone, Source};
use super::lane::{self, Commit, Lane};
use super::lease;
use super::mounter::Mounter;
use super::name::VolumeName;
use super::options::{Access, PerformanceMode, VolumeOptions};
use super::protocol::VolumeInfo;
use super::refcount::MountRefs;
use super::store::{FsRoot, ManagedBy, Store, Volume, VolumeMeta, same_options};
use super::trash;

/// Docker's mount IDs are 64 hex digits; anything far longer is not from Docker and would
/// bloat the journal, which replays every line at start-up.
const MAX_MOUNT_ID_BYTES: usize = 256;

pub struct Driver {
    config: PluginConfig,
    store: Store,
    mounter: Mounter,
    zone: Arc<NodeZone>,
    refs: MountRefs,
    /// One per file system, in the order of `store.roots()`.
    lanes: Vec<Lane>,
    /// Which file system each volume was found on, so later calls ask only that one.
    located: Mutex<HashMap<VolumeName, usize>>,
    locks: Mutex<HashMap<VolumeName, Arc<tokio::sync::Mutex<()>>>>,
    /// Volumes whose lease file this node may have left without a mount: released by an
    /// Unmount (the file is deleted later) or written by a Mount that failed after it.
    unsettled: Mutex<HashSet<VolumeName>>,
    /// When each volume was last mounted here: reconciliation with Docker leaves volumes
    /// mounted within `reconcile_grace` alone, because Docker mounts a volume a moment before
    /// its container shows as running.
    last_mount: Mutex<HashMap<VolumeName, Instant>>,
    /// Volumes this node may not use as it stands, with the reason (shown by Get).
    conflicts: Mutex<HashMap<VolumeName, String>>,
}

impl Driver {
    /// Reads this node's mount reference counts from the state dir, and where to ask for its
    /// Availability Zone if the config names none.
    pub fn open(config: PluginConfig) -> Result<Self, Error> {
        let zone = Arc::new(NodeZone::new(
            config.availability_zone.clone(),
            Source::from_env()?,
        ));
        let refs = MountRefs::load(&config.state_dir)?;
        let store = Store::new(&config);
        let lanes = store
            .roots()
            .iter()
            .map(|_| Lane::new(lane::default_width()))
            .collect();
        Ok(Self {
            last_mount: Mutex::new(HashMap::new()),
            mounter: Mounter::new(&config.mount_root, config.mount_timeout, zone.clone()),
            zone,
            store,
            refs,
            lanes,
            located: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            unsettled: Mutex::new(HashSet::new()),
            conflicts: Mutex::new(HashMap::new()),
            config,
        })
    }

    pub fn config(&self) -> &PluginConfig {
        &self.config
    }

    /// The volumes this plugin serves: a VolumeDriver plugin and a CSI plugin on one store
    /// each see only their own.
    fn side(&self) -> ManagedBy {
        match self.config.protocol {
            Protocol::VolumeDriver => ManagedBy::VolumeDriver,
            Protocol::Csi => ManagedBy::Swarm,
        }
    }

    /// The file system a new volume of `perfmode` goes to.
    pub fn filesystem_for(&self, perfmode: PerformanceMode) -> Result<&FilesystemConfig, Error> {
        Ok(&self.config.filesystems[self.store.index_for(perfmode)?])
    }

    /// The file system a volume's metadata names.
    pub fn filesystem(&self, meta: &VolumeMeta) -> Option<&FilesystemConfig> {
        self.config
            .filesystems
            .iter()
            .find(|fs| fs.id == meta.filesystem)
    }

    /// The configured zone, else instance metadata's (asked once).
    pub async fn availability_zone(&self) -> Option<&str> {
        self.zone.get().await
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name))]
    pub async fn create(
        &self,
        raw_name: &str,
        opts: Option<&HashMap<String, String>>,
    ) -> Result<(), Error> {
        let requested = match opts {
            Some(opts) if !opts.is_empty() => Some(VolumeOptions::parse(opts)?),
            _ => None,
        };
        self.create_with(raw_name, requested).await.map(drop)
    }

    /// Creates the volume with options already checked (CSI builds them from its request),
    /// or accepts an existing one with the same options; returns its metadata.
    #[tracing::instrument(skip_all, fields(volume = %raw_name))]
    pub async fn create_with(
        &self,
        raw_name: &str,
        requested: Option<VolumeOptions>,
    ) -> Result<VolumeMeta, Error> {
        let name = VolumeName::parse(raw_name)?;
        let perfmode = requested.as_ref().map(|o| o.perfmode).unwrap_or_default();
        let index = self.store.index_for(perfmode)?;
        let _lock = self.lock(&name).await;
        let what = format!("create of volume {name}");
        let side = self.side();
        let volume = match self.locate(&name).await? {
            Some(_) => {
                self.with_volume(&name, &what, move |_, volume, _| {
                    same_options(volume.clone(), requested.as_ref())
                })
                .await?
            }
            None => {
                let node = self.config.node_id.clone();
                let lookup = name.clone();
                let volume = self
                    .on_root(index, &what, move |root, commit| {
                        root.verify()?;
                        root.create(&lookup, requested.as_ref(), side, &node, commit)
                    })
                    .await?;
                self.remember(&name, index);
                volume
            }
        };
        info!(filesystem = %volume.meta.filesystem, options = %volume.meta.options.describe(), "volume ready");
        Ok(volume.meta)
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name, mount_id = %id))]
    pub async fn mount(&self, raw_name: &str, id: &str) -> Result<PathBuf, Error> {
        let name = VolumeName::parse(raw_name)?;
        check_mount_id("Mount", &name, id)?;
        let _lock = self.lock(&name).await;
        if let Some(reason) = self.conflict(&name) {
            return Err(Error::Conflict {
                volume: name.to_string(),
                reason,
            });
        }
        if self.locate(&name).await?.is_none() {
            return Err(Error::NotFound {
                volume: name.to_string(),
            });
        }
        self.last_mount
            .lock()
            .expect("last mounts")
            .insert(name.clone(), Instant::now());
        let first_here = self.refs.count(&name) == 0;
        let counted_now = !self.refs.ids(&name).contains(id);
        if counted_now {
            self.refs.add(&name, id)?;
        }
        let node = self.config.node_id.clone();
        let what = format!("mount of volume {name}");
        let mounted = self
            .with_volume(&name, &what, move |_, volume, _| {
                if first_here {
                    acquire_lease(volume, &node)?;
                }
                Ok(volume.data_dir())
            })
            .await;
        if mounted.is_err() {
            if counted_now {
                self.refs.remove(&name, id)?;
            }
            if first_here {
                self.unsettle(&name);
            }
        }
        let path = mounted?;
        info!(mounts_here = self.refs.count(&name), "mounted");
        Ok(path)
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name, mount_id = %id))]
    pub async fn unmount(&self, raw_name: &str, id: &str) -> Result<(), Error> {
        let name = VolumeName::parse(raw_name)?;
        check_mount_id("Unmount", &name, id)?;
        let _lock = self.lock(&name).await;
        match self.refs.remove(&name, id)? {
            None => warn!("unmount of a mount id this node does not hold; nothing to do"),
            Some(0) => self.released_last(&name, "unmounted").await,
            Some(mounts) => info!(mounts_here = mounts, "unmounted"),
        }
        Ok(())
    }

    /// For an operator (`cloudstor volume release`): forgets mounts whose containers are
    /// gone, one ID or all of the volume's; returns how many were released.
    #[tracing::instrument(skip_all, fields(volume = %raw_name))]
    pub async fn release(&self, raw_name: &str, id: Option<&str>) -> Result<usize, Error> {
        let name = VolumeName::parse(raw_name)?;
        let _lock = self.lock(&name).await;
        let ids = match id {
            Some(id) => BTreeSet::from([id.to_string()]),
            None => self.refs.ids(&name),
        };
        let mut released = 0;
        for id in &ids {
            if self.refs.remove(&name, id)?.is_some() {
                released += 1;
            }
        }
        if released > 0 && self.refs.count(&name) == 0 {
            self.released_last(&name, "released by an operator").await;
        }
        Ok(released)
    }

    /// Moves the volume to the trash unless a container on any node still has it mounted.
    #[tracing::instrument(skip_all, fields(volume = %raw_name))]
    pub async fn remove(&self, raw_name: &str) -> Result<(), Error> {
        let name = VolumeName::parse(raw_name)?;
        let _lock = self.lock(&name).await;
        let mounts = self.refs.count(&name);
        if mounts > 0 {
            return Err(Error::InUseHere {
                volume: name.to_string(),
                mounts,
            });
        }
        let node = self.config.node_id.clone();
        let what = format!("removal of volume {name}");
        let trashed = self
            .with_volume(&name, &what, move |root, volume, commit| {
                move_to_trash(root, volume, &node, commit)
            })
            .await;
        match trashed {
            Ok(id) => {
                self.forget_location(&name);
                info!(trash_id = %id, "moved to trash");
                Ok(())
            }
            Err(Error::NotFound { .. }) => {
                info!("already gone; nothing to remove");
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    pub async fn path(&self, raw_name: &str) -> Result<PathBuf, Error> {
        let name = VolumeName::parse(raw_name)?;
        let what = format!("lookup of volume {name}");
        self.with_volume(&name, &what, |_, volume, _| Ok(volume.data_dir()))
            .await
    }

    pub async fn meta(&self, raw_name: &str) -> Result<VolumeMeta, Error> {
        let name = VolumeName::parse(raw_name)?;
        let what = format!("lookup of volume {name}");
        self.with_volume(&name, &what, |_, volume, _| Ok(volume.meta.clone()))
            .await
    }

    pub async fn get(&self, raw_name: &str) -> Result<VolumeInfo, Error> {
        let name = VolumeName::parse(raw_name)?;
        let what = format!("lookup of volume {name}");
        let (volume, backend, holders) = self
            .with_volume(&name, &what, |root, volume, _| {
                let holders = lease::holders(&volume.dir)?;
                Ok((volume.clone(), root.backend, holders))
            })
            .await?;
        let meta = &volume.meta;
        let nodes: Vec<&str> = holders.iter().map(|lease| lease.node.as_str()).collect();
        let mut status: BTreeMap<String, Value> = [
            ("filesystem", json!(meta.filesystem)),
            ("backend", json!(backend)),
            ("options", json!(meta.options.describe())),
            ("created_at", json!(rfc3339(meta.created_at))),
            ("created_by", json!(meta.created_by)),
            ("mounted_on", json!(nodes)),
            ("mounts_on_this_node", json!(self.refs.count(&name))),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        if let Some(reason) = self.conflict(&name) {
            status.insert("conflict".into(), json!(reason));
        }
        Ok(VolumeInfo {
            name: name.to_string(),
            mountpoint: volume.data_dir().to_string_lossy().into_owned(),
            created_at: rfc3339(meta.created_at),
            status,
        })
    }

    /// Every file system's volumes. A stalled file system is left out with a warning, so
    /// one dead NFS server does not hide every other volume; a missing or wrong store is an
    /// error, because it needs an operator.
    pub async fn list(&self) -> Result<Vec<(VolumeName, PathBuf)>, Error> {
        let side = self.side();
        let listings = futures::future::join_all((0..self.lanes.len()).map(|index| {
            self.on_live_root(index, "listing of volumes", move |root, _| {
                root.verify()?;
                root.list_managed_by(side)
            })
        }))
        .await;
        let mut volumes = Vec::new();
        for (root, listing) in self.store.roots().iter().zip(listings) {
            match listing {
                Ok(listed) => volumes.extend(listed),
                Err(err @ Error::Timeout { .. }) => {
                    warn!(filesystem = %root.id, error = %err, "volumes of a stalled file system left out of the list");
                }
                Err(err) => return Err(err),
            }
        }
        volumes.sort();
        Ok(volumes)
    }

    /// The last mount of a volume here is gone: the lease is released at once, so other
    /// nodes may remove it, and its file is deleted at the next round.
    async fn released_last(&self, name: &VolumeName, what: &str) {
        self.conflicts.lock().expect("conflicts").remove(name);
        self.unsettle(name);
        match self.on_own_lease(name, lease::release).await {
            Ok(()) => info!(mounts_here = 0, "{what}; lease released"),
            // The count is what matters to this node; the lease is settled at the next round.
            Err(err) => warn!(error = %err, "{what}; lease release retried at the next round"),
        }
    }

    /// Applies `change` to this node's lease file of the volume, on the file system it was
    /// found on, or else on every file system that answers, without reading its metadata.
    async fn on_own_lease(
        &self,
        name: &VolumeName,
        change: fn(&std::path::Path, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let indexes: Vec<usize> = match self.location(name) {
            Some(index) => vec![index],
            None => (0..self.lanes.len()).collect(),
        };
        for index in indexes {
            let (node, name) = (self.config.node_id.clone(), name.clone());
            self.on_live_root(index, "lease change", move |root, _| {
                change(&root.volumes_dir().join(name.as_str()), &node)
            })
            .await?;
        }
        Ok(())
    }

    /// Runs `work` on the volume wherever it lives: `NotFound` when no file system has it.
    async fn with_volume<T: Send + 'static>(
        &self,
        name: &VolumeName,
        what: &str,
        work: impl FnOnce(&FsRoot, &Volume, &Commit) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let not_found = || Error::NotFound {
            volume: name.to_string(),
        };
        let index = self.locate(name).await?.ok_or_else(not_found)?;
        let (lookup, side) = (name.clone(), self.side());
        let done = self
            .on_root(index, what, move |root, commit| {
                match root.load(&lookup)? {
                    Some(volume) => work(root, &volume.managed_by(side)?, commit).map(Some),
                    None => Ok(None),
                }
            })
            .await?;
        if let Some(done) = done {
            return Ok(done);
        }
        // Removed by another node since it was found here; a store that went missing
        // meanwhile must be reported as such, not as a missing volume.
        self.forget_location(name);
        self.locate(name).await?;
        Err(not_found())
    }

    /// Which file system holds the volume: the remembered one, else all are asked at once.
    /// A stalled one is skipped, and only matters when no other has the volume.
    async fn locate(&self, name: &VolumeName) -> Result<Option<usize>, Error> {
        if let Some(index) = self.location(name) {
            return Ok(Some(index));
        }
        let what = format!("lookup of volume {name}");
        let side = self.side();
        let probes = futures::future::join_all((0..self.lanes.len()).map(|index| {
            let lookup = name.clone();
            self.on_live_root(index, &what, move |root, _| {
                root.verify()?;
                let found = root.load(&lookup)?;
                Ok(found
                    .map(|volume| volume.managed_by(side))
                    .transpose()?
                    .is_some())
            })
        }))
        .await;
        if let Some(index) = probes.iter().position(|probe| matches!(probe, Ok(true))) {
            self.remember(name, index);
            return Ok(Some(index));
        }
        let mut stalled = Vec::new();
        for (root, probe) in self.store.roots().iter().zip(probes) {
            match probe {
                Ok(_) => {}
                Err(Error::Timeout { .. }) => stalled.push(root.id.as_str()),
                Err(err) => return Err(err),
            }
        }
        if stalled.is_empty() {
            return Ok(None);
        }
        Err(Error::Unavailable {
            volume: name.to_string(),
            filesystems: stalled.join(", "),
        })
    }

    /// Like `on_root`, but a file system whose lane is stalled answers at once with a
    /// timeout instead of making the caller wait for it.
    async fn on_live_root<T: Send + 'static>(
        &self,
        index: usize,
        what: &str,
        work: impl FnOnce(&FsRoot, &Commit) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        if self.lanes[index].is_stalled() {
            return Err(Error::Timeout {
                what: format!(
                    "{what} on stalled file system {}",
                    self.store.roots()[index].id
                ),
                secs: 0,
            });
        }
        self.on_root(index, what, work).await
    }

    /// Runs `work` in the lane of file system `index`, after making sure it is mounted.
    async fn on_root<T: Send + 'static>(
        &self,
        index: usize,
        what: &str,
        work: impl FnOnce(&FsRoot, &Commit) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.mounter.ensure(&self.config.filesystems[index]).await?;
        let root = self.store.roots()[index].clone();
        self.lanes[index]
            .run(what, self.config.operation_timeout, move |commit| {
                work(&root, commit)
            })
            .await
    }

    fn location(&self, name: &VolumeName) -> Option<usize> {
        self.located.lock().expect("locations").get(name).copied()
    }

    fn remember(&self, name: &VolumeName, index: usize) {
        let mut located = self.located.lock().expect("locations");
        located.insert(name.clone(), index);
    }

    fn forget_location(&self, name: &VolumeName) {
        self.located.lock().expect("locations").remove(name);
    }

    fn unsettle(&self, name: &VolumeName) {
        let mut unsettled = self.unsettled.lock().expect("unsettled leases");
        unsettled.insert(name.clone());
    }

    fn conflict(&self, name: &VolumeName) -> Option<String> {
        self.conflicts.lock().expect("conflicts").get(name).cloned()
    }

    async fn lock(&self, name: &VolumeName) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("volume locks");
            locks.entry(name.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

fn check_mount_id(endpoint: &'static str, name: &VolumeName, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::EmptyMountId {
            endpoint,
            volume: name.to_string(),
        });
    }
    if id.len() > MAX_MOUNT_ID_BYTES {
        return Err(Error::MountIdTooLong {
            volume: name.to_string(),
            len: id.len(),
            max: MAX_MOUNT_ID_BYTES,
        });
    }
    Ok(())
}

/// Takes this node's lease; for `access=single-node` gives it back and refuses when another
/// node holds one. Writing before checking means two racing nodes both back off rather than
/// both mount. A refused Mount leaves no lease file behind.
fn acquire_lease(volume: &Volume, node: &str) -> Result<(), Error> {
    lease::hold(&volume.dir, node)?;
    if volume.meta.options.access == Access::SingleNode
        && let Some(other) = lease::other_holders(&volume.dir, node)?.into_iter().next()
    {
        lease::release(&volume.dir, node)?;
        lease::remove_released(&volume.dir, node)?;
        return Err(Error::SingleNodeBusy {
            volume: volume.meta.name.clone(),
            node: other,
        });
    }
    Ok(())
}

/// Moves the volume into the trash unless another node holds it; returns the trash id.
fn move_to_trash(
    root: &FsRoot,
    volume: &Volume,
    node: &str,
    commit: &Commit,
) -> Result<String, Error> {
    let in_use_elsewhere = |nodes: Vec<String>| Error::InUseElsewhere {
        volume: volume.meta.name.clone(),
        nodes: nodes.join(", "),
    };
    let others = lease::other_holders(&volume.dir, node)?;
    if !others.is_empty() {
        return Err(in_use_elsewhere(others));
    }
    commit.enter().map_err(|_| Error::Abandoned {
        what: format!("removal of volume {}", volume.meta.name),
    })?;
    let entry = trash::move_in(root, volume, node)?;
    let late = lease::other_holders(&entry.dir, node)?;
    if !late.is_empty() {
        trash::put_back(&entry, &volume.dir)?;
        return Err(in_use_elsewhere(late));
    }
    if volume.meta.managed_by == ManagedBy::Swarm
        && let Err(err) = root.unmark_cluster(&volume.meta.name)
    {
        // Harmless when left: it names no volume, and a new volume of the name replaces it.
        warn!(error = %err, "cluster volume trashed; its cluster/ entry is left behind");
    }
    Ok(entry.id)
}
