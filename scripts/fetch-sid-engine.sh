#!/bin/sh
# Downloads the newest docker.io and containerd of Debian sid into CACHE and unpacks them
# into CACHE/root (dockerd in usr/sbin, containerd in usr/bin), once: a complete root is
# reused, and a half-done download (no root yet) is redone. Cluster volumes need engine 28.2
# or later, newer than this machine's system engine. Used by tests/csi_swarm.rs, the NFS rig
# (tests/rig/) and scripts/bench-csi.sh, so all share one cache.
# Usage: scripts/fetch-sid-engine.sh CACHE
set -eu
exec "$(dirname "$0")/fetch-sid-packages.sh" "$1" docker.io containerd
