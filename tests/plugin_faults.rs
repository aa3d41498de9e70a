//! Faults users of earlier plugins lost data to (issue 11), each reproduced with real plugin
//! processes, two of them over one shared directory standing in for two nodes, and the real
//! Docker engine where containers matter.

mod plugin_support;

use std::path::Path;
use std::time::Duration;

use plugin_support::{
    DockerCleanup, TestPlugin, busybox_image, cloudstor, docker_ok, unique, wait_for,
};
use serde_json::{Value, json};

fn name_body(name: &str) -> String {
    json!({ "Name": name }).to_string()
}

fn mount_body(name: &str, id: &str) -> String {
    json!({ "Name": name, "ID": id }).to_string()
}

fn status(node: &TestPlugin, volume: &str) -> Value {
    node.ok("/VolumeDriver.Get", &name_body(volume))["Volume"]["Status"].clone()
}

/// Creates `volume` on `node`'s driver and starts `container` with it at /data, running
/// `command`; both are removed when the returned clean-up is dropped.
fn run_on_new_volume(
    node: &TestPlugin,
    volume: &str,
    container: &str,
    command: &[&str],
) -> DockerCleanup {
    let mut cleanup = DockerCleanup::default();
    cleanup.containers.push(container.to_string());
    cleanup.volumes.push(volume.to_string());
    docker_ok(&["volume", "create", "-d", &node.driver(), volume]);
    let mount = format!("{volume}:/data");
    let run = [
        "run",
        "-d",
        "--name",
        container,
        "-v",
        &mount,
        busybox_image(),
    ];
    docker_ok(&[&run[..], command].concat());
    cleanup
}

/// Item 1: a plugin stopped for an upgrade keeps its node's leases standing, and one that
/// finds a volume it still has mounted in the trash puts it back.
#[test]
fn a_plugin_restart_never_lets_another_node_trash_a_live_volume() {
    let shared = tempfile::tempdir().unwrap();
    let mut a = TestPlugin::start(shared.path(), "node-a", "lease_ttl_secs = 2");
    let b = TestPlugin::start(shared.path(), "node-b", "lease_ttl_secs = 2");
    a.ok("/VolumeDriver.Create", &name_body("live"));
    a.ok("/VolumeDriver.Mount", &mount_body("live", "c1"));
    assert!(a.sigterm().success());
    std::thread::sleep(Duration::from_secs(4));
    let refused = b.err("/VolumeDriver.Remove", &name_body("live"));
    assert!(refused.contains("node-a"), "{refused}");

    // Removed anyway while A was away (an older plugin, or by hand): A restores it.
    let volume_dir = shared.path().join("volumes/live");
    std::fs::create_dir_all(shared.path().join("trash")).unwrap();
    std::fs::rename(&volume_dir, shared.path().join("trash/live@1000")).unwrap();
    a.restart();
    let kept = wait_for(Duration::from_secs(10), || {
        volume_dir.join("volume.json").exists().then_some(())
    });
    assert!(kept.is_some(), "not restored:\n{}", a.log());
    assert_eq!(status(&a, "live")["mounts_on_this_node"], 1);
    assert!(
        a.log().contains("restored it from the trash"),
        "{}",
        a.log()
    );
    let refused = b.err("/VolumeDriver.Remove", &name_body("live"));
    assert!(refused.contains("node-a"), "{refused}");
}

/// Item 1 with a real container writing through the stop: its data stays in place.
#[test]
fn a_container_keeps_writing_to_its_volume_through_a_plugin_upgrade() {
    let shared = tempfile::tempdir().unwrap();
    let config = "lease_ttl_secs = 2\ndocker_socket = \"/var/run/docker.sock\"";
    let mut a = TestPlugin::start(shared.path(), "node-a", config);
    let b = TestPlugin::start(shared.path(), "node-b", "lease_ttl_secs = 2");
    let (volume, container) = (unique("upgraded"), unique("writer"));
    let writer = "while true; do date >> /data/log; sleep 0.2; done";
    let _cleanup = run_on_new_volume(&a, &volume, &container, &["sh", "-c", writer]);
    assert!(a.sigterm().success());
    std::thread::sleep(Duration::from_secs(4));
    let refused = b.err("/VolumeDriver.Remove", &name_body(&volume));
    assert!(refused.contains("node-a"), "{refused}");
    a.restart();
    let log = shared.path().join("volumes").join(&volume).join("data/log");
    let before = std::fs::metadata(&log).unwrap().len();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        std::fs::metadata(&log).unwrap().len() > before,
        "the container stopped writing"
    );
    assert_eq!(status(&a, &volume)["mounts_on_this_node"], 1);
}

