//! The CSI package on a real engine with Swarm cluster volumes: Debian sid's Docker 28.5
//! (cluster volumes need 28.2 or later; this machine's system engine is older), run beside
//! the system engine on a private socket and data root, in a single-node swarm, with the
//! hostpath backend. The system engine is never touched.

mod plugin_support;
// By path, as the NFS rig includes it: one download cache for both.
#[path = "plugin_support/engine.rs"]
mod engine;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use plugin_support::{static_plugin_binary, wait_for};

/// A dockerd of its own, stopped by its PID when dropped.
struct PrivateEngine {
    dir: PathBuf,
    host: String,
    dockerd: Child,
}

impl PrivateEngine {
    fn start() -> Self {
        let root = engine::sid_engine();
        // Short: the socket path must stay under 108 bytes.
        let dir = PathBuf::from(format!("/tmp/cse{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // The system /etc/docker/daemon.json sets a data root; this engine must not read it.
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let path = engine::path_with(&root);
        let host = format!("unix://{}/docker.sock", dir.display());
        // In a network namespace of its own: a second dockerd in the host's, started with
        // --bridge=none, deletes the system engine's docker0 and breaks its containers.
        // `unshare` without --fork execs in place, so the child's PID is dockerd's.
        let dockerd = Command::new("unshare")
            .args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ])
            .arg(root.join("usr/sbin/dockerd"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .args(["-H", &host, "--data-root"])
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let engine = Self { dir, host, dockerd };
        let up = wait_for(Duration::from_secs(60), || {
            engine.docker(&["info"]).status.success().then_some(())
        });
        assert!(up.is_some(), "dockerd did not answer:\n{}", engine.log());
        engine.init_swarm();
        engine
    }

    /// Swarm's default ports are free: the engine has a network namespace of its own.
    fn init_swarm(&self) {
        self.ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// An image with the static busybox, built here: the engine has no registry access.
    fn busybox_image(&self) -> &'static str {
        let context = plugin_support::busybox_image_context();
        let tag = "csi-busybox:latest";
        self.ok(&["build", "-q", "-t", tag, &context.path().to_string_lossy()]);
        tag
    }

    /// Each task's state and error, newest first.
    fn tasks(&self, service: &str) -> Vec<String> {
        let format = "{{.CurrentState}} | {{.Error}}";
        let listed = self.ok(&["service", "ps", service, "--no-trunc", "--format", format]);
        listed.lines().map(str::to_string).collect()
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let _ = self.docker(&["swarm", "leave", "--force"]);
        // SAFETY: signalling a child this test started, by its PID.
        unsafe {
            libc::kill(self.dockerd.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.dockerd.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The CSI package, created and enabled with the hostpath backend; returns the host
/// directory of its `data` mount, where hostpath volumes keep their data.
fn install_csi_plugin(engine: &PrivateEngine, name: &str) -> PathBuf {
    let package = engine.dir.join("pkg");
    let out = Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(["plugin", "package", "--csi"])
        .arg(&package)
        .arg("--binary")
        .arg(static_plugin_binary())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = engine.dir.join("plugin-data");
    std::fs::create_dir_all(&data).unwrap();
    engine.ok(&["plugin", "create", name, &package.to_string_lossy()]);
    engine.ok(&[
        "plugin",
        "set",
        name,
        &format!("data.source={}", data.display()),
        "HOSTPATH_DIR=/var/lib/cloudstor/hostpath",
        "NODE_ID=node-1",
    ]);
    engine.ok(&["plugin", "enable", name]);
    data.join("hostpath")
}

#[test]
fn cluster_volumes_follow_tasks_drain_to_the_trash_and_onewriter_refuses_a_second_writer() {
    let engine = PrivateEngine::start();
    let plugin = "cloudstor-csi:test";
    let store = install_csi_plugin(&engine, plugin);
    let image = engine.busybox_image();

    engine.ok(&[
        "volume",
        "create",
        "--driver",
        plugin,
        "--type",
        "mount",
        "--sharing",
        "all",
        "--scope",
        "multi",
        "shared-data",
    ]);
    let created = wait_for(Duration::from_secs(30), || {
        let listed = engine.ok(&["volume", "ls", "--cluster"]);
        listed
            .lines()
            .any(|line| line.starts_with("shared-data") && line.contains("created"))
            .then_some(())
    });
    assert!(
        created.is_some(),
        "{}",
        engine.ok(&["volume", "ls", "--cluster"])
    );

    // Each task copies what an earlier task wrote, then writes.
    let script =
        "if [ -f /data/f ]; then cp /data/f /data/seen; fi; echo written >> /data/f; sleep 3600";
    engine.ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "writer",
        "--no-resolve-image",
        "--mount",
        "type=cluster,src=shared-data,dst=/data",
        image,
        "sh",
        "-c",
        script,
    ]);
    let data = store.join("volumes/shared-data/data");
    let written = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(data.join("f")).ok()
    });
    assert_eq!(
        written.as_deref(),
        Some("written\n"),
        "{:?}",
        engine.tasks("writer")
    );
    engine.ok(&["service", "update", "-d", "--force", "writer"]);
    let seen = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(data.join("seen")).ok()
    });
    assert_eq!(
        seen.as_deref(),
        Some("written\n"),
        "the replacement task read the data"
    );

    engine.ok(&["service", "rm", "writer"]);
    engine.ok(&["volume", "update", "--availability", "drain", "shared-data"]);
    let removed = wait_for(Duration::from_secs(60), || {
        engine
            .docker(&["volume", "rm", "shared-data"])
            .status
            .success()
            .then_some(())
    });
    assert!(
        removed.is_some(),
        "{}",
        engine.ok(&["volume", "ls", "--cluster"])
    );
    let trashed = wait_for(Duration::from_secs(60), || {
        let entries = std::fs::read_dir(store.join("trash")).ok()?;
        let names: Vec<String> = entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names
            .iter()
            .any(|name| name.starts_with("shared-data@"))
            .then_some(names)
    });
    assert!(
        trashed.is_some(),
        "DeleteVolume moved the volume to the trash"
    );
    assert!(!store.join("volumes/shared-data").exists());

    engine.ok(&[
        "volume",
        "create",
        "--driver",
        plugin,
        "--type",
        "mount",
        "--sharing",
        "onewriter",
        "--scope",
        "multi",
        "one-writer",
    ]);
    engine.ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "two-writers",
        "--replicas",
        "2",
        "--no-resolve-image",
        "--mount",
        "type=cluster,src=one-writer,dst=/data",
        image,
        "sleep",
        "3600",
    ]);
    let refused = wait_for(Duration::from_secs(60), || {
        let tasks = engine.tasks("two-writers");
        let running = tasks
            .iter()
            .filter(|task| task.starts_with("Running"))
            .count();
        let pending = tasks
            .iter()
            .filter(|task| task.starts_with("Pending") && task.contains("CSI volume"))
            .count();
        (running == 1 && pending == 1).then_some(tasks)
    });
    assert!(refused.is_some(), "{:?}", engine.tasks("two-writers"));
    let holders = std::fs::read_dir(store.join("volumes/one-writer/leases")).unwrap();
    assert_eq!(holders.count(), 1, "one node's lease");
}
