#!/bin/sh
# PID 1 of a rig guest (a user-mode Linux kernel whose root file system is the host's `/`).
# The kernel command line names the rig directory, this guest and its role:
#   rig=DIR name=NAME role=server|node ip=10.99.0.N
# DIR/env.sh (written by the host) sets MODROOT, ENGINE, PLUGIN and NODES; DIR/NAME/ is
# this guest's own corner of the host: its command queue, answers, logs and config.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The command line is words, not lines.
# shellcheck disable=SC2013
for arg in $(cat /proc/cmdline); do
    case $arg in
        rig=*) RIG=${arg#rig=} ;;
        name=*) NAME=${arg#name=} ;;
        role=*) ROLE=${arg#role=} ;;
        ip=*) IP=${arg#ip=} ;;
    esac
done
G=$RIG/$NAME
# shellcheck source=/dev/null
. "$RIG/env.sh"

# Every directory a daemon here writes to gets a guest-only tmpfs first: otherwise the
# writes would land in the host's own files.
for dir in /run /tmp /var/tmp /var/lib /var/log /var/cache /etc/docker /root; do
    mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
chmod 1777 /tmp /var/tmp
mkdir -p /var/lib/nfs/rpc_pipefs /var/lib/nfs/v4recovery /var/lib/nfs/sm /var/lib/nfs/sm.bak
touch /var/lib/nfs/etab /var/lib/nfs/rmtab
export HOME=/root
hostname "$NAME"

ip link set lo up
# Debian sid's kernel (tests/rig/kernel.rs) names its one interface vec0.
[ -e /sys/class/net/vec0 ] && ip link set vec0 name eth0
ip addr add "$IP/24" dev eth0
ip link set eth0 up

case $ROLE in
server)
    modprobe -d "$MODROOT" nfsd
    mount -t nfsd nfsd /proc/fs/nfsd
    # A short grace period keeps the server-restart scenario quick.
    echo 10 > /proc/fs/nfsd/nfsv4gracetime
    echo 10 > /proc/fs/nfsd/nfsv4leasetime
    # hostfs cannot be exported; the export is a tmpfs of this guest's own.
    mkdir -p /run/export
    mount -t tmpfs -o mode=0755 export /run/export
    echo "/run/export *(rw,fsid=0,no_root_squash,no_subtree_check,insecure,sync)" > "$G/exports"
    mount --bind "$G/exports" /etc/exports
    rpcbind -w
    # Debian sid's kernel has no client tracking of its own (the system's calls a helper):
    # without nfsdcld, clients could not reclaim their state after a server restart. Its
    # nfsd also hands out write delegations, which EFS never grants: a node cut off while
    # holding one would stall every other node's access to that file for a lease period.
    if [ "$KERNEL" = sid ]; then
        echo 0 > /proc/sys/fs/leases-enable
        # Where Debian's /etc/nfs.conf says nfsdcld finds its pipe.
        mkdir -p /run/rpc_pipefs /var/lib/nfs/nfsdcld
        mount -t rpc_pipefs sunrpc /run/rpc_pipefs
        nfsdcld
    fi
    exportfs -ra
    rpc.mountd --no-udp
    rpc.nfsd -N 3 -V 4.1 8
    ;;
node)
    modprobe -d "$MODROOT" nfsv4
    mkdir -p /run/cloudstor/local
    if [ -e "$G/docker" ]; then
        for module in overlay veth bridge br_netfilter vxlan ip_vs ip_vs_rr xt_ipvs \
            nf_conntrack nf_nat ip_tables iptable_filter iptable_nat xt_conntrack \
            xt_addrtype xt_MASQUERADE xt_mark xfrm_user esp4; do
            modprobe -d "$MODROOT" "$module" 2>/dev/null
        done
        sysctl -qw net.ipv4.ip_forward=1
        mount -t cgroup2 none /sys/fs/cgroup
        echo '{}' > /run/daemon.json
        # Debian sid's engine (cluster volumes need 28.2 or later; the host's is older),
        # with its own containerd first in PATH.
        PATH=$ENGINE/usr/bin:$ENGINE/usr/sbin:$PATH DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
            "$ENGINE/usr/sbin/dockerd" --config-file /run/daemon.json \
            --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
            -H unix:///run/docker.sock > "$G/dockerd.log" 2>&1 &
        DOCKERD=$!
    fi
    RUST_LOG=info "$PLUGIN" --config "$G/plugin.toml" >> "$G/plugin.log" 2>&1 &
    PLUGIN_PID=$!
    if [ -n "${DOCKERD:-}" ]; then
        for _ in $(seq 600); do
            docker -H unix:///run/docker.sock version > /dev/null 2>&1 && break
            sleep 0.1
        done
    fi
    for _ in $(seq 600); do
        [ -S /run/docker/plugins/cloudstor.sock ] && break
        sleep 0.1
    done
    ;;
esac

# The command channel: the host drops NNN.sh into queue/; each runs in the background (a
# command stuck on a stalled server must not hold up the next) and leaves NNN.out and,
# last, NNN.rc in done/.
mkdir -p "$G/queue" "$G/running" "$G/done"
touch "$G/ready"
while [ ! -e "$G/halt" ]; do
    for job in "$G"/queue/*.sh; do
        [ -e "$job" ] || continue
        id=$(basename "$job" .sh)
        mv "$job" "$G/running/$id.sh"
        (
            sh "$G/running/$id.sh" > "$G/done/$id.out" 2>&1
            echo $? > "$G/done/$id.rc.tmp"
            mv "$G/done/$id.rc.tmp" "$G/done/$id.rc"
        ) &
    done
    sleep 0.1
done

# Shutdown order matters: Docker, then the plugin, then the NFS clients, and the server
# last, once every node has let go (a server gone first can leave a client hanging).
case $ROLE in
node)
    if [ -n "${DOCKERD:-}" ]; then
        kill "$DOCKERD"
        for _ in $(seq 150); do kill -0 "$DOCKERD" 2> /dev/null || break; sleep 0.1; done
    fi
    kill "$PLUGIN_PID"
    for _ in $(seq 50); do kill -0 "$PLUGIN_PID" 2> /dev/null || break; sleep 0.1; done
    umount -a -f -l -t nfs4
    touch "$G/down"
    ;;
server)
    for _ in $(seq 300); do
        all_down=yes
        for node in $NODES; do [ -e "$RIG/$node/down" ] || all_down=no; done
        [ $all_down = yes ] && break
        sleep 0.1
    done
    rpc.nfsd 0
    touch "$G/down"
    ;;
esac
poweroff -f
