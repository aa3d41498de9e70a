#!/bin/sh
# Downloads the newest docker.io and containerd of Debian sid into CACHE and unpacks them
# into CACHE/root (dockerd in usr/sbin, containerd in usr/bin), once: a complete root is
# reused, and a half-done download (no root yet) is redone. Cluster volumes need engine 28.2
# or later, newer than this machine's system engine. Used by tests/csi_swarm.rs, the NFS rig
# (tests/rig/) and scripts/bench-csi.sh, so all share one cache.
# Usage: scripts/fetch-sid-engine.sh CACHE
set -eu
cache=$1
[ -x "$cache/root/usr/sbin/dockerd" ] && exit 0
mkdir -p "$cache"
cd "$cache"
mirror=http://deb.debian.org/debian
curl -fsS -o Packages.xz "$mirror/dists/sid/main/binary-amd64/Packages.xz"
for deb in $(xz -dc Packages.xz | awk '/^Package: (docker.io|containerd)$/ { p = 1 } p && /^Filename:/ { print $2; p = 0 }'); do
  curl -fsS -o "$(basename "$deb")" "$mirror/$deb"
done
rm -rf root.tmp && mkdir root.tmp
for deb in *.deb; do dpkg-deb -x "$deb" root.tmp; done
mv root.tmp root
