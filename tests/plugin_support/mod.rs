//! Shared by the plugin and Docker integration tests: start real `cloudstor-plugin`
//! processes, talk to them over their Unix sockets, and drive the real Docker engine.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub mod imds;

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call: `<prefix>-t<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-t{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// One running plugin: a node with its own id, socket, state dir and config.
pub struct TestPlugin {
    pub node_id: String,
    pub socket: PathBuf,
    pub config_path: PathBuf,
    pub dir: TempDir,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl TestPlugin {
    /// Starts a plugin over `shared` (a hostpath file system) with extra top-level config.
    /// It reconciles with the real Docker engine only when `extra_config` sets `docker_socket`.
    pub fn start(shared: &Path, node_id: &str, extra_config: &str) -> Self {
        let fs = format!(
            "[[filesystems]]\nid = \"shared\"\nbackend = \"hostpath\"\npath = \"{}\"\n",
            shared.display()
        );
        Self::start_with_filesystems(node_id, extra_config, &fs)
    }

    pub fn start_with_filesystems(node_id: &str, extra_config: &str, filesystems: &str) -> Self {
        Self::start_with_env(node_id, extra_config, filesystems, &[])
    }

    /// Starts a plugin with `env` set for it. Instance metadata is off unless `env` turns it
    /// on: no test may ask the real 169.254.169.254.
    pub fn start_with_env(
        node_id: &str,
        extra_config: &str,
        filesystems: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = PathBuf::from(format!("/run/docker/plugins/{}.sock", unique("cloudstor")));
        // Only tests that drive real containers let the plugin reconcile with the real engine;
        // elsewhere its mounts come from test calls, which no container backs.
        let docker_socket = if extra_config.contains("docker_socket") {
            String::new()
        } else {
            format!(
                "docker_socket = \"{}\"\n",
                dir.path().join("no-docker.sock").display()
            )
        };
        let config = format!(
            "socket = \"{}\"\nstate_dir = \"{}\"\nmount_root = \"{}\"\nnode_id = \"{node_id}\"\n{docker_socket}{extra_config}\n{filesystems}",
            socket.display(),
            dir.path().join("state").display(),
            dir.path().join("mnt").display(),
        );
        let config_path = dir.path().join("plugin.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut plugin = Self {
            node_id: node_id.to_string(),
            socket,
            config_path,
            dir,
            env: std::iter::once(("AWS_EC2_METADATA_DISABLED", "true"))
                .chain(env.iter().copied())
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            child: None,
        };
        plugin.restart();
        plugin
    }

    /// The driver name Docker knows this plugin by.
    pub fn driver(&self) -> String {
        self.socket
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("plugin running").id()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("plugin.log")).unwrap_or_default()
    }

    /// Starts (again) and waits until the socket answers.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("plugin.log"))
            .unwrap();
        let child = Command::new(plugin_binary())
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&self.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "plugin did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn sigterm(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("plugin running");
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        child.wait().unwrap()
    }

    /// POSTs `body` to `endpoint`; returns the HTTP status and the JSON reply.
    pub fn call(&self, endpoint: &str, body: &str) -> (u16, Value) {
        call(&self.socket, endpoint, body)
    }

    /// Calls an endpoint that must succeed; returns its reply.
    pub fn ok(&self, endpoint: &str, body: &str) -> Value {
        let (status, reply) = self.call(endpoint, body);
        assert_eq!(status, 200, "{endpoint} {body}: {reply}");
        assert_eq!(reply.get("Err").and_then(Value::as_str).unwrap_or(""), "");
        reply
    }

    /// Calls an endpoint that must fail; returns its `Err` text.
    pub fn err(&self, endpoint: &str, body: &str) -> String {
        let (status, reply) = self.call(endpoint, body);
        let err = reply["Err"].as_str().unwrap_or("").to_string();
        assert_ne!(status, 200, "{endpoint} {body} should fail: {reply}");
        assert!(!err.is_empty(), "{endpoint} {body}: no Err in {reply}");
        err
    }
}

impl Drop for TestPlugin {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The plugin under test: `CLOUDSTOR_PLUGIN_BIN` when set (`scripts/bench-plugin.sh` points it
/// at an optimised build), else the binary cargo built alongside these tests.
fn plugin_binary() -> PathBuf {
    std::env::var_os("CLOUDSTOR_PLUGIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cloudstor-plugin")))
}

pub fn call(socket: &Path, endpoint: &str, body: &str) -> (u16, Value) {
    let request = format!(
        "POST {endpoint} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_call(socket, request.as_bytes())
}

/// Sends a complete HTTP request; returns the status and the body parsed as JSON.
pub fn raw_call(socket: &Path, request: &[u8]) -> (u16, Value) {
    let mut stream = UnixStream::connect(socket).unwrap();
    // A server may answer (413) and close before it has read all of an oversized request;
    // its answer is still there to read.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    if let Err(err) = stream.read_to_end(&mut response) {
        // Closed without reading all of our request, the server's side reports a reset, but
        // only after its answer, which has been read by then.
        let answered = err.kind() == std::io::ErrorKind::ConnectionReset && !response.is_empty();
        assert!(answered, "no answer: {err}");
    }
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {body:?}"));
    (status, json)
}

/// Every path under `roots` with its type, permission bits and file contents.
pub fn snapshot(roots: &[&Path]) -> BTreeMap<PathBuf, String> {
    let mut tree = BTreeMap::new();
    for root in roots {
        walk(root, &mut tree);
    }
    tree
}

fn walk(path: &Path, tree: &mut BTreeMap<PathBuf, String>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        tree.insert(path.to_path_buf(), format!("dir {mode:o}"));
        for entry in std::fs::read_dir(path).unwrap() {
            walk(&entry.unwrap().path(), tree);
        }
    } else {
        let contents = std::fs::read(path).unwrap_or_default();
        tree.insert(
            path.to_path_buf(),
            format!("file {mode:o} {}", String::from_utf8_lossy(&contents)),
        );
    }
}

/// Runs `cloudstor` (the admin CLI).
pub fn cloudstor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `docker ARGS`.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

/// Runs `docker ARGS`, which must succeed; returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs `docker ARGS`, which must fail; returns stderr.
pub fn docker_fails(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        !output.status.success(),
        "docker {args:?} should have failed"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The test image: `FROM scratch` with Debian's static busybox, built once per process.
pub fn busybox_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let context = busybox_image_context();
        let tag = "cloudstor-test-busybox:latest";
        docker_ok(&["build", "-q", "-t", tag, &context.path().to_string_lossy()]);
        tag.to_string()
    })
}

/// Removes, on drop, the containers, services and volumes a test made, in that order.
#[derive(Default)]
pub struct DockerCleanup {
    pub containers: Vec<String>,
    pub services: Vec<String>,
    pub volumes: Vec<String>,
}

impl DockerCleanup {
    /// `docker volume rm VOLUME`, which must succeed; the volume is then left out of the
    /// clean-up. Docker looks a name it no longer knows up in every volume plugin it has ever
    /// seen, retrying each dead test plugin for seconds, so removing it twice costs minutes.
    pub fn remove_volume(&mut self, volume: &str) {
        docker_ok(&["volume", "rm", volume]);
        self.volumes.retain(|kept| kept != volume);
    }
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for service in &self.services {
            let _ = docker(&["service", "rm", service]);
        }
        for container in &self.containers {
            let _ = docker(&["rm", "-f", container]);
        }
        for volume in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
    }
}

/// Polls `check` every 200 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The plugin built statically (a scratch rootfs has no libc): `CLOUDSTOR_STATIC_PLUGIN`,
/// else built here, once per test process, with `+crt-static` for the explicit host target,
/// as the docs say.
pub fn static_plugin_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("CLOUDSTOR_STATIC_PLUGIN") {
            return PathBuf::from(path);
        }
        let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/static-plugin");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--no-default-features",
                "--bin",
                "cloudstor-plugin",
            ])
            .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
            .arg(&target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .status()
            .unwrap();
        assert!(status.success(), "static build of cloudstor-plugin");
        target_dir.join("x86_64-unknown-linux-gnu/debug/cloudstor-plugin")
    })
}

/// A build context for an image `FROM scratch` with Debian's static busybox: no engine here
/// can pull one.
pub fn busybox_image_context() -> TempDir {
    let context = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", context.path().join("busybox"))
        .expect("/bin/busybox from Debian's busybox-static (scripts/test.sh installs it)");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    context
}
