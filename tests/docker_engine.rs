//! The plugin through the real Docker engine on this machine (hostpath backend).

mod plugin_support;

use std::time::Duration;

use plugin_support::{
    DockerCleanup, TestPlugin, busybox_image, docker, docker_fails, docker_ok, unique,
};
use serde_json::{Value, json};

/// Docker asks Get before every Create (and asks every driver about names it does not
/// know); "no such volume" is the expected answer there, not something to warn about.
#[test]
fn a_normal_create_logs_no_warning() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let volume = unique("quiet");
    let mut cleanup = DockerCleanup::default();
    cleanup.volumes.push(volume.clone());
    docker_ok(&["volume", "create", "-d", &node.driver(), &volume]);
    let log = node.log();
    assert!(log.contains("volume ready"), "{log}");
    assert!(!log.contains("WARN"), "{log}");
}

#[test]
fn create_run_write_read_inspect_and_rm() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let image = busybox_image();
    let volume = unique("data");
    let mut cleanup = DockerCleanup::default();
    cleanup.volumes.push(volume.clone());
    let driver = node.driver();

    docker_ok(&[
        "volume",
        "create",
        "-d",
        &driver,
        "-o",
        "mode=0770",
        &volume,
    ]);
    let write = format!("{volume}:/d");
    docker_ok(&[
        "run",
        "--rm",
        "-v",
        &write,
        image,
        "sh",
        "-c",
        "echo hello > /d/greeting",
    ]);
    let read = docker_ok(&["run", "--rm", "-v", &write, image, "cat", "/d/greeting"]);
    assert_eq!(read, "hello");

    let inspected: Value =
        serde_json::from_str(&docker_ok(&["volume", "inspect", &volume])).unwrap();
    assert_eq!(inspected[0]["Driver"], driver);
    assert_eq!(inspected[0]["Scope"], "global");
    assert_eq!(inspected[0]["Status"]["backend"], "hostpath");
    assert!(
        inspected[0]["Status"]["options"]
            .as_str()
            .unwrap()
            .contains("mode=0770")
    );
    let listed = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("driver={driver}"),
    ]);
    assert!(listed.lines().any(|line| line == volume), "{listed}");

    let err = docker_fails(&[
        "volume",
        "create",
        "-d",
        &driver,
        "-o",
        "colour=red",
        &unique("v"),
    ]);
    assert!(
        err.contains("valid options: perfmode, uid, gid, mode, access"),
        "{err}"
    );

    cleanup.remove_volume(&volume);
    let listed = node.ok("/VolumeDriver.List", "{}");
    assert_eq!(listed["Volumes"], json!([]));
    let trashed = std::fs::read_dir(shared.path().join("trash"))
        .unwrap()
        .count();
    assert_eq!(trashed, 1);
}

#[test]
fn data_written_by_one_container_is_read_by_another_while_both_run() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let image = busybox_image();
    let volume = unique("shared");
    let (writer, reader) = (unique("writer"), unique("reader"));
    let mut cleanup = DockerCleanup::default();
    cleanup.containers.extend([writer.clone(), reader.clone()]);
    cleanup.volumes.push(volume.clone());
    let mount = format!("{volume}:/d");
    let driver = format!("--volume-driver={}", node.driver());

    let script = "echo from-writer > /d/note; sleep 300";
    docker_ok(&[
        "run", "-d", "--name", &writer, &driver, "-v", &mount, image, "sh", "-c", script,
    ]);
    docker_ok(&[
        "run", "-d", "--name", &reader, &driver, "-v", &mount, image, "sleep", "300",
    ]);
    let seen = plugin_support::wait_for(Duration::from_secs(10), || {
        let output = docker(&["exec", &reader, "cat", "/d/note"]);
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    });
    assert_eq!(seen.as_deref().map(str::trim), Some("from-writer"));
    let got = node.ok("/VolumeDriver.Get", &json!({ "Name": volume }).to_string());
    assert_eq!(got["Volume"]["Status"]["mounts_on_this_node"], 2);

    docker_ok(&["rm", "-f", &writer]);
    docker_ok(&["exec", &reader, "sh", "-c", "echo still-mounted > /d/after"]);
    docker_ok(&["rm", "-f", &reader]);
    let got = node.ok("/VolumeDriver.Get", &json!({ "Name": volume }).to_string());
    assert_eq!(got["Volume"]["Status"]["mounts_on_this_node"], 0);
    assert_eq!(got["Volume"]["Status"]["mounted_on"], json!([]));
}

