#!/bin/sh
# Downloads the newest Debian sid packages named into CACHE and unpacks them all into
# CACHE/root, once: a complete root is reused, and a half-done download (no root yet) is
# redone. Shared by scripts/fetch-sid-engine.sh and scripts/fetch-sid-uml.sh.
# Usage: scripts/fetch-sid-packages.sh CACHE PACKAGE...
set -eu
cache=$1
shift
[ -d "$cache/root" ] && exit 0
mkdir -p "$cache"
cd "$cache"
mirror=http://deb.debian.org/debian
names=$(echo "$@" | tr ' ' '|')
curl -fsS -o Packages.xz "$mirror/dists/sid/main/binary-amd64/Packages.xz"
rm -f ./*.deb
for deb in $(xz -dc Packages.xz | awk -v names="^Package: ($names)\$" '$0 ~ names { p = 1 } p && /^Filename:/ { print $2; p = 0 }'); do
  curl -fsS -o "$(basename "$deb")" "$mirror/$deb"
done
rm -rf root.tmp && mkdir root.tmp
for deb in *.deb; do dpkg-deb -x "$deb" root.tmp; done
mv root.tmp root
