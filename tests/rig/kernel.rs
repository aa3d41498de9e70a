//! Which user-mode Linux the guests boot, and the network that joins them.
//!
//! The system's kernel (Debian 12's 6.1) on a private `uml_switch`, where it boots. On a CPU
//! with AMX it dies at its first process ("ptrace set fp regs failed, errno = 14"), so there
//! the rig boots Debian sid's kernel (`scripts/fetch-sid-uml.sh`). That kernel has only the
//! vector network driver, which has no `uml_switch` transport: each guest gets an L2TPv3 link
//! over UDP to a hub in this process that repeats every frame to the other guests.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Frames from one link are repeated to every other; larger than any frame a guest sends.
const FRAME_LIMIT: usize = 65_536;
/// L2TPv3 session ids of every link: the hub repeats packets unchanged, so all agree.
const SESSION: u32 = 1;

pub struct Kernel {
    pub binary: PathBuf,
    /// `lib/modules/<version>` of this kernel.
    pub modules: PathBuf,
    pub kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    System,
    /// Debian sid's: the vector network driver only (no `uml_switch` transport), and no
    /// NFS client tracking without nfsdcld.
    Sid,
}

impl Kind {
    /// As `init.sh` knows it (`KERNEL` in the rig's `env.sh`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::System => "system",
            Kind::Sid => "sid",
        }
    }
}

/// The system's kernel where it boots, else Debian sid's; `CLOUDSTOR_RIG_KERNEL=sid` asks
/// for sid's anywhere, to try that path on a CPU where the system's boots.
pub fn choose(scratch: &Path) -> Kernel {
    let system = Kernel {
        binary: PathBuf::from("linux.uml"),
        modules: first_entry(Path::new("/usr/lib/uml/modules")),
        kind: Kind::System,
    };
    let sid_asked = std::env::var("CLOUDSTOR_RIG_KERNEL").is_ok_and(|kernel| kernel == "sid");
    if !sid_asked && system.boots(scratch) {
        eprintln!("booting the system's user-mode Linux");
        return system;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("uml-sid");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-sid-uml.sh");
    let status = Command::new("sh").arg(script).arg(&cache).status().unwrap();
    assert!(status.success(), "fetching user-mode Linux from Debian sid");
    let root = cache.join("root");
    let sid = Kernel {
        binary: root.join("usr/bin/linux.uml"),
        modules: first_entry(&root.join("usr/lib/uml/modules")),
        kind: Kind::Sid,
    };
    assert!(
        sid.boots(scratch),
        "Debian sid's user-mode Linux does not boot either"
    );
    let why = if sid_asked {
        "CLOUDSTOR_RIG_KERNEL=sid"
    } else {
        "the system's cannot boot on this CPU"
    };
    eprintln!("booting Debian sid's user-mode Linux ({why})");
    sid
}

fn first_entry(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err} (is user-mode-linux installed?)", dir.display()))
        .next()
        .expect("a UML module directory")
        .unwrap()
        .path()
}

impl Kernel {
    /// Whether a guest whose init exits at once gets that far: its kernel then reports
    /// init's exit code 0.
    fn boots(&self, scratch: &Path) -> bool {
        let uml_dir = scratch.join("probe");
        std::fs::create_dir_all(&uml_dir).unwrap();
        let output = Command::new(&self.binary)
            .args([
                "mem=64M",
                "root=/dev/root",
                "rootfstype=hostfs",
                "rootflags=/",
                "rw",
            ])
            .args(["init=/bin/true", "con=null", "con0=null,fd:1", "umid=probe"])
            .arg(format!("uml_dir={}/", uml_dir.display()))
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&uml_dir);
        output.is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout).contains("exitcode=0x00000000")
        })
    }
}

/// How the guests reach each other.
pub enum Network {
    Switch { socket: PathBuf, switch: Child },
    Hub(Hub),
}

impl Network {
    pub fn start(kernel: &Kernel, dir: &Path, guests: usize) -> Network {
        if kernel.kind == Kind::Sid {
            return Network::Hub(Hub::start(guests));
        }
        let socket = dir.join("switch.ctl");
        let switch = Command::new("uml_switch")
            .arg("-unix")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("switch.log")).unwrap())
            .spawn()
            .expect("uml_switch (user-mode-linux)");
        while !socket.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Network::Switch { socket, switch }
    }

    /// The kernel argument that gives guest `index` its interface (named `eth0` by
    /// `init.sh` whatever the driver calls it) with MAC address `mac`.
    pub fn interface(&self, index: usize, mac: &str) -> String {
        match self {
            Network::Switch { socket, .. } => {
                format!("eth0=daemon,{mac},unix,{}", socket.display())
            }
            Network::Hub(hub) => {
                let (guest, hub) = hub.links[index];
                format!(
                    "vec0:transport=l2tpv3,udp=1,src=127.0.0.1,srcport={},dst=127.0.0.1,dstport={},rx_session={SESSION},tx_session={SESSION},mac={mac}",
                    guest.port(),
                    hub.port()
                )
            }
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        match self {
            Network::Switch { switch, .. } => {
                let _ = switch.kill();
                let _ = switch.wait();
            }
            Network::Hub(hub) => hub.stop.store(true, Ordering::Relaxed),
        }
    }
}

/// An Ethernet hub for L2TPv3-over-UDP links: one socket per guest, and whatever arrives on
/// one is sent on to every other guest from that guest's own socket.
pub struct Hub {
    /// Per guest: the port the guest sends from, and the hub's socket for it.
    links: Vec<(SocketAddr, SocketAddr)>,
    stop: Arc<AtomicBool>,
}

impl Hub {
    fn start(guests: usize) -> Hub {
        let sockets: Arc<Vec<UdpSocket>> = Arc::new(
            (0..guests)
                .map(|_| {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket
                        .set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    socket
                })
                .collect(),
        );
        // A port is reserved by binding it and let go just before its guest binds it.
        let links: Vec<(SocketAddr, SocketAddr)> = sockets
            .iter()
            .map(|socket| {
                let guest = UdpSocket::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                (guest, socket.local_addr().unwrap())
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        for from in 0..guests {
            let (sockets, links, stop) = (sockets.clone(), links.clone(), stop.clone());
            std::thread::spawn(move || repeat(&sockets, &links, from, &stop));
        }
        Hub { links, stop }
    }
}

fn repeat(
    sockets: &[UdpSocket],
    links: &[(SocketAddr, SocketAddr)],
    from: usize,
    stop: &AtomicBool,
) {
    let mut frame = vec![0u8; FRAME_LIMIT];
    while !stop.load(Ordering::Relaxed) {
        let Ok(length) = sockets[from].recv(&mut frame) else {
            continue;
        };
        for (to, socket) in sockets.iter().enumerate().filter(|(to, _)| *to != from) {
            let _ = socket.send_to(&frame[..length], links[to].0);
        }
    }
}
