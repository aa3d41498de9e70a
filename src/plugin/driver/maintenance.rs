//! What the driver does on its own: at start it renews this node's heartbeat before anything
//! else and checks every volume its journal says is mounted here (and again whenever a renewal
//! follows a lapse); then it beats, settles leases left without a mount, and purges expired
//! trash; at SIGTERM it keeps the leases of volumes containers still use standing through a
//! restart.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, error, info, warn};

use super::Driver;
use crate::plugin::config::Protocol;
use crate::plugin::docker;
use crate::plugin::error::Error;
use crate::plugin::lease;
use crate::plugin::name::VolumeName;
use crate::plugin::options::Access;
use crate::plugin::trash;

/// How long start-up reconciliation waits for the Docker engine, and how often it asks.
const DOCKER_WAIT: Duration = Duration::from_secs(600);
const DOCKER_RETRY: Duration = Duration::from_secs(2);

/// How often expired trash is purged while the plugin runs.
const TRASH_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// What a volume mounted here before the restart turned out to be.
enum Resumed {
    Held,
    /// `access=single-node`, and another node took it while this plugin was away.
    TakenBy(String),
}

impl Driver {
    /// Runs for the plugin's lifetime.
    pub async fn maintain(self: Arc<Self>) {
        self.start_up().await;
        let mut beat = tokio::time::interval(self.config.lease_ttl / 3);
        let mut purge = tokio::time::interval(TRASH_PURGE_INTERVAL);
        let reconcile = self.reconcile_when_docker_answers();
        tokio::pin!(reconcile);
        // Docker knows nothing of CSI publications (Swarm sends NodeUnpublish itself), so
        // asking it which mounts have containers would release every published volume.
        let mut reconciled = self.config.protocol == Protocol::Csi;
        let mut renewed_at = Instant::now();
        loop {
            tokio::select! {
                () = &mut reconcile, if !reconciled => reconciled = true,
                _ = beat.tick() => {
                    if self.beat(self.config.lease_ttl).await {
                        // Cut off past the TTL, this node's leases lapsed and another node
                        // may have taken a single-node volume meanwhile: check as at start.
                        if renewed_at.elapsed() > self.config.lease_ttl {
                            warn!("this node's heartbeat had lapsed; checking the volumes mounted here again");
                            self.resume_mounted().await;
                        }
                        renewed_at = Instant::now();
                    }
                    self.settle_leases().await;
                }
                _ = purge.tick() => self.purge_expired_trash().await,
            }
        }
    }

    /// The heartbeat comes first: it makes this node's leases stand again at once, so a
    /// restart leaves no window in which another node may remove a volume in use here.
    pub async fn start_up(&self) {
        self.beat(self.config.lease_ttl).await;
        self.resume_mounted().await;
    }

    async fn resume_mounted(&self) {
        for name in self.refs.mounted_volumes() {
            let _lock = self.lock(&name).await;
            self.resume(&name).await;
        }
    }

    /// Called once the plugin stops serving (SIGTERM: an upgrade or a restart). Containers
    /// that still use volumes here keep running, so their leases must outlast the restart.
    pub async fn shut_down(&self) {
        let volumes = self.refs.mounted_volumes().len();
        if volumes > 0 {
            self.beat(self.config.restart_grace).await;
            info!(
                volumes,
                grace_secs = self.config.restart_grace.as_secs(),
                "containers here still use volumes; their leases stand while the plugin is away"
            );
        }
    }

    /// Pushes this node's heartbeat on every file system to `lasting` from now; whether
    /// every one was renewed.
    async fn beat(&self, lasting: Duration) -> bool {
        let beats = (0..self.lanes.len()).map(|index| {
            let node = self.config.node_id.clone();
            self.on_root(index, "heartbeat", move |root, _| {
                root.verify()?;
                lease::beat(&root.path, &node, SystemTime::now() + lasting)
            })
        });
        let results = futures::future::join_all(beats).await;
        let mut renewed = true;
        for (root, result) in self.store.roots().iter().zip(results) {
            if let Err(err) = result {
                warn!(filesystem = %root.id, error = %err, "cannot renew this node's heartbeat");
                renewed = false;
            }
        }
        renewed
    }

    async fn resume(&self, name: &VolumeName) {
        let node = self.config.node_id.clone();
        let resumed = self
            .with_volume(name, "start-up check", move |_, volume, _| {
                if volume.meta.options.access == Access::SingleNode {
                    let others = lease::other_holders(&volume.dir, &node)?;
                    if let Some(other) = others.into_iter().next() {
                        lease::release(&volume.dir, &node)?;
                        return Ok(Resumed::TakenBy(other));
                    }
                }
                lease::hold(&volume.dir, &node)?;
                Ok(Resumed::Held)
            })
            .await;
        let mounts_here = self.refs.count(name);
        match resumed {
            Ok(Resumed::Held) => {
                info!(volume = %name, mounts_here, "kept mounts from before the restart");
            }
            Ok(Resumed::TakenBy(other)) => {
                let reason = format!(
                    "access=single-node, but node {other} took it while this node's plugin was \
                     away and {mounts_here} container(s) here still use it; stop them (or the \
                     ones on {other}), then run `cloudstor volume release {name}` here"
                );
                error!(volume = %name, holder = %other, "single-node conflict: {reason}");
                self.conflicts
                    .lock()
                    .expect("conflicts")
                    .insert(name.clone(), reason);
            }
            Err(Error::NotFound { .. }) => self.restore_from_trash(name).await,
            Err(err) => {
                warn!(volume = %name, error = %err, "cannot check a mounted volume at start-up")
            }
        }
    }

