//! The plugin straight over its Unix socket: every endpoint, every kind of bad input, and
//! two plugin processes over one shared directory standing in for two nodes.

mod plugin_support;

use std::path::Path;
use std::time::Duration;

use plugin_support::{TestPlugin, raw_call, snapshot};
use serde_json::json;

fn name_body(name: &str) -> String {
    json!({ "Name": name }).to_string()
}

fn mount_body(name: &str, id: &str) -> String {
    json!({ "Name": name, "ID": id }).to_string()
}

#[test]
fn every_endpoint_works_end_to_end() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");

    let activate = node.ok("/Plugin.Activate", "");
    assert_eq!(activate, json!({ "Implements": ["VolumeDriver"] }));
    let caps = node.ok("/VolumeDriver.Capabilities", "{}");
    assert_eq!(caps, json!({ "Capabilities": { "Scope": "global" } }));

    let create = json!({ "Name": "web-data", "Opts": { "uid": "1000", "mode": "0750" } });
    node.ok("/VolumeDriver.Create", &create.to_string());
    let listed = node.ok("/VolumeDriver.List", "{}");
    assert_eq!(listed["Volumes"][0]["Name"], "web-data");

    let got = node.ok("/VolumeDriver.Get", &name_body("web-data"));
    let status = &got["Volume"]["Status"];
    assert_eq!(status["filesystem"], "shared");
    assert_eq!(status["backend"], "hostpath");
    assert_eq!(status["created_by"], "node-a");
    assert!(status["options"].as_str().unwrap().contains("uid=1000"));
    assert!(got["Volume"]["CreatedAt"].as_str().unwrap().ends_with('Z'));

    let mounted = node.ok("/VolumeDriver.Mount", &mount_body("web-data", "c1"));
    let mountpoint = mounted["Mountpoint"].as_str().unwrap().to_string();
    assert!(mountpoint.starts_with(&*shared.path().to_string_lossy()));
    std::fs::write(Path::new(&mountpoint).join("hello"), "world").unwrap();
    let path = node.ok("/VolumeDriver.Path", &name_body("web-data"));
    assert_eq!(path["Mountpoint"], mountpoint);
    let got = node.ok("/VolumeDriver.Get", &name_body("web-data"));
    assert_eq!(got["Volume"]["Status"]["mounted_on"], json!(["node-a"]));
    assert_eq!(got["Volume"]["Status"]["mounts_on_this_node"], 1);

    let refused = node.err("/VolumeDriver.Remove", &name_body("web-data"));
    assert!(
        refused.contains("mounted by 1 container(s) on this node"),
        "{refused}"
    );
    node.ok("/VolumeDriver.Unmount", &mount_body("web-data", "c1"));
    let log = node.log();
    assert!(log.contains("volume=web-data mount_id=c1"), "{log}");
    node.ok("/VolumeDriver.Remove", &name_body("web-data"));
    let gone = node.err("/VolumeDriver.Get", &name_body("web-data"));
    assert!(gone.contains("no such volume web-data"), "{gone}");
    let trash = std::fs::read_dir(shared.path().join("trash"))
        .unwrap()
        .count();
    assert_eq!(trash, 1, "Remove keeps the data in the trash");
    node.ok("/VolumeDriver.Remove", &name_body("web-data"));
}

#[test]
fn requests_with_or_without_content_type_are_accepted() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let body = name_body("typed");
    for content_type in ["", "Content-Type: application/json\r\n"] {
        let request = format!(
            "POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, reply) = raw_call(&node.socket, request.as_bytes());
        assert_eq!((status, reply), (200, json!({ "Err": "" })));
    }
}

