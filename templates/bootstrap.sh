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
# 1 + 2 + 4 + 8 + 16 s of waiting between six attempts.
DOWNLOAD_ATTEMPTS=6

# Everything goes to the log file and to the console, where cloud-init shows it: a fifo
# feeding tee, since POSIX sh has no process substitution.
mkdir -p /var/log
LOG_PIPE=$(mktemp -u /tmp/cloudstor-bootstrap.XXXXXX)
mkfifo "$LOG_PIPE"
tee -a "$LOG_FILE" <"$LOG_PIPE" &
exec >"$LOG_PIPE" 2>&1
rm -f "$LOG_PIPE"

# To stderr, so messages from inside $(...) reach the log instead of the captured value.
log() {
	printf '%s cloudstor-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# What the script is doing, named by `fail` and by the exit trap below.
STEP="starting"
FAILED=""

# Every failure ends here: what went wrong, and what to do next.
fail() {
	FAILED=1
	log "error: $*"
	log "bootstrap stopped while $STEP; fix the cause and run this script again (it changes only what is missing). Full log: $LOG_FILE"
	exit 1
}

# A command that failed under `set -e` without a `fail` of its own still gets a message.
on_exit() {
	status=$?
	if [ "$status" -ne 0 ] && [ -z "$FAILED" ]; then
		log "error: a command failed (exit status $status) while $STEP"
		log "bootstrap stopped while $STEP; the lines above say why. Fix the cause and run this script again. Full log: $LOG_FILE"
	fi
}
trap on_exit EXIT

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

# systemd runs the plugin (systemd mode) and starts Docker; without it there is nothing to
# hand them to.
require_systemd() {
	if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
		fail "this node does not run systemd (no systemctl, or /run/systemd/system is missing); use an image that boots with systemd"
	fi
}

# Runs the family's package manager, or fails naming what could not be installed.
install_packages() {
	family=$1
	shift
	case $family in
	debian)
		DEBIAN_FRONTEND=noninteractive apt-get update -q ||
			fail "apt-get update failed; check that the node reaches its package mirror (proxy, DNS, security group egress)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" ||
			fail "apt-get install $* failed; check the package mirror and free disk space"
		;;
	rhel)
		if command -v dnf >/dev/null 2>&1; then
			dnf install -y "$@" || fail "dnf install $* failed; check the node's repositories"
		else
			yum install -y "$@" || fail "yum install $* failed; check the node's repositories"
		fi
		;;
	esac
}

# A program on disk: a shell built with busybox's applets reports their bare names even where
# no such program exists.
have_program() {
	case $(command -v "$1" 2>/dev/null) in
	/*) return 0 ;;
	*) return 1 ;;
	esac
}

# A minimal image may have neither curl nor wget: curl comes from the package manager.
ensure_downloader() {
	if have_program curl || have_program wget; then
		return
	fi
	log "neither curl nor wget is installed; installing curl"
	install_packages "$1" curl ca-certificates
	have_program curl || fail "curl is still missing after installing it"
}

# One download attempt with whichever tool there is.
download() {
	if have_program curl; then
		curl -fsSL -o "$2" "$1"
	else
		wget -q -O "$2" "$1"
	fi
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
	# Every failure is retried, "connection refused" included (a server still starting),
	# waiting twice as long each time.
	attempt=1
	delay=1
	until download "$url" "$dest"; do
		if [ "$attempt" -ge "$DOWNLOAD_ATTEMPTS" ]; then
			rm -f "$dest"
			fail "cannot download $url after $attempt attempts; check that the node reaches it (security group egress, proxy, DNS) and that plugin_url in [nodes] is right"
		fi
		log "download of $url failed (attempt $attempt of $DOWNLOAD_ATTEMPTS); retrying in ${delay}s"
		sleep "$delay"
		attempt=$((attempt + 1))
		delay=$((delay * 2))
	done
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
		install_packages debian nfs-common
		;;
	rhel)
		log "installing nfs-utils"
		install_packages rhel nfs-utils
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
	STEP="checking the node"
	# `fail` inside $(...) ends only the subshell, having said why.
	family=$(detect_os_family) || {
		FAILED=1
		exit 1
	}
	require_systemd
	staged=""
	if [ -f "$PLUGIN_ARTIFACT" ] && [ "$(file_sha256 "$PLUGIN_ARTIFACT")" = "$PLUGIN_SHA256" ]; then
		log "$PLUGIN_ARTIFACT already has sha256 $PLUGIN_SHA256"
	else
		STEP="downloading the plugin"
		ensure_downloader "$family"
		staged="$PLUGIN_ARTIFACT.download"
		mkdir -p "$(dirname "$PLUGIN_ARTIFACT")"
		fetch_verified "$PLUGIN_URL" "$staged"
	fi
	STEP="installing the NFS client"
	install_nfs_client "$family"
	STEP="installing the plugin"
	install_plugin "$staged"
	STEP="finished"
	log "done"
}

main
@EXTRA_USER_DATA@