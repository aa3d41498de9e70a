//! The systemd unit in `templates/`: ordered before Docker, never restarting Docker with it,
//! and accepted by `systemd-analyze verify` when the binary is in place.

use std::process::Command;

const UNIT: &str = include_str!("../templates/cloudstor-plugin.service");

fn values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn starts_before_docker_without_tying_dockers_lifetime_to_it() {
    assert_eq!(values("Before"), ["docker.service"]);
    assert!(values("WantedBy")[0].contains("docker.service"));
    assert!(values("RequiredBy").is_empty() && values("BindsTo").is_empty());
    assert_eq!(
        values("ExecStart"),
        ["/usr/local/bin/cloudstor-plugin --config /etc/cloudstor/plugin.toml"]
    );
    assert_eq!(values("KillSignal"), ["SIGTERM"]);
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let unit = UNIT.replace(
        "/usr/local/bin/cloudstor-plugin",
        env!("CARGO_BIN_EXE_cloudstor-plugin"),
    );
    let path = dir.path().join("cloudstor-plugin.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd) is installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn the_binary_reports_its_version() {
    let output = Command::new(env!("CARGO_BIN_EXE_cloudstor-plugin"))
        .arg("--version")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        format!("cloudstor-plugin {}", env!("CARGO_PKG_VERSION"))
    );
}