#[test]
fn bad_input_gets_an_err_that_says_what_was_wrong_and_changes_nothing() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    node.ok("/VolumeDriver.Create", &name_body("existing"));
    node.ok("/VolumeDriver.Mount", &mount_body("existing", "c1"));
    let roots = [shared.path(), &node.state_dir()];
    let before = snapshot(&roots);

    let too_long = "a".repeat(201);
    let bad_names: [(&str, &str); 8] = [
        ("", "empty"),
        (&too_long, "201 bytes long"),
        ("a/b", "contains '/'"),
        ("../etc", "'/'"),
        ("a..b", "contains '..'"),
        ("a\0b", "NUL"),
        ("-dash", "pattern"),
        ("x", "pattern"),
    ];
    for endpoint in ["Create", "Remove", "Path", "Get"] {
        for (name, expected) in bad_names {
            let err = node.err(&format!("/VolumeDriver.{endpoint}"), &name_body(name));
            assert!(err.contains(expected), "{endpoint} {name:?}: {err}");
        }
    }
    for endpoint in ["Mount", "Unmount"] {
        for (name, expected) in bad_names {
            let err = node.err(
                &format!("/VolumeDriver.{endpoint}"),
                &mount_body(name, "c9"),
            );
            assert!(err.contains(expected), "{endpoint} {name:?}: {err}");
        }
    }

    let cases = [
        (
            "/VolumeDriver.Create",
            "{\"Name\": ",
            "malformed JSON in /VolumeDriver.Create",
        ),
        ("/VolumeDriver.Create", "", "malformed JSON"),
        ("/VolumeDriver.Create", "[1,2]", "malformed JSON"),
        (
            "/VolumeDriver.Remove",
            "not json",
            "malformed JSON in /VolumeDriver.Remove",
        ),
        (
            "/VolumeDriver.Mount",
            "{\"Name\":\"existing\"}",
            "missing field `ID`",
        ),
        (
            "/VolumeDriver.Mount",
            "{\"Name\":\"existing\",\"ID\":\"\"}",
            "empty ID",
        ),
        (
            "/VolumeDriver.Unmount",
            "{\"Name\":\"existing\",\"ID\":\"\"}",
            "empty ID",
        ),
        ("/VolumeDriver.Path", "{\"Name\": 5}", "invalid type"),
        ("/VolumeDriver.Get", "{}", "missing field `Name`"),
        (
            "/VolumeDriver.List",
            "{{",
            "malformed JSON in /VolumeDriver.List",
        ),
        ("/VolumeDriver.Capabilities", "}", "malformed JSON"),
        ("/Plugin.Activate", "nope", "malformed JSON"),
        (
            "/VolumeDriver.Snapshot",
            "{}",
            "unknown endpoint POST /VolumeDriver.Snapshot",
        ),
        ("/", "{}", "/VolumeDriver.Capabilities"),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"fresh\",\"Opts\":{\"size\":\"10\"}}",
            "unknown volume option \"size\"; valid options: perfmode, uid, gid, mode, access",
        ),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"fresh\",\"Opts\":{\"mode\":\"999\"}}",
            "expected octal",
        ),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"fresh\",\"Opts\":{\"uid\":\"4294967295\"}}",
            "uid=\"4294967295\" is invalid: expected a number from 0 to 4294967294",
        ),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"fresh\",\"Opts\":{\"gid\":\"4294967295\"}}",
            "gid=\"4294967295\" is invalid: expected a number from 0 to 4294967294",
        ),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"fresh\",\"Opts\":{\"perfmode\":\"maxio\"}}",
            "no maxIO file system is configured",
        ),
        (
            "/VolumeDriver.Create",
            "{\"Name\":\"existing\",\"Opts\":{\"access\":\"single-node\"}}",
            "already exists with options",
        ),
        (
            "/VolumeDriver.Mount",
            &mount_body("missing", "c2"),
            "no such volume missing",
        ),
        (
            "/VolumeDriver.Remove",
            &name_body("existing"),
            "mounted by 1 container",
        ),
    ];
    for (endpoint, body, expected) in cases {
        let err = node.err(endpoint, body);
        assert!(err.contains(expected), "{endpoint} {body:?}: {err}");
    }
    assert_eq!(snapshot(&roots), before, "bad input changed the disk");
}

