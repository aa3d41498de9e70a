#!/usr/bin/env bash
# CSI mode against VolumeDriver mode, side by side, for docs/benchmarks.md: the time from
# `docker volume create` to the first task of a one-replica service running with the volume.
# Runs Debian sid's Docker 28 (cluster volumes need 28.2+) beside the system engine on a private
# socket, in a single-node swarm, both managed plugins installed with the hostpath backend.
# Needs curl, xz-utils, busybox-static (scripts/test.sh installs them) and root.
# Usage: scripts/bench-csi.sh [ROUNDS]   (default 7; the rounds alternate the two modes)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}

RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --no-default-features \
  --bin cloudstor-plugin --target x86_64-unknown-linux-gnu --target-dir target/static-plugin
plugin_bin=$repo/target/static-plugin/x86_64-unknown-linux-gnu/release/cloudstor-plugin
cargo build --quiet --bin cloudstor
cloudstor=$target/debug/cloudstor

# The same Debian sid packages tests/csi_swarm.rs uses, in the same cache.
cache=$target/tmp/engine-sid
scripts/fetch-sid-engine.sh "$cache"

dir=/tmp/csb$$
mkdir -p "$dir"
echo '{}' >"$dir/daemon.json"
host=unix://$dir/docker.sock
# Its own network namespace: a second dockerd in the host's, with --bridge=none, deletes the
# system engine's docker0. unshare without --fork execs in place, so $! is dockerd's PID.
PATH=$cache/root/usr/bin:$cache/root/usr/sbin:$PATH unshare --net -- \
  sh -c 'ip link set lo up && exec "$@"' sh "$cache/root/usr/sbin/dockerd" \
  --config-file "$dir/daemon.json" -H "$host" --data-root "$dir/data" --exec-root "$dir/exec" \
  --pidfile "$dir/docker.pid" --iptables=false --ip6tables=false --bridge=none >"$dir/dockerd.log" 2>&1 &
dockerd_pid=$!
dk() { docker -H "$host" "$@"; }
cleanup() {
  dk swarm leave --force >/dev/null 2>&1 || true
  kill "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 60); do dk info >/dev/null 2>&1 && break; sleep 1; done
dk swarm init --advertise-addr 127.0.0.1 >/dev/null

install() { # install NAME PACKAGE-FLAG...
  local name=$1; shift
  "$cloudstor" plugin package "$@" "$dir/pkg-$name" --binary "$plugin_bin" >/dev/null
  mkdir -p "$dir/data-$name"
  dk plugin create "$name" "$dir/pkg-$name" >/dev/null
  dk plugin set "$name" "data.source=$dir/data-$name" HOSTPATH_DIR=/var/lib/cloudstor/hostpath NODE_ID=bench
  dk plugin enable "$name" >/dev/null
}
install bench-csi:latest --csi
install bench-vd:latest
# Swarm's scheduler places a task that needs a volume driver only on nodes whose description
# lists that plugin, and a node re-sends its description every 20 s (swarmkit's
# nodeUpdatePeriod): without this wait the first VolumeDriver round timed that wait (16-17 s).
until dk node inspect self --format '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}' |
  grep -q 'Volume=bench-vd:latest'; do
  sleep 0.5
done

context=$(mktemp -d)
cp /bin/busybox "$context/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$context/Dockerfile"
dk build -q -t bench-busybox "$context" >/dev/null
rm -rf "$context"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_running() {
  until dk service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -q '^Running'; do
    sleep 0.05
  done
}
csi_round() {
  local start; start=$(now_ms)
  dk volume create --driver bench-csi:latest --type mount --sharing all --scope multi "vc$1" >/dev/null
  dk service create -d --quiet --name "sc$1" --no-resolve-image \
    --mount "type=cluster,src=vc$1,dst=/data" bench-busybox sleep 3600 >/dev/null
  wait_running "sc$1"
  echo $(($(now_ms) - start))
  dk service rm "sc$1" >/dev/null
}
vd_round() {
  local start; start=$(now_ms)
  dk volume create --driver bench-vd:latest "vv$1" >/dev/null
  dk service create -d --quiet --name "sv$1" --no-resolve-image \
    --mount "type=volume,src=vv$1,dst=/data,volume-driver=bench-vd:latest" bench-busybox sleep 3600 >/dev/null
  wait_running "sv$1"
  echo $(($(now_ms) - start))
  dk service rm "sv$1" >/dev/null
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

csi_times=() vd_times=()
for round in $(seq 1 "$rounds"); do
  csi_times+=("$(csi_round "$round")")
  vd_times+=("$(vd_round "$round")")
done
csi=$(printf '%s\n' "${csi_times[@]}" | median)
vd=$(printf '%s\n' "${vd_times[@]}" | median)
echo "volume create + one-task service running, $rounds rounds each, alternating"
echo "CSI (cluster volume):   median ${csi} ms  (${csi_times[*]})"
echo "VolumeDriver:           median ${vd} ms  (${vd_times[*]})"
awk -v c="$csi" -v v="$vd" 'BEGIN { printf "ratio CSI / VolumeDriver: %.2f\n", c / v }'
