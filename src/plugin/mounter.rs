//! Getting each file system onto this node: EFS is mounted once per node under
//! `mount_root/<id>` (volumes are subdirectories); hostpath needs nothing.
//!
//! The mount command is an argv, never a shell line, and runs under a time limit. The file
//! system root is never unmounted by Docker's Unmount, so Unmount can't hang on a dead
//! NFS server; on restart the kernel's mount table says what is already mounted.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{Backend, FilesystemConfig};
use super::error::Error;

/// The options amazon-efs-utils applies by default.
pub const EFS_MOUNT_OPTIONS: &str =
    "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport";

/// `mount -t nfs4 -o <efs defaults>[,extra] <dns>:/ <target>`.
pub fn efs_mount_argv(dns_name: &str, extra_options: Option<&str>, target: &Path) -> Vec<OsString> {
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
        format!("{dns_name}:/").into(),
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
    fn is_nfs_from(&self, dns_name: &str) -> bool {
        self.fstype.starts_with("nfs") && self.source == format!("{dns_name}:/")
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
    /// One lock per file system, so two requests never mount the same one twice and a
    /// hanging mount of one never delays another's.
    mounting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Mounter {
    pub fn new(mount_root: &Path, limit: Duration) -> Self {
        Self {
            mount_root: mount_root.to_path_buf(),
            limit,
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
        } = &fs.backend
        else {
            return Ok(());
        };
        let target = self.mount_root.join(&fs.id);
        if self.check(fs, dns_name, &target)? {
            return Ok(());
        }
        let lock = self.lock_for(&fs.id);
        let _guard = lock.lock().await;
        if self.check(fs, dns_name, &target)? {
            return Ok(());
        }
        std::fs::create_dir_all(&target).map_err(Error::io("cannot create", &target))?;
        let argv = efs_mount_argv(dns_name, mount_options.as_deref(), &target);
        run_with_timeout(&argv, self.limit)
            .await
            .map_err(|message| Error::Mount {
                filesystem: fs.id.clone(),
                message,
            })?;
        tracing::info!(filesystem = %fs.id, target = %target.display(), "mounted EFS file system");
        Ok(())
    }

    /// `Ok(true)` when mounted from `dns_name`, `Ok(false)` when nothing is mounted there.
    fn check(&self, fs: &FilesystemConfig, dns_name: &str, target: &Path) -> Result<bool, Error> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        match mounted_at(&mountinfo, target) {
            None => Ok(false),
            Some(mounted) if mounted.is_nfs_from(dns_name) => Ok(true),
            Some(mounted) => Err(Error::NotMounted {
                filesystem: fs.id.clone(),
                path: target.to_path_buf(),
                server: dns_name.to_string(),
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
        let mounter = Mounter::new(Path::new("/nonexistent"), Duration::from_secs(1));
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