/// Docker reads `Err` from any reply that is not a 200; without it the user sees raw HTTP.
#[test]
fn a_wrong_method_or_an_oversized_body_gets_an_err_too() {
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let get = "GET /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, reply) = raw_call(&node.socket, get.as_bytes());
    assert_eq!(status, 405, "{reply}");
    let err = reply["Err"].as_str().unwrap_or_default();
    assert!(
        err.contains("GET /VolumeDriver.List") && err.contains("only POST"),
        "{reply}"
    );

    let oversized = json!({ "Name": "big", "Opts": { "uid": "1".repeat(3 << 20) } }).to_string();
    let (status, reply) = node.call("/VolumeDriver.Create", &oversized);
    assert_eq!(status, 413, "{reply}");
    let err = reply["Err"].as_str().unwrap_or_default();
    assert!(
        err.contains("/VolumeDriver.Create request body is over the 2097152-byte limit"),
        "{reply}"
    );
    assert!(!shared.path().join("volumes/big").exists());
}

#[test]
fn create_is_idempotent_for_every_node() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    let b = TestPlugin::start(shared.path(), "node-b", "");
    let create = json!({ "Name": "svc-1-vol", "Opts": { "gid": "50" } }).to_string();
    a.ok("/VolumeDriver.Create", &create);
    b.ok("/VolumeDriver.Create", &create);
    b.ok("/VolumeDriver.Create", &name_body("svc-1-vol"));
    let listed_b = b.ok("/VolumeDriver.List", "{}");
    assert_eq!(listed_b["Volumes"].as_array().unwrap().len(), 1);
    let got = b.ok("/VolumeDriver.Get", &name_body("svc-1-vol"));
    assert_eq!(got["Volume"]["Status"]["created_by"], "node-a");
}

#[test]
fn mounts_are_counted_by_docker_mount_id() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    let b = TestPlugin::start(shared.path(), "node-b", "");
    a.ok("/VolumeDriver.Create", &name_body("counted"));
    a.ok("/VolumeDriver.Mount", &mount_body("counted", "c1"));
    a.ok("/VolumeDriver.Mount", &mount_body("counted", "c1"));
    a.ok("/VolumeDriver.Mount", &mount_body("counted", "c2"));
    a.ok(
        "/VolumeDriver.Unmount",
        &mount_body("counted", "never-mounted"),
    );
    a.ok("/VolumeDriver.Unmount", &mount_body("counted", "c1"));
    let refused = b.err("/VolumeDriver.Remove", &name_body("counted"));
    assert!(refused.contains("mounted on node(s) node-a"), "{refused}");
    a.ok("/VolumeDriver.Unmount", &mount_body("counted", "c2"));
    b.ok("/VolumeDriver.Remove", &name_body("counted"));
}

#[test]
fn leases_refuse_remove_and_a_second_single_node_mount() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    let b = TestPlugin::start(shared.path(), "node-b", "");
    let create = json!({ "Name": "redis", "Opts": { "access": "single-node" } }).to_string();
    a.ok("/VolumeDriver.Create", &create);
    a.ok("/VolumeDriver.Mount", &mount_body("redis", "a1"));

    let refused = b.err("/VolumeDriver.Mount", &mount_body("redis", "b1"));
    assert!(
        refused.contains("single-node and is mounted on node node-a"),
        "{refused}"
    );
    let refused = b.err("/VolumeDriver.Remove", &name_body("redis"));
    assert!(refused.contains("node-a"), "{refused}");
    let got = b.ok("/VolumeDriver.Get", &name_body("redis"));
    assert_eq!(got["Volume"]["Status"]["mounted_on"], json!(["node-a"]));

    a.ok("/VolumeDriver.Unmount", &mount_body("redis", "a1"));
    b.ok("/VolumeDriver.Mount", &mount_body("redis", "b1"));
    let refused = a.err("/VolumeDriver.Mount", &mount_body("redis", "a2"));
    assert!(refused.contains("node node-b"), "{refused}");
}

#[test]
fn a_dead_nodes_lease_expires() {
    let shared = tempfile::tempdir().unwrap();
    let mut a = TestPlugin::start(shared.path(), "node-a", "lease_ttl_secs = 2");
    let b = TestPlugin::start(shared.path(), "node-b", "lease_ttl_secs = 2");
    a.ok("/VolumeDriver.Create", &name_body("orphan"));
    a.ok("/VolumeDriver.Mount", &mount_body("orphan", "a1"));
    a.kill9();
    b.err("/VolumeDriver.Remove", &name_body("orphan"));
    std::thread::sleep(Duration::from_secs(4));
    b.ok("/VolumeDriver.Remove", &name_body("orphan"));
}

