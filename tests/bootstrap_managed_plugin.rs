//! The managed plugin package on this machine's real Docker engine: `cloudstor plugin package`
//! writes a directory `docker plugin create` accepts, and with the static plugin binary the
//! enabled plugin serves a volume a container writes to, through `docker plugin rm` and
//! create again.
//!
//! NFS is not available in this kernel, so the plugin is set to its hostpath backend under
//! the propagatedMount (`HOSTPATH_DIR`), the way DESIGN.md's table says end-to-end tests run.

mod plugin_support;

use std::path::Path;
use std::process::{Command, Output};

use plugin_support::{busybox_image, static_plugin_binary};

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

    /// The same package right after `docker plugin rm`, retried as the bootstrap script does:
    /// Docker deletes the old rootfs blob in the background, and creating identical content
    /// before it has fails with "already exists".
    fn create_again(name: String, dir: &Path) -> CreatedPlugin {
        let dir = dir.to_string_lossy();
        for _ in 1..10 {
            if run("docker", &["plugin", "create", &name, &dir])
                .status
                .success()
            {
                return CreatedPlugin { name };
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        CreatedPlugin::create(name, Path::new(&*dir))
    }

    fn set_and_enable(&self, settings: &[&str]) {
        let mut set = vec!["plugin", "set", &self.name];
        set.extend_from_slice(settings);
        docker_ok(&set);
        docker_ok(&["plugin", "enable", &self.name]);
    }

    /// What the bootstrap script's replace path runs before it creates the plugin anew.
    fn disable_and_remove(self) {
        docker_ok(&["plugin", "disable", "-f", &self.name]);
        docker_ok(&["plugin", "rm", "-f", &self.name]);
    }
}

impl Drop for CreatedPlugin {
    fn drop(&mut self) {
        let _ = run("docker", &["plugin", "disable", "-f", &self.name]);
        let _ = run("docker", &["plugin", "rm", "-f", &self.name]);
    }
}

/// Containers and volumes a test made, removed (in that order) when dropped.
#[derive(Default)]
struct DockerObjects {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for DockerObjects {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = run("docker", &["rm", "-f", container]);
        }
        for volume in &self.volumes {
            let _ = run("docker", &["volume", "rm", "-f", volume]);
        }
    }
}

fn unique(what: &str) -> String {
    format!("cloudstor-bootstrap-test-{what}-{}", std::process::id())
}

/// `Status.mounts_on_this_node` of `docker volume inspect`, which asks the plugin's Get.
fn mounts_on_this_node(volume: &str) -> u64 {
    let inspected: serde_json::Value =
        serde_json::from_str(&docker_ok(&["volume", "inspect", volume])).unwrap();
    inspected[0]["Status"]["mounts_on_this_node"]
        .as_u64()
        .unwrap_or_else(|| panic!("no mount count in {inspected}"))
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
    assert_eq!(
        config["Mounts"],
        serde_json::json!([{
            "Name": "data",
            "Description": "host directory for the plugin's state and hostpath volumes; kept when the plugin is removed or upgraded",
            "Settable": ["source"],
            "Source": "/var/lib/cloudstor-plugin",
            "Destination": "/var/lib/cloudstor-plugin",
            "Type": "bind",
            "Options": ["rbind", "rw"]
        }, {
            "Name": "docker",
            "Description": "the Docker engine's API socket: asked at start which mounts still have running containers",
            "Settable": null,
            "Source": "/var/run/docker.sock",
            "Destination": "/run/docker.sock",
            "Type": "bind",
            "Options": ["rbind"]
        }])
    );
    assert_eq!(config["Network"]["Type"], "host");
    assert_eq!(
        config["Linux"]["Capabilities"],
        serde_json::json!(["CAP_SYS_ADMIN"])
    );
    assert!(docker_ok(&["plugin", "ls"]).contains(&plugin.name));
}

/// The enabled plugin serves a volume containers write to and read from. Then the replace
/// path: `docker plugin rm` deletes the plugin's own directory, propagated mount included,
/// and the bootstrap runs it (then create and enable) whenever the package or its settings
/// change; volumes, their data and this node's mount counts must come through unchanged.
///
/// One test, not two: Docker refuses to create a plugin whose rootfs is identical to another
/// plugin's, and two packages of one binary written in the same second are identical.
#[test]
fn the_enabled_plugin_serves_a_volume_and_keeps_it_through_remove_and_recreate() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path(), static_plugin_binary());
    // The host directory of the plugin's state and hostpath volumes: a fresh one, so the
    // test neither reads nor leaves anything in the default /var/lib/cloudstor-plugin.
    let host_data = tempfile::tempdir().unwrap();
    let data_setting = format!("data.source={}", host_data.path().display());
    let settings = [
        "HOSTPATH_DIR=/var/lib/cloudstor/hostpath",
        "NODE_ID=bootstrap-test-node",
        &data_setting,
    ];
    let name = format!("{}:aws", unique("upgrade"));
    let plugin = CreatedPlugin::create(name.clone(), dir.path());
    plugin.set_and_enable(&settings);

    let mut objects = DockerObjects::default();
    let (volume, holder) = (unique("kept"), unique("holder"));
    objects.volumes.push(volume.clone());
    objects.containers.push(holder.clone());
    docker_ok(&["volume", "create", "-d", &name, &volume]);
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
        "echo before > /data/f",
    ]);
    let read_back = docker_ok(&["run", "--rm", "-v", &mount, image, "cat", "/data/f"]);
    assert_eq!(read_back, "before\n");
    docker_ok(&[
        "run", "-d", "--name", &holder, "-v", &mount, image, "sleep", "600",
    ]);
    assert_eq!(mounts_on_this_node(&volume), 1);

    plugin.disable_and_remove();
    let plugin = CreatedPlugin::create_again(name.clone(), dir.path());
    plugin.set_and_enable(&settings);

    let listed = docker_ok(&["volume", "ls", "-q", "--filter", &format!("driver={name}")]);
    assert!(listed.lines().any(|line| line == volume), "{listed}");
    assert_eq!(
        mounts_on_this_node(&volume),
        1,
        "the running container's mount"
    );
    let read_back = docker_ok(&["run", "--rm", "-v", &mount, image, "cat", "/data/f"]);
    assert_eq!(read_back, "before\n");
    let still_there = docker_ok(&["exec", &holder, "cat", "/data/f"]);
    assert_eq!(still_there, "before\n");

    docker_ok(&["rm", "-f", &holder]);
    assert_eq!(
        mounts_on_this_node(&volume),
        0,
        "Unmount reached the new plugin"
    );
    docker_ok(&["volume", "rm", &volume]);
    // Removing a volume that no longer exists asks every plugin Docker knows about, dead
    // sockets included, each retried for 30 s.
    objects.containers.clear();
    objects.volumes.clear();
}
