//! The rendered node script, run for real on a minimal Debian: a root file system built with
//! `debootstrap --variant=minbase` (plus systemd, which the script requires and boots the
//! container), imported with `docker import`, the plugin served over HTTP from this test.
//! The image has neither curl nor wget, so the script first installs its own downloader.
//!
//! Debian 12: Debian 13's systemd no longer boots on the cgroup v1 hierarchy that some
//! hosts (this one) still run.

mod plugin_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use cloudstor::bootstrap::{NodeFileSystem, render_script};
use cloudstor::spec::{PerformanceMode, Spec};
use plugin_support::{static_plugin_binary, unique, wait_for};
use sha2::{Digest, Sha256};

const IMAGE: &str = "cloudstor-test/debian-minbase:bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// The image, built once per machine: the rootfs is cached under the target directory and
/// the image in the engine. Tests of one process wait for the first to build it.
fn debian_minbase_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let present = Command::new("docker")
            .args(["image", "inspect", IMAGE])
            .output()
            .unwrap();
        if !present.status.success() {
            import(&debian_minbase_rootfs());
        }
    });
    IMAGE
}

/// Built in a directory of its own and renamed into place, so an interrupted debootstrap
/// never leaves a half-made cache behind.
fn debian_minbase_rootfs() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-minbase-bookworm");
    if cache.join("usr/lib/systemd/systemd").exists() {
        return cache;
    }
    let building = cache.with_extension(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let output = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd,systemd-sysv",
            "bookworm",
        ])
        .arg(&building)
        .arg(MIRROR)
        .output()
        .expect("debootstrap is installed (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "debootstrap of Debian 12 minbase:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::rename(&building, &cache).unwrap();
    cache
}

fn import(rootfs: &Path) {
    let import = format!(
        "tar -C '{}' -c . | docker import - {IMAGE}",
        rootfs.display()
    );
    let status = Command::new("sh").args(["-c", &import]).status().unwrap();
    assert!(status.success(), "docker import of the minbase rootfs");
}

/// Serves `body` at every path over HTTP/1.0 on a loopback port, for the life of the test.
fn serve(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request_line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut request_line);
            let header = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

/// A booted container of the image: systemd as PID 1, the host's network (so the node
/// reaches the plugin server on loopback and the Debian mirror as this machine does).
struct Node {
    name: String,
}

impl Node {
    fn boot(image: &str) -> Node {
        let name = unique("cloudstor-debian-node");
        let output = Command::new("docker")
            .args(["run", "-d", "--name", &name, "--network", "host"])
            .args(["--tmpfs", "/run", "--tmpfs", "/run/lock"])
            .args(["-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", image])
            .arg("/lib/systemd/systemd")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let node = Node { name };
        let booted = wait_for(Duration::from_secs(60), || {
            let state = node.sh("systemctl is-system-running || true");
            let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
            matches!(state.as_str(), "running" | "degraded").then_some(())
        });
        assert!(booted.is_some(), "systemd did not finish booting");
        node
    }

    fn sh(&self, script: &str) -> Output {
        Command::new("docker")
            .args(["exec", &self.name, "sh", "-c", script])
            .output()
            .unwrap()
    }

