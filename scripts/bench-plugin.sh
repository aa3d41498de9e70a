#!/bin/sh
# Volume plugin figures for docs/benchmarks.md: the plugin optimised (release, built without
# the AWS SDK so it takes about a minute), the benchmark client in the dev profile (an
# optimised AWS SDK, which the test crate links, takes over half an hour to build here).
# Needs the Docker engine and busybox-static (scripts/test.sh installs it).
set -eu
cd "$(dirname "$0")/.."
# Arguments pick sections (docker, mount, list); CLOUDSTOR_PLUGIN_BIN set beforehand measures
# another build instead, e.g. an older commit's, side by side with this one.
if [ -z "${CLOUDSTOR_PLUGIN_BIN:-}" ]; then
    cargo build --release --no-default-features --bin cloudstor-plugin --target-dir target/release-plugin
    CLOUDSTOR_PLUGIN_BIN="$PWD/target/release-plugin/release/cloudstor-plugin"
fi
CLOUDSTOR_PLUGIN_BIN="$CLOUDSTOR_PLUGIN_BIN" cargo bench --profile dev --bench plugin -- "$@"
