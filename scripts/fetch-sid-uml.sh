#!/bin/sh
# Downloads Debian sid's user-mode-linux and the C library it was built against into CACHE,
# once, and points the kernel binary at that library: CACHE/root/usr/bin/linux.uml then runs
# on this machine, with its modules in CACHE/root/usr/lib/uml/modules. The NFS rig
# (tests/rig/) uses it where the system's user-mode Linux cannot boot: Debian 12's 6.1 kernel
# dies at its first process ("ptrace set fp regs failed, errno = 14") on CPUs with AMX, whose
# register state is larger than that kernel knows; later kernels ask the host for the size.
# Usage: scripts/fetch-sid-uml.sh CACHE
set -eu
command -v patchelf > /dev/null || {
    echo "patchelf is missing: apt-get install patchelf (scripts/test.sh does)" >&2
    exit 1
}
"$(dirname "$0")/fetch-sid-packages.sh" "$1" user-mode-linux libc6
root=$(cd "$1" && pwd)/root
libdir=$root/usr/lib/x86_64-linux-gnu
kernel=$root/usr/bin/linux.uml
# Patched in place after the root is complete, so a run cut off before this redoes it.
[ "$(patchelf --print-interpreter "$kernel")" = "$libdir/ld-linux-x86-64.so.2" ] ||
    patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --set-rpath "$libdir" "$kernel"
