//! The Docker volume plugin (`cloudstor-plugin`): speaks Docker's VolumeDriver protocol on a
//! Unix socket and keeps volumes as directories on shared file systems (EFS, or a
//! directory every node already shares), so a task rescheduled on another node finds its
//! data there.
//!
//! - [`config`]: the plugin's TOML configuration.
//! - [`server`]: HTTP over the Unix socket, one handler per protocol endpoint.
//! - [`csi`]: the same volumes as a CSI driver (gRPC on the socket) for Swarm cluster volumes,
//!   when the config says `protocol = "csi"`.
//! - [`driver`]: what each call does, and the start-up checks, heartbeats and lease
//!   settling that keep it right across restarts; the only place that combines the parts below.
//! - [`lane`]: one bounded lane of blocking threads per file system, each call under a
//!   deadline, so a stalled NFS server neither hangs Docker nor slows other file systems.
//! - [`store`]: volumes and their metadata on the shared file systems.
//! - [`imds`]: this node's Availability Zone from EC2 instance metadata, when not configured.
//! - [`mounter`]: EFS mounts (argv, time limits, the kernel's mount table).
//! - [`refcount`]: which Docker mount IDs hold which volume on this node, persisted.
//! - [`lease`]: which nodes hold a volume, and each node's heartbeat, visible to every node.
//! - [`docker`]: which volumes the engine's running containers use, to reconcile [`refcount`].
//! - [`trash`]: removed volumes, kept for the retention period.
//! - [`admin`]: what `cloudstor volume release` asks of the running plugin.
//! - [`name`], [`options`], [`protocol`]: what Docker sends and how it is checked.

pub mod admin;
pub mod adopt;
pub mod clock;
pub mod config;
pub mod csi;
pub mod docker;
pub mod driver;
pub mod error;
pub mod imds;
pub mod lane;
pub mod lease;
pub mod marker;
pub mod mounter;
pub mod name;
pub mod options;
pub mod protocol;
pub mod refcount;
pub mod server;
pub mod store;
pub mod trash;

pub use config::PluginConfig;
pub use error::Error;
pub use server::serve;
