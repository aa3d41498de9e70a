//! Getting each file system onto this node: EFS is mounted once per node under
//! `mount_root/<id>` (volumes are subdirectories); hostpath needs nothing.
//!
//! The mount command is an argv, never a shell line, and runs under a time limit. The file
//! system root is never unmounted by Docker's Unmount, so Unmount can't hang on a dead
//! NFS server; on restart the kernel's mount table says what is already mounted.
//!
//! The server is the file system's DNS name when it resolves, else (a VPC without Amazon's
//! resolver) the mount target of this node's Availability Zone, as amazon-efs-utils does.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{Backend, FilesystemConfig};
use super::error::Error;

/// The longest a DNS lookup may take before the mount target IP is used instead; a lookup
/// in a VPC without a working resolver can otherwise hang for the whole mount time limit.
const RESOLVE_LIMIT: Duration = Duration::from_secs(5);

/// Why no server could be chosen for an EFS mount; each says what to configure.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "{dns_name} does not resolve ({reason}) and no mount_target_ips are configured; fix this \
         node's DNS or add `mount_target_ips = {{ \"<availability zone>\" = \"<mount target IP>\" }}` \
         to the file system's [[filesystems]] table"
    )]
    NoMountTargetIps { dns_name: String, reason: String },
    #[error(
        "{dns_name} does not resolve ({reason}) and this node's Availability Zone is unknown; set \
         `availability_zone` in the plugin config to the zone of this node (mount_target_ips \
         lists {zones})"
    )]
    NoZone {
        dns_name: String,
        reason: String,
        zones: String,
    },
    #[error(
        "{dns_name} does not resolve ({reason}) and mount_target_ips has no address for this \
         node's Availability Zone {zone} (it lists {zones}); add the IP of the mount target in \
         {zone}, or fix `availability_zone` in the plugin config"
    )]
    NoIpForZone {
        dns_name: String,
        reason: String,
        zone: String,
        zones: String,
    },
}

/// The server to mount: `dns_name` when it resolved, else the mount target IP of `zone`.
pub fn choose_server(
    dns_name: &str,
    resolved: Result<(), String>,
    mount_target_ips: &BTreeMap<String, IpAddr>,
    zone: Option<&str>,
) -> Result<String, ServerError> {
    let Err(reason) = resolved else {
        return Ok(dns_name.to_string());
    };
    let dns_name = dns_name.to_string();
    if mount_target_ips.is_empty() {
        return Err(ServerError::NoMountTargetIps { dns_name, reason });
    }
    let zones = mount_target_ips
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let Some(zone) = zone else {
        return Err(ServerError::NoZone {
            dns_name,
            reason,
            zones,
        });
    };
    match mount_target_ips.get(zone) {
        Some(ip) => Ok(host(*ip)),
        None => Err(ServerError::NoIpForZone {
            dns_name,
            reason,
            zone: zone.to_string(),
            zones,
        }),
    }
}

/// An address as mount.nfs and the mount table write it before `:/` (IPv6 in brackets).
fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// Whether `dns_name` resolves within `limit` (the NFS port, as the mount would use it).
async fn resolve(dns_name: &str, limit: Duration) -> Result<(), String> {
    let name = dns_name.to_string();
    // getaddrinfo blocks and cannot be cancelled: a lookup past the limit finishes on its
    // blocking thread, unwaited for.
    let lookup = tokio::task::spawn_blocking(move || (name.as_str(), 2049).to_socket_addrs());
    match tokio::time::timeout(limit, lookup).await {
        Err(_) => Err(format!("no answer within {} s", limit.as_secs_f32())),
        Ok(Err(join)) => Err(join.to_string()),
        Ok(Ok(Err(err))) => Err(err.to_string()),
        Ok(Ok(Ok(addrs))) if addrs.len() > 0 => Ok(()),
        Ok(Ok(Ok(_))) => Err("no addresses".into()),
    }
}

/// The options amazon-efs-utils applies by default.
pub const EFS_MOUNT_OPTIONS: &str =
    "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport";

/// `mount -t nfs4 -o <efs defaults>[,extra] <server>:/ <target>`.
pub fn efs_mount_argv(server: &str, extra_options: Option<&str>, target: &Path) -> Vec<OsString> {
    let options = match extra_options {
        Some(extra) if !extra.is_empty() => format!("{EFS_MOUNT_OPTIONS},{extra}"),
        _ => EFS_MOUNT_OPTIONS.to_string(),
    };
    vec![
        "mount".into(),
        "-t".into(),
        "nfs4".into(),
        "-o".into(),
        options.into(),
        format!("{server}:/").into(),
        target.into(),
    ]
}

/// What the kernel has mounted at a mount point: file system type and source.
#[derive(Debug, PartialEq, Eq)]
pub struct MountedAt {
    pub fstype: String,
    pub source: String,
}

