//! What each VolumeDriver call does, independent of HTTP: names and options are checked
//! before anything touches a disk, file-system work runs under time limits, and calls for
//! one volume are serialised on this node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;
use tracing::{info, warn};

use super::clock::rfc3339;
use super::config::PluginConfig;
use super::deadline::run_blocking;
use super::error::Error;
use super::lease;
use super::mounter::Mounter;
use super::name::VolumeName;
use super::options::{Access, VolumeOptions};
use super::protocol::VolumeInfo;
use super::refcount::MountRefs;
use super::store::{LEASES_DIR, Store, Volume};
use super::trash;

/// How often expired trash is purged while the plugin runs.
const TRASH_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

pub struct Driver {
    config: PluginConfig,
    store: Store,
    mounter: Mounter,
    refs: MountRefs,
    locks: Mutex<HashMap<VolumeName, Arc<tokio::sync::Mutex<()>>>>,
    /// Volumes whose lease this node released; their files are deleted at the next renewal
    /// round unless mounted again by then (see `lease`).
    released: Mutex<HashSet<VolumeName>>,
}

impl Driver {
    /// Reads this node's mount reference counts from the state dir.
    pub fn open(config: PluginConfig) -> Result<Self, Error> {
        let refs = MountRefs::load(&config.state_dir)?;
        Ok(Self {
            store: Store::new(&config),
            mounter: Mounter::new(&config.mount_root, config.mount_timeout),
            refs,
            locks: Mutex::new(HashMap::new()),
            released: Mutex::new(HashSet::new()),
            config,
        })
    }