#[test]
fn kill9_and_restart_keeps_mount_counts_and_leases() {
    let shared = tempfile::tempdir().unwrap();
    let mut a = TestPlugin::start(shared.path(), "node-a", "lease_ttl_secs = 2");
    let b = TestPlugin::start(shared.path(), "node-b", "lease_ttl_secs = 2");
    a.ok("/VolumeDriver.Create", &name_body("durable"));
    a.ok("/VolumeDriver.Mount", &mount_body("durable", "c1"));
    a.ok("/VolumeDriver.Mount", &mount_body("durable", "c2"));
    a.kill9();
    a.restart();
    std::thread::sleep(Duration::from_secs(4));
    let refused = b.err("/VolumeDriver.Remove", &name_body("durable"));
    assert!(
        refused.contains("node-a"),
        "lease lapsed after restart: {refused}"
    );
    let refused = a.err("/VolumeDriver.Remove", &name_body("durable"));
    assert!(refused.contains("2 container(s)"), "{refused}");
    a.ok("/VolumeDriver.Unmount", &mount_body("durable", "c1"));
    b.err("/VolumeDriver.Remove", &name_body("durable"));
    a.ok("/VolumeDriver.Unmount", &mount_body("durable", "c2"));
    b.ok("/VolumeDriver.Remove", &name_body("durable"));
    assert!(a.log().contains("kept mounts from before the restart"));
}