/// The topmost mount at `target` in `/proc/self/mountinfo` text (mount point is field 5,
/// with the kernel's octal escapes; type and source follow the ` - ` separator).
pub fn mounted_at(mountinfo: &str, target: &Path) -> Option<MountedAt> {
    let target = target.to_string_lossy();
    mountinfo
        .lines()
        .filter(|line| line.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(&target))
        .filter_map(|line| {
            let (_, tail) = line.split_once(" - ")?;
            let mut fields = tail.split(' ');
            Some(MountedAt {
                fstype: fields.next()?.to_string(),
                source: unescape_mountinfo(fields.next()?),
            })
        })
        .next_back()
}

impl MountedAt {
    fn is_nfs_from(&self, server: &str) -> bool {
        self.fstype.starts_with("nfs") && self.source == format!("{server}:/")
    }
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Runs `argv` directly (no shell), killing it if it outlives `limit`.
pub async fn run_with_timeout(argv: &[OsString], limit: Duration) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(limit, child)
        .await
        .map_err(|_| format!("gave up after {} s", limit.as_secs()))?
        .map_err(|err| format!("cannot run {}: {err}", program.to_string_lossy()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} exited with {}: {}",
            program.to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub struct Mounter {
    mount_root: PathBuf,
    limit: Duration,
    availability_zone: Option<String>,
    /// One lock per file system, so two requests never mount the same one twice and a
    /// hanging mount of one never delays another's.
    mounting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Mounter {
    pub fn new(mount_root: &Path, limit: Duration, availability_zone: Option<String>) -> Self {
        Self {
            mount_root: mount_root.to_path_buf(),
            limit,
            availability_zone,
            mounting: Mutex::new(HashMap::new()),
        }
    }

    /// Makes sure an EFS file system is mounted from its own server before anything touches
    /// it: checked against the kernel's mount table on every call (a local read), because
    /// an unmount behind the plugin's back leaves an empty local directory where volumes
    /// would otherwise be rebuilt on the node's own disk.
    pub async fn ensure(&self, fs: &FilesystemConfig) -> Result<(), Error> {
        let Backend::Efs {
            dns_name,
            mount_options,
            mount_target_ips,
        } = &fs.backend
        else {
            return Ok(());
        };
        // Every mount target of the file system serves the same files, so a mount through
        // any of them (a zone's by IP, or all by the DNS name) is the right one.
        let servers: Vec<String> = std::iter::once(dns_name.clone())
            .chain(mount_target_ips.values().map(|ip| host(*ip)))
            .collect();
        let target = self.mount_root.join(&fs.id);
        if self.check(fs, &servers, &target)? {
            return Ok(());
        }
        let lock = self.lock_for(&fs.id);
        let _guard = lock.lock().await;
        if self.check(fs, &servers, &target)? {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let resolved = resolve(dns_name, RESOLVE_LIMIT.min(self.limit / 2)).await;
        if let Err(reason) = &resolved {
            tracing::warn!(filesystem = %fs.id, %dns_name, %reason, "DNS name does not resolve; trying the mount target of this node's Availability Zone");
        }
        let server = choose_server(
            dns_name,
            resolved,
            mount_target_ips,
            self.availability_zone.as_deref(),
        )
        .map_err(|source| Error::MountServer {
            filesystem: fs.id.clone(),
            source,
        })?;
        std::fs::create_dir_all(&target).map_err(Error::io("cannot create", &target))?;
        let argv = efs_mount_argv(&server, mount_options.as_deref(), &target);
        run_with_timeout(&argv, self.limit.saturating_sub(started.elapsed()))
            .await
            .map_err(|message| Error::Mount {
                filesystem: fs.id.clone(),
                message,
            })?;
        tracing::info!(filesystem = %fs.id, %server, target = %target.display(), "mounted EFS file system");
        Ok(())
    }

    /// `Ok(true)` when mounted from one of `servers`, `Ok(false)` when nothing is mounted
    /// there.
    fn check(
        &self,
        fs: &FilesystemConfig,
        servers: &[String],
        target: &Path,
    ) -> Result<bool, Error> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        match mounted_at(&mountinfo, target) {
            None => Ok(false),
            Some(mounted) if servers.iter().any(|server| mounted.is_nfs_from(server)) => Ok(true),
            Some(mounted) => Err(Error::NotMounted {
                filesystem: fs.id.clone(),
                path: target.to_path_buf(),
                server: servers.join(" or "),
                found: format!("{} from {}", mounted.fstype, mounted.source),
            }),
        }
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.mounting.lock().expect("mount locks");
        locks.entry(id.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efs_mount_is_an_argv_with_efs_utils_defaults() {
        let argv = efs_mount_argv(
            "fs-0123.efs.eu-west-1.amazonaws.com",
            None,
            Path::new("/var/lib/cloudstor/mnt/fs-0123"),
        );
        assert_eq!(
            argv,
            [
                "mount",
                "-t",
                "nfs4",
                "-o",
                "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport",
                "fs-0123.efs.eu-west-1.amazonaws.com:/",
                "/var/lib/cloudstor/mnt/fs-0123",
            ]
            .map(OsString::from)
        );
        let with_extra = efs_mount_argv("d", Some("ro"), Path::new("/m; rm -rf /"));
        assert!(with_extra[4].to_string_lossy().ends_with(",noresvport,ro"));
        assert_eq!(with_extra[6], "/m; rm -rf /", "a path stays one argument");
    }

    #[test]
    fn finds_mount_points_in_mountinfo() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
97 22 0:50 / /var/lib/cloudstor/mnt/fs-1 rw shared:50 - nfs4 fs-1.efs:/ rw,vers=4.1
98 22 0:51 / /mnt/with\\040space rw - tmpfs tmpfs rw
";
        let efs = mounted_at(mountinfo, Path::new("/var/lib/cloudstor/mnt/fs-1")).unwrap();
        assert!(efs.is_nfs_from("fs-1.efs"));
        assert!(!efs.is_nfs_from("fs-2.efs"));
        let spaced = mounted_at(mountinfo, Path::new("/mnt/with space")).unwrap();
        assert_eq!(spaced.fstype, "tmpfs");
        assert!(!spaced.is_nfs_from("tmpfs"));
        assert!(mounted_at(mountinfo, Path::new("/var/lib/cloudstor/mnt")).is_none());
    }

    fn ips() -> BTreeMap<String, IpAddr> {
        BTreeMap::from([
            ("us-east-1a".to_string(), "10.0.1.5".parse().unwrap()),
            ("us-east-1b".to_string(), "fd00::25".parse().unwrap()),
        ])
    }

    #[test]
    fn a_name_that_resolves_is_mounted_by_name() {
        let server = choose_server("fs-1.efs", Ok(()), &ips(), Some("us-east-1a")).unwrap();
        assert_eq!(server, "fs-1.efs");
    }

    #[test]
    fn a_name_that_does_not_resolve_falls_back_to_the_zones_mount_target() {
        let failed = || Err("Name or service not known".to_string());
        let server = choose_server("fs-1.efs", failed(), &ips(), Some("us-east-1a")).unwrap();
        assert_eq!(server, "10.0.1.5");
        let server = choose_server("fs-1.efs", failed(), &ips(), Some("us-east-1b")).unwrap();
        assert_eq!(
            server, "[fd00::25]",
            "IPv6 in brackets, as mount.nfs wants it"
        );
    }

    #[test]
    fn no_fallback_says_what_to_configure() {
        let failed = || Err("Name or service not known".to_string());
        let err = choose_server("fs-1.efs", failed(), &ips(), Some("us-east-1c"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no address for this node's Availability Zone us-east-1c")
                && err.contains("us-east-1a, us-east-1b")
                && err.contains("Name or service not known"),
            "{err}"
        );
        let err = choose_server("fs-1.efs", failed(), &ips(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("set `availability_zone`") && err.contains("us-east-1a, us-east-1b"),
            "{err}"
        );
        let err = choose_server("fs-1.efs", failed(), &BTreeMap::new(), Some("us-east-1a"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("add `mount_target_ips"), "{err}");
    }

    #[tokio::test]
    async fn resolution_fails_for_an_unresolvable_name_and_passes_an_ip() {
        resolve("10.99.0.1", Duration::from_secs(1)).await.unwrap();
        let err = resolve("fs-0000.efs.invalid", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn a_mount_by_ip_is_recognised() {
        let mountinfo = "97 22 0:50 / /mnt/fs-1 rw - nfs4 10.0.1.5:/ rw,vers=4.1\n";
        let mounted = mounted_at(mountinfo, Path::new("/mnt/fs-1")).unwrap();
        assert!(mounted.is_nfs_from(&host("10.0.1.5".parse().unwrap())));
    }

    #[tokio::test]
    async fn a_hanging_mount_command_is_killed_at_the_limit() {
        let argv = ["sleep", "10"].map(OsString::from);
        let started = std::time::Instant::now();
        let err = run_with_timeout(&argv, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("gave up"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_failing_mount_command_reports_its_stderr() {
        let argv = ["sh", "-c", "echo no route to host >&2; exit 32"].map(OsString::from);
        let err = run_with_timeout(&argv, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("no route to host"), "{err}");
    }

    #[tokio::test]
    async fn hostpath_needs_no_mount() {
        let mounter = Mounter::new(Path::new("/nonexistent"), Duration::from_secs(1), None);
        let fs = FilesystemConfig {
            id: "local".into(),
            performance_mode: Default::default(),
            backend: Backend::HostPath {
                path: "/tmp".into(),
            },
        };
        mounter.ensure(&fs).await.unwrap();
    }
}
