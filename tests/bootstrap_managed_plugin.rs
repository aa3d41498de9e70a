//! The managed plugin package on this machine's real Docker engine: `cloudstor plugin package`
//! writes a directory `docker plugin create` accepts, and with the static plugin binary the
//! enabled plugin serves a volume a container writes to.
//!
//! NFS is not available in this kernel, so the plugin is set to its hostpath backend under
//! the propagatedMount (`HOSTPATH_DIR`), the way DESIGN.md's table says end-to-end tests run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn docker_ok(args: &[&str]) -> String {
    let output = run("docker", args);
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `cloudstor plugin package DIR --binary BINARY`, through the real command line.
fn package(dir: &Path, binary: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(["plugin", "package"])
        .arg(dir)
        .arg("--binary")
        .arg(binary)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cloudstor plugin package: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A created plugin, disabled and removed when dropped.
struct CreatedPlugin {
    name: String,
}

impl CreatedPlugin {
    fn create(name: String, dir: &Path) -> CreatedPlugin {
        docker_ok(&["plugin", "create", &name, &dir.to_string_lossy()]);
        CreatedPlugin { name }
    }
}

impl Drop for CreatedPlugin {
    fn drop(&mut self) {
        let _ = run("docker", &["plugin", "disable", "-f", &self.name]);
        let _ = run("docker", &["plugin", "rm", "-f", &self.name]);
    }
}

fn unique(what: &str) -> String {
    format!("cloudstor-bootstrap-test-{what}-{}", std::process::id())
}

#[test]
fn docker_plugin_create_accepts_the_package_and_its_config() {
    let dir = tempfile::tempdir().unwrap();
    // `create` does not run the entrypoint; any static binary stands in for the plugin.
    package(dir.path(), Path::new("/bin/busybox"));
    let plugin = CreatedPlugin::create(format!("{}:aws", unique("create")), dir.path());

    let config: serde_json::Value = serde_json::from_str(&docker_ok(&[
        "plugin",
        "inspect",
        "--format",
        "{{json .Config}}",
        &plugin.name,
    ]))
    .unwrap();
    assert_eq!(
        config["Interface"]["Types"],
        serde_json::json!(["docker.volumedriver/1.0"])
    );
    assert_eq!(config["PropagatedMount"], "/var/lib/cloudstor");
    assert_eq!(config["Network"]["Type"], "host");
    assert_eq!(
        config["Linux"]["Capabilities"],
        serde_json::json!(["CAP_SYS_ADMIN"])
    );
    assert!(docker_ok(&["plugin", "ls"]).contains(&plugin.name));
}

#[test]
fn the_enabled_plugin_serves_a_volume_a_container_writes_to() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path(), static_plugin_binary());
    let plugin = CreatedPlugin::create(format!("{}:aws", unique("serve")), dir.path());
    docker_ok(&[
        "plugin",
        "set",
        &plugin.name,
        "HOSTPATH_DIR=/var/lib/cloudstor/hostpath",
        "NODE_ID=bootstrap-test-node",
    ]);
    docker_ok(&["plugin", "enable", &plugin.name]);

    let volume = unique("volume");
    docker_ok(&["volume", "create", "-d", &plugin.name, &volume]);
    let mount = format!("{volume}:/data");
    let image = busybox_image();
    docker_ok(&[
        "run",
        "--rm",
        "-v",
        &mount,
        image,
        "sh",
        "-c",
        "echo written > /data/hello",
    ]);
    let read_back = docker_ok(&["run", "--rm", "-v", &mount, image, "cat", "/data/hello"]);
    assert_eq!(read_back, "written\n");
    docker_ok(&["volume", "rm", &volume]);
}

/// The plugin built statically (a scratch rootfs has no libc): `CLOUDSTOR_STATIC_PLUGIN`,
/// else built here with `+crt-static` for the explicit host target, as the docs say.
fn static_plugin_binary() -> &'static Path {
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

/// `FROM scratch` with Debian's static busybox, built once per test process.
fn busybox_image() -> &'static str {
    static IMAGE: OnceLock<&str> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let context = tempfile::tempdir().unwrap();
        std::fs::copy("/bin/busybox", context.path().join("busybox")).unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .unwrap();
        let tag = "cloudstor-bootstrap-test-busybox:latest";
        docker_ok(&["build", "-q", "-t", tag, &context.path().to_string_lossy()]);
        tag
    })
}
