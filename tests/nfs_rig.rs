//! The plugin on real NFS v4.1 across separate kernels (issue 12): one NFS server guest and
//! two node guests, each running dockerd and the `cloudstor-plugin` under test, booted once
//! for every scenario below (`tests/rig/`). Each scenario is reported as a test of its own;
//! name filters pick some (`cargo test --test nfs_rig -- stall`), `--list` lists them.
//!
//! The scenarios run in the order below: the fault scenarios come after the ones that need a
//! healthy server, and the stale file handle, which replaces the export, comes last.

mod plugin_support;
mod rig;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use rig::{Guest, NodeSpec, Reply, Rig};
use serde_json::{Value, json};

type Scenario = fn(&Rig);

const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "two_nodes_share_a_volume_and_only_an_unheld_one_goes_to_the_trash",
        two_nodes_share_a_volume_and_only_an_unheld_one_goes_to_the_trash,
    ),
    (
        "single_node_leases_are_read_fresh_past_the_attribute_cache",
        single_node_leases_are_read_fresh_past_the_attribute_cache,
    ),
    (
        "a_swarm_task_moves_to_another_node_and_keeps_its_data",
        a_swarm_task_moves_to_another_node_and_keeps_its_data,
    ),
    (
        "a_vanished_mount_is_mounted_again_and_a_foreign_one_is_refused",
        a_vanished_mount_is_mounted_again_and_a_foreign_one_is_refused,
    ),
    (
        "without_dns_the_mount_target_ip_of_the_nodes_zone_is_mounted",
        without_dns_the_mount_target_ip_of_the_nodes_zone_is_mounted,
    ),
    (
        "the_managed_plugin_mounts_the_export_itself_by_name_or_by_its_zones_ip",
        the_managed_plugin_mounts_the_export_itself_by_name_or_by_its_zones_ip,
    ),
    (
        "a_cluster_volume_follows_its_task_across_nodes_and_drains_to_the_trash",
        a_cluster_volume_follows_its_task_across_nodes_and_drains_to_the_trash,
    ),
    (
        "a_stalled_server_never_hangs_docker_and_recovers_by_itself",
        a_stalled_server_never_hangs_docker_and_recovers_by_itself,
    ),
    (
        "a_cut_off_node_holds_its_single_node_volume_until_its_heartbeat_lapses",
        a_cut_off_node_holds_its_single_node_volume_until_its_heartbeat_lapses,
    ),
    (
        "a_server_restart_keeps_data_and_leases_and_a_replaced_export_goes_stale",
        a_server_restart_keeps_data_and_leases_and_a_replaced_export_goes_stale,
    ),
];

/// A heartbeat lapses 6 s after the last renewal (every 2 s), so the cut-off scenario is short.
const LEASE_TTL_SECS: u64 = 6;
const OPERATION_TIMEOUT_SECS: u64 = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut list = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--skip" => skips.extend(args.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_string()),
        }
    }
    let chosen: Vec<&(&str, Scenario)> = SCENARIOS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .filter(|(name, _)| !skips.iter().any(|skip| name.contains(skip.as_str())))
        .collect();
    if list {
        for (name, _) in &chosen {
            println!("{name}: test");
        }
        return;
    }
    println!("\nrunning {} tests", chosen.len());
    if chosen.is_empty() {
        return;
    }
    let started = Instant::now();
    let rig = Rig::start(&[node("n1"), node("n2")]);
    println!("rig booted in {:.1} s", started.elapsed().as_secs_f64());
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let began = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&rig)));
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {verdict} ({:.1} s)",
            began.elapsed().as_secs_f64()
        );
        if result.is_err() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        rig.mark_failed();
    }
    drop(rig);
    println!(
        "\ntest result: {}. {} failed; finished in {:.1} s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        eprintln!("failures: {failed:?}");
        std::process::exit(101);
    }
}

fn node(name: &'static str) -> NodeSpec {
    NodeSpec {
        name,
        docker: true,
        plugin_config: format!(
            "lease_ttl_secs = {LEASE_TTL_SECS}\noperation_timeout_secs = {OPERATION_TIMEOUT_SECS}\n"
        ),
        filesystems: None,
    }
}

fn named(name: &str) -> Value {
    json!({ "Name": name })
}

fn mount(name: &str, id: &str) -> Value {
    json!({ "Name": name, "ID": id })
}

