//! Getting each file system onto this node: EFS is mounted once per node under
//! `mount_root/<id>` (volumes are subdirectories); hostpath needs nothing.
//!
//! The mount command is an argv, never a shell line, and runs under a time limit. The file
//! system root is never unmounted by Docker's Unmount, so Unmount can't hang on a dead
//! NFS server; on restart the kernel's mount table says what is already mounted.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
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

/// Whether `/proc/self/mountinfo` text lists `target` as a mount point (field 5, with the
/// kernel's octal escapes for space, tab, newline and backslash).
pub fn is_mount_point(mountinfo: &str, target: &Path) -> bool {
    let target = target.to_string_lossy();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|field| unescape_mountinfo(field) == target)
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
    mounted: Mutex<HashSet<String>>,
    /// Serialises mount attempts so two requests never mount the same file system twice.
    mounting: tokio::sync::Mutex<()>,
}

impl Mounter {
    pub fn new(mount_root: &Path, limit: Duration) -> Self {
        Self {
            mount_root: mount_root.to_path_buf(),
            limit,
            mounted: Mutex::new(HashSet::new()),
            mounting: tokio::sync::Mutex::new(()),
        }
    }

    pub async fn ensure_all(&self, filesystems: &[FilesystemConfig]) -> Result<(), Error> {
        for fs in filesystems {
            self.ensure(fs).await?;
        }
        Ok(())
    }

    /// Mounts an EFS file system unless the kernel already has it mounted.
    pub async fn ensure(&self, fs: &FilesystemConfig) -> Result<(), Error> {
        let Backend::Efs {
            dns_name,
            mount_options,
        } = &fs.backend
        else {
            return Ok(());
        };
        if self.is_known_mounted(&fs.id) {
            return Ok(());
        }
        let _guard = self.mounting.lock().await;
        let target = self.mount_root.join(&fs.id);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if !is_mount_point(&mountinfo, &target) {
            std::fs::create_dir_all(&target).map_err(Error::io("cannot create", &target))?;
            let argv = efs_mount_argv(dns_name, mount_options.as_deref(), &target);
            run_with_timeout(&argv, self.limit)
                .await
                .map_err(|message| Error::Mount {
                    filesystem: fs.id.clone(),
                    message,
                })?;
            tracing::info!(filesystem = %fs.id, target = %target.display(), "mounted EFS file system");
        }
        self.mounted
            .lock()
            .expect("mounted set lock")
            .insert(fs.id.clone());
        Ok(())
    }

    fn is_known_mounted(&self, id: &str) -> bool {
        self.mounted.lock().expect("mounted set lock").contains(id)
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
        assert!(is_mount_point(
            mountinfo,
            Path::new("/var/lib/cloudstor/mnt/fs-1")
        ));
        assert!(is_mount_point(mountinfo, Path::new("/mnt/with space")));
        assert!(!is_mount_point(
            mountinfo,
            Path::new("/var/lib/cloudstor/mnt")
        ));
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
