//! The plugin's configuration file (`cloudstor-plugin --config /etc/cloudstor/plugin.toml`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::options::PerformanceMode;

/// Docker gives a plugin call 30 s; every timeout we configure must leave room inside that.
const DOCKER_CALL_BUDGET_SECS: u64 = 30;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read plugin config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("plugin config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// How a file system reaches this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// NFS v4.1 mount of the EFS file system root under `mount_root/<id>`.
    Efs {
        dns_name: String,
        mount_options: Option<String>,
        /// Each mount target's address by Availability Zone, for VPCs whose resolver does
        /// not know `dns_name` (the same fallback amazon-efs-utils has).
        mount_target_ips: BTreeMap<String, IpAddr>,
    },
    /// A directory that every node already sees (NFS or Gluster mounted by the admin).
    HostPath { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemConfig {
    pub id: String,
    pub performance_mode: PerformanceMode,
    pub backend: Backend,
    /// The Availability Zone of a One Zone file system: CSI volumes on it are accessible
    /// from that zone only, so Swarm keeps their tasks there.
    pub one_zone: Option<String>,
}

/// Which protocol the plugin speaks on its socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Docker's VolumeDriver protocol: local-scope volumes, `docker run -v`, stacks.
    #[default]
    VolumeDriver,
    /// The Container Storage Interface: Swarm cluster volumes (`--mount type=cluster`).
    Csi,
}

#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub protocol: Protocol,
    /// Unix socket Docker connects to; its file name (without `.sock`) is the driver name.
    pub socket: PathBuf,
    /// Node-local state: mount reference counts.
    pub state_dir: PathBuf,
    pub mount_root: PathBuf,
    pub node_id: String,
    /// This node's Availability Zone: whose entry of `mount_target_ips` to mount when a file
    /// system's DNS name does not resolve.
    pub availability_zone: Option<String>,
    /// How long a node's leases stand after its plugin last renewed its heartbeat.
    pub lease_ttl: Duration,
    /// How long they stand after a SIGTERM while containers still use volumes (an upgrade).
    pub restart_grace: Duration,
    /// The Docker engine's API, asked at start which mounts still have containers.
    pub docker_socket: PathBuf,
    /// Reconciliation never releases a volume mounted more recently than this.
    pub reconcile_grace: Duration,
    pub trash_retention: Duration,
    pub operation_timeout: Duration,
    pub mount_timeout: Duration,
    pub filesystems: Vec<FilesystemConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    protocol: Protocol,
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    mount_root: Option<PathBuf>,
    node_id: Option<String>,
    availability_zone: Option<String>,
    lease_ttl_secs: Option<u64>,
    restart_grace_secs: Option<u64>,
    docker_socket: Option<PathBuf>,
    reconcile_grace_secs: Option<u64>,
    trash_retention_days: Option<u64>,
    operation_timeout_secs: Option<u64>,
    mount_timeout_secs: Option<u64>,
    #[serde(default)]
    filesystems: Vec<RawFilesystem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilesystem {
    id: String,
    #[serde(default)]
    performance_mode: PerformanceMode,
    backend: RawBackend,
    dns_name: Option<String>,
    mount_options: Option<String>,
    #[serde(default)]
    mount_target_ips: BTreeMap<String, IpAddr>,
    path: Option<PathBuf>,
    one_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawBackend {
    Efs,
    Hostpath,
}

impl PluginConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let filesystems = raw
            .filesystems
            .into_iter()
            .map(FilesystemConfig::from_raw)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        check_filesystems(&filesystems).map_err(invalid)?;
        let node_id = match raw.node_id {
            Some(id) => id,
            None => default_node_id(),
        };
        check_component("node_id", &node_id).map_err(invalid)?;
        let operation_timeout =
            timeout("operation_timeout_secs", raw.operation_timeout_secs, 10).map_err(invalid)?;
        let mount_timeout =
            timeout("mount_timeout_secs", raw.mount_timeout_secs, 20).map_err(invalid)?;
        Ok(Self {
            protocol: raw.protocol,
            socket: raw
                .socket
                .unwrap_or_else(|| "/run/docker/plugins/cloudstor.sock".into()),
            state_dir: raw.state_dir.unwrap_or_else(|| "/var/lib/cloudstor".into()),
            mount_root: raw
                .mount_root
                .unwrap_or_else(|| "/var/lib/cloudstor/mnt".into()),
            node_id,
            availability_zone: raw.availability_zone,
            lease_ttl: Duration::from_secs(raw.lease_ttl_secs.unwrap_or(60).max(1)),
            restart_grace: Duration::from_secs(raw.restart_grace_secs.unwrap_or(900)),
            docker_socket: raw
                .docker_socket
                .unwrap_or_else(|| super::docker::DEFAULT_SOCKET.into()),
            reconcile_grace: Duration::from_secs(raw.reconcile_grace_secs.unwrap_or(60)),
            trash_retention: Duration::from_secs(raw.trash_retention_days.unwrap_or(7) * 86_400),
            operation_timeout,
            mount_timeout,
            filesystems,
        })
    }

    /// The driver name Docker knows this plugin by: the socket's file name.
    pub fn driver_name(&self) -> String {
        self.socket
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl FilesystemConfig {
    fn from_raw(raw: RawFilesystem) -> Result<Self, String> {
        check_component("filesystems.id", &raw.id)?;
        let backend = match raw.backend {
            RawBackend::Efs => Backend::Efs {
                dns_name: raw
                    .dns_name
                    .ok_or_else(|| format!("file system {} (efs) needs dns_name", raw.id))?,
                mount_options: raw.mount_options,
                mount_target_ips: raw.mount_target_ips,
            },
            RawBackend::Hostpath if !raw.mount_target_ips.is_empty() => {
                return Err(format!(
                    "file system {} (hostpath) has mount_target_ips, which only efs file systems use; remove them",
                    raw.id
                ));
            }
            RawBackend::Hostpath => Backend::HostPath {
                path: raw
                    .path
                    .ok_or_else(|| format!("file system {} (hostpath) needs path", raw.id))?,
            },
        };
        Ok(Self {
            id: raw.id,
            performance_mode: raw.performance_mode,
            backend,
            one_zone: raw.one_zone,
        })
    }
}

fn check_filesystems(filesystems: &[FilesystemConfig]) -> Result<(), String> {
    if filesystems.is_empty() {
        return Err("no [[filesystems]] configured; add at least one (efs or hostpath)".into());
    }
    for (index, fs) in filesystems.iter().enumerate() {
        if filesystems[..index].iter().any(|other| other.id == fs.id) {
            return Err(format!("file system id {} appears twice", fs.id));
        }
    }
    Ok(())
}

/// Node ids and file system ids become file names on the shared file system.
fn check_component(what: &str, value: &str) -> Result<(), String> {
    let safe = !value.is_empty()
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if safe {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} must be non-empty, not start with '.', and use only letters, digits, '_', '.' and '-'"
        ))
    }
}

