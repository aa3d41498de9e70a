//! `plugin::docker::volumes_in_use` against the real Docker engine on this machine.

mod plugin_support;

use std::path::Path;
use std::time::Duration;

use cloudstor::plugin::docker::{DEFAULT_SOCKET, volumes_in_use};
use plugin_support::{DockerCleanup, busybox_image, docker_ok, unique};

const LIMIT: Duration = Duration::from_secs(10);

fn local_use_of(volume: &str) -> Option<usize> {
    volumes_in_use(Path::new(DEFAULT_SOCKET), LIMIT)
        .unwrap()
        .get(volume)
        .copied()
}

#[test]
fn a_local_volume_counts_while_its_container_runs_or_is_paused_and_not_after() {
    let image = busybox_image();
    let volume = unique("reconcile");
    let container = unique("reconcile-holder");
    let mut cleanup = DockerCleanup::default();
    cleanup.containers.push(container.clone());
    cleanup.volumes.push(volume.clone());

    docker_ok(&["volume", "create", "-d", "local", &volume]);
    assert_eq!(local_use_of(&volume), None, "no container uses it yet");

    let twice = [format!("{volume}:/a"), format!("{volume}:/b")];
    docker_ok(&[
        "run", "-d", "--name", &container, "-v", &twice[0], "-v", &twice[1], image, "sleep", "600",
    ]);
    assert_eq!(
        local_use_of(&volume),
        Some(1),
        "one container, mounted twice"
    );

    docker_ok(&["pause", &container]);
    assert_eq!(
        local_use_of(&volume),
        Some(1),
        "a paused container still holds it"
    );

    docker_ok(&["rm", "-f", &container]);
    assert_eq!(local_use_of(&volume), None, "its container is gone");
}