#[test]
fn another_node_cannot_remove_or_single_mount_what_a_container_uses() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    let b = TestPlugin::start(shared.path(), "node-b", "");
    let image = busybox_image();
    let volume = unique("redis");
    let container = unique("redis");
    let mut cleanup = DockerCleanup::default();
    cleanup.containers.push(container.clone());
    cleanup.volumes.push(volume.clone());
    docker_ok(&[
        "volume",
        "create",
        "-d",
        &a.driver(),
        "-o",
        "access=single-node",
        &volume,
    ]);
    let mount = format!("{volume}:/data");
    docker_ok(&[
        "run", "-d", "--name", &container, "-v", &mount, image, "sleep", "300",
    ]);

    let name = json!({ "Name": volume }).to_string();
    let refused = b.err("/VolumeDriver.Remove", &name);
    assert!(refused.contains("mounted on node(s) node-a"), "{refused}");
    let mount_b = json!({ "Name": volume, "ID": "b-task" }).to_string();
    let refused = b.err("/VolumeDriver.Mount", &mount_b);
    assert!(refused.contains("mounted on node node-a"), "{refused}");
    docker_fails(&["volume", "rm", &volume]);

    docker_ok(&["rm", "-f", &container]);
    b.ok("/VolumeDriver.Mount", &mount_b);
    b.ok("/VolumeDriver.Unmount", &mount_b);
    b.ok("/VolumeDriver.Remove", &name);
    let driver = format!("driver={}", a.driver());
    let listed = docker_ok(&["volume", "ls", "-q", "--filter", &driver]);
    assert!(
        !listed.contains(&volume),
        "removed on node-b, gone for node-a's Docker too"
    );
}

#[test]
fn plugin_killed_and_restarted_under_a_running_container_stays_correct() {
    let shared = tempfile::tempdir().unwrap();
    let mut a = TestPlugin::start(
        shared.path(),
        "node-a",
        "lease_ttl_secs = 2\ndocker_socket = \"/var/run/docker.sock\"",
    );
    let b = TestPlugin::start(
        shared.path(),
        "node-b",
        "lease_ttl_secs = 2\ndocker_socket = \"/var/run/docker.sock\"",
    );
    let image = busybox_image();
    let volume = unique("durable");
    let container = unique("app");
    let mut cleanup = DockerCleanup::default();
    cleanup.containers.push(container.clone());
    cleanup.volumes.push(volume.clone());
    docker_ok(&["volume", "create", "-d", &a.driver(), &volume]);
    let mount = format!("{volume}:/data");
    docker_ok(&[
        "run", "-d", "--name", &container, "-v", &mount, image, "sleep", "300",
    ]);

    a.kill9();
    a.restart();
    std::thread::sleep(Duration::from_secs(4));
    let name = json!({ "Name": volume }).to_string();
    let refused = b.err("/VolumeDriver.Remove", &name);
    assert!(refused.contains("node-a"), "{refused}");
    docker_ok(&["exec", &container, "sh", "-c", "echo alive > /data/f"]);

    docker_ok(&["stop", "-t", "1", &container]);
    assert!(a.log().contains("unmounted; lease released"), "{}", a.log());
    docker_ok(&["rm", &container]);
    cleanup.remove_volume(&volume);
    assert_eq!(b.ok("/VolumeDriver.List", "{}")["Volumes"], json!([]));
}