fn volume_names(reply: &Value) -> Vec<String> {
    reply["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|volume| volume["Name"].as_str().unwrap().to_string())
        .collect()
}

/// Scenario 1: what one kernel writes, another reads; a volume held anywhere stays put.
fn two_nodes_share_a_volume_and_only_an_unheld_one_goes_to_the_trash(rig: &Rig) {
    let (a, b) = (rig.node("n1"), rig.node("n2"));
    a.call_ok("/VolumeDriver.Create", &named("shared1"));
    let on_a = a
        .call_ok("/VolumeDriver.Mount", &mount("shared1", "a1"))
        .body["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let nfs = a.ok("grep ' /run/cloudstor/mnt/efs ' /proc/mounts");
    assert!(
        nfs.starts_with(&format!(
            "{}:/ /run/cloudstor/mnt/efs nfs4 ",
            rig::SERVER_IP
        )) && nfs.contains("vers=4.1"),
        "{nfs}"
    );
    a.ok(&format!("echo written-on-n1 > {on_a}/f"));

    assert!(
        volume_names(&b.call_ok("/VolumeDriver.List", &json!({})).body)
            .contains(&"shared1".to_string())
    );
    let on_b = b
        .call_ok("/VolumeDriver.Mount", &mount("shared1", "b1"))
        .body["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.ok(&format!("cat {on_b}/f")), "written-on-n1");
    b.call_ok("/VolumeDriver.Unmount", &mount("shared1", "b1"));
    assert_eq!(
        rig.server.ok("cat /run/export/volumes/shared1/data/f"),
        "written-on-n1",
        "the data is not on the server's export"
    );

    let refused = b.call_err("/VolumeDriver.Remove", &named("shared1"));
    assert!(refused.contains("n1"), "{refused}");
    a.call_ok("/VolumeDriver.Unmount", &mount("shared1", "a1"));
    b.call_ok("/VolumeDriver.Remove", &named("shared1"));
    assert!(
        !volume_names(&a.call_ok("/VolumeDriver.List", &json!({})).body)
            .contains(&"shared1".to_string())
    );
    let trash = rig.server.ok("ls /run/export/trash");
    assert!(trash.starts_with("shared1@"), "{trash}");
    assert_eq!(
        rig.server.ok("cat /run/export/trash/shared1@*/data/f"),
        "written-on-n1"
    );
}

/// Scenario 2: the attribute cache of another kernel's NFS client can show an old mtime for
/// seconds; the lease check must not be fooled by it.
fn single_node_leases_are_read_fresh_past_the_attribute_cache(rig: &Rig) {
    let (a, b) = (rig.node("n1"), rig.node("n2"));
    let create = json!({ "Name": "solo", "Opts": { "access": "single-node" } });
    a.call_ok("/VolumeDriver.Create", &create);
    let probe = "/run/cloudstor/mnt/efs/volumes/solo/data/probe";
    a.ok(&format!("touch -d @1000 {probe}"));
    let plain = staleness(a, b, probe, 2000, &format!("stat -c %Y {probe}"));
    let opened = staleness(
        a,
        b,
        probe,
        3000,
        &format!("{{ stat -L -c %Y /proc/self/fd/3; }} 3< {probe}"),
    );
    println!(
        "  another node's mtime change: plain stat saw it after {plain:.2} s, open+fstat after {:.2} s",
        opened.max(0.0)
    );
    assert!(
        plain > 1.0,
        "a plain stat was not stale ({plain:.2} s): this rig would not catch a lease read that trusts it"
    );
    assert!(opened < 0.5, "open+fstat was stale for {opened:.2} s");

    let leases = "/run/cloudstor/mnt/efs/volumes/solo/leases";
    // B reads the volume's leases (none yet), as the plugin and as a plain stat would.
    b.call_ok("/VolumeDriver.Get", &named("solo"));
    b.ok(&format!("ls -a {leases}; stat -c %Y {leases}"));
    a.call_ok("/VolumeDriver.Mount", &mount("solo", "a1"));
    let refused = b.call_err("/VolumeDriver.Mount", &mount("solo", "b1"));
    assert!(
        refused.contains("single-node") && refused.contains("n1"),
        "{refused}"
    );

    // A's lease goes from held to released and B's from released to held, each read at once
    // by the other kernel.
    b.ok(&format!("stat -c %Y {leases}/n1.lease"));
    a.call_ok("/VolumeDriver.Unmount", &mount("solo", "a1"));
    b.call_ok("/VolumeDriver.Mount", &mount("solo", "b2"));
    let refused = a.call_err("/VolumeDriver.Mount", &mount("solo", "a2"));
    assert!(refused.contains("n2"), "{refused}");
    b.call_ok("/VolumeDriver.Unmount", &mount("solo", "b2"));

    // What a cached mtime could fool: A's heartbeat, seen lapsed by B, then renewed (a plugin
    // paused, or restarting). A lease-file change also changes its directory, which makes
    // B's client look the file up again; a heartbeat change touches nothing else.
    a.call_ok("/VolumeDriver.Mount", &mount("solo", "a3"));
    let heartbeat = "/run/export/nodes/n1.alive";
    a.ok("kill -STOP $(pidof cloudstor-plugin)");
    rig.server.ok(&format!(
        "until [ $(stat -c %Y {heartbeat}) -lt $(date +%s) ]; do sleep 0.1; done"
    ));
    let status = &b.call_ok("/VolumeDriver.Get", &named("solo")).body["Volume"]["Status"];
    assert_eq!(status["mounted_on"], json!([]), "{status}");
    a.ok("kill -CONT $(pidof cloudstor-plugin)");
    rig.server.ok(&format!(
        "until [ $(stat -c %Y {heartbeat}) -gt $(date +%s) ]; do sleep 0.05; done"
    ));
    let refused = b.call_err("/VolumeDriver.Mount", &mount("solo", "b3"));
    assert!(refused.contains("n1"), "{refused}");
    a.call_ok("/VolumeDriver.Unmount", &mount("solo", "a3"));
}

/// Seconds between `writer` setting `path`'s mtime to `value` and `reader` seeing it with
/// `read`, after `reader` has read the old value (so its client caches it).
fn staleness(writer: &Guest, reader: &Guest, path: &str, value: u64, read: &str) -> f64 {
    let old = reader.ok(read);
    assert_ne!(old, value.to_string());
    std::thread::scope(|scope| {
        let poll = scope.spawn(|| {
            reader.ok(&format!(
                "until [ \"$({read})\" = {value} ]; do sleep 0.05; done; now"
            ))
        });
        std::thread::sleep(Duration::from_millis(300));
        let changed: f64 = writer
            .ok(&format!("touch -d @{value} {path}; now"))
            .parse()
            .unwrap();
        let seen: f64 = poll.join().unwrap().parse().unwrap();
        seen - changed
    })
}

/// Scenario 6, the flagship: a two-node Swarm whose tasks move between kernels and find their
/// own data on the NFS server.
fn a_swarm_task_moves_to_another_node_and_keeps_its_data(rig: &Rig) {
    let image = rig.load_image();
    rig.swarm();
    let manager = rig.node("n1");
    let mover = "/run/export/volumes/movervol/data/log";
    manager.ok(&format!(
        "docker service create -d -q --name mover --constraint node.hostname==n1 \
         --stop-grace-period 2s --env NODE={{{{.Node.Hostname}}}} \
         --mount type=volume,volume-driver=cloudstor,source=movervol,destination=/data \
         {image} sh -c 'echo \"$NODE found $(cat /data/log 2>/dev/null | wc -l) line(s)\" >> /data/log; exec sleep 3600'"
    ));
    rig.server
        .ok(&format!("wait_until 90 grep -q '^n1 ' {mover}"));
    let moved = std::thread::scope(|scope| {
        let seen = scope.spawn(|| {
            rig.server
                .ok(&format!("wait_until 90 grep -q '^n2 ' {mover}; now"))
        });
        let updated = manager.ok(
            "now; docker service update -d -q --constraint-rm node.hostname==n1 \
             --constraint-add node.hostname==n2 mover >/dev/null",
        );
        seen.join().unwrap().parse::<f64>().unwrap() - updated.parse::<f64>().unwrap()
    });
    println!("  service update to the moved task appending to its data: {moved:.1} s");
    assert_eq!(
        rig.server.ok(&format!("cat {mover}")),
        "n1 found 0 line(s)\nn2 found 1 line(s)"
    );

    // One volume per slot, one slot per node; the drained node's slot moves and finds its
    // own volume.
    manager.ok(&format!(
        "docker service create -d -q --name slots --replicas 2 --stop-grace-period 2s \
         --env NODE={{{{.Node.Hostname}}}} --env SLOT={{{{.Task.Slot}}}} \
         --mount type=volume,volume-driver=cloudstor,source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,destination=/data \
         {image} sh -c 'echo \"slot $SLOT on $NODE found [$(cat /data/log 2>/dev/null)]\" >> /data/log; exec sleep 3600'"
    ));
    let slot_log = |slot: u32| format!("/run/export/volumes/slots-{slot}-vol/data/log");
    rig.server.ok(&format!(
        "wait_until 90 test -s {} && wait_until 90 test -s {}",
        slot_log(1),
        slot_log(2)
    ));
    let first = rig.server.ok(&format!("cat {}", slot_log(1)));
    let second = rig.server.ok(&format!("cat {}", slot_log(2)));
    let node_of = |line: &str| line.split(' ').nth(3).unwrap().to_string();
    let (from, to) = (node_of(&first), node_of(&second));
    assert_ne!(from, to, "both slots on one node: {first} / {second}");
    assert_eq!(first, format!("slot 1 on {from} found []"));
    manager.ok(&format!(
        "docker node update --availability drain {from} >/dev/null"
    ));
    rig.server.ok(&format!(
        "wait_until 90 sh -c '[ $(wc -l < {}) = 2 ]'",
        slot_log(1)
    ));
    assert_eq!(
        rig.server.ok(&format!("cat {}", slot_log(1))),
        format!("{first}\nslot 1 on {to} found [{first}]")
    );
    assert_eq!(rig.server.ok(&format!("cat {}", slot_log(2))), second);

    manager.ok("docker service rm mover slots >/dev/null");
    manager.ok(&format!(
        "docker node update --availability active {from} >/dev/null"
    ));
    for node in &rig.nodes {
        node.ok("wait_until 60 sh -c '[ -z \"$(docker ps -q)\" ]'");
    }
}

/// The plugin's mount of the file system on every node.
const EFS_ROOT: &str = "/run/cloudstor/mnt/efs";

/// What lies in the node's own `/run` at `EFS_ROOT`, under whatever is mounted there: a
/// non-recursive bind of `/run` shows the directory itself, not the mounts on it.
fn local_entries(node: &Guest) -> String {
    node.ok(&format!(
        "mkdir -p /run/peek && mount --bind /run /run/peek && ls -A /run/peek{}; umount /run/peek",
        EFS_ROOT.trim_start_matches("/run")
    ))
}

fn mounts_logged(node: &Guest) -> usize {
    std::fs::read_to_string(node.dir.join("plugin.log"))
        .unwrap_or_default()
        .matches("mounted EFS file system")
        .count()
}

/// Issue 12: the node's NFS mount is lazily unmounted behind the plugin's back (an admin, a
/// cleanup script), then replaced by something else. An empty local directory must never
/// become the store: the plugin mounts the server again, and refuses a foreign mount.
fn a_vanished_mount_is_mounted_again_and_a_foreign_one_is_refused(rig: &Rig) {
    let a = rig.node("n1");
    let before = mounts_logged(a);
    a.ok(&format!("umount -l {EFS_ROOT}"));
    a.call_ok("/VolumeDriver.List", &json!({}));
    a.call_ok("/VolumeDriver.Create", &named("remounted"));
    assert!(mounts_logged(a) > before, "{}", a.plugin_log_tail());
    let nfs = a.ok(&format!("grep ' {EFS_ROOT} ' /proc/mounts"));
    assert!(
        nfs.starts_with(&format!("{}:/ {EFS_ROOT} nfs4 ", rig::SERVER_IP)),
        "{nfs}"
    );
    rig.server.ok("test -d /run/export/volumes/remounted/data");
    assert_eq!(
        local_entries(a),
        "",
        "the plugin wrote into the bare local directory"
    );

    a.ok(&format!("mount -t tmpfs -o size=1m impostor {EFS_ROOT}"));
    let unmask = Undo(a, "umount /run/cloudstor/mnt/efs");
    for (endpoint, body) in [
        ("/VolumeDriver.Create", named("masked")),
        ("/VolumeDriver.Get", named("remounted")),
        ("/VolumeDriver.List", json!({})),
    ] {
        let refused = a.call_err(endpoint, &body);
        assert!(
            refused.contains("is not a live NFS mount of") && refused.contains("tmpfs"),
            "{endpoint}: {refused}"
        );
    }
    // A heartbeat round (every lease_ttl / 3) must not write there either.
    std::thread::sleep(Duration::from_secs(LEASE_TTL_SECS / 3 + 1));
    assert_eq!(
        a.ok(&format!("ls -A {EFS_ROOT}")),
        "",
        "written into the tmpfs"
    );
    drop(unmask);
    a.call_ok("/VolumeDriver.Remove", &named("remounted"));
}

/// Issue 12: in a VPC without Amazon's resolver the file system's DNS name does not resolve;
/// the plugin mounts the mount target of its own Availability Zone by IP. A second plugin on
/// n2, with a socket, state and mount root of its own, is configured that way.
fn without_dns_the_mount_target_ip_of_the_nodes_zone_is_mounted(rig: &Rig) {
    let b = rig.node("n2");
    let socket = "/run/cloudstor/by-ip.sock";
    let config = b.dir.join("by-ip.toml");
    std::fs::write(
        &config,
        format!(
            "socket = \"{socket}\"\nstate_dir = \"/run/cloudstor/by-ip-state\"\n\
             mount_root = \"/run/cloudstor/by-ip-mnt\"\nnode_id = \"n2-by-ip\"\n\
             docker_socket = \"/run/no-docker.sock\"\navailability_zone = \"rig-zone-b\"\n\
             [[filesystems]]\nid = \"efs\"\nbackend = \"efs\"\ndns_name = \"fs-0000.efs.invalid\"\n\
             mount_target_ips = {{ \"rig-zone-a\" = \"10.99.0.250\", \"rig-zone-b\" = \"{}\" }}\n",
            rig::SERVER_IP
        ),
    )
    .unwrap();
    let log = b.dir.join("by-ip.log");
    b.ok(&format!(
        "RUST_LOG=info \"$PLUGIN\" --config {} >> {} 2>&1 & echo $! > /run/by-ip.pid; wait_until 20 test -S {socket} || {{ cat {}; exit 1; }}",
        config.display(),
        log.display(),
        log.display()
    ));
    let _stop = Undo(
        b,
        "kill $(cat /run/by-ip.pid); sleep 0.5; umount -l /run/cloudstor/by-ip-mnt/efs",
    );
    let created = b.call_on(socket, "/VolumeDriver.Create", &named("by-ip"));
    assert!(
        created.status == 200 && created.err().is_empty(),
        "{created:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let nfs = b.ok("grep ' /run/cloudstor/by-ip-mnt/efs ' /proc/mounts");
    assert!(
        nfs.starts_with(&format!(
            "{}:/ /run/cloudstor/by-ip-mnt/efs nfs4 ",
            rig::SERVER_IP
        )),
        "{nfs}"
    );
    // The next call finds the mount by IP in the mount table and accepts it.
    let listed = b.call_on(socket, "/VolumeDriver.List", &json!({}));
    assert!(
        volume_names(&listed.body).contains(&"by-ip".to_string()),
        "{listed:?}"
    );
    rig.server.ok("test -d /run/export/volumes/by-ip/data");
    let removed = b.call_on(socket, "/VolumeDriver.Remove", &named("by-ip"));
    assert!(removed.status == 200, "{removed:?}");
}

const MANAGED: &str = "cloudstor-managed:rig";
/// A name only node n1's /etc/hosts knows, as an EFS DNS name is known only inside its VPC.
const MANAGED_DNS_NAME: &str = "fs-rig.efs.rig.test";

/// The managed plugin: `docker plugin create` + `enable` on node n1, its scratch rootfs
/// holding no `mount.nfs`. It mounts the export itself, by name (resolved from the node's
/// /etc/hosts, which Docker binds into the plugin) and, once set to a name that does not
/// resolve, by the mount target IP of its Availability Zone. What it writes, node n2's
/// plugin lists and the server holds.
fn the_managed_plugin_mounts_the_export_itself_by_name_or_by_its_zones_ip(rig: &Rig) {
    let (a, b) = (rig.node("n1"), rig.node("n2"));
    let image = rig.load_image();
    let package = managed_plugin_package(rig, Protocol::VolumeDriver);
    a.ok(&format!(
        "printf '127.0.0.1 localhost\\n{} {MANAGED_DNS_NAME}\\n' > /run/rig-hosts && mount --bind /run/rig-hosts /etc/hosts",
        rig::SERVER_IP
    ));
    let _undo = Undo(
        a,
        "docker plugin disable -f cloudstor-managed:rig; docker plugin rm -f cloudstor-managed:rig; \
         umount /etc/hosts; unmount_managed_efs",
    );
    a.ok(&format!(
        "mkdir -p /run/cloudstor/managed-data && docker plugin create {MANAGED} {} > /dev/null && \
         docker plugin set {MANAGED} EFS_ID_GENERAL_PURPOSE=efs EFS_DNS_GENERAL_PURPOSE={MANAGED_DNS_NAME} \
         NODE_ID=n1-managed data.source=/run/cloudstor/managed-data && docker plugin enable {MANAGED}",
        package.display()
    ));
    a.ok(&format!(
        "docker volume create -d {MANAGED} managed > /dev/null && \
         docker run --rm -v managed:/data {image} sh -c 'echo written-by-name > /data/f'"
    ));
    // The mount table shows the source of the export's first mount in this kernel (the
    // node's own plugin mounted it by IP), so the plugin's log says by what it mounted.
    let by_name = format!("server={MANAGED_DNS_NAME} addr={}", rig::SERVER_IP);
    assert_eq!(managed_mounts_logged(a, &by_name), 1);
    let mounted = a.ok("managed_efs_mounts");
    assert!(
        mounted.contains(&format!(",addr={}", rig::SERVER_IP)),
        "{mounted}"
    );
    assert_eq!(
        rig.server
            .ok("cat /run/export/volumes/managed/data/f")
            .trim(),
        "written-by-name"
    );
    let listed = b.call_ok("/VolumeDriver.List", &json!({}));
    assert!(
        volume_names(&listed.body).contains(&"managed".to_string()),
        "{listed:?}"
    );

    a.ok(&format!(
        "docker plugin disable -f {MANAGED} && unmount_managed_efs && \
         docker plugin set {MANAGED} EFS_DNS_GENERAL_PURPOSE=fs-0000.efs.invalid AVAILABILITY_ZONE=rig-zone-b \
         EFS_MOUNT_TARGET_IPS_GENERAL_PURPOSE=rig-zone-a=10.99.0.250,rig-zone-b={} && \
         docker plugin enable {MANAGED}",
        rig::SERVER_IP
    ));
    let read = a.ok(&format!(
        "docker run --rm -v managed:/data {image} cat /data/f"
    ));
    assert_eq!(read.trim(), "written-by-name");
    let by_ip = format!("server={0} addr={0}", rig::SERVER_IP);
    assert_eq!(managed_mounts_logged(a, &by_ip), 1);
    a.ok("docker volume rm managed > /dev/null");
}

/// How many times the managed plugin on `node` logged mounting the export with `server`
/// (Docker keeps a managed plugin's output in its own log).
fn managed_mounts_logged(node: &Guest, server: &str) -> usize {
    std::fs::read_to_string(node.dir.join("dockerd.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("mounted EFS file system") && line.contains(server))
        .count()
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    VolumeDriver,
    Csi,
}

/// `cloudstor plugin package` (`--csi` for the CSI package) with the static plugin,
/// stripped: Docker gzips the rootfs into the guest's tmpfs, and a debug binary's symbols
/// would make that slow.
fn managed_plugin_package(rig: &Rig, protocol: Protocol) -> std::path::PathBuf {
    let binary = rig.dir.join("cloudstor-plugin-static");
    if !binary.exists() {
        std::fs::copy(plugin_support::static_plugin_binary(), &binary).unwrap();
        let status = std::process::Command::new("strip")
            .arg(&binary)
            .status()
            .unwrap();
        assert!(status.success(), "strip {}", binary.display());
    }
    let (package, csi) = match protocol {
        Protocol::VolumeDriver => (rig.dir.join("managed-plugin"), None),
        Protocol::Csi => (rig.dir.join("csi-plugin"), Some("--csi")),
    };
    let package_arg = package.to_string_lossy();
    let binary_arg = binary.to_string_lossy();
    let args = ["plugin", "package"].into_iter().chain(csi);
    let args: Vec<&str> = args
        .chain([package_arg.as_ref(), "--binary", binary_arg.as_ref()])
        .collect();
    let output = plugin_support::cloudstor(&args);
    assert!(
        output.status.success(),
        "cloudstor plugin package: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    package
}

const CSI_PLUGIN: &str = "cloudstor-csi:rig";
const CSI_NODE_UNDO: &str = "docker plugin disable -f cloudstor-csi:rig; \
    docker plugin rm -f cloudstor-csi:rig; unmount_managed_efs";
const CSI_MANAGER_UNDO: &str = "docker service rm csi-mover; \
    cluster_volume_ids | xargs -r docker volume rm -f; \
    docker plugin disable -f cloudstor-csi:rig; docker plugin rm -f cloudstor-csi:rig; \
    unmount_managed_efs";

/// Issue 16's Swarm scenario across guests: the CSI package on both nodes with the efs
/// backend on the server guest's export; a cluster volume's task writes on n1, moves to n2
/// and reads it; drained and removed, the volume lies in the export's trash.
fn a_cluster_volume_follows_its_task_across_nodes_and_drains_to_the_trash(rig: &Rig) {
    let image = rig.load_image();
    rig.swarm();
    let package = managed_plugin_package(rig, Protocol::Csi);
    let manager = rig.node("n1");
    let _undo: Vec<Undo> = rig
        .nodes
        .iter()
        .map(|node| {
            let undo = if node.name == manager.name {
                CSI_MANAGER_UNDO
            } else {
                CSI_NODE_UNDO
            };
            Undo(node, undo)
        })
        .collect();
    std::thread::scope(|scope| {
        for node in &rig.nodes {
            let package = &package;
            scope.spawn(move || {
                node.ok(&format!(
                    "mkdir -p /run/cloudstor/csi-data && docker plugin create {CSI_PLUGIN} {} > /dev/null && \
                     docker plugin set {CSI_PLUGIN} EFS_ID_GENERAL_PURPOSE=efs EFS_DNS_GENERAL_PURPOSE={} \
                     NODE_ID={}-csi data.source=/run/cloudstor/csi-data && docker plugin enable {CSI_PLUGIN}",
                    package.display(),
                    rig::SERVER_IP,
                    node.name
                ))
            });
        }
    });
    manager.ok(&format!(
        "docker volume create --driver {CSI_PLUGIN} --type mount --sharing all --scope multi csivol >/dev/null && \
         wait_until 60 sh -c 'docker volume ls --cluster | grep -q \"^csivol .*created\"'"
    ));
    let log = "/run/export/volumes/csivol/data/log";
    let started = Instant::now();
    manager.ok(&format!(
        "docker service create -d -q --name csi-mover --constraint node.hostname==n1 \
         --stop-grace-period 2s --env NODE={{{{.Node.Hostname}}}} \
         --mount type=cluster,src=csivol,dst=/data \
         {image} sh -c 'echo \"$NODE found $(cat /data/log 2>/dev/null | wc -l) line(s)\" >> /data/log; exec sleep 3600' >/dev/null"
    ));
    let appended_by = |node: &str, what: &str, since: Instant| {
        let waited = rig.server.run(
            &format!("wait_until 120 grep -q '^{node} ' {log}"),
            Duration::from_secs(130),
        );
        let tasks = || manager.ok("docker service ps --no-trunc csi-mover");
        assert_eq!(waited.code, 0, "no write from {node}: {}", tasks());
        println!("  {what}: {:.1} s", since.elapsed().as_secs_f64());
    };
    appended_by("n1", "service create to the task on n1 appending", started);
    let moved = Instant::now();
    manager.ok(
        "docker service update -d -q --constraint-rm node.hostname==n1 \
         --constraint-add node.hostname==n2 csi-mover >/dev/null",
    );
    appended_by(
        "n2",
        "service update to the moved task on n2 appending",
        moved,
    );
    assert_eq!(
        rig.server.ok(&format!("cat {log}")),
        "n1 found 0 line(s)\nn2 found 1 line(s)"
    );

    // The node's VolumeDriver plugin serves the same export but leaves the cluster volume
    // out, so Docker knows `csivol` once and a bare name reaches the cluster volume.
    let listed = manager.ok("docker volume ls --format '{{.Driver}} {{.Name}}'");
    assert!(
        !listed.lines().any(|line| line == "cloudstor csivol"),
        "the VolumeDriver plugin lists the cluster volume:\n{listed}"
    );
    // Swarm removes a drained volume once every node has unpublished it.
    let removed = manager.run(
        "docker service rm csi-mover >/dev/null && \
         docker volume update --availability drain csivol && \
         wait_until 90 docker volume rm csivol >/dev/null 2>&1",
        Duration::from_secs(100),
    );
    assert_eq!(
        removed.code,
        0,
        "{}",
        manager.ok("docker volume ls --cluster")
    );
    rig.server
        .ok("wait_until 60 sh -c 'ls /run/export/trash | grep -q ^csivol@'");
    assert_eq!(
        rig.server
            .run(
                "test -e /run/export/volumes/csivol",
                Duration::from_secs(10)
            )
            .code,
        1,
        "the volume left the store"
    );
}

/// Runs a script that undoes a fault when dropped, so a failed scenario leaves the next a
/// healthy rig.
struct Undo<'a>(&'a Guest, &'static str);

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        self.0.run(self.1, Duration::from_secs(30));
    }
}

/// Every call answers within `operation_timeout_secs` and a little for the HTTP round trip.
fn answered_in_time(node: &Guest, endpoint: &str, body: &Value) -> Reply {
    let reply = node.call(endpoint, body);
    assert!(
        reply.secs < OPERATION_TIMEOUT_SECS as f64 + 1.0,
        "{}: {endpoint} {body} took {:.1} s: {reply:?}",
        node.name,
        reply.secs
    );
    reply
}

/// Calls `endpoint` until it succeeds, each call answering in time; returns the seconds
/// from `since` (a guest's `now`) to the success.
fn until_ok(node: &Guest, endpoint: &str, body: &Value, since: f64, limit_secs: f64) -> f64 {
    loop {
        let reply = answered_in_time(node, endpoint, body);
        let at: f64 = node.ok("now").parse().unwrap();
        if reply.status == 200 && reply.err().is_empty() {
            return at - since;
        }
        assert!(
            at - since < limit_secs,
            "{endpoint} still failing: {reply:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Scenario 3: `rpc.nfsd 0` stops every server thread; the node's hard NFS mount blocks.
fn a_stalled_server_never_hangs_docker_and_recovers_by_itself(rig: &Rig) {
    let a = rig.node("n1");
    a.call_ok("/VolumeDriver.Create", &named("busy"));
    a.call_ok("/VolumeDriver.Mount", &mount("busy", "s1"));
    rig.server.ok("rpc.nfsd 0");
    let _resume = Undo(&rig.server, "rpc.nfsd 8");

    let timed_out = answered_in_time(a, "/VolumeDriver.Create", &named("late"));
    assert!(timed_out.err().contains("did not answer"), "{timed_out:?}");
    for (endpoint, body) in [
        ("/VolumeDriver.Get", named("busy")),
        ("/VolumeDriver.Path", named("busy")),
        ("/VolumeDriver.Mount", mount("busy", "s2")),
        ("/VolumeDriver.Remove", named("busy")),
    ] {
        let reply = answered_in_time(a, endpoint, &body);
        assert!(
            reply.status != 200,
            "{endpoint} answered from nowhere: {reply:?}"
        );
    }
    let listed = answered_in_time(a, "/VolumeDriver.List", &json!({}));
    assert_eq!(listed.body["Volumes"], json!([]), "{listed:?}");
    answered_in_time(a, "/VolumeDriver.Capabilities", &json!({}));
    for command in ["docker ps", "docker volume ls"] {
        let secs: f64 = a
            .ok(&format!(
                "start=$(now); {command} >/dev/null; awk \"BEGIN {{ print $(now) - $start }}\""
            ))
            .parse()
            .unwrap();
        println!("  {command} during the stall: {secs:.2} s");
        assert!(secs < 2.0, "{command} took {secs:.2} s during the stall");
    }

    let resumed: f64 = rig.server.ok("rpc.nfsd 8; now").parse().unwrap();
    let recovered = until_ok(a, "/VolumeDriver.Create", &named("after"), resumed, 90.0);
    println!("  stalled server back: Create succeeded again after {recovered:.1} s");
    until_ok(a, "/VolumeDriver.List", &json!({}), resumed, 30.0);
    let names = volume_names(&a.call_ok("/VolumeDriver.List", &json!({})).body);
    assert!(
        names.contains(&"busy".to_string()) && names.contains(&"after".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"late".to_string()),
        "a Create reported failed appeared later: {names:?}"
    );
    a.call_ok("/VolumeDriver.Unmount", &mount("busy", "s1"));
}

/// Scenario 5: node A loses its network while it holds a single-node volume. Its leases stand
/// until its heartbeat lapses, `lease_ttl_secs` after its last renewal; then B may take it,
/// and A, back on the network, must not take it back.
fn a_cut_off_node_holds_its_single_node_volume_until_its_heartbeat_lapses(rig: &Rig) {
    let (a, b) = (rig.node("n1"), rig.node("n2"));
    let create = json!({ "Name": "island", "Opts": { "access": "single-node" } });
    a.call_ok("/VolumeDriver.Create", &create);
    a.call_ok("/VolumeDriver.Mount", &mount("island", "i1"));
    a.ok("ip link set eth0 down");
    let reconnect = Undo(a, "ip link set eth0 up");
    let heartbeat = "/run/cloudstor/mnt/efs/nodes/n1.alive";
    let expiry: f64 = b
        .ok(&format!(
            "{{ stat -L -c %.3Y /proc/self/fd/3; }} 3< {heartbeat}"
        ))
        .parse()
        .unwrap();
    let mut refusals = 0;
    let taken_at = loop {
        // The plugin decides after it is asked: a refusal asked for well after the lapse is a
        // bug, one that merely returned late (a loaded machine) is not.
        let asked: f64 = b.ok("now").parse().unwrap();
        let reply = b.call("/VolumeDriver.Mount", &mount("island", "b1"));
        let at: f64 = b.ok("now").parse().unwrap();
        if reply.status == 200 {
            break at;
        }
        assert!(reply.err().contains("n1"), "{reply:?}");
        assert!(
            asked < expiry + 1.0,
            "still refused when asked {:.1} s after A's heartbeat lapsed",
            asked - expiry
        );
        refusals += 1;
        std::thread::sleep(Duration::from_millis(300));
    };
    println!(
        "  B refused {refusals} time(s), then mounted {:.1} s after A's heartbeat lapsed",
        taken_at - expiry
    );
    assert!(refusals > 0, "B took the volume at once");
    assert!(
        taken_at >= expiry.floor(),
        "B took the volume {:.1} s before A's heartbeat lapsed",
        expiry - taken_at
    );

    // A's link comes back while B holds the volume: A's plugin must notice that its leases
    // had lapsed, give the volume up and refuse further Mounts until an operator decides.
    drop(reconnect);
    let back: f64 = a.ok("now").parse().unwrap();
    let rejoined = until_ok(a, "/VolumeDriver.Get", &named("island"), back, 120.0);
    println!("  A answered again {rejoined:.1} s after its link came back");
    let conflict = |node: &Guest| {
        node.call_ok("/VolumeDriver.Get", &named("island")).body["Volume"]["Status"].clone()
    };
    let flagged = (0..30).find_map(|_| {
        let status = conflict(a);
        std::thread::sleep(Duration::from_millis(500));
        status.get("conflict").is_some().then_some(status)
    });
    let status = flagged.unwrap_or_else(|| panic!("no conflict on A: {}", conflict(a)));
    assert!(
        status["conflict"].as_str().unwrap().contains("n2"),
        "{status}"
    );
    assert_eq!(conflict(b)["mounted_on"], json!(["n2"]));
    let refused = a.call_err("/VolumeDriver.Mount", &mount("island", "i2"));
    assert!(refused.contains("n2"), "{refused}");

    b.call_ok("/VolumeDriver.Unmount", &mount("island", "b1"));
    a.call_ok("/VolumeDriver.Unmount", &mount("island", "i1"));
    a.call_ok("/VolumeDriver.Mount", &mount("island", "i3"));
    a.call_ok("/VolumeDriver.Unmount", &mount("island", "i3"));
}

/// Scenario 4: the NFS server restarts (a new grace period), then its export is replaced
/// under live mounts: what still holds an old handle gets ESTALE.
fn a_server_restart_keeps_data_and_leases_and_a_replaced_export_goes_stale(rig: &Rig) {
    let (a, b) = (rig.node("n1"), rig.node("n2"));
    a.call_ok("/VolumeDriver.Create", &named("durable"));
    let path = a
        .call_ok("/VolumeDriver.Mount", &mount("durable", "d1"))
        .body["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok(&format!("echo before-restart > {path}/f"));
    let restarted: f64 = rig
        .server
        .ok(
            "rpc.nfsd 0; exportfs -ua; kill $(pidof rpc.mountd); echo 10 > /proc/fs/nfsd/nfsv4gracetime; \
             exportfs -ra; rpc.mountd --no-udp; rpc.nfsd -N 3 -V 4.1 8; now",
        )
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let recovered = until_ok(a, "/VolumeDriver.Create", &named("reborn"), restarted, 90.0);
    println!("  server restarted: Create succeeded again after {recovered:.1} s");
    let on_b = b
        .call_ok("/VolumeDriver.Mount", &mount("durable", "e1"))
        .body["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.ok(&format!("cat {on_b}/f")), "before-restart");
    b.call_ok("/VolumeDriver.Unmount", &mount("durable", "e1"));
    let refused = b.call_err("/VolumeDriver.Remove", &named("durable"));
    assert!(refused.contains("n1"), "{refused}");

    // Docker bind-mounts a volume's directory into the container; the bind pins its handle.
    a.ok(&format!(
        "mkdir -p /run/held && mount --bind {path} /run/held"
    ));
    rig.server.ok(
        "exportfs -ua; umount -l /run/export; mount -t tmpfs -o mode=0755 export /run/export; exportfs -ra",
    );
    let held = a.run("ls /run/held", Duration::from_secs(30));
    assert!(
        held.code != 0 && held.output.contains("Stale file handle"),
        "{held:?}"
    );
    // The plugin on the other node reads the root by path: it meets a stale handle of its
    // own (and says what to do) or, once its client has looked the names up again, the new,
    // empty export.
    let listed = answered_in_time(b, "/VolumeDriver.List", &json!({}));
    println!(
        "  B's List after the export was replaced: {:?}",
        listed.body
    );
    assert!(
        listed.err().contains("umount -l")
            || listed.err().contains("emptied or replaced")
            || listed.body["Volumes"] == json!([]),
        "{listed:?}"
    );
    // The documented recovery: stop the containers, drop the node's mount of the file
    // system; the plugin mounts it again at the next call.
    a.ok("umount /run/held");
    a.call_ok("/VolumeDriver.Unmount", &mount("durable", "d1"));
    for node in [a, b] {
        node.ok("umount -l /run/cloudstor/mnt/efs");
    }
    // Both nodes used the old store: the new, empty export is refused, not made a store,
    // until the operator deletes each node's record of the old one.
    let refused = a.call_err("/VolumeDriver.Create", &named("fresh"));
    assert!(refused.contains("emptied or replaced"), "{refused}");
    let left = rig.server.ok("ls -A /run/export");
    assert!(left.trim().is_empty(), "written to the new export: {left}");
    for node in [a, b] {
        node.ok("rm /run/cloudstor/state/stores/efs.json");
    }
    a.call_ok("/VolumeDriver.Create", &named("fresh"));
    let names = volume_names(&a.call_ok("/VolumeDriver.List", &json!({})).body);
    assert_eq!(names, ["fresh"]);
    let names = volume_names(&b.call_ok("/VolumeDriver.List", &json!({})).body);
    assert_eq!(names, ["fresh"]);
}