/// Item 2: a store that moved away is an error, and nothing is rebuilt in its place.
#[test]
fn a_missing_or_foreign_store_is_an_error_and_nothing_is_created() {
    let shared = tempfile::tempdir().unwrap();
    let store = shared.path().join("share");
    std::fs::create_dir(&store).unwrap();
    // Heartbeats every third of a second: none of them may rebuild the store either.
    let a = TestPlugin::start(&store, "node-a", "lease_ttl_secs = 1");
    let volume = unique("first");
    let mut cleanup = DockerCleanup::default();
    cleanup.volumes.push(volume.clone());
    docker_ok(&["volume", "create", "-d", &a.driver(), &volume]);
    std::fs::rename(&store, shared.path().join("moved")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // As Swarm mounts it: with the driver named. (A bare `-v NAME:/data` makes Docker fall
    // back to a new `local` volume when the plugin answers an error; docs/plugin.md says so.)
    let mount = format!(
        "type=volume,source={volume},target=/data,volume-driver={}",
        a.driver()
    );
    let failed = plugin_support::docker_fails(&[
        "run",
        "--rm",
        "--mount",
        &mount,
        busybox_image(),
        "sh",
        "-c",
        "echo lost > /data/f",
    ]);
    assert!(failed.contains("not mounted or was moved"), "{failed}");

    let refused = a.err("/VolumeDriver.Create", &name_body("second"));
    assert!(refused.contains("does not exist"), "{refused}");
    for endpoint in ["/VolumeDriver.Get", "/VolumeDriver.Path"] {
        let refused = a.err(endpoint, &name_body(&volume));
        assert!(refused.contains("not mounted or was moved"), "{refused}");
    }
    let refused = a.err("/VolumeDriver.Mount", &mount_body(&volume, "c1"));
    assert!(refused.contains("not mounted or was moved"), "{refused}");
    a.err("/VolumeDriver.List", "{}");
    a.err("/VolumeDriver.Remove", &name_body(&volume));
    assert!(!store.exists(), "the store was rebuilt on the local disk");

    // Another file system's store where this one is expected.
    std::fs::create_dir(&store).unwrap();
    std::fs::write(
        store.join(".cloudstor-store.json"),
        r#"{"filesystem": "fs-other"}"#,
    )
    .unwrap();
    let refused = a.err("/VolumeDriver.Create", &name_body("second"));
    assert!(
        refused.contains("store of file system fs-other"),
        "{refused}"
    );
    assert!(!store.join("volumes").exists());

    // Back in place, the volume answers again (and Docker can remove it quickly).
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::rename(shared.path().join("moved"), &store).unwrap();
    a.ok("/VolumeDriver.Get", &name_body(&volume));
}

/// An emptied or replaced file system (an EFS file system recreated under the same name, a
/// share swapped for an empty one): a node that used the old store refuses the new, empty one
/// and writes nothing to it, since its tasks would start on empty volumes, until an operator
/// deletes the node's record of the old store.
#[test]
fn an_emptied_file_system_is_refused_until_an_operator_accepts_it() {
    let shared = tempfile::tempdir().unwrap();
    let store = shared.path().join("share");
    std::fs::create_dir(&store).unwrap();
    let a = TestPlugin::start(&store, "node-a", "");
    a.ok("/VolumeDriver.Create", &name_body("precious"));
    std::fs::rename(&store, shared.path().join("old")).unwrap();
    std::fs::create_dir(&store).unwrap();

    let refused = a.err("/VolumeDriver.Create", &name_body("fresh"));
    assert!(
        refused.contains("has no store") && refused.contains("emptied or replaced"),
        "{refused}"
    );
    a.err("/VolumeDriver.Mount", &mount_body("precious", "c1"));
    assert!(
        std::fs::read_dir(&store).unwrap().next().is_none(),
        "nothing written to the empty file system"
    );

    std::fs::remove_file(a.state_dir().join("stores/shared.json")).unwrap();
    a.ok("/VolumeDriver.Create", &name_body("fresh"));
}

/// Item 3: a container removed while the plugin was down never sends its Unmount; the
/// restarted plugin asks Docker and releases the mount, and an operator can too.
#[test]
fn mounts_whose_containers_went_away_while_the_plugin_was_down_are_released() {
    let shared = tempfile::tempdir().unwrap();
    let real_docker = "docker_socket = \"/var/run/docker.sock\"\nreconcile_grace_secs = 0";
    let mut a = TestPlugin::start(shared.path(), "node-a", real_docker);
    let b = TestPlugin::start(shared.path(), "node-b", "");
    let (volume, container) = (unique("orphaned"), unique("app"));
    let _cleanup = run_on_new_volume(&a, &volume, &container, &["sleep", "300"]);
    assert_eq!(status(&a, &volume)["mounts_on_this_node"], 1);

    a.kill9();
    docker_ok(&["rm", "-f", &container]);
    a.restart();
    let released = wait_for(Duration::from_secs(15), || {
        (status(&a, &volume)["mounts_on_this_node"] == 0).then_some(())
    });
    assert!(released.is_some(), "mount never released:\n{}", a.log());
    b.ok("/VolumeDriver.Remove", &name_body(&volume));

    // By hand: `cloudstor volume release` through the running plugin.
    a.ok("/VolumeDriver.Create", &name_body("by-hand"));
    a.ok(
        "/VolumeDriver.Mount",
        &mount_body("by-hand", "gone-container"),
    );
    let config = a.config_path.to_string_lossy().into_owned();
    let asked = cloudstor(&["volume", "release", "by-hand", "--config", &config]);
    assert!(!asked.status.success(), "released without confirmation");
    assert_eq!(status(&a, "by-hand")["mounts_on_this_node"], 1);
    let args = [
        "volume",
        "release",
        "by-hand",
        "--auto-approve",
        "--config",
        &config,
    ];
    let released = cloudstor(&args);
    let stdout = String::from_utf8_lossy(&released.stdout);
    assert!(
        released.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&released.stderr)
    );
    assert!(
        stdout.contains("released 1 mount(s) of by-hand"),
        "{stdout}"
    );
    b.ok("/VolumeDriver.Remove", &name_body("by-hand"));

    // On demand: `cloudstor volume reconcile` asks Docker again.
    a.ok("/VolumeDriver.Create", &name_body("ghost"));
    a.ok("/VolumeDriver.Mount", &mount_body("ghost", "no-container"));
    let reconciled = cloudstor(&["volume", "reconcile", "--config", &config]);
    let stdout = String::from_utf8_lossy(&reconciled.stdout);
    assert!(
        reconciled.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&reconciled.stderr)
    );
    assert_eq!(stdout.trim(), "released 1 mount(s) of ghost");
    b.ok("/VolumeDriver.Remove", &name_body("ghost"));
}

