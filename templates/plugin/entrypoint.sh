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

# efs_filesystem ID MODE DNS_NAME [ZONE=IP,ZONE=IP] [ONE_ZONE]
efs_filesystem() {
	printf '\n[[filesystems]]\nid = "%s"\nperformance_mode = "%s"\nbackend = "efs"\ndns_name = "%s"\n' "$1" "$2" "$3"
	if [ -n "${4:-}" ]; then
		# An assignment, so that set -e stops at a malformed list.
		table=$(zone_table "$4")
		printf 'mount_target_ips = %s\n' "$table"
	fi
	if [ -n "${5:-}" ]; then
		printf 'one_zone = "%s"\n' "$5"
	fi
}

# zone_table us-east-1a=10.0.1.5,us-east-1b=10.0.2.7 prints the TOML inline table
# { "us-east-1a" = "10.0.1.5", "us-east-1b" = "10.0.2.7" }; the plugin checks the addresses.
zone_table() {
	separator=''
	printf '{ '
	old_ifs=$IFS
	IFS=,
	for pair in $1; do
		case $pair in
		?*=?*) ;;
		*)
			echo "cloudstor: '$pair' in the mount target IPs is not zone=ip (us-east-1a=10.0.1.5); fix it with docker plugin set" >&2
			exit 1
			;;
		esac
		printf '%s"%s" = "%s"' "$separator" "${pair%%=*}" "${pair#*=}"
		separator=', '
	done
	IFS=$old_ifs
	printf ' }'
}

# The CSI package (`cloudstor plugin package --csi`) sets PLUGIN_PROTOCOL=csi; Docker gives
# a CSI plugin its socket as CSI_ENDPOINT, a path or a unix:// URL.
write_socket() {
	if [ "${PLUGIN_PROTOCOL:-volumedriver}" = csi ]; then
		endpoint=${CSI_ENDPOINT:-/run/docker/plugins/csi.sock}
		printf 'protocol = "csi"\nsocket = "%s"\n' "${endpoint#unix://}"
	else
		printf 'socket = "/run/docker/plugins/cloudstor.sock"\n'
	fi
}

write_config() {
	write_socket
	printf 'state_dir = "%s/state"\n' "$DATA"
	printf 'mount_root = "/var/lib/cloudstor/mnt"\n'
	printf 'docker_socket = "/run/docker.sock"\n'
	if [ -n "${NODE_ID:-}" ]; then
		printf 'node_id = "%s"\n' "$NODE_ID"
	fi
	if [ -n "${AVAILABILITY_ZONE:-}" ]; then
		printf 'availability_zone = "%s"\n' "$AVAILABILITY_ZONE"
	fi
	if [ -n "${EFS_ID_GENERAL_PURPOSE:-}" ]; then
		efs_filesystem "$EFS_ID_GENERAL_PURPOSE" generalPurpose "${EFS_DNS_GENERAL_PURPOSE:?is required with EFS_ID_GENERAL_PURPOSE}" \
			"${EFS_MOUNT_TARGET_IPS_GENERAL_PURPOSE:-}" "${EFS_ONE_ZONE_GENERAL_PURPOSE:-}"
	fi
	if [ -n "${EFS_ID_MAXIO:-}" ]; then
		efs_filesystem "$EFS_ID_MAXIO" maxIO "${EFS_DNS_MAXIO:?is required with EFS_ID_MAXIO}" \
			"${EFS_MOUNT_TARGET_IPS_MAXIO:-}" "${EFS_ONE_ZONE_MAXIO:-}"
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

mkdir -p /etc/cloudstor "$DATA/state" /var/lib/cloudstor/mnt /run/docker/plugins /data/published
if [ -n "${HOSTPATH_DIR:-}" ]; then
	serve_hostpath_data
fi
write_config >"$CONFIG"
exec /usr/local/bin/cloudstor-plugin --config "$CONFIG"