    /// A volume containers here still use was removed while this plugin was away: it is
    /// put back, never forgotten, so the trash purge can never delete live data.
    async fn restore_from_trash(&self, name: &VolumeName) {
        let (node, lookup) = (self.config.node_id.clone(), name.clone());
        let store = self.store.clone();
        let restored = self
            .on_root(0, "restore from the trash", move |_, _| {
                let newest = trash::list(&store)?
                    .into_iter()
                    .filter(|entry| entry.name == lookup.as_str())
                    .max_by_key(|entry| entry.removed_at);
                let Some(entry) = newest else {
                    return Ok(None);
                };
                let volume = trash::restore(&store, &entry.id)?;
                lease::hold(&volume.dir, &node)?;
                Ok(Some(entry))
            })
            .await;
        match restored {
            Ok(Some(entry)) => error!(
                volume = %name,
                trash_id = %entry.id,
                removed_by = %entry.removed_by,
                "volume was removed while containers here still used it; restored it from the trash"
            ),
            Ok(None) => {
                let reason = "the volume vanished (not in the trash either) while containers here \
                              still use it; its mounts are kept so nothing is released"
                    .to_string();
                error!(volume = %name, "{reason}");
                self.conflicts
                    .lock()
                    .expect("conflicts")
                    .insert(name.clone(), reason);
            }
            Err(err) => {
                error!(volume = %name, error = %err, "volume in use here is missing and could not be restored from the trash")
            }
        }
    }

    /// At start: Docker starts after the plugin, so this waits for it.
    async fn reconcile_when_docker_answers(&self) {
        let waiting_until = tokio::time::Instant::now() + DOCKER_WAIT;
        loop {
            match self.reconcile_with_docker().await {
                Ok(_) => return,
                Err(err) if tokio::time::Instant::now() < waiting_until => {
                    debug!(error = %err, "waiting for Docker to reconcile mounts from before the start");
                    tokio::time::sleep(DOCKER_RETRY).await;
                }
                Err(err) => {
                    warn!(error = %err, "cannot ask Docker which mounts still have containers; they are kept (`cloudstor volume reconcile` or `release` later)");
                    return;
                }
            }
        }
    }

    /// Releases this node's mounts of volumes that no running container uses (removed while
    /// the plugin was down, so their Unmount never came); returns each volume with how many
    /// mounts were released. A volume mounted within `reconcile_grace` is left alone.
    pub async fn reconcile_with_docker(&self) -> Result<Vec<(VolumeName, usize)>, Error> {
        let socket = self.config.docker_socket.clone();
        let limit = self.config.operation_timeout;
        let in_use = tokio::task::spawn_blocking(move || docker::volumes_in_use(&socket, limit))
            .await
            .expect("asking Docker does not panic")?;
        let mut released = Vec::new();
        for name in self.refs.mounted_volumes() {
            if in_use.contains_key(name.as_str()) {
                continue;
            }
            let _lock = self.lock(&name).await;
            if self.mounted_recently(&name) {
                continue;
            }
            let mut count = 0;
            for id in self.refs.ids(&name) {
                if self.refs.remove(&name, &id)?.is_some() {
                    count += 1;
                }
            }
            if count > 0 {
                info!(volume = %name, released = count, "released mounts no running container uses");
                self.released_last(&name, "no container uses it any more")
                    .await;
                released.push((name, count));
            }
        }
        Ok(released)
    }

    fn mounted_recently(&self, name: &VolumeName) -> bool {
        let last_mount = self.last_mount.lock().expect("last mounts");
        last_mount
            .get(name)
            .is_some_and(|at| at.elapsed() < self.config.reconcile_grace)
    }

    /// Leases this node released, or may have written in a Mount that then failed: each is
    /// released (if no mount took it since) and its file deleted.
    async fn settle_leases(&self) {
        let names = std::mem::take(&mut *self.unsettled.lock().expect("unsettled leases"));
        for name in names {
            let _lock = self.lock(&name).await;
            if self.refs.count(&name) > 0 {
                continue;
            }
            let settled = async {
                self.on_own_lease(&name, lease::release).await?;
                self.on_own_lease(&name, lease::remove_released).await
            };
            if let Err(err) = settled.await {
                warn!(volume = %name, error = %err, "cannot settle a lease; retried at the next round");
                self.unsettle(&name);
            }
        }
    }

    async fn purge_expired_trash(&self) {
        let retention = self.config.trash_retention;
        let store = self.store.clone();
        let purged = self
            .on_root(0, "trash purge", move |_, _| {
                trash::purge_expired(&store, retention)
            })
            .await;
        match purged {
            Ok(entries) => entries
                .iter()
                .for_each(|entry| info!(trash_id = %entry.id, "purged expired trash")),
            Err(err) => warn!(error = %err, "cannot purge expired trash"),
        }
    }
}
