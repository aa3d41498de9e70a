//! A replicated Swarm service on this (single-node) swarm: one volume per task slot through
//! `{{.Service.Name}}-{{.Task.Slot}}-vol`, each slot's data kept when its task is replaced,
//! and one volume shared by every replica.

mod plugin_support;

use std::path::Path;
use std::time::Duration;

use plugin_support::{TestPlugin, busybox_image, docker, docker_ok, unique, wait_for};

const REPLICAS: usize = 3;

fn ensure_swarm() {
    let state = docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    if state != "active" {
        let output = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() || stderr.contains("already part of a swarm"),
            "{stderr}"
        );
    }
}

/// Swarm schedules a task only on nodes that report its volume driver; a legacy plugin is
/// reported once Docker has loaded it, and the node description refreshes periodically.
fn wait_until_swarm_sees_driver(driver: &str) {
    let warmup = unique("warmup");
    docker_ok(&["volume", "create", "-d", driver, &warmup]);
    docker_ok(&["volume", "rm", &warmup]);
    let seen = wait_for(Duration::from_secs(90), || {
        let plugins = docker_ok(&[
            "node",
            "inspect",
            "self",
            "--format",
            "{{json .Description.Engine.Plugins}}",
        ]);
        plugins.contains(driver).then_some(())
    });
    assert!(seen.is_some(), "swarm never listed volume driver {driver}");
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Removes the service, then (once its containers are gone) its volumes.
struct ServiceCleanup {
    service: String,
    volumes: Vec<String>,
}

impl Drop for ServiceCleanup {
    fn drop(&mut self) {
        let _ = docker(&["service", "rm", &self.service]);
        let filter = format!("label=com.docker.swarm.service.name={}", self.service);
        wait_for(Duration::from_secs(60), || {
            let left = docker_ok(&["ps", "-aq", "--filter", &filter]);
            left.is_empty().then_some(())
        });
        for volume in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
    }
}

#[test]
fn replicated_service_gets_a_volume_per_slot_and_keeps_it_across_updates() {
    ensure_swarm();
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let driver = node.driver();
    let image = busybox_image();
    wait_until_swarm_sees_driver(&driver);

    let service = unique("svc");
    let common = unique("common");
    let mut volumes: Vec<String> = (1..=REPLICAS)
        .map(|slot| format!("{service}-{slot}-vol"))
        .collect();
    volumes.push(common.clone());
    let _cleanup = ServiceCleanup {
        service: service.clone(),
        volumes: volumes.clone(),
    };
    let per_slot = format!(
        "type=volume,volume-driver={driver},source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,destination=/mydata"
    );
    let shared_mount =
        format!("type=volume,volume-driver={driver},source={common},destination=/shareddata");
    let script = "echo boot >> /mydata/boots; echo $SLOT >> /shareddata/all; sleep 3600";
    let replicas = REPLICAS.to_string();
    docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        &service,
        "--replicas",
        &replicas,
        "--env",
        "SLOT={{.Task.Slot}}",
        "--mount",
        &per_slot,
        "--mount",
        &shared_mount,
        image,
        "sh",
        "-c",
        script,
    ]);

    let data = |volume: &str, file: &str| {
        shared
            .path()
            .join("volumes")
            .join(volume)
            .join("data")
            .join(file)
    };
    let boots_reach = |count: usize| {
        wait_for(Duration::from_secs(120), || {
            volumes[..REPLICAS]
                .iter()
                .all(|volume| line_count(&data(volume, "boots")) == count)
                .then_some(())
        })
    };
    assert!(
        boots_reach(1).is_some(),
        "every slot started once:\n{}",
        node.log()
    );

    docker_ok(&["service", "update", "--detach", "--force", &service]);
    assert!(
        boots_reach(2).is_some(),
        "each replaced task found its slot's data:\n{}",
        node.log()
    );

    let listed = node.ok("/VolumeDriver.List", "{}");
    let mut names: Vec<&str> = listed["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|volume| volume["Name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<&str> = volumes.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected, "one volume per slot plus the shared one");
    assert_eq!(
        line_count(&data(&common, "all")),
        2 * REPLICAS,
        "every task wrote to the shared volume"
    );
}
