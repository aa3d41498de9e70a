#!/bin/sh
# cloudstor node bootstrap for stack @STACK@: NFS client, the cloudstor volume plugin and its
# configuration. Rendered by `cloudstor bootstrap` from templates/bootstrap.sh; running it again
# changes nothing.
set -eu

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

LOG_FILE=/var/log/cloudstor-bootstrap.log
OS_FAMILY=@OS_FAMILY@
PLUGIN_URL=@PLUGIN_URL@
PLUGIN_SHA256=@PLUGIN_SHA256@

mkdir -p /var/log
exec >>"$LOG_FILE" 2>&1

# To stderr, so messages from inside $(...) reach the log instead of the captured value.
log() {
	printf '%s cloudstor-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

fail() {
	log "error: $*"
	exit 1
}

# The package family: the spec's choice, or ID and ID_LIKE from /etc/os-release.
detect_os_family() {
	if [ "$OS_FAMILY" != auto ]; then
		echo "$OS_FAMILY"
		return
	fi
	[ -r /etc/os-release ] || fail "os_family is auto but /etc/os-release is missing"
	# shellcheck source=/dev/null
	ids=$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")
	case " $ids " in
	*" debian "* | *" ubuntu "*) echo debian ;;
	*" rhel "* | *" fedora "* | *" centos "* | *" amzn "*) echo rhel ;;
	*) fail "cannot tell the package family from /etc/os-release ($ids); set os_family in [nodes]" ;;
	esac
}

file_sha256() {
	sha256sum "$1" | cut -d ' ' -f 1
}

# Downloads to a staging file and checks the sha256 before anything is installed, so a
# tampered or truncated download never reaches the node.
fetch_verified() {
	url=$1
	dest=$2
	log "downloading $url"
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 5 --retry-delay 2 -o "$dest" "$url" || fail "cannot download $url"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$dest" "$url" || fail "cannot download $url"
	else
		fail "neither curl nor wget is installed"
	fi
	actual=$(file_sha256 "$dest")
	if [ "$actual" != "$PLUGIN_SHA256" ]; then
		rm -f "$dest"
		fail "refusing $url: its sha256 is $actual, the spec says $PLUGIN_SHA256"
	fi
}

# mount.nfs4 comes with both nfs-common (Debian) and nfs-utils (RHEL): its presence is the
# one check that works on every family.
install_nfs_client() {
	if command -v mount.nfs4 >/dev/null 2>&1; then
		log "NFS client already installed"
		return
	fi
	case $1 in
	debian)
		log "installing nfs-common"
		DEBIAN_FRONTEND=noninteractive apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q nfs-common
		;;
	rhel)
		log "installing nfs-utils"
		if command -v dnf >/dev/null 2>&1; then
			dnf install -y nfs-utils
		else
			yum install -y nfs-utils
		fi
		;;
	esac
}

# Moves "$1.new" over "$1" unless they are identical; succeeds only when "$1" changed.
replace_if_changed() {
	if [ -f "$1" ] && cmp -s "$1.new" "$1"; then
		rm -f "$1.new"
		return 1
	fi
	mv "$1.new" "$1"
	log "wrote $1"
}

@INSTALL_MODE_FUNCTIONS@
main() {
	log "starting (stack @STACK@)"
	family=$(detect_os_family)
	staged=""
	if [ -f "$PLUGIN_ARTIFACT" ] && [ "$(file_sha256 "$PLUGIN_ARTIFACT")" = "$PLUGIN_SHA256" ]; then
		log "$PLUGIN_ARTIFACT already has sha256 $PLUGIN_SHA256"
	else
		staged="$PLUGIN_ARTIFACT.download"
		mkdir -p "$(dirname "$PLUGIN_ARTIFACT")"
		fetch_verified "$PLUGIN_URL" "$staged"
	fi
	install_nfs_client "$family"
	install_plugin "$staged"
	log "done"
}

main
@EXTRA_USER_DATA@