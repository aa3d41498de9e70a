# shellcheck shell=sh
# Sourced by every script the host runs in a guest (appended to the rig's env.sh).

# call ENDPOINT JSON: POSTs to the plugin's socket; prints the reply, the HTTP status and
# the seconds it took, on one line. Docker gives a plugin call 30 s; curl gives it 40.
call() {
    curl -sS -m 40 --unix-socket "$SOCKET" -d "$2" -w ' %{http_code} %{time_total}\n' "http://plugin$1"
}

# now: Unix time with fractions, for timing inside the guest.
now() {
    date +%s.%N
}

# wait_until SECS COMMAND...: runs COMMAND every 0.1 s until it succeeds; fails after SECS.
wait_until() {
    limit=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$limit" ] || return 1
        sleep 0.1
    done
}

# managed_efs_mounts: the NFS mounts under a managed plugin's propagated mount, as
# /proc/mounts lists them.
managed_efs_mounts() {
    awk '$3 == "nfs4" && $2 ~ /propagated-mount/' /proc/mounts
}

# unmount_managed_efs: what a disabled managed plugin left mounted (Docker may leave it).
unmount_managed_efs() {
    managed_efs_mounts | awk '{print $2}' | xargs -r -n1 umount -l
}

# cluster_volume_ids: the IDs of the engine's cluster volumes, from its API. A plugin that
# shares their store with a VolumeDriver plugin is listed twice, and Docker resolves a bare
# name to the local volume first, so a cluster volume is addressed by its ID.
cluster_volume_ids() {
    curl -s --unix-socket /run/docker.sock http://docker/volumes |
        grep -o '"ClusterVolume":{"ID":"[^"]*' | cut -d'"' -f6
}
