//! Figures on real NFS v4.1 (`scripts/bench-nfs.sh`), on the rig of `tests/rig/`: an NFS
//! server guest and two Docker node guests, each its own kernel.
//!
//! - Mount+Unmount pairs over the plugin's socket from one client inside node n1, on a volume
//!   of the NFS file system and on one of a hostpath file system (a tmpfs of the guest),
//!   alternated round by round in the same run; p50 and p99 of each.
//! - A one-replica Swarm service moved between the nodes by `docker service update`: from the
//!   update to the new task having appended to its volume (so it read what the last one
//!   wrote); median and maximum.
//!
//! Only with `--bench`: booting the rig is no smoke test. Inside a guest the same binary is
//! the measuring client (`guest-pairs`), so no process start sits inside a timed call.

#[path = "../tests/rig/mod.rs"]
mod rig;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rig::{NodeSpec, Rig, SOCKET};
use serde_json::json;

const ROUNDS: usize = 10;
const PAIRS_PER_ROUND: usize = 100;
const MOVES: usize = 6;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("guest-pairs") {
        guest_pairs(&args[2], args[3].parse().unwrap());
        return;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("benches/nfs.rs boots the NFS rig; run it with scripts/bench-nfs.sh");
        return;
    }
    let filesystems = format!(
        "{}\n[[filesystems]]\nid = \"local\"\nperformance_mode = \"maxIO\"\nbackend = \"hostpath\"\npath = \"/run/cloudstor/local\"\n",
        rig::efs_filesystem()
    );
    let node = |name| NodeSpec {
        name,
        docker: true,
        plugin_config: String::new(),
        filesystems: Some(filesystems.clone()),
    };
    let rig = Rig::start(&[node("n1"), node("n2")]);
    mount_pairs(&rig);
    service_moves(&rig);
}

fn mount_pairs(rig: &Rig) {
    let n1 = rig.node("n1");
    let volumes = [
        ("nfs", json!({})),
        ("hostpath", json!({ "perfmode": "maxio" })),
    ];
    for (name, options) in &volumes {
        n1.call_ok(
            "/VolumeDriver.Create",
            &json!({ "Name": name, "Opts": options }),
        );
    }
    let client = std::env::current_exe().unwrap();
    let mut samples: [Vec<f64>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (index, (name, _)) in volumes.iter().enumerate() {
            let out = n1.ok(&format!(
                "{} guest-pairs {name} {PAIRS_PER_ROUND}",
                client.display()
            ));
            samples[index].extend(out.lines().map(|line| line.parse::<f64>().unwrap()));
        }
    }
    println!(
        "Mount+Unmount, one client in a node guest, {} pairs each, alternated in {ROUNDS} rounds:",
        ROUNDS * PAIRS_PER_ROUND
    );
    for ((name, _), samples) in volumes.iter().zip(samples.iter_mut()) {
        samples.sort_by(f64::total_cmp);
        println!(
            "  {name:9} p50 {:.2} ms  p99 {:.2} ms",
            percentile(samples, 50),
            percentile(samples, 99)
        );
    }
}

fn service_moves(rig: &Rig) {
    let image = rig.load_image();
    rig.swarm();
    let manager = rig.node("n1");
    let log = "/run/export/volumes/movebench/data/log";
    manager.ok(&format!(
        "docker service create -d -q --name movebench --constraint node.hostname==n1 \
         --stop-grace-period 2s --env NODE={{{{.Node.Hostname}}}} \
         --mount type=volume,volume-driver=cloudstor,source=movebench,destination=/data \
         {image} sh -c 'echo \"$NODE after $(wc -l < /data/log 2>/dev/null || echo 0)\" >> /data/log; exec sleep 3600'"
    ));
    rig.server.ok(&format!("wait_until 90 test -s {log}"));
    let mut moves = Vec::new();
    for round in 1..=MOVES {
        let (from, to) = if round % 2 == 1 {
            ("n1", "n2")
        } else {
            ("n2", "n1")
        };
        let secs = std::thread::scope(|scope| {
            let seen = scope.spawn(|| {
                rig.server.ok(&format!(
                    "wait_until 90 sh -c '[ $(wc -l < {log}) -gt {round} ]'; now"
                ))
            });
            let updated = manager.ok(&format!(
                "now; docker service update -d -q --constraint-rm node.hostname=={from} \
                 --constraint-add node.hostname=={to} movebench >/dev/null"
            ));
            seen.join().unwrap().parse::<f64>().unwrap() - updated.parse::<f64>().unwrap()
        });
        let last = rig.server.ok(&format!("tail -n 1 {log}"));
        assert_eq!(
            last,
            format!("{to} after {round}"),
            "the moved task did not read its data"
        );
        moves.push(secs);
    }
    moves.sort_by(f64::total_cmp);
    println!(
        "service update to the moved task appending to its volume, {MOVES} moves: median {:.1} s, max {:.1} s",
        moves[MOVES / 2],
        moves[MOVES - 1]
    );
}

fn percentile(sorted: &[f64], pct: usize) -> f64 {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

/// In a guest: `pairs` Mount+Unmount pairs on `volume`, one connection per call as Docker
/// opens them; prints each pair's milliseconds.
fn guest_pairs(volume: &str, pairs: usize) {
    for pair in 0..pairs {
        let body = json!({ "Name": volume, "ID": format!("bench-{pair}") }).to_string();
        let started = Instant::now();
        for endpoint in ["/VolumeDriver.Mount", "/VolumeDriver.Unmount"] {
            post(endpoint, &body);
        }
        println!("{:.3}", started.elapsed().as_secs_f64() * 1000.0);
    }
}

fn post(endpoint: &str, body: &str) {
    let mut stream = UnixStream::connect(SOCKET).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {endpoint} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("\"Err\":\"\""),
        "{endpoint}: {response}"
    );
}
