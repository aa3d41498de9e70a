//! Everything a plugin call can fail with; each message says what to do about it.

use std::path::PathBuf;

use super::name::NameError;
use super::options::OptionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Docker(#[from] super::docker::DockerError),
    #[error(transparent)]
    InstanceMetadata(#[from] super::imds::ImdsError),
    #[error(
        "no such volume {volume}; create it first with `docker volume create -d DRIVER {volume}`"
    )]
    NotFound { volume: String },
    #[error(
        "volume {volume} already exists with options {existing}; it was requested with {requested}. \
         Use the existing options or another name"
    )]
    OptionsConflict {
        volume: String,
        existing: String,
        requested: String,
    },
    #[error(
        "volume {volume} is a Swarm cluster volume (created through CSI); nothing was changed. \
         Manage it on a manager with `docker volume rm --force` / `docker volume update`, \
         or address it by its cluster ID (`docker volume ls --cluster`)"
    )]
    ClusterVolume { volume: String },
    #[error(
        "volume {volume} is a VolumeDriver volume (`docker volume create -d DRIVER`), not a \
         Swarm cluster volume; nothing was changed. Give the cluster volume another name, or \
         manage this one through the VolumeDriver plugin"
    )]
    NotClusterVolume { volume: String },
    #[error("no {mode} file system is configured; add one to [[filesystems]] in the plugin config")]
    NoFilesystem { mode: &'static str },
    #[error("volume {volume} is mounted by {mounts} container(s) on this node; stop them first")]
    InUseHere { volume: String, mounts: usize },
    #[error(
        "volume {volume} is mounted on node(s) {nodes}; stop the containers there first \
         (their lease expires if the node is gone)"
    )]
    InUseElsewhere { volume: String, nodes: String },
    #[error(
        "volume {volume} has access=single-node and is mounted on node {node}; \
         it can be mounted here once that node unmounts it or its lease expires"
    )]
    SingleNodeBusy { volume: String, node: String },
    #[error("volume {volume} cannot be mounted here: {reason}")]
    Conflict { volume: String, reason: String },
    #[error("{what} did not finish within {secs} s; the shared file system may be unreachable")]
    Timeout { what: String, secs: u64 },
    #[error("{what} {path}: {source}{}", stale_hint(.source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt metadata in {path}: {message}; fix or remove the file")]
    Metadata { path: PathBuf, message: String },
    #[error("mounting file system {filesystem} failed: {message}")]
    Mount { filesystem: String, message: String },
    #[error("mounting file system {filesystem} failed: {source}")]
    MountServer {
        filesystem: String,
        source: super::mounter::ServerError,
    },
    #[error("{endpoint} request for volume {volume} has an empty ID")]
    EmptyMountId {
        endpoint: &'static str,
        volume: String,
    },
    #[error("another plugin is already serving on {path}; stop it or choose another socket")]
    SocketInUse { path: PathBuf },
    #[error(
        "file system {filesystem}: {path} does not exist, so it is not mounted or was moved; \
         nothing was created. Mount the shared file system there (or fix `path` in the plugin config)"
    )]
    StoreMissing { filesystem: String, path: PathBuf },
    #[error(
        "file system {filesystem}: {path} holds the store of file system {found}, not this one; \
         nothing was written. Check the mount and the [[filesystems]] ids in the plugin config"
    )]
    WrongStore {
        filesystem: String,
        path: PathBuf,
        found: String,
    },
    #[error(
        "file system {filesystem}: {path} is not empty ({entry}) and has no cloudstor store marker; \
         nothing was written. Point the config at an empty directory or at the right mount"
    )]
    NotAStore {
        filesystem: String,
        path: PathBuf,
        entry: String,
    },
    #[error(
        "file system {filesystem}: {found}, but this node last used store {seen} there; \
         nothing was written. The file system was emptied or replaced behind cloudstor's back: \
         check that the right one is mounted. If the new store is meant, delete {} on this node",
        record.display()
    )]
    StoreReplaced {
        filesystem: String,
        /// Where, and what is there now.
        found: String,
        seen: String,
        record: PathBuf,
    },
    #[error("file system {filesystem} at {path} is not a live NFS mount of {server}: {found}")]
    NotMounted {
        filesystem: String,
        path: PathBuf,
        server: String,
        found: String,
    },
    #[error(
        "file system(s) {filesystems} did not answer, so volume {volume} cannot be looked up \
         there; try again when the file system is back"
    )]
    Unavailable { volume: String, filesystems: String },
    #[error("{what} was abandoned: the caller had already been told it timed out")]
    Abandoned { what: String },
    #[error(
        "mount ID of {len} bytes for volume {volume} is longer than the {max} a mount ID can be"
    )]
    MountIdTooLong {
        volume: String,
        len: usize,
        max: usize,
    },
    #[error("no trashed volume {id}; `cloudstor volume ls --trash` lists them")]
    TrashNotFound { id: String },
    #[error("cannot restore {id}: a volume named {volume} exists again; remove or rename it first")]
    RestoreConflict { id: String, volume: String },
}

/// ESTALE means the server no longer knows the file this node's mount refers to: the export
/// was replaced or recreated under it. Waiting does not help; a fresh mount does.
fn stale_hint(source: &std::io::Error) -> &'static str {
    if source.raw_os_error() == Some(libc::ESTALE) {
        ". The file system was replaced on the server under this node's mount: stop the \
         containers using its volumes, then `umount -l` its mount under mount_root; the \
         plugin mounts it again at the next call"
    } else {
        ""
    }
}

impl Error {
    /// A closure for `map_err` that names the operation and the path.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_file_handle_says_how_to_recover() {
        let stale =
            Error::io("cannot read", "/mnt/efs/x")(std::io::Error::from_raw_os_error(libc::ESTALE));
        let message = stale.to_string();
        assert!(
            message.contains("Stale file handle") && message.contains("umount -l"),
            "{message}"
        );
        let other =
            Error::io("cannot read", "/mnt/efs/x")(std::io::Error::from_raw_os_error(libc::EIO));
        assert!(!other.to_string().contains("umount"), "{other}");
    }
}
