//! Volume plugin benchmark: `scripts/bench-plugin.sh` (release plugin binary, real Docker
//! engine, hostpath backend). Prints the figures recorded in docs/benchmarks.md.
//!
//! - `docker volume create` + `docker run --rm -v VOL:/d IMAGE true`, cloudstor against
//!   Docker's `local` driver, alternated round by round; medians and their ratio.
//! - Mount+Unmount pairs from concurrent clients straight over the socket, each client on
//!   its own volume (as each container start is); p50 and p99, over kept-alive connections
//!   (as Docker's plugin client reuses them) and with a new connection per call.
//! - `List` with 10,000 volumes, and the plugin's resident memory afterwards.
//! - `stall`: with one file system stalled (calls stuck on it fill its lane), List, Get and
//!   Mount+Unmount of volumes on another file system; p50 and p99.
//! - `restart`: from starting the plugin again to its heartbeat being renewed; median.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a small smoke run.
//! Arguments `docker`, `mount`, `list`, `stall` and `restart` pick sections; none means all.

#[path = "../tests/plugin_support/mod.rs"]
mod plugin_support;

use std::time::{Duration, Instant};

use plugin_support::{TestPlugin, busybox_image, docker_ok, unique};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

struct Scale {
    docker_rounds: usize,
    clients: usize,
    pairs_per_client: usize,
    volumes_for_list: usize,
    list_calls: usize,
    stalled_calls: usize,
    restarts: usize,
}

const FULL: Scale = Scale {
    docker_rounds: 20,
    clients: 64,
    pairs_per_client: 1000,
    volumes_for_list: 10_000,
    list_calls: 20,
    stalled_calls: 500,
    restarts: 20,
};

const SMOKE: Scale = Scale {
    docker_rounds: 1,
    clients: 4,
    pairs_per_client: 5,
    volumes_for_list: 50,
    list_calls: 2,
    stalled_calls: 5,
    restarts: 2,
};

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let scale = if full { FULL } else { SMOKE };
    let shared = tempfile::tempdir().unwrap();
    let node = TestPlugin::start(shared.path(), "bench-node", "");
    println!("| measurement | result | target |");
    println!("|---|---|---|");
    if wanted("docker") {
        docker_create_and_run(&node, &scale);
    }
    if wanted("mount") {
        concurrent_mount_unmount(&node, &scale);
    }
    if wanted("list") {
        list_and_memory(&node, &scale);
    }
    if wanted("stall") {
        calls_beside_a_stalled_file_system(&scale);
    }
    if wanted("restart") {
        restart_to_renewed_heartbeat(&scale);
    }
}

/// File system X stalls the way a dead NFS server does: opening a file blocks (a FIFO with
/// no writer), and calls for X pile up until they fill its lane and time out.
fn calls_beside_a_stalled_file_system(scale: &Scale) {
    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let filesystems = format!(
        "[[filesystems]]\nid = \"fs-x\"\nbackend = \"hostpath\"\npath = \"{}\"\n\
         [[filesystems]]\nid = \"fs-y\"\nperformance_mode = \"maxIO\"\nbackend = \"hostpath\"\npath = \"{}\"\n",
        x.path().display(),
        y.path().display()
    );
    let node = TestPlugin::start_with_filesystems(
        "bench-node",
        "operation_timeout_secs = 1",
        &filesystems,
    );
    node.ok(
        "/VolumeDriver.Create",
        &json!({ "Name": "on-x" }).to_string(),
    );
    let on_y = json!({ "Name": "on-y", "Opts": { "perfmode": "maxio" } }).to_string();
    node.ok("/VolumeDriver.Create", &on_y);
    let fifo = x.path().join("volumes/on-x/volume.json");
    std::fs::remove_file(&fifo).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| node.err("/VolumeDriver.Get", &json!({ "Name": "on-x" }).to_string()));
        }
    });
    let get = json!({ "Name": "on-y" }).to_string();
    let mount = json!({ "Name": "on-y", "ID": "bench" }).to_string();
    let mut timings = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..scale.stalled_calls {
        let calls: [&dyn Fn(); 3] = [
            &|| drop(node.ok("/VolumeDriver.List", "{}")),
            &|| drop(node.ok("/VolumeDriver.Get", &get)),
            &|| {
                node.ok("/VolumeDriver.Mount", &mount);
                node.ok("/VolumeDriver.Unmount", &mount);
            },
        ];
        for (call, timings) in calls.iter().zip(timings.iter_mut()) {
            let started = Instant::now();
            call();
            timings.push(started.elapsed());
        }
    }
    for (what, mut runs) in ["List", "Get", "Mount+Unmount"].into_iter().zip(timings) {
        println!(
            "| {what} on file system Y while X is stalled, {} calls | p50 {} / p99 **{}** | p99 < 50 ms |",
            scale.stalled_calls,
            ms(percentile(&mut runs, 50)),
            ms(percentile(&mut runs, 99))
        );
    }
    let _unblock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo);
}

/// The plugin is stopped with a volume in use (its heartbeat then stands for the restart
/// grace) and started again; measured until the heartbeat carries the running plugin's time.
fn restart_to_renewed_heartbeat(scale: &Scale) {
    let shared = tempfile::tempdir().unwrap();
    let mut node = TestPlugin::start(shared.path(), "bench-node", "");
    node.ok(
        "/VolumeDriver.Create",
        &json!({ "Name": "held" }).to_string(),
    );
    node.ok(
        "/VolumeDriver.Mount",
        &json!({ "Name": "held", "ID": "c1" }).to_string(),
    );
    let heartbeat = shared.path().join("nodes/bench-node.alive");
    let modified = || std::fs::metadata(&heartbeat).unwrap().modified().unwrap();
    let mut timings = Vec::new();
    for _ in 0..scale.restarts {
        node.sigterm();
        let during_restart = modified();
        let started = Instant::now();
        node.restart();
        while modified() == during_restart {
            std::thread::sleep(Duration::from_millis(1));
        }
        timings.push(started.elapsed());
    }
    println!(
        "| plugin restart to this node's leases renewed, median of {} | **{}** | < 1 s |",
        scale.restarts,
        ms(percentile(&mut timings, 50))
    );
}

