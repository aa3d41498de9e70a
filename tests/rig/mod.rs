//! Real NFS v4.1 and real separate nodes on a kernel without NFS: an NFS server guest and
//! node guests, each a user-mode Linux kernel of its own, on a private network
//! (`/work/shared/reference/nfs-test-rig.md` has the recipe this follows; `kernel.rs` says
//! which kernel and which network, on a CPU where the recipe's kernel cannot boot).
//!
//! Each guest boots `tests/rig/init.sh` over the host's root file system and keeps every write
//! of its daemons on tmpfs of its own. The host drives a guest through a queue directory in
//! the rig's directory: a script dropped there runs in the guest, which writes its output and
//! exit code back. Node guests run the `cloudstor-plugin` under test (efs backend pointed at the
//! server guest) and, where asked, dockerd. Dropping the rig powers the guests off in order
//! and stops every process it started, by PID; after a failure the directory, with every
//! guest's console, plugin and dockerd log, is kept and its path printed.
#![allow(dead_code)]

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

// By path (it is not part of `plugin_support`'s tree), so the NFS bench, which includes
// this rig without that module, boots the same engine as the tests.
#[path = "../plugin_support/engine.rs"]
mod engine;
mod kernel;

pub const SERVER_IP: &str = "10.99.0.1";
/// The plugin's socket inside each node guest; Docker there knows it as driver `cloudstor`.
pub const SOCKET: &str = "/run/docker/plugins/cloudstor.sock";
const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// One node guest to boot.
pub struct NodeSpec {
    pub name: &'static str,
    pub docker: bool,
    /// Extra top-level lines for this node's plugin config.
    pub plugin_config: String,
    /// The `[[filesystems]]` tables; [`efs_filesystem`] when `None`.
    pub filesystems: Option<String>,
}

/// The server guest's export, as the plugin's efs backend sees it.
pub fn efs_filesystem() -> String {
    format!("[[filesystems]]\nid = \"efs\"\nbackend = \"efs\"\ndns_name = \"{SERVER_IP}\"\n")
}

pub struct Rig {
    pub dir: PathBuf,
    network: kernel::Network,
    pub server: Guest,
    pub nodes: Vec<Guest>,
    failed: AtomicBool,
}

pub struct Guest {
    pub name: String,
    pub ip: String,
    /// The guest's own directory on the host (queue, answers, logs).
    pub dir: PathBuf,
    mconsole: PathBuf,
    child: Child,
    jobs: AtomicU32,
}

/// What a script did in a guest.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub output: String,
    pub elapsed: Duration,
}

/// A plugin call made inside a guest.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// As curl timed it inside the guest.
    pub secs: f64,
}

impl Reply {
    pub fn err(&self) -> &str {
        self.body["Err"].as_str().unwrap_or("")
    }
}

