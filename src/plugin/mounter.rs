//! Getting each file system onto this node: EFS is mounted once per node under
//! `mount_root/<id>` (volumes are subdirectories); hostpath needs nothing.
//!
//! The plugin mounts with `mount(2)` itself, on a thread of its own under a time limit. The file
//! system root is never unmounted by Docker's Unmount, so Unmount can't hang on a dead
//! NFS server; on restart the kernel's mount table says what is already mounted.
//!
//! The server is the file system's DNS name when it resolves, else (a VPC without Amazon's
//! resolver) the mount target of this node's Availability Zone, as amazon-efs-utils does.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{Backend, FilesystemConfig};
use super::error::Error;
use super::imds::NodeZone;

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

/// Where an EFS file system is mounted from: the host the mount table shows before `:/`, and
/// the address the kernel connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub addr: IpAddr,
}

/// The server to mount: `dns_name` at the address it resolved to, else the mount target IP of
/// `zone`.
pub fn choose_server(
    dns_name: &str,
    resolved: Result<IpAddr, String>,
    mount_target_ips: &BTreeMap<String, IpAddr>,
    zone: Option<&str>,
) -> Result<Server, ServerError> {
    let reason = match resolved {
        Ok(addr) => {
            return Ok(Server {
                host: dns_name.to_string(),
                addr,
            });
        }
        Err(reason) => reason,
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
        Some(ip) => Ok(Server {
            host: host(*ip),
            addr: *ip,
        }),
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

/// The addresses `dns_name` resolves to within `limit`, never none, IPv4 first (EFS mount
/// targets have one; a dual-stack one has both).
async fn resolve(dns_name: &str, limit: Duration) -> Result<Vec<IpAddr>, String> {
    let name = dns_name.to_string();
    // getaddrinfo blocks and cannot be cancelled: a lookup past the limit finishes on its
    // blocking thread, unwaited for.
    let lookup = tokio::task::spawn_blocking(move || (name.as_str(), 2049).to_socket_addrs());
    let mut addrs: Vec<IpAddr> = match tokio::time::timeout(limit, lookup).await {
        Err(_) => return Err(format!("no answer within {} s", limit.as_secs_f32())),
        Ok(Err(join)) => return Err(join.to_string()),
        Ok(Ok(Err(err))) => return Err(err.to_string()),
        Ok(Ok(Ok(addrs))) => addrs.map(|addr| addr.ip()).collect(),
    };
    if addrs.is_empty() {
        return Err("no addresses".into());
    }
    addrs.sort_by_key(|addr| (addr.is_ipv6(), *addr));
    addrs.dedup();
    Ok(addrs)
}

/// The options amazon-efs-utils applies by default.
pub const EFS_MOUNT_OPTIONS: &str =
    "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport";

/// One `mount(2)` of an NFS export. The plugin mounts by itself rather than through a
/// `mount.nfs` helper, which the managed plugin's scratch rootfs lacks: so it passes the
/// server's address (`addr=`) that the helper would otherwise have resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct NfsMount {
    pub source: String,
    pub target: PathBuf,
    pub options: String,
}

impl NfsMount {
    /// `<server>:/` on `target` with the EFS defaults, the server's address and `extra_options`.
    pub fn efs(server: &Server, extra_options: Option<&str>, target: &Path) -> NfsMount {
        let mut options = format!("{EFS_MOUNT_OPTIONS},addr={}", server.addr);
        if let Some(extra) = extra_options.filter(|extra| !extra.is_empty()) {
            options.push(',');
            options.push_str(extra);
        }
        NfsMount {
            source: format!("{}:/", server.host),
            target: target.to_path_buf(),
            options,
        }
    }

    /// The system call itself; blocks for as long as the kernel waits for the server.
    pub fn call(&self) -> Result<(), String> {
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                format!(
                    "{} contains a NUL byte",
                    String::from_utf8_lossy(bytes).escape_debug()
                )
            })
        };
        let source = c_string(self.source.as_bytes())?;
        let target = c_string(self.target.as_os_str().as_bytes())?;
        let options = c_string(self.options.as_bytes())?;
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let result = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                c"nfs4".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if result == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        Err(format!(
            "mount(2) of {} on {} -o {}: {error}{}",
            self.source,
            self.target.display(),
            self.options,
            mount_error_hint(&error)
        ))
    }
}