#[test]
fn sigterm_leaves_mounts_and_state_in_place() {
    let shared = tempfile::tempdir().unwrap();
    let mut a = TestPlugin::start(shared.path(), "node-a", "");
    a.ok("/VolumeDriver.Create", &name_body("kept"));
    let mounted = a.ok("/VolumeDriver.Mount", &mount_body("kept", "c1"));
    let status = a.sigterm();
    assert!(status.success(), "{status}");
    assert!(!a.socket.exists(), "socket removed on SIGTERM");
    assert!(Path::new(mounted["Mountpoint"].as_str().unwrap()).is_dir());
    let journal = std::fs::read_to_string(a.state_dir().join("mounts.journal")).unwrap();
    assert!(
        journal.contains(r#""volume":"kept","id":"c1""#),
        "{journal}"
    );
    a.restart();
    let got = a.ok("/VolumeDriver.Get", &name_body("kept"));
    assert_eq!(got["Volume"]["Status"]["mounts_on_this_node"], 1);
}

#[test]
fn a_second_plugin_on_a_live_socket_refuses_to_start() {
    let shared = tempfile::tempdir().unwrap();
    let a = TestPlugin::start(shared.path(), "node-a", "");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstor-plugin"))
        .arg("--config")
        .arg(&a.config_path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already serving"), "{stderr}");
    a.ok("/Plugin.Activate", "");
}

#[test]
fn an_unreachable_efs_file_system_is_an_err_not_a_hang() {
    let filesystems = "[[filesystems]]\nid = \"fs-0dead\"\nbackend = \"efs\"\ndns_name = \"fs-0dead.efs.invalid\"\n";
    let node = TestPlugin::start_with_filesystems("node-a", "mount_timeout_secs = 3", filesystems);
    let started = std::time::Instant::now();
    let err = node.err("/VolumeDriver.Create", &name_body("nowhere"));
    assert!(
        err.contains("mounting file system fs-0dead failed") && err.contains("mount_target_ips"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    node.ok("/Plugin.Activate", "");
}

#[test]
fn cloudstor_volume_lists_restores_and_purges_the_trash() {
    use plugin_support::cloudstor;
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let config = node.config_path.to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let mut full = vec!["volume", "--config", &config];
        full.extend_from_slice(args);
        let output = cloudstor(&full);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), stdout, stderr)
    };
    node.ok("/VolumeDriver.Create", &name_body("precious"));
    let mounted = node.ok("/VolumeDriver.Mount", &mount_body("precious", "c1"));
    let file = Path::new(mounted["Mountpoint"].as_str().unwrap()).join("f");
    std::fs::write(&file, "data").unwrap();
    let (ok, stdout, _) = run(&["inspect", "precious"]);
    assert!(ok && stdout.contains("\"node-a\""), "{stdout}");
    node.ok("/VolumeDriver.Unmount", &mount_body("precious", "c1"));
    let (ok, stdout, _) = run(&["ls"]);
    assert!(ok && stdout.contains("precious"), "{stdout}");

    node.ok("/VolumeDriver.Remove", &name_body("precious"));
    let (_, stdout, _) = run(&["ls"]);
    assert!(!stdout.contains("precious"), "{stdout}");
    let (ok, stdout, _) = run(&["ls", "--trash", "--json"]);
    assert!(ok, "{stdout}");
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = entries[0]["id"].as_str().unwrap().to_string();
    assert_eq!(entries[0]["removed_by"], "node-a");
    let (ok, stdout, _) = run(&["ls", "--trash"]);
    assert!(
        ok && stdout.contains(&id) && stdout.contains("PURGED AFTER"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = run(&["restore", &id]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("restored precious"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
    let got = node.ok("/VolumeDriver.Get", &name_body("precious"));
    assert_eq!(got["Volume"]["Name"], "precious");

    node.ok("/VolumeDriver.Remove", &name_body("precious"));
    let (_, stdout, _) = run(&["ls", "--trash", "--json"]);
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = entries[0]["id"].as_str().unwrap().to_string();
    let (ok, _, _) = run(&["purge", "--expired"]);
    assert!(ok);
    let (ok, stdout, _) = run(&["purge", &id]);
    assert!(ok && stdout.contains(&format!("purged {id}")), "{stdout}");
    let (ok, _, stderr) = run(&["restore", &id]);
    assert!(!ok && stderr.contains("no trashed volume"), "{stderr}");
    let (ok, _, stderr) = run(&["inspect", "a/b"]);
    assert!(!ok && stderr.contains("'/'"), "{stderr}");
}

/// A cluster volume from before `managed_by` is a VolumeDriver volume to this build; `cloudstor
/// volume mark-cluster` hands it back to Swarm, but never while a node has it mounted.
#[test]
fn cloudstor_volume_mark_cluster_hands_an_unmounted_volume_to_swarm() {
    use plugin_support::cloudstor;
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "node-a", "");
    let config = node.config_path.to_string_lossy().into_owned();
    let mark = |name: &str| {
        let output = cloudstor(&[
            "volume",
            "mark-cluster",
            name,
            "--auto-approve",
            "--config",
            &config,
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), stdout + &stderr)
    };
    let record = shared.path().join("volumes/legacy/volume.json");
    node.ok("/VolumeDriver.Create", &name_body("legacy"));
    node.ok("/VolumeDriver.Mount", &mount_body("legacy", "c1"));
    let before = std::fs::read(&record).unwrap();

    let (ok, said) = mark("legacy");
    assert!(!ok && said.contains("mounted on node(s) node-a"), "{said}");
    assert_eq!(std::fs::read(&record).unwrap(), before, "record untouched");
    assert!(!shared.path().join("cluster/legacy").exists());
    let (ok, said) = mark("../x");
    assert!(!ok && said.contains("volume name"), "{said}");

    node.ok("/VolumeDriver.Unmount", &mount_body("legacy", "c1"));
    let (ok, said) = mark("legacy");
    assert!(
        ok && said.contains("is a Swarm cluster volume now"),
        "{said}"
    );
    let (ok, said) = mark("legacy");
    assert!(ok && said.contains("already is"), "{said}");
    let listed = node.ok("/VolumeDriver.List", "{}");
    assert_eq!(listed["Volumes"], serde_json::json!([]), "{listed}");
    let refused = node.err("/VolumeDriver.Get", &name_body("legacy"));
    assert!(refused.contains("is a Swarm cluster volume"), "{refused}");
}