/// Item 4: a node whose plugin was away while another took a single-node volume does not
/// take it back at restart; the conflict is logged and shown by inspect.
#[test]
fn single_node_access_stays_single_node_across_a_restart() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "lease_ttl_secs = 2");
    let mut b = TestPlugin::start(shared.path(), "node-b", "lease_ttl_secs = 2");
    let create = json!({ "Name": "db", "Opts": { "access": "single-node" } }).to_string();
    a.ok("/VolumeDriver.Create", &create);
    b.ok("/VolumeDriver.Mount", &mount_body("db", "b1"));
    b.kill9();
    std::thread::sleep(Duration::from_secs(4));
    a.ok("/VolumeDriver.Mount", &mount_body("db", "a1"));

    b.restart();
    let logged = wait_for(Duration::from_secs(10), || {
        b.log().contains("single-node conflict").then_some(())
    });
    assert!(logged.is_some(), "{}", b.log());
    assert_eq!(status(&a, "db")["mounted_on"], json!(["node-a"]));
    let seen_by_b = status(&b, "db");
    assert_eq!(seen_by_b["mounted_on"], json!(["node-a"]));
    assert!(
        seen_by_b["conflict"]
            .as_str()
            .unwrap()
            .contains("node node-a")
    );
    let refused = b.err("/VolumeDriver.Mount", &mount_body("db", "b2"));
    assert!(refused.contains("node-a"), "{refused}");
}