fn mount_error_hint(error: &std::io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::ENODEV) => "; this kernel has no NFS v4 client: load it with `modprobe nfsv4`",
        Some(libc::EPERM) => {
            "; mounting needs CAP_SYS_ADMIN: run the plugin as root (the managed plugin has it)"
        }
        _ => "",
    }
}

/// Runs the blocking `mount` on a thread of its own and waits at most `limit` for it. A mount
/// stuck in the kernel on an unreachable server cannot be cancelled, so its thread is left to
/// finish; `busy` stays set until it does, so no second mount of the same file system piles
/// up behind it, and a mount that succeeds late is found in the mount table next time.
async fn mount_within(
    limit: Duration,
    busy: Arc<AtomicBool>,
    mount: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    if busy.swap(true, Ordering::AcqRel) {
        return Err(
            "an earlier mount of this file system is still waiting for the server; retry once \
             the server answers"
                .into(),
        );
    }
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = mount();
        busy.store(false, Ordering::Release);
        let _ = sender.send(result);
    });
    match tokio::time::timeout(limit, answer).await {
        Err(_) => Err(format!(
            "no answer from the server within {} s; the kernel keeps trying in the background",
            limit.as_secs()
        )),
        Ok(Err(_)) => Err("the mount thread ended without an answer".into()),
        Ok(Ok(result)) => result,
    }
}

/// What the kernel has mounted at a mount point: file system type, source and, for NFS, the
/// server address it is connected to (`addr=` in the super options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedAt {
    pub fstype: String,
    pub source: String,
    pub server_addr: Option<IpAddr>,
}

/// The topmost mount at `target` in `/proc/self/mountinfo` text (mount point is field 5,
/// with the kernel's octal escapes; type, source and super options follow the ` - `
/// separator).
pub fn mounted_at(mountinfo: &str, target: &Path) -> Option<MountedAt> {
    let target = target.to_string_lossy();
    mountinfo
        .lines()
        .filter(|line| line.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(&target))
        .filter_map(|line| {
            let (_, tail) = line.split_once(" - ")?;
            let mut fields = tail.split(' ');
            let fstype = fields.next()?.to_string();
            let source = unescape_mountinfo(fields.next()?);
            let server_addr = fields
                .next()
                .unwrap_or_default()
                .split(',')
                .find_map(|option| option.strip_prefix("addr=")?.parse().ok());
            Some(MountedAt {
                fstype,
                source,
                server_addr,
            })
        })
        .next_back()
}

impl MountedAt {
    fn is_nfs(&self) -> bool {
        self.fstype.starts_with("nfs")
    }

    /// Mounted by one of these names, or connected to one of these addresses. The source
    /// alone is not enough: a second mount of an export this kernel already has mounted
    /// shares its superblock, and the mount table shows the first mount's source.
    fn is_nfs_from(&self, hosts: &[String], addrs: &[IpAddr]) -> bool {
        self.is_nfs()
            && (hosts.iter().any(|host| self.source == format!("{host}:/"))
                || self.server_addr.is_some_and(|addr| addrs.contains(&addr)))
    }
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// An EFS file system as the mounter needs it.
struct Efs<'a> {
    id: &'a str,
    dns_name: &'a str,
    mount_target_ips: &'a BTreeMap<String, IpAddr>,
}

#[derive(Default)]
struct MountSlot {
    /// Held from the mount-table check to the end of the mount.
    lock: tokio::sync::Mutex<()>,
    /// Set while a `mount(2)` of this file system is in the kernel, even past its time limit.
    in_kernel: Arc<AtomicBool>,
    /// The addresses the DNS name resolved to, when last asked.
    resolved: Mutex<Vec<IpAddr>>,
}

