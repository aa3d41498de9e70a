#!/bin/sh
# Entrypoint of the managed cloudstor plugin: turns the settable environment
# (`docker plugin set cloudstor:aws EFS_ID_GENERAL_PURPOSE=fs-...`) into the plugin's
# configuration file, then becomes the plugin. Everything the plugin mounts or keeps lives
# under /var/lib/cloudstor, the propagatedMount, so Docker sees the mounts and they survive
# plugin upgrades.
set -eu

CONFIG=/etc/cloudstor/plugin.toml

efs_filesystem() {
	printf '\n[[filesystems]]\nid = "%s"\nperformance_mode = "%s"\nbackend = "efs"\ndns_name = "%s"\n' "$1" "$2" "$3"
}

write_config() {
	printf 'socket = "/run/docker/plugins/cloudstor.sock"\n'
	printf 'state_dir = "/var/lib/cloudstor/state"\n'
	printf 'mount_root = "/var/lib/cloudstor/mnt"\n'
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
		mkdir -p "$HOSTPATH_DIR"
		printf '\n[[filesystems]]\nid = "hostpath"\nperformance_mode = "generalPurpose"\nbackend = "hostpath"\npath = "%s"\n' "$HOSTPATH_DIR"
	fi
}

mkdir -p /etc/cloudstor /var/lib/cloudstor/state /var/lib/cloudstor/mnt /run/docker/plugins
write_config >"$CONFIG"
exec /usr/local/bin/cloudstor-plugin --config "$CONFIG"
