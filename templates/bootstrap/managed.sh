# install_mode = "managed": the plugin is a managed Docker plugin (`docker plugin ls` lists it),
# created from the package `cloudstor plugin package` wrote, downloaded as a .tar.gz.
PLUGIN_ARTIFACT=/var/lib/cloudstor/cloudstor-plugin.tar.gz
PLUGIN_NAME=cloudstor:aws
PLUGIN_PACKAGE_DIR=/var/lib/cloudstor/plugin-package
# The plugin's state and hostpath volumes: its config.json bind-mounts this host directory, so
# they outlive `docker plugin rm`. The bind fails at enable when it does not exist.
PLUGIN_DATA_DIR=/var/lib/cloudstor-plugin
PLUGIN_SETTINGS=@PLUGIN_SETTINGS@
# What the last successful run installed: package sha256 and settings.
PLUGIN_APPLIED=/var/lib/cloudstor/managed-plugin.applied

plugin_enabled() {
	[ "$(docker plugin inspect --format '{{.Enabled}}' "$PLUGIN_NAME" 2>/dev/null)" = true ]
}

install_plugin() {
	if [ -n "$1" ]; then
		mv "$1" "$PLUGIN_ARTIFACT"
	fi
	wanted="$PLUGIN_SHA256 $PLUGIN_SETTINGS"
	if ! systemctl is-active --quiet docker.service; then
		systemctl start docker.service
	fi
	if [ -f "$PLUGIN_APPLIED" ] && [ "$(cat "$PLUGIN_APPLIED")" = "$wanted" ] && plugin_enabled; then
		log "managed plugin $PLUGIN_NAME already installed and enabled"
		return
	fi
	# Settings change only while a plugin is disabled, so any change means create anew.
	if docker plugin inspect "$PLUGIN_NAME" >/dev/null 2>&1; then
		log "replacing managed plugin $PLUGIN_NAME"
		docker plugin disable -f "$PLUGIN_NAME" >/dev/null 2>&1 || true
		docker plugin rm -f "$PLUGIN_NAME"
	fi
	rm -rf "$PLUGIN_PACKAGE_DIR"
	mkdir -p "$PLUGIN_PACKAGE_DIR"
	tar -xzf "$PLUGIN_ARTIFACT" -C "$PLUGIN_PACKAGE_DIR"
	mkdir -p "$PLUGIN_DATA_DIR"
	# `docker plugin rm` deletes the old rootfs blob in the background; until it has, creating
	# the same package again fails with "content ... already exists".
	tries=1
	until docker plugin create "$PLUGIN_NAME" "$PLUGIN_PACKAGE_DIR"; do
		if [ "$tries" -ge 10 ]; then
			log "docker plugin create $PLUGIN_NAME failed $tries times"
			return 1
		fi
		tries=$((tries + 1))
		sleep 1
	done
	# shellcheck disable=SC2086 # one word per KEY=VALUE setting
	docker plugin set "$PLUGIN_NAME" $PLUGIN_SETTINGS
	docker plugin enable "$PLUGIN_NAME"
	printf '%s\n' "$wanted" >"$PLUGIN_APPLIED"
	log "managed plugin $PLUGIN_NAME created and enabled"
}