impl MountSlot {
    fn resolved(&self) -> Vec<IpAddr> {
        self.resolved.lock().expect("resolved addresses").clone()
    }

    fn remember(&self, addrs: &[IpAddr]) {
        *self.resolved.lock().expect("resolved addresses") = addrs.to_vec();
    }
}

pub struct Mounter {
    mount_root: PathBuf,
    limit: Duration,
    zone: Arc<NodeZone>,
    /// One slot per file system, so two requests never mount the same one twice and a
    /// hanging mount of one never delays another's.
    mounting: Mutex<HashMap<String, Arc<MountSlot>>>,
}

impl Mounter {
    pub fn new(mount_root: &Path, limit: Duration, zone: Arc<NodeZone>) -> Self {
        Self {
            mount_root: mount_root.to_path_buf(),
            limit,
            zone,
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
        let efs = Efs {
            id: &fs.id,
            dns_name,
            mount_target_ips,
        };
        let target = self.mount_root.join(&fs.id);
        let slot = self.slot_for(&fs.id);
        if self.is_mounted(&efs, &slot, &target).await? {
            return Ok(());
        }
        let _guard = slot.lock.lock().await;
        if self.is_mounted(&efs, &slot, &target).await? {
            return Ok(());
        }
        self.mount(&efs, mount_options.as_deref(), &slot, &target)
            .await
    }

    async fn mount(
        &self,
        efs: &Efs<'_>,
        mount_options: Option<&str>,
        slot: &MountSlot,
        target: &Path,
    ) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let resolved = resolve(efs.dns_name, RESOLVE_LIMIT.min(self.limit / 2))
            .await
            .map(|addrs| {
                slot.remember(&addrs);
                addrs[0]
            });
        if let Err(reason) = &resolved {
            tracing::warn!(filesystem = %efs.id, dns_name = %efs.dns_name, %reason, "DNS name does not resolve; trying the mount target of this node's Availability Zone");
        }
        // Only the fallback needs the zone, which may mean asking instance metadata.
        let zone = match resolved {
            Err(_) if !efs.mount_target_ips.is_empty() => self.zone.get().await,
            _ => None,
        };
        let server = choose_server(efs.dns_name, resolved, efs.mount_target_ips, zone).map_err(
            |source| Error::MountServer {
                filesystem: efs.id.to_string(),
                source,
            },
        )?;
        std::fs::create_dir_all(target).map_err(Error::io("cannot create", target))?;
        let mount = NfsMount::efs(&server, mount_options, target);
        let limit = self.limit.saturating_sub(started.elapsed());
        mount_within(limit, slot.in_kernel.clone(), move || mount.call())
            .await
            .map_err(|message| Error::Mount {
                filesystem: efs.id.to_string(),
                message,
            })?;
        tracing::info!(filesystem = %efs.id, server = %server.host, addr = %server.addr, target = %target.display(), "mounted EFS file system");
        Ok(())
    }

