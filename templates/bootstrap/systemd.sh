# install_mode = "systemd": the plugin runs on the host as cloudstor-plugin.service.
PLUGIN_ARTIFACT=/usr/local/bin/cloudstor-plugin
PLUGIN_UNIT=cloudstor-plugin.service

plugin_config() {
	cat <<'CLOUDSTOR_EOF'
@PLUGIN_CONFIG@CLOUDSTOR_EOF
}

plugin_unit() {
	cat <<'CLOUDSTOR_EOF'
@PLUGIN_UNIT@CLOUDSTOR_EOF
}

install_plugin() {
	changed=0
	if [ -n "$1" ]; then
		chmod 0755 "$1"
		mv "$1" "$PLUGIN_ARTIFACT"
		log "installed $PLUGIN_ARTIFACT"
		changed=1
	fi
	mkdir -p /etc/cloudstor /etc/systemd/system
	plugin_config >/etc/cloudstor/plugin.toml.new
	if replace_if_changed /etc/cloudstor/plugin.toml; then
		changed=1
	fi
	plugin_unit >"/etc/systemd/system/$PLUGIN_UNIT.new"
	if replace_if_changed "/etc/systemd/system/$PLUGIN_UNIT"; then
		systemctl daemon-reload
		changed=1
	fi
	if ! systemctl is-enabled --quiet "$PLUGIN_UNIT"; then
		systemctl enable "$PLUGIN_UNIT"
	fi
	start_plugin "$changed"
}

# Docker reports a legacy plugin to the swarm only once it has found it, and Swarm places
# tasks only on nodes that report the plugin: a daemon that was already running before the
# plugin existed is restarted once, and never again.
start_plugin() {
	if systemctl is-active --quiet "$PLUGIN_UNIT"; then
		if [ "$1" = 1 ]; then
			log "restarting $PLUGIN_UNIT for its new binary or configuration"
			systemctl restart "$PLUGIN_UNIT"
		fi
		return
	fi
	docker_was_running=0
	if systemctl is-active --quiet docker.service; then
		docker_was_running=1
	fi
	systemctl start "$PLUGIN_UNIT"
	log "started $PLUGIN_UNIT"
	if [ "$docker_was_running" = 1 ]; then
		log "restarting docker.service, which was running without the plugin"
		systemctl restart docker.service
	fi
}
