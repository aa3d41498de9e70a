#!/usr/bin/env bash
# Runs every test cloudstor has, after installing what the tests need.
# This is the README's test command and what CI (.ci/run) calls.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test tools (moto, cfn-lint, busybox-static, shellcheck, user-mode-linux, nfs-kernel-server, patchelf, curl, xz-utils, debootstrap)"
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
need_apt=()
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
# The NFS rig (tests/nfs_rig.rs): user-mode Linux guests running an NFS server and clients.
# On a CPU where this system's user-mode Linux cannot boot, the rig fetches Debian sid's
# (scripts/fetch-sid-uml.sh), which patchelf points at the C library fetched with it.
for package in user-mode-linux nfs-kernel-server kmod patchelf; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
# tests/csi_swarm.rs fetches Debian sid's Docker 28 (cluster volumes) with curl and xz;
# tests/bootstrap_debian.rs builds a minimal Debian root file system with debootstrap.
for package in curl xz-utils debootstrap; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The plugin tests drive the real Docker engine. A machine may come up without the daemon
# running (CI starts from a fresh boot), so start one rather than fail every Docker test.
if ! docker info >/dev/null 2>&1; then
  echo "==> no Docker daemon answers on /var/run/docker.sock; starting dockerd"
  command -v dockerd >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq docker.io >/dev/null
  }
  dockerd_log="${TMPDIR:-/tmp}/cloudstor-test-dockerd.log"
  nohup dockerd >"$dockerd_log" 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || {
    echo "dockerd did not answer within 120 s; its log ($dockerd_log) ends:" >&2
    tail -n 30 "$dockerd_log" >&2
    exit 1
  }
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo clippy for the plugin alone (--no-default-features: no AWS SDK)"
cargo clippy --no-default-features --lib --bin cloudstor-plugin --quiet -- -D warnings
echo "==> cargo test"
cargo test --quiet