fn timeout(key: &str, secs: Option<u64>, default: u64) -> Result<Duration, String> {
    let secs = secs.unwrap_or(default);
    if secs == 0 || secs >= DOCKER_CALL_BUDGET_SECS {
        return Err(format!(
            "{key} = {secs} must be between 1 and {} so Docker's 30 s plugin timeout never fires first",
            DOCKER_CALL_BUDGET_SECS - 1
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// The EC2 instance id when running on EC2 (Nitro exposes it as the board asset tag, no
/// network call needed), else the host name.
fn default_node_id() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.trim().to_string())
            .unwrap_or_default()
    };
    let asset_tag = read("/sys/devices/virtual/dmi/id/board_asset_tag");
    if asset_tag.starts_with("i-") {
        return asset_tag;
    }
    let hostname = read("/proc/sys/kernel/hostname");
    if hostname.is_empty() {
        "unknown-node".into()
    } else {
        hostname
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginConfig, ConfigError> {
        PluginConfig::parse(text, Path::new("plugin.toml"))
    }

    #[test]
    fn reads_the_documented_example() {
        let config = parse(
            r#"
            socket = "/run/docker/plugins/cloudstor.sock"
            state_dir = "/var/lib/cloudstor"
            mount_root = "/var/lib/cloudstor/mnt"
            node_id = "i-0abc"

            [[filesystems]]
            id = "fs-0123"
            performance_mode = "generalPurpose"
            backend = "efs"
            dns_name = "fs-0123.efs.eu-west-1.amazonaws.com"

            [[filesystems]]
            id = "local-shared"
            performance_mode = "maxIO"
            backend = "hostpath"
            path = "/mnt/gluster/cloudstor"
            "#,
        )
        .unwrap();
        assert_eq!(config.driver_name(), "cloudstor");
        assert_eq!(config.node_id, "i-0abc");
        assert_eq!(config.lease_ttl, Duration::from_secs(60));
        assert_eq!(config.trash_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.filesystems.len(), 2);
        assert_eq!(
            config.filesystems[1].backend,
            Backend::HostPath {
                path: "/mnt/gluster/cloudstor".into()
            }
        );
        assert_eq!(
            config.filesystems[1].performance_mode,
            PerformanceMode::MaxIo
        );
    }

    #[test]
    fn refuses_unknown_keys_and_missing_backend_fields() {
        let err = parse("sockett = \"x\"").unwrap_err().to_string();
        assert!(err.contains("sockett"), "{err}");
        let err = parse("[[filesystems]]\nid = \"a\"\nbackend = \"efs\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs dns_name"), "{err}");
        let err = parse("node_id = \"n\"").unwrap_err().to_string();
        assert!(err.contains("no [[filesystems]]"), "{err}");
    }

    #[test]
    fn reads_mount_target_ips_by_zone() {
        let config = parse(
            r#"
            availability_zone = "us-east-1b"
            [[filesystems]]
            id = "fs-0123"
            backend = "efs"
            dns_name = "fs-0123.efs.us-east-1.amazonaws.com"
            mount_target_ips = { "us-east-1a" = "10.0.1.5", "us-east-1b" = "10.0.2.5" }
            "#,
        )
        .unwrap();
        assert_eq!(config.availability_zone.as_deref(), Some("us-east-1b"));
        let Backend::Efs {
            mount_target_ips, ..
        } = &config.filesystems[0].backend
        else {
            panic!("not efs");
        };
        assert_eq!(
            mount_target_ips.get("us-east-1b"),
            Some(&"10.0.2.5".parse().unwrap())
        );
        let err = parse(
            "[[filesystems]]\nid = \"a\"\nbackend = \"efs\"\ndns_name = \"d\"\nmount_target_ips = { z = \"not-an-ip\" }",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mount_target_ips"), "{err}");
        let err = parse(
            "[[filesystems]]\nid = \"a\"\nbackend = \"hostpath\"\npath = \"/x\"\nmount_target_ips = { z = \"10.0.0.1\" }",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only efs"), "{err}");
    }

    #[test]
    fn refuses_timeouts_docker_would_beat() {
        let fs = "[[filesystems]]\nid = \"a\"\nbackend = \"hostpath\"\npath = \"/x\"\n";
        let err = parse(&format!("mount_timeout_secs = 45\n{fs}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 1 and 29"), "{err}");
        let err = parse(&format!("node_id = \"../x\"\n{fs}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node_id"), "{err}");
    }
}