/// Whether the command line asks for this section (or for none in particular).
fn wanted(section: &str) -> bool {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    sections.is_empty() || sections.iter().any(|arg| arg == section)
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
    let pairs = scale.pairs_per_client;
    let alone = mount_unmount_pairs(node, &names[..1], pairs, Connections::KeptAlive);
    println!(
        "| Mount+Unmount pair, 1 client, {pairs} pairs | p50 {} / p99 {} | (service time) |",
        ms(alone.percentile(50)),
        ms(alone.percentile(99))
    );
    for connections in [Connections::KeptAlive, Connections::OnePerCall] {
        let load = mount_unmount_pairs(node, &names, pairs, connections);
        let target = match connections {
            Connections::KeptAlive => "p99 < 5 ms",
            Connections::OnePerCall => "(worst case)",
        };
        println!(
            "| Mount+Unmount pair, {} concurrent clients, {} pairs, {} | p50 {} / p99 **{}** | {target} |",
            scale.clients,
            load.latencies.len(),
            connections.describe(),
            ms(load.percentile(50)),
            ms(load.percentile(99))
        );
        println!(
            "| CPU per pair under that load (utime + stime), plugin / benchmark client | {} / {} | |",
            ms(load.plugin_cpu),
            ms(load.client_cpu)
        );
    }
}

#[derive(Clone, Copy)]
enum Connections {
    /// Docker's plugin client (Go's default `http.Transport`) keeps connections alive.
    KeptAlive,
    /// A new connection for every call, as when Docker has more calls in flight than idle
    /// connections (Go keeps two per plugin).
    OnePerCall,
}

impl Connections {
    fn describe(self) -> &'static str {
        match self {
            Connections::KeptAlive => "kept-alive connections",
            Connections::OnePerCall => "a new connection per call",
        }
    }
}

struct Load {
    latencies: Vec<Duration>,
    plugin_cpu: Duration,
    client_cpu: Duration,
}

impl Load {
    fn percentile(&self, pct: usize) -> Duration {
        percentile(&mut self.latencies.clone(), pct)
    }
}

/// Each name is one client doing `pairs` Mount+Unmount pairs on it, all started together.
/// The clients are tasks on one thread, as Docker's are goroutines in one process: 64 OS
/// threads on two cores would measure the kernel's scheduling of the benchmark itself.
fn mount_unmount_pairs(
    node: &TestPlugin,
    names: &[String],
    pairs: usize,
    connections: Connections,
) -> Load {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let (plugin_before, client_before) = (process_cpu(node.pid()), process_cpu(std::process::id()));
    let latencies = runtime.block_on(async {
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(names.len()));
        let mut clients = tokio::task::JoinSet::new();
        for name in names {
            let (socket, name, start) = (node.socket.clone(), name.clone(), start.clone());
            clients.spawn(async move {
                let mut client = Client::new(socket, connections).await;
                start.wait().await;
                let mut latencies = Vec::with_capacity(pairs);
                for pair in 0..pairs {
                    let body = format!(r#"{{"Name":"{name}","ID":"{name}-{pair}"}}"#);
                    let started = Instant::now();
                    client.ok("/VolumeDriver.Mount", &body).await;
                    client.ok("/VolumeDriver.Unmount", &body).await;
                    latencies.push(started.elapsed());
                }
                latencies
            });
        }
        clients.join_all().await.concat()
    });
    let count = latencies.len() as u32;
    Load {
        plugin_cpu: (process_cpu(node.pid()) - plugin_before) / count,
        client_cpu: (process_cpu(std::process::id()) - client_before) / count,
        latencies,
    }
}

/// A minimal HTTP/1.1 client for the plugin's socket: enough to post a request and check
/// for a 200, and cheap, so the benchmark measures the plugin rather than itself.
struct Client {
    socket: std::path::PathBuf,
    connections: Connections,
    kept: Option<BufReader<UnixStream>>,
}

impl Client {
    async fn new(socket: std::path::PathBuf, connections: Connections) -> Self {
        let kept = match connections {
            Connections::KeptAlive => {
                Some(BufReader::new(UnixStream::connect(&socket).await.unwrap()))
            }
            Connections::OnePerCall => None,
        };
        Self {
            socket,
            connections,
            kept,
        }
    }

    /// Posts `body`; panics unless the plugin answers 200.
    async fn ok(&mut self, endpoint: &str, body: &str) {
        let close = match self.connections {
            Connections::KeptAlive => "",
            Connections::OnePerCall => "Connection: close\r\n",
        };
        let request = format!(
            "POST {endpoint} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\n{close}\r\n{body}",
            body.len()
        );
        let mut fresh = None;
        let stream = match &mut self.kept {
            Some(stream) => stream,
            None => fresh.insert(BufReader::new(
                UnixStream::connect(&self.socket).await.unwrap(),
            )),
        };
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        assert!(
            line.starts_with("HTTP/1.1 200"),
            "{endpoint} {body}: {line}"
        );
        let mut length = 0;
        loop {
            line.clear();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut reply = vec![0; length];
        stream.read_exact(&mut reply).await.unwrap();
    }
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
