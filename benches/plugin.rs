//! Volume plugin benchmark: `scripts/bench-plugin.sh` (release plugin binary, real Docker
//! engine, hostpath backend). Prints the figures recorded in docs/benchmarks.md.
//!
//! - `docker volume create` + `docker run --rm -v VOL:/d IMAGE true`, cloudstor against
//!   Docker's `local` driver, alternated round by round; medians and their ratio.
//! - Mount+Unmount pairs from concurrent clients straight over the socket, each client on
//!   its own volume (as each container start is); p50 and p99.
//! - `List` with 10,000 volumes, and the plugin's resident memory afterwards.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a small smoke run.

#[path = "../tests/plugin_support/mod.rs"]
mod plugin_support;

use std::time::{Duration, Instant};

use plugin_support::{TestPlugin, busybox_image, docker_ok, unique};
use serde_json::json;

struct Scale {
    docker_rounds: usize,
    clients: usize,
    pairs_per_client: usize,
    volumes_for_list: usize,
    list_calls: usize,
}

const FULL: Scale = Scale {
    docker_rounds: 20,
    clients: 64,
    pairs_per_client: 100,
    volumes_for_list: 10_000,
    list_calls: 20,
};

const SMOKE: Scale = Scale {
    docker_rounds: 1,
    clients: 4,
    pairs_per_client: 5,
    volumes_for_list: 50,
    list_calls: 2,
};

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let scale = if full { FULL } else { SMOKE };
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "bench-node", "");
    println!("| measurement | result | target |");
    println!("|---|---|---|");
    docker_create_and_run(&node, &scale);
    concurrent_mount_unmount(&node, &scale);
    list_and_memory(&node, &scale);
}

fn docker_create_and_run(node: &TestPlugin, scale: &Scale) {
    let image = busybox_image();
    let cloudstor = node.driver();
    let mut timings = [Vec::new(), Vec::new()];
    for round in 0..scale.docker_rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let driver = [cloudstor.as_str(), "local"][which];
            let volume = unique("bench");
            let mount = format!("{volume}:/d");
            let started = Instant::now();
            docker_ok(&["volume", "create", "-d", driver, &volume]);
            docker_ok(&["run", "--rm", "-v", &mount, image, "true"]);
            timings[which].push(started.elapsed());
            docker_ok(&["volume", "rm", &volume]);
        }
    }
    let [plugin, local] = timings.map(|mut runs| percentile(&mut runs, 50));
    let ratio = plugin.as_secs_f64() / local.as_secs_f64();
    println!(
        "| docker volume create + run --rm, median of {} (cloudstor / local) | {} / {} = **{ratio:.2}** | ratio < 1.2 |",
        scale.docker_rounds,
        ms(plugin),
        ms(local)
    );
}

fn concurrent_mount_unmount(node: &TestPlugin, scale: &Scale) {
    let names: Vec<String> = (0..scale.clients).map(|i| format!("mnt-{i}")).collect();
    for name in &names {
        node.ok("/VolumeDriver.Create", &json!({ "Name": name }).to_string());
    }
    let (mut alone, _) = mount_unmount_pairs(node, &names[..1], scale.pairs_per_client);
    println!(
        "| Mount+Unmount pair, 1 client, {} pairs | p50 {} / p99 {} | (service time) |",
        scale.pairs_per_client,
        ms(percentile(&mut alone, 50)),
        ms(percentile(&mut alone, 99))
    );
    let (mut latencies, plugin_cpu) = mount_unmount_pairs(node, &names, scale.pairs_per_client);
    let count = latencies.len();
    let p50 = percentile(&mut latencies, 50);
    let p99 = percentile(&mut latencies, 99);
    println!(
        "| Mount+Unmount pair, {} concurrent clients, {count} pairs | p50 {} / p99 **{}** | p99 < 5 ms |",
        scale.clients,
        ms(p50),
        ms(p99)
    );
    println!(
        "| plugin CPU per pair under that load (utime + stime) | {} | |",
        ms(plugin_cpu / count as u32)
    );
}

/// Each name is one client thread doing `pairs` Mount+Unmount pairs on it, all started
/// together. Returns every pair's latency and the plugin's CPU time spent meanwhile.
fn mount_unmount_pairs(
    node: &TestPlugin,
    names: &[String],
    pairs: usize,
) -> (Vec<Duration>, Duration) {
    let cpu_before = process_cpu(node.pid());
    let barrier = std::sync::Barrier::new(names.len());
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .iter()
            .map(|name| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    (0..pairs)
                        .map(|pair| {
                            let body = json!({ "Name": name, "ID": format!("{name}-{pair}") });
                            let started = Instant::now();
                            node.ok("/VolumeDriver.Mount", &body.to_string());
                            node.ok("/VolumeDriver.Unmount", &body.to_string());
                            started.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    (latencies, process_cpu(node.pid()) - cpu_before)
}

/// User + system CPU time of a process so far, from `/proc/PID/stat` (in clock ticks of
/// 10 ms, so only meaningful over thousands of requests).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_command = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_command.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn list_and_memory(node: &TestPlugin, scale: &Scale) {
    let existing = node.ok("/VolumeDriver.List", "{}")["Volumes"]
        .as_array()
        .unwrap()
        .len();
    let to_create = scale.volumes_for_list.saturating_sub(existing);
    std::thread::scope(|scope| {
        for worker in 0..8 {
            scope.spawn(move || {
                for i in (worker..to_create).step_by(8) {
                    let body = json!({ "Name": format!("many-{i:05}") }).to_string();
                    node.ok("/VolumeDriver.Create", &body);
                }
            });
        }
    });
    let mut timings = Vec::new();
    for _ in 0..scale.list_calls {
        let started = Instant::now();
        let listed = node.ok("/VolumeDriver.List", "{}");
        timings.push(started.elapsed());
        assert_eq!(
            listed["Volumes"].as_array().unwrap().len(),
            scale.volumes_for_list
        );
    }
    println!(
        "| List with {} volumes, median of {} calls | **{}** | < 100 ms |",
        scale.volumes_for_list,
        scale.list_calls,
        ms(percentile(&mut timings, 50))
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid())).unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    println!(
        "| plugin resident memory with {} volumes (VmRSS; peak VmHWM) | **{:.1} MB** (peak {:.1} MB) | < 30 MB |",
        scale.volumes_for_list,
        kib("VmRSS:") as f64 / 1024.0,
        kib("VmHWM:") as f64 / 1024.0
    );
}

fn percentile(values: &mut [Duration], pct: usize) -> Duration {
    values.sort();
    let index = (values.len() * pct).div_ceil(100).saturating_sub(1);
    values[index.min(values.len() - 1)]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
