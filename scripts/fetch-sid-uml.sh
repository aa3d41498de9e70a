#!/bin/sh
# Downloads Debian sid's user-mode-linux and the C library it was built against into CACHE,
# once, and points the kernel binary at that library: CACHE/root/usr/bin/linux.uml then runs
# on this machine, with its modules in CACHE/root/usr/lib/uml/modules. The NFS rig
# (tests/rig/) uses it where the system's user-mode Linux cannot boot: Debian 12's 6.1 kernel
# dies at its first process ("ptrace set fp regs failed, errno = 14") on CPUs with AMX, whose
# register state is larger than that kernel knows; later kernels ask the host for the size.
# A complete root is reused; a half-done download (no root yet) is redone.
# Usage: scripts/fetch-sid-uml.sh CACHE
set -eu
cache=$1
[ -x "$cache/root/usr/bin/linux.uml" ] && exit 0
command -v patchelf > /dev/null || {
    echo "patchelf is missing: apt-get install patchelf (scripts/test.sh does)" >&2
    exit 1
}
mkdir -p "$cache"
cd "$cache"
mirror=http://deb.debian.org/debian
curl -fsS -o Packages.xz "$mirror/dists/sid/main/binary-amd64/Packages.xz"
rm -f ./*.deb
for deb in $(xz -dc Packages.xz | awk '/^Package: (user-mode-linux|libc6)$/ { p = 1 } p && /^Filename:/ { print $2; p = 0 }'); do
  curl -fsS -o "$(basename "$deb")" "$mirror/$deb"
done
rm -rf root.tmp && mkdir root.tmp
for deb in *.deb; do dpkg-deb -x "$deb" root.tmp; done
root=$(pwd)/root
patchelf --set-interpreter "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --set-rpath "$root/usr/lib/x86_64-linux-gnu" root.tmp/usr/bin/linux.uml
mv root.tmp root