    pub fn config(&self) -> &PluginConfig {
        &self.config
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name))]
    pub async fn create(
        &self,
        raw_name: &str,
        opts: Option<&HashMap<String, String>>,
    ) -> Result<(), Error> {
        let name = VolumeName::parse(raw_name)?;
        let requested = match opts {
            Some(opts) if !opts.is_empty() => Some(VolumeOptions::parse(opts)?),
            _ => None,
        };
        if let Some(requested) = &requested {
            self.store.root_for(requested.perfmode)?;
        }
        let _lock = self.lock(&name).await;
        self.ready().await?;
        let node = self.config.node_id.clone();
        let what = format!("create of volume {name}");
        let volume = self
            .blocking(&what, move |store| {
                store.create(&name, requested.as_ref(), &node)
            })
            .await?;
        info!(filesystem = %volume.meta.filesystem, options = %volume.meta.options.describe(), "volume ready");
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name, mount_id = %id))]
    pub async fn mount(&self, raw_name: &str, id: &str) -> Result<PathBuf, Error> {
        let name = VolumeName::parse(raw_name)?;
        check_mount_id("Mount", &name, id)?;
        let _lock = self.lock(&name).await;
        self.ready().await?;
        let first_here = self.refs.count(&name) == 0;
        let (node, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
        let what = format!("mount of volume {name}");
        let lookup = name.clone();
        let volume = self
            .blocking(&what, move |store| {
                let volume = find(store, &lookup)?;
                if first_here {
                    acquire_lease(&volume, &node, ttl)?;
                }
                Ok(volume)
            })
            .await?;
        let mounts = self.refs.add(&name, id)?;
        info!(mounts_here = mounts, "mounted");
        Ok(volume.data_dir())
    }

    #[tracing::instrument(skip_all, fields(volume = %raw_name, mount_id = %id))]
    pub async fn unmount(&self, raw_name: &str, id: &str) -> Result<(), Error> {
        let name = VolumeName::parse(raw_name)?;
        check_mount_id("Unmount", &name, id)?;
        let _lock = self.lock(&name).await;
        match self.refs.remove(&name, id)? {
            None => warn!("unmount of a mount id this node does not hold; nothing to do"),
            // The count is what matters to this node; a lease we fail to delete lapses by
            // itself, so Docker's Unmount succeeds either way.
            Some(0) => match self.release_lease(&name).await {
                Ok(()) => info!(mounts_here = 0, "unmounted; lease released"),
                Err(err) => warn!(error = %err, "unmounted; lease left to expire"),
            },
            Some(mounts) => info!(mounts_here = mounts, "unmounted"),
        }
        Ok(())
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
        self.ready().await?;
        let node = self.config.node_id.clone();
        let what = format!("removal of volume {name}");
        let trashed = self
            .blocking(&what, move |store| move_to_trash(store, &name, &node))
            .await?;
        match trashed {
            Some(id) => info!(trash_id = %id, "moved to trash"),
            None => info!("already gone; nothing to remove"),
        }
        Ok(())
    }

    pub async fn path(&self, raw_name: &str) -> Result<PathBuf, Error> {
        let name = VolumeName::parse(raw_name)?;
        self.ready().await?;
        let what = format!("lookup of volume {name}");
        let volume = self
            .blocking(&what, move |store| find(store, &name))
            .await?;
        Ok(volume.data_dir())
    }

    pub async fn get(&self, raw_name: &str) -> Result<VolumeInfo, Error> {
        let name = VolumeName::parse(raw_name)?;
        self.ready().await?;
        let what = format!("lookup of volume {name}");
        let lookup = name.clone();
        let (volume, backend, holders) = self
            .blocking(&what, move |store| {
                let volume = find(store, &lookup)?;
                let backend = store.root_of(&volume).backend;
                let holders = lease::holders(&volume.leases_dir())?;
                Ok((volume, backend, holders))
            })
            .await?;
        let meta = &volume.meta;
        let nodes: Vec<&str> = holders.iter().map(|lease| lease.node.as_str()).collect();
        let status: BTreeMap<String, Value> = [
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
        Ok(VolumeInfo {
            name: name.to_string(),
            mountpoint: volume.data_dir().to_string_lossy().into_owned(),
            created_at: rfc3339(meta.created_at),
            status,
        })
    }

    pub async fn list(&self) -> Result<Vec<(VolumeName, PathBuf)>, Error> {
        self.ready().await?;
        self.blocking("listing of volumes", |store| store.list())
            .await
    }

    /// Start-up reconciliation: file systems this node still has mounts on are mounted (the
    /// kernel's mount table says which already are), the leases of volumes that containers
    /// still use are renewed, and mounts of volumes that vanished meanwhile are forgotten.
    pub async fn reconcile(&self) {
        if let Err(err) = self.ready().await {
            warn!(error = %err, "file systems not ready at start-up; retrying on the next request");
            return;
        }
        for name in self.refs.mounted_volumes() {
            let (node, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
            let lookup = name.clone();
            let renewed = self
                .blocking("start-up lease renewal", move |store| {
                    let volume = store.find(&lookup)?;
                    volume
                        .map(|v| lease::hold(&v.leases_dir(), &node, ttl))
                        .transpose()
                })
                .await;
            match renewed {
                Ok(Some(())) => {
                    info!(volume = %name, mounts_here = self.refs.count(&name), "kept mounts from before the restart")
                }
                Ok(None) => {
                    warn!(volume = %name, "volume vanished while the plugin was down; forgetting its mounts");
                    if let Err(err) = self.refs.forget_volume(&name) {
                        warn!(volume = %name, error = %err, "cannot forget mounts");
                    }
                }
                Err(err) => warn!(volume = %name, error = %err, "cannot renew lease"),
            }
        }
    }

    /// Runs for the plugin's lifetime: reconciles once, then renews leases at a third of
    /// their lifetime and purges expired trash hourly.
    pub async fn maintain(self: Arc<Self>) {
        self.reconcile().await;
        let mut renew = tokio::time::interval(self.config.lease_ttl / 3);
        let mut purge = tokio::time::interval(TRASH_PURGE_INTERVAL);
        loop {
            tokio::select! {
                _ = renew.tick() => self.renew_leases().await,
                _ = purge.tick() => self.purge_expired_trash().await,
            }
        }
    }

    async fn renew_leases(&self) {
        self.remove_released_leases().await;
        for name in self.refs.mounted_volumes() {
            let _lock = self.lock(&name).await;
            if self.refs.count(&name) == 0 {
                continue;
            }
            let (node, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
            let lookup = name.clone();
            let renewed = self
                .blocking("lease renewal", move |store| {
                    let volume = find(store, &lookup)?;
                    lease::hold(&volume.leases_dir(), &node, ttl)
                })
                .await;
            if let Err(err) = renewed {
                warn!(volume = %name, error = %err, "cannot renew lease");
            }
        }
    }

    async fn purge_expired_trash(&self) {
        let retention = self.config.trash_retention;
        let purged = self
            .blocking("trash purge", move |store| {
                trash::purge_expired(store, retention)
            })
            .await;
        match purged {
            Ok(entries) => entries
                .iter()
                .for_each(|entry| info!(trash_id = %entry.id, "purged expired trash")),
            Err(err) => warn!(error = %err, "cannot purge expired trash"),
        }
    }

    async fn release_lease(&self, name: &VolumeName) -> Result<(), Error> {
        self.ready().await?;
        self.on_own_lease("lease release", name, lease::release)
            .await?;
        self.released
            .lock()
            .expect("released leases")
            .insert(name.clone());
        Ok(())
    }

    async fn remove_released_leases(&self) {
        let released = std::mem::take(&mut *self.released.lock().expect("released leases"));
        for name in released {
            let _lock = self.lock(&name).await;
            if self.refs.count(&name) > 0 {
                continue;
            }
            let removed = self
                .on_own_lease("released lease removal", &name, lease::remove_released)
                .await;
            if let Err(err) = removed {
                warn!(error = %err, "cannot remove a released lease; it stays, expired");
            }
        }
    }

    /// Applies `change` to this node's lease file of the volume, wherever the volume lives,
    /// without reading its metadata.
    async fn on_own_lease(
        &self,
        what: &str,
        name: &VolumeName,
        change: fn(&Path, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let node = self.config.node_id.clone();
        let name = name.clone();
        self.blocking(what, move |store| {
            store
                .candidate_dirs(&name)
                .try_for_each(|dir| change(&dir.join(LEASES_DIR), &node))
        })
        .await
    }

    async fn ready(&self) -> Result<(), Error> {
        self.mounter.ensure_all(&self.config.filesystems).await
    }

    async fn lock(&self, name: &VolumeName) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("volume locks");
            locks.entry(name.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce(&Store) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.store.clone();
        run_blocking(what, self.config.operation_timeout, move || work(&store)).await
    }
}

fn check_mount_id(endpoint: &'static str, name: &VolumeName, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::EmptyMountId {
            endpoint,
            volume: name.to_string(),
        });
    }
    Ok(())
}

fn find(store: &Store, name: &VolumeName) -> Result<Volume, Error> {
    store.find(name)?.ok_or_else(|| Error::NotFound {
        volume: name.to_string(),
    })
}

/// Takes this node's lease; for `access=single-node` gives it back and refuses when another
/// node holds one. Writing before checking means two racing nodes both back off rather than
/// both mount.
fn acquire_lease(volume: &Volume, node: &str, ttl: Duration) -> Result<(), Error> {
    let leases = volume.leases_dir();
    lease::hold(&leases, node, ttl)?;
    if volume.meta.options.access == Access::SingleNode {
        if let Some(other) = lease::other_holders(&leases, node)?.into_iter().next() {
            lease::release(&leases, node)?;
            return Err(Error::SingleNodeBusy {
                volume: volume.meta.name.clone(),
                node: other,
            });
        }
    }
    Ok(())
}

/// Returns the trash id, or `None` when the volume was already gone (removed from another
/// node, so Docker here may drop its record).
fn move_to_trash(store: &Store, name: &VolumeName, node: &str) -> Result<Option<String>, Error> {
    let Some(volume) = store.find(name)? else {
        return Ok(None);
    };
    let in_use_elsewhere = |nodes: Vec<String>| Error::InUseElsewhere {
        volume: name.to_string(),
        nodes: nodes.join(", "),
    };
    let others = lease::other_holders(&volume.leases_dir(), node)?;
    if !others.is_empty() {
        return Err(in_use_elsewhere(others));
    }
    let entry = trash::move_in(store.root_of(&volume), &volume, node)?;
    let late = lease::other_holders(&entry.dir.join(LEASES_DIR), node)?;
    if !late.is_empty() {
        trash::put_back(&entry, &volume.dir)?;
        return Err(in_use_elsewhere(late));
    }
    Ok(Some(entry.id))
}
