#!/bin/sh
# Entrypoint of the managed cloudstor plugin: turns the settable environment
# (`docker plugin set cloudstor:aws EFS_ID_GENERAL_PURPOSE=fs-...`) into the plugin's
# configuration file, then becomes the plugin.
#
# `docker plugin rm` (which every upgrade runs) deletes the plugin's own directory, the
# propagatedMount /var/lib/cloudstor included. So only what must be visible to Docker lives
# there: EFS mounts and the path hostpath volumes are served at. What must outlive the
# plugin, the state dir (mount journal) and the hostpath volumes' data, lives in the host
# directory of the `data` mount, /var/lib/cloudstor-plugin.
set -eu

CONFIG=/etc/cloudstor/plugin.toml
DATA=/var/lib/cloudstor-plugin

efs_filesystem() {
	printf '\n[[filesystems]]\nid = "%s"\nperformance_mode = "%s"\nbackend = "efs"\ndns_name = "%s"\n' "$1" "$2" "$3"
}

write_config() {
	printf 'socket = "/run/docker/plugins/cloudstor.sock"\n'
	printf 'state_dir = "%s/state"\n' "$DATA"
	printf 'mount_root = "/var/lib/cloudstor/mnt"\n'
	printf 'docker_socket = "/run/docker.sock"\n'
	if [ -n "${NODE_ID:-}" ]; then
		printf 'node_id = "%s"\n' "$NODE_ID"
	fi
	if [ -n "${EFS_ID_GENERAL_PURPOSE:-}" ]; then
		efs_filesystem "$EFS_ID_GENERAL_PURPOSE" generalPurpose "${EFS_DNS_GENERAL_PURPOSE:?is required with EFS_ID_GENERAL_PURPOSE}"
	fi
	if [ -n "${EFS_ID_MAXIO:-}" ]; then
		efs_filesystem "$EFS_ID_MAXIO" maxIO "${EFS_DNS_MAXIO:?is required with EFS_ID_MAXIO}"
	fi
	if [ -n "${HOSTPATH_DIR:-}" ]; then
		printf '\n[[filesystems]]\nid = "hostpath"\nperformance_mode = "generalPurpose"\nbackend = "hostpath"\npath = "%s"\n' "$HOSTPATH_DIR"
	fi
}

# Docker finds a Mountpoint under the propagatedMount in the plugin's directory on the host,
# so the data is bound there; the bind propagates to the host, the data stays on the host.
serve_hostpath_data() {
	mkdir -p "$HOSTPATH_DIR" "$DATA/hostpath"
	# A plugin restarted without `docker plugin rm` finds its previous bind there, through
	# the propagated mount: replace it rather than stack another on top.
	umount -l "$HOSTPATH_DIR" 2>/dev/null || true
	mount -o rbind "$DATA/hostpath" "$HOSTPATH_DIR"
}

mkdir -p /etc/cloudstor "$DATA/state" /var/lib/cloudstor/mnt /run/docker/plugins
if [ -n "${HOSTPATH_DIR:-}" ]; then
	serve_hostpath_data
fi
write_config >"$CONFIG"
exec /usr/local/bin/cloudstor-plugin --config "$CONFIG"