    fn stdout(&self, script: &str) -> String {
        let output = self.sh(script);
        assert!(output.status.success(), "{script}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs the node script as cloud-init would, as root, and returns its exit status and
    /// what it printed to the console.
    fn bootstrap(&self, script: &str) -> (i32, String) {
        let output = Command::new("docker")
            .args(["exec", "-i", &self.name, "sh", "-c"])
            .arg("cat > /var/tmp/user-data && sh /var/tmp/user-data")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(script.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let console = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), console)
    }

    fn installed(&self, package: &str) -> bool {
        let query = format!("dpkg-query -W -f '${{Status}}' {package} 2>/dev/null");
        self.sh(&query).stdout.starts_with(b"install ok installed")
    }

    /// What a second run must leave alone: packages, files and the service's process.
    fn state(&self) -> String {
        self.stdout(
            "dpkg-query -W -f '${Package} ${Version}\\n'; \
             sha256sum /usr/local/bin/cloudstor-plugin /etc/cloudstor/plugin.toml \
               /etc/systemd/system/cloudstor-plugin.service; \
             stat -c '%n %Y' /usr/local/bin/cloudstor-plugin /etc/cloudstor/plugin.toml \
               /etc/systemd/system/cloudstor-plugin.service; \
             systemctl show -p MainPID -p ActiveEnterTimestamp cloudstor-plugin.service",
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

fn spec(plugin_url: &str, plugin_sha256: &str) -> Spec {
    let text = format!(
        r#"
[stack]
name = "debian-node"
region = "eu-west-1"

[network]
vpc_id = "vpc-0abc"
subnet_ids = ["subnet-a", "subnet-b"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
performance_mode = "generalPurpose"

[nodes]
launch_template_name = "swarm-nodes"
os_family = "auto"
install_mode = "systemd"
plugin_url = "{plugin_url}"
plugin_sha256 = "{plugin_sha256}"
"#
    );
    Spec::parse(Path::new("cloudstor.toml"), &text).unwrap()
}

fn node_script(plugin_url: &str, plugin_sha256: &str) -> String {
    let shared = NodeFileSystem::efs(
        "shared",
        "fs-0123456789abcdef0",
        "eu-west-1",
        PerformanceMode::GeneralPurpose,
    )
    .with_mount_target_ips(
        [("eu-west-1a", "10.0.1.5"), ("eu-west-1b", "10.0.2.7")]
            .map(|(zone, ip)| (zone.to_owned(), ip.to_owned()))
            .into(),
    );
    render_script(&spec(plugin_url, plugin_sha256), &[shared]).unwrap()
}

fn plugin() -> (Vec<u8>, String) {
    let bytes = std::fs::read(static_plugin_binary()).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    (bytes, sha)
}

#[test]
fn a_minimal_debian_without_curl_bootstraps_once_and_a_second_run_changes_nothing() {
    let image = debian_minbase_image();
    let (bytes, sha) = plugin();
    let url = format!("http://127.0.0.1:{}/cloudstor-plugin", serve(bytes));
    let script = node_script(&url, &sha);
    let node = Node::boot(image);
    assert!(
        node.sh("command -v curl || command -v wget")
            .stdout
            .is_empty(),
        "the image must start without a downloader"
    );

    let (status, console) = node.bootstrap(&script);
    assert_eq!(status, 0, "first run:\n{console}");
    assert!(console.contains("installing curl"), "{console}");
    assert!(console.contains("installing nfs-common"), "{console}");
    assert!(console.contains("cloudstor-bootstrap: done"), "{console}");
    assert!(node.installed("curl"));
    assert!(node.installed("nfs-common"));
    let installed_sha = node.stdout("sha256sum /usr/local/bin/cloudstor-plugin");
    assert!(installed_sha.starts_with(&sha), "{installed_sha}");
    let config = node.stdout("cat /etc/cloudstor/plugin.toml");
    assert!(
        config.contains(
            r#"mount_target_ips = { "eu-west-1a" = "10.0.1.5", "eu-west-1b" = "10.0.2.7" }"#
        ),
        "{config}"
    );
    let active = wait_for(Duration::from_secs(30), || {
        node.sh("systemctl is-active --quiet cloudstor-plugin.service")
            .status
            .success()
            .then_some(())
    });
    assert!(
        active.is_some(),
        "the plugin service is not active: {}",
        node.stdout("journalctl -u cloudstor-plugin --no-pager | tail -20")
    );
    assert!(
        node.stdout("cat /var/log/cloudstor-bootstrap.log")
            .contains("cloudstor-bootstrap: done"),
        "the log file has the same lines as the console"
    );

    let before = node.state();
    let (status, console) = node.bootstrap(&script);
    assert_eq!(status, 0, "second run:\n{console}");
    assert!(console.contains("already has sha256"), "{console}");
    assert!(
        console.contains("NFS client already installed"),
        "{console}"
    );
    assert!(!console.contains("downloading"), "{console}");
    assert_eq!(node.state(), before, "the second run changed the node");
}

#[test]
fn a_plugin_with_the_wrong_sha256_is_refused_before_anything_is_installed() {
    let image = debian_minbase_image();
    let (bytes, sha) = plugin();
    let url = format!("http://127.0.0.1:{}/cloudstor-plugin", serve(bytes));
    let first = if sha.starts_with('0') { '1' } else { '0' };
    let wrong = format!("{first}{}", &sha[1..]);
    let node = Node::boot(image);

    let (status, console) = node.bootstrap(&node_script(&url, &wrong));
    assert_eq!(status, 1, "{console}");
    assert!(
        console.contains(&format!("its sha256 is {sha}, the spec says {wrong}")),
        "{console}"
    );
    assert!(console.contains("bootstrap stopped while downloading the plugin"));
    assert!(!node.installed("nfs-common"), "nfs-common installed");
    let leftovers = node.sh(
        "ls /usr/local/bin/cloudstor-plugin* /etc/cloudstor /etc/systemd/system/cloudstor-plugin.service 2>/dev/null",
    );
    assert!(
        leftovers.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
}
