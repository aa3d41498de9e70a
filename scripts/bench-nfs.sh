#!/bin/sh
# Figures on real NFS v4.1 for docs/benchmarks.md: the NFS rig of tests/rig/ (user-mode Linux
# guests: an NFS server and two Docker nodes), Mount+Unmount on NFS against hostpath in the
# same run, and a Swarm task moved between the nodes. The plugin is built in the dev profile,
# as the rig tests run it, without the AWS SDK.
# Needs user-mode-linux, nfs-kernel-server, kmod and busybox-static (scripts/test.sh installs
# them) and the Docker engine (to build the test image).
set -eu
cd "$(dirname "$0")/.."
cargo bench --profile dev --no-default-features --bench nfs -- "$@"