/// A plugin over two hostpath file systems with a one-second operation timeout.
fn two_filesystem_plugin(x: &Path, y: &Path) -> TestPlugin {
    let filesystems = format!(
        "[[filesystems]]\nid = \"fs-x\"\nbackend = \"hostpath\"\npath = \"{}\"\n\
         [[filesystems]]\nid = \"fs-y\"\nperformance_mode = \"maxIO\"\nbackend = \"hostpath\"\npath = \"{}\"\n",
        x.display(),
        y.display()
    );
    TestPlugin::start_with_filesystems("node-a", "operation_timeout_secs = 1", &filesystems)
}

/// A FIFO where a file is expected: opening it blocks as a stalled NFS server does, until
/// `unblock` opens the other end.
fn stall_at(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn unblock(fifo: &Path) {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(fifo);
        if let Ok(reader) = reader.as_mut() {
            let _ = std::io::Write::write_all(reader, b"{}");
        }
        std::thread::sleep(Duration::from_secs(5));
    });
}

/// Item 6: calls stuck on one file system fill its own lane only.
#[test]
fn one_stalled_file_system_does_not_stall_the_others() {
    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plugin = two_filesystem_plugin(x.path(), y.path());
    plugin.ok("/VolumeDriver.Create", &name_body("on-x"));
    let on_y = json!({ "Name": "on-y", "Opts": { "perfmode": "maxio" } }).to_string();
    plugin.ok("/VolumeDriver.Create", &on_y);
    let fifo = x.path().join("volumes/on-x/volume.json");
    stall_at(&fifo);

    let socket = plugin.socket.clone();
    let stuck: Vec<_> = (0..8)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                plugin_support::call(&socket, "/VolumeDriver.Get", &name_body("on-x"))
            })
        })
        .collect();
    for call in stuck {
        let (code, reply) = call.join().unwrap();
        assert_ne!(code, 200, "{reply}");
    }
    let got = plugin.ok("/VolumeDriver.Get", &name_body("on-y"));
    assert_eq!(got["Volume"]["Status"]["filesystem"], "fs-y");
    plugin.ok("/VolumeDriver.Mount", &mount_body("on-y", "c1"));
    plugin.ok("/VolumeDriver.Path", &name_body("on-y"));
    let listed = plugin.ok("/VolumeDriver.List", "{}");
    let names: Vec<&str> = listed["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["on-y"], "the stalled file system is left out");
    unblock(&fifo);
}

/// Item 7: a Create that Docker was told timed out never appears later.
#[test]
fn a_create_that_timed_out_never_appears_later() {
    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plugin = two_filesystem_plugin(x.path(), y.path());
    // Where the plugin builds a new volume: `.staging/<name>.<node>.<pid>.<sequence>`.
    let fifos: Vec<_> = (0..4)
        .map(|sequence| {
            let staging = x
                .path()
                .join(format!(".staging/late.node-a.{}.{sequence}", plugin.pid()));
            std::fs::create_dir_all(&staging).unwrap();
            let fifo = staging.join("volume.json");
            stall_at(&fifo);
            fifo
        })
        .collect();
    let refused = plugin.err("/VolumeDriver.Create", &name_body("late"));
    assert!(refused.contains("did not finish within 1 s"), "{refused}");
    fifos.iter().for_each(|fifo| unblock(fifo));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !x.path().join("volumes/late").exists(),
        "the timed-out create appeared"
    );
    let listed = plugin.ok("/VolumeDriver.List", "{}");
    assert_eq!(listed["Volumes"], json!([]));
}

/// Item 8: a mount ID far longer than Docker's never reaches the journal.
#[test]
fn an_oversized_mount_id_is_refused_before_the_journal() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    a.ok("/VolumeDriver.Create", &name_body("vol"));
    let journal = a.state_dir().join("mounts.journal");
    let before = std::fs::read_to_string(&journal).unwrap();
    let huge = "x".repeat(1 << 20);
    let refused = a.err("/VolumeDriver.Mount", &mount_body("vol", &huge));
    assert!(
        refused.contains("longer than the 256"),
        "{}",
        &refused[..200.min(refused.len())]
    );
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), before);
}