    /// `Ok(true)` when `target` is an NFS mount from this file system's servers, `Ok(false)`
    /// when nothing is mounted there. Every mount target serves the same files, so a mount
    /// through any of them (a zone's by IP, or all by the DNS name) is the right one.
    async fn is_mounted(
        &self,
        efs: &Efs<'_>,
        slot: &MountSlot,
        target: &Path,
    ) -> Result<bool, Error> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let Some(mounted) = mounted_at(&mountinfo, target) else {
            return Ok(false);
        };
        let hosts: Vec<String> = std::iter::once(efs.dns_name.to_string())
            .chain(efs.mount_target_ips.values().map(|ip| host(*ip)))
            .collect();
        let known_addrs = |slot: &MountSlot| -> Vec<IpAddr> {
            efs.mount_target_ips
                .values()
                .copied()
                .chain(slot.resolved())
                .collect()
        };
        if mounted.is_nfs_from(&hosts, &known_addrs(slot)) {
            return Ok(true);
        }
        // An NFS mount whose source is another name may still be this server's (a shared
        // superblock shows the first mount's source): ask what the name resolves to now.
        if mounted.is_nfs()
            && let Ok(addrs) = resolve(efs.dns_name, RESOLVE_LIMIT.min(self.limit / 2)).await
        {
            slot.remember(&addrs);
            if mounted.is_nfs_from(&hosts, &known_addrs(slot)) {
                return Ok(true);
            }
        }
        Err(Error::NotMounted {
            filesystem: efs.id.to_string(),
            path: target.to_path_buf(),
            server: hosts.join(" or "),
            found: format!("{} from {}", mounted.fstype, mounted.source),
        })
    }

    fn slot_for(&self, id: &str) -> Arc<MountSlot> {
        let mut slots = self.mounting.lock().expect("mount slots");
        slots.entry(id.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::imds::Source;

    fn server(host: &str, addr: &str) -> Server {
        Server {
            host: host.into(),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn an_efs_mount_passes_the_servers_address_with_efs_utils_defaults() {
        let mount = NfsMount::efs(
            &server("fs-0123.efs.eu-west-1.amazonaws.com", "10.0.1.5"),
            None,
            Path::new("/var/lib/cloudstor/mnt/fs-0123"),
        );
        assert_eq!(
            mount,
            NfsMount {
                source: "fs-0123.efs.eu-west-1.amazonaws.com:/".into(),
                target: "/var/lib/cloudstor/mnt/fs-0123".into(),
                options: "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,\
                          noresvport,addr=10.0.1.5"
                    .into(),
            }
        );
        let by_ip = NfsMount::efs(
            &server("[fd00::25]", "fd00::25"),
            Some("ro"),
            Path::new("/m"),
        );
        assert_eq!(by_ip.source, "[fd00::25]:/");
        assert!(by_ip.options.ends_with(",noresvport,addr=fd00::25,ro"));
    }

    #[tokio::test]
    async fn a_failed_mount_names_what_was_mounted_and_why() {
        let target = tempfile::tempdir().unwrap();
        let mount = NfsMount::efs(&server("127.0.0.1", "127.0.0.1"), None, target.path());
        let busy = Arc::new(AtomicBool::new(false));
        // This machine's kernel has no NFS (ENODEV); one with NFS finds no server (refused):
        // either way the mount fails, within the limit, and says what it tried.
        let err = mount_within(Duration::from_secs(20), busy, move || mount.call())
            .await
            .unwrap_err();
        assert!(
            err.contains("mount(2) of 127.0.0.1:/ on ") && err.contains("addr=127.0.0.1"),
            "{err}"
        );
    }

    #[test]
    fn a_mount_error_says_what_to_do_for_a_missing_client_or_capability() {
        let hint = |errno| mount_error_hint(&std::io::Error::from_raw_os_error(errno));
        assert!(hint(libc::ENODEV).contains("modprobe nfsv4"));
        assert!(hint(libc::EPERM).contains("CAP_SYS_ADMIN"));
        assert_eq!(hint(libc::ECONNREFUSED), "");
    }

    #[test]
    fn finds_mount_points_in_mountinfo() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
97 22 0:50 / /var/lib/cloudstor/mnt/fs-1 rw shared:50 - nfs4 fs-1.efs:/ rw,vers=4.1
98 22 0:51 / /mnt/with\\040space rw - tmpfs tmpfs rw
";
        let efs = mounted_at(mountinfo, Path::new("/var/lib/cloudstor/mnt/fs-1")).unwrap();
        assert!(efs.is_nfs_from(&["fs-1.efs".into()], &[]));
        assert!(!efs.is_nfs_from(&["fs-2.efs".into()], &[]));
        let spaced = mounted_at(mountinfo, Path::new("/mnt/with space")).unwrap();
        assert_eq!(spaced.fstype, "tmpfs");
        assert!(!spaced.is_nfs_from(&["tmpfs".into()], &[]));
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
        let resolved = Ok("10.0.9.9".parse().unwrap());
        let chosen = choose_server("fs-1.efs", resolved, &ips(), Some("us-east-1a")).unwrap();
        assert_eq!(chosen, server("fs-1.efs", "10.0.9.9"));
    }

    #[test]
    fn a_name_that_does_not_resolve_falls_back_to_the_zones_mount_target() {
        let failed = || Err("Name or service not known".to_string());
        let chosen = choose_server("fs-1.efs", failed(), &ips(), Some("us-east-1a")).unwrap();
        assert_eq!(chosen, server("10.0.1.5", "10.0.1.5"));
        let chosen = choose_server("fs-1.efs", failed(), &ips(), Some("us-east-1b")).unwrap();
        assert_eq!(
            chosen,
            server("[fd00::25]", "fd00::25"),
            "IPv6 in brackets, as mount.nfs and the mount table write it"
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
        let addrs = resolve("10.99.0.1", Duration::from_secs(1)).await.unwrap();
        assert_eq!(addrs, ["10.99.0.1".parse::<IpAddr>().unwrap()]);
        let localhost = resolve("localhost", Duration::from_secs(5)).await.unwrap();
        assert!(
            localhost[0].is_loopback() && localhost[0].is_ipv4(),
            "{localhost:?}"
        );
        let err = resolve("fs-0000.efs.invalid", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn a_mount_by_ip_is_recognised() {
        let mountinfo = "97 22 0:50 / /mnt/fs-1 rw - nfs4 10.0.1.5:/ rw,vers=4.1\n";
        let mounted = mounted_at(mountinfo, Path::new("/mnt/fs-1")).unwrap();
        assert!(mounted.is_nfs_from(&[host("10.0.1.5".parse().unwrap())], &[]));
    }

    #[test]
    fn a_mount_sharing_another_mounts_superblock_is_recognised_by_its_server_address() {
        // The kernel shows the source of the first mount of an export, whatever name the
        // second was mounted by; `addr=` says which server it is connected to.
        let mountinfo = "97 22 0:50 / /mnt/fs-1 rw - nfs4 10.0.1.5:/ rw,vers=4.1,clientaddr=10.0.1.9,addr=10.0.1.5,local_lock=none\n\
                         98 22 0:51 / /mnt/other rw - nfs4 10.0.7.7:/ rw,vers=4.1,addr=10.0.7.7\n";
        let mounted = mounted_at(mountinfo, Path::new("/mnt/fs-1")).unwrap();
        assert_eq!(mounted.server_addr, Some("10.0.1.5".parse().unwrap()));
        let by_name = ["fs-1.efs".to_string()];
        assert!(!mounted.is_nfs_from(&by_name, &[]));
        assert!(mounted.is_nfs_from(&by_name, &["10.0.1.5".parse().unwrap()]));
        let other = mounted_at(mountinfo, Path::new("/mnt/other")).unwrap();
        assert!(!other.is_nfs_from(&by_name, &["10.0.1.5".parse().unwrap()]));
    }

    #[tokio::test]
    async fn a_hanging_mount_answers_at_the_limit_and_blocks_a_second_until_it_returns() {
        let busy = Arc::new(AtomicBool::new(false));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let hanging = move || {
            released.recv().unwrap();
            Ok(())
        };
        let started = std::time::Instant::now();
        let err = mount_within(Duration::from_millis(200), busy.clone(), hanging)
            .await
            .unwrap_err();
        assert!(err.contains("no answer from the server within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let second = mount_within(Duration::from_secs(5), busy.clone(), || Ok(()))
            .await
            .unwrap_err();
        assert!(second.contains("still waiting for the server"), "{second}");

        release.send(()).unwrap();
        while busy.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        mount_within(Duration::from_secs(5), busy, || Ok(()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn hostpath_needs_no_mount() {
        let zone = Arc::new(NodeZone::new(None, Source::Disabled));
        let mounter = Mounter::new(Path::new("/nonexistent"), Duration::from_secs(1), zone);
        let fs = FilesystemConfig {
            id: "local".into(),
            performance_mode: Default::default(),
            backend: Backend::HostPath {
                path: "/tmp".into(),
            },
            one_zone: None,
        };
        mounter.ensure(&fs).await.unwrap();
    }
}