impl Rig {
    /// Boots the network, the NFS server guest and `nodes` (10.99.0.2 onwards), all at once,
    /// and waits until every guest answers its queue.
    pub fn start(nodes: &[NodeSpec]) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("nfs-rig-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let kernel = kernel::choose(&dir);
        let modroot = dir.join("modroot");
        fs::create_dir_all(modroot.join("lib/modules")).unwrap();
        std::os::unix::fs::symlink(
            &kernel.modules,
            modroot
                .join("lib/modules")
                .join(kernel.modules.file_name().unwrap()),
        )
        .unwrap();
        let names: Vec<&str> = nodes.iter().map(|node| node.name).collect();
        fs::write(
            dir.join("env.sh"),
            format!(
                "KERNEL={}\nMODROOT={}\nENGINE={}\nPLUGIN={}\nNODES='{}'\nSOCKET={SOCKET}\nexport DOCKER_HOST=unix:///run/docker.sock\n{}",
                kernel.kind.label(),
                modroot.display(),
                engine::sid_engine().display(),
                env!("CARGO_BIN_EXE_cloudstor-plugin"),
                names.join(" "),
                include_str!("guest.sh"),
            ),
        )
        .unwrap();
        let network = kernel::Network::start(&kernel, &dir, 1 + nodes.len());
        let mut rig = Rig {
            server: Guest::boot(&dir, &kernel, &network, "nfs", "server", SERVER_IP, 512),
            nodes: Vec::new(),
            network,
            dir,
            failed: AtomicBool::new(false),
        };
        for (index, spec) in nodes.iter().enumerate() {
            let ip = format!("10.99.0.{}", index + 2);
            let guest_dir = rig.dir.join(spec.name);
            fs::create_dir_all(&guest_dir).unwrap();
            let docker_socket = if spec.docker {
                fs::write(guest_dir.join("docker"), "").unwrap();
                "/run/docker.sock"
            } else {
                "/run/no-docker.sock"
            };
            fs::write(
                guest_dir.join("plugin.toml"),
                format!(
                    "socket = \"{SOCKET}\"\nstate_dir = \"/run/cloudstor/state\"\nmount_root = \"/run/cloudstor/mnt\"\nnode_id = \"{}\"\ndocker_socket = \"{docker_socket}\"\n{}\n{}",
                    spec.name,
                    spec.plugin_config,
                    spec.filesystems.clone().unwrap_or_else(efs_filesystem),
                ),
            )
            .unwrap();
            let memory = if spec.docker { 1024 } else { 384 };
            rig.nodes.push(Guest::boot(
                &rig.dir,
                &kernel,
                &rig.network,
                spec.name,
                "node",
                &ip,
                memory,
            ));
        }
        let deadline = Instant::now() + BOOT_LIMIT;
        for guest in std::iter::once(&mut rig.server).chain(rig.nodes.iter_mut()) {
            while !guest.dir.join("ready").exists() {
                if let Some(status) = guest.child.try_wait().unwrap() {
                    rig.failed.store(true, Ordering::Relaxed);
                    panic!("guest {} exited during boot ({status})", guest.name);
                }
                if Instant::now() > deadline {
                    rig.failed.store(true, Ordering::Relaxed);
                    panic!("guest {} did not boot within {BOOT_LIMIT:?}", guest.name);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        rig
    }

    pub fn node(&self, name: &str) -> &Guest {
        self.nodes
            .iter()
            .find(|node| node.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Builds the test image on the host (`FROM scratch` with Debian's static busybox) and
    /// loads it into every node's dockerd; returns its tag.
    pub fn load_image(&self) -> &'static str {
        const TAG: &str = "cloudstor-rig-busybox:latest";
        let context = self.dir.join("image");
        fs::create_dir_all(&context).unwrap();
        fs::copy("/bin/busybox", context.join("busybox"))
            .expect("/bin/busybox from Debian's busybox-static (scripts/test.sh installs it)");
        fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .unwrap();
        let tar = self.dir.join("image.tar");
        for args in [
            vec!["build", "-q", "-t", TAG, &context.to_string_lossy()],
            vec!["save", "-o", &tar.to_string_lossy(), TAG],
        ] {
            let output = Command::new("docker").args(&args).output().unwrap();
            assert!(
                output.status.success(),
                "docker {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::scope(|scope| {
            for node in &self.nodes {
                let tar = &tar;
                scope.spawn(move || node.ok(&format!("docker load -q -i {}", tar.display())));
            }
        });
        TAG
    }

    /// Makes the first node a swarm manager and the others workers, unless they already
    /// are (scenarios share the rig); each has looked the plugin up (a node advertises a
    /// socket plugin only once its daemon has found it).
    pub fn swarm(&self) {
        let (manager, workers) = self.nodes.split_first().unwrap();
        let token = self.dir.join("swarm-token");
        const UNLESS_IN_SWARM: &str =
            "[ \"$(docker info -f '{{.Swarm.LocalNodeState}}')\" = active ] ||";
        manager.ok(&format!(
            "{UNLESS_IN_SWARM} {{ docker swarm init --advertise-addr {ip} >/dev/null && docker swarm join-token -q worker > {token}.tmp && mv {token}.tmp {token}; }}",
            ip = manager.ip,
            token = token.display()
        ));
        for worker in workers {
            worker.ok(&format!(
                "{UNLESS_IN_SWARM} docker swarm join --advertise-addr {} --token $(cat {}) {}:2377",
                worker.ip,
                token.display(),
                manager.ip
            ));
        }
        for node in &self.nodes {
            node.ok("docker volume ls -q");
        }
        manager.ok(&format!(
            "wait_until 60 sh -c '[ $(docker node ls -q --filter role=worker | wc -l) = {} ]'",
            workers.len()
        ));
    }

    /// Keeps the rig's directory and prints where it is when the rig is dropped.
    pub fn mark_failed(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    fn guests_mut(&mut self) -> impl Iterator<Item = &mut Guest> {
        self.nodes
            .iter_mut()
            .chain(std::iter::once(&mut self.server))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for guest in self.guests_mut() {
            let _ = fs::write(guest.dir.join("halt"), "");
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        for guest in self.guests_mut() {
            guest.stop(deadline);
        }
        if self.failed.load(Ordering::Relaxed) || std::thread::panicking() {
            for guest in self.nodes.iter().chain(std::iter::once(&self.server)) {
                for log in ["console.log", "plugin.log", "dockerd.log"] {
                    let text = fs::read_to_string(guest.dir.join(log)).unwrap_or_default();
                    if !text.is_empty() {
                        let tail: Vec<&str> = text.lines().rev().take(40).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        eprintln!("==> {} {log} (last lines)\n{}", guest.name, tail.join("\n"));
                    }
                }
            }
            eprintln!(
                "rig kept for inspection (consoles, plugin and dockerd logs): {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Guest {
    fn boot(
        dir: &Path,
        kernel: &kernel::Kernel,
        network: &kernel::Network,
        name: &str,
        role: &str,
        ip: &str,
        memory_mb: u32,
    ) -> Guest {
        let guest_dir = dir.join(name);
        fs::create_dir_all(&guest_dir).unwrap();
        let octet: u32 = ip.rsplit('.').next().unwrap().parse().unwrap();
        let uml_dir = dir.join("uml");
        fs::create_dir_all(&uml_dir).unwrap();
        let console = fs::File::create(guest_dir.join("console.log")).unwrap();
        let child = Command::new(&kernel.binary)
            .arg(format!("mem={memory_mb}M"))
            .args(["root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw"])
            .arg(format!(
                "init={}/tests/rig/init.sh",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(["con=null", "con0=null,fd:1"])
            .arg(format!("uml_dir={}/", uml_dir.display()))
            .arg(format!("umid={name}"))
            .arg(network.interface(octet as usize - 1, &format!("fe:fd:0a:63:00:{octet:02x}")))
            .arg(format!("rig={}", dir.display()))
            .arg(format!("name={name}"))
            .arg(format!("role={role}"))
            .arg(format!("ip={ip}"))
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            // Its own process group: the kernel's helper processes go with it if it must be
            // killed.
            .process_group(0)
            .spawn()
            .expect("linux.uml (user-mode-linux)");
        Guest {
            name: name.to_string(),
            ip: ip.to_string(),
            dir: guest_dir,
            mconsole: uml_dir.join(name).join("mconsole"),
            child,
            jobs: AtomicU32::new(0),
        }
    }

    /// Waits for the guest to power off; halts it through its management console, and
    /// last kills its process group, if it does not by `deadline`.
    fn stop(&mut self, deadline: Instant) {
        let exited = |child: &mut Child, until: Instant| loop {
            if child.try_wait().ok().flatten().is_some() {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if exited(&mut self.child, deadline) {
            return;
        }
        eprintln!("guest {} did not power off; halting it", self.name);
        let _ = Command::new("uml_mconsole")
            .arg(&self.mconsole)
            .arg("halt")
            .output();
        if exited(&mut self.child, Instant::now() + Duration::from_secs(10)) {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    /// Runs `script` (sh, with `tests/rig/guest.sh` sourced) in the guest; gives up after
    /// `limit`.
    pub fn run(&self, script: &str, limit: Duration) -> Outcome {
        let id = format!("{:04}", self.jobs.fetch_add(1, Ordering::Relaxed));
        let queued = self.dir.join("queue").join(format!("{id}.tmp"));
        let rig = self.dir.parent().unwrap();
        fs::write(&queued, format!(". {}/env.sh\n{script}\n", rig.display())).unwrap();
        fs::rename(&queued, queued.with_extension("sh")).unwrap();
        let started = Instant::now();
        let done = self.dir.join("done");
        let rc = done.join(format!("{id}.rc"));
        loop {
            if let Ok(code) = fs::read_to_string(&rc) {
                let output = fs::read_to_string(done.join(format!("{id}.out"))).unwrap_or_default();
                return Outcome {
                    code: code.trim().parse().unwrap(),
                    output,
                    elapsed: started.elapsed(),
                };
            }
            assert!(
                started.elapsed() < limit,
                "{}: no answer within {limit:?} to:\n{script}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `script`, which must succeed within a minute; returns its trimmed output.
    pub fn ok(&self, script: &str) -> String {
        let outcome = self.run(script, Duration::from_secs(60));
        assert_eq!(
            outcome.code, 0,
            "{}: failed:\n{script}\n--- output:\n{}",
            self.name, outcome.output
        );
        outcome.output.trim().to_string()
    }

    /// POSTs `body` to the plugin's `endpoint` from inside the guest.
    pub fn call(&self, endpoint: &str, body: &Value) -> Reply {
        self.call_on(SOCKET, endpoint, body)
    }

    /// Like [`Guest::call`], to a plugin listening on `socket` (a second instance).
    pub fn call_on(&self, socket: &str, endpoint: &str, body: &Value) -> Reply {
        let body = body.to_string().replace('\'', "'\\''");
        let out = self.ok(&format!("SOCKET={socket} call {endpoint} '{body}'"));
        let line = out.lines().last().unwrap_or_default();
        let mut fields = line.rsplitn(3, ' ');
        let secs = fields.next().unwrap().parse().unwrap();
        let status = fields.next().unwrap().parse().unwrap();
        let json = fields.next().unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}: {out}")),
            secs,
        }
    }

    /// A call that must succeed.
    pub fn call_ok(&self, endpoint: &str, body: &Value) -> Reply {
        let reply = self.call(endpoint, body);
        assert!(
            reply.status == 200 && reply.err().is_empty(),
            "{}: {endpoint} {body} failed: {reply:?}\n{}",
            self.name,
            self.plugin_log_tail()
        );
        reply
    }

    /// A call that must fail; returns its `Err`.
    pub fn call_err(&self, endpoint: &str, body: &Value) -> String {
        let reply = self.call(endpoint, body);
        assert!(
            reply.status != 200 && !reply.err().is_empty(),
            "{}: {endpoint} {body} should have failed: {reply:?}",
            self.name
        );
        reply.err().to_string()
    }

    pub fn plugin_log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("plugin.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
