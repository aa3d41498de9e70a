//! The rendered node script, for real: shellcheck on every variant, and runs inside a
//! throwaway root (chroot with Debian's static busybox and the recording stubs in
//! `tests/fixtures/fakeroot/`) to show it installs once, changes nothing the second time,
//! and refuses a plugin whose sha256 is wrong before installing anything.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloudstor::bootstrap::{
    NodeFileSystem, USER_DATA_LIMIT_BYTES, ZonedMountTarget, decode_launch_template_user_data,
    launch_template_user_data, render_cloudformation_script, render_script,
};
use cloudstor::plugin::PluginConfig;
use cloudstor::plugin::config::Backend;
use cloudstor::spec::{PerformanceMode, Spec};
use sha2::{Digest, Sha256};

const PLUGIN_BYTES: &[u8] = b"\x7fELF pretend cloudstor-plugin\n";
const PLUGIN_URL: &str = "https://downloads.example.com/cloudstor-plugin";
const STUBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fakeroot");

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn spec_with(nodes: &str) -> Spec {
    let text = format!(
        r#"
[stack]
name = "swarm-prod"
region = "eu-west-1"

[network]
vpc_id = "vpc-0abc"
subnet_ids = ["subnet-a"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
performance_mode = "generalPurpose"

[filesystems.fast]
performance_mode = "maxIO"
throughput_mode = "bursting"

[nodes]
launch_template_name = "swarm-nodes"
{nodes}
"#
    );
    Spec::parse(Path::new("cloudstor.toml"), &text).unwrap()
}

fn nodes(os_family: &str, install_mode: &str, url: &str, sha256: &str) -> String {
    format!(
        "os_family = \"{os_family}\"\ninstall_mode = \"{install_mode}\"\nplugin_url = \"{url}\"\nplugin_sha256 = \"{sha256}\"\n"
    )
}

fn filesystems(shared_id: &str) -> Vec<NodeFileSystem> {
    vec![
        NodeFileSystem::efs("fast", "fs-0fast", "eu-west-1", PerformanceMode::MaxIo),
        NodeFileSystem::efs(
            "shared",
            shared_id,
            "eu-west-1",
            PerformanceMode::GeneralPurpose,
        ),
    ]
}

fn script(os_family: &str, install_mode: &str) -> String {
    let sha = sha256_hex(PLUGIN_BYTES);
    let spec = spec_with(&nodes(os_family, install_mode, PLUGIN_URL, &sha));
    render_script(&spec, &filesystems("fs-0shared")).unwrap()
}

fn shellcheck(path: &Path) {
    let output = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(path)
        .output()
        .expect("shellcheck is installed (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "shellcheck {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn shellcheck_passes_on_every_rendered_script() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "extra_user_data = \"\"\"\necho \"node ready: $(hostname)\"\n\"\"\"\n";
    for os_family in ["debian", "rhel", "auto"] {
        for install_mode in ["systemd", "managed"] {
            let sha = sha256_hex(PLUGIN_BYTES);
            let nodes = nodes(os_family, install_mode, PLUGIN_URL, &sha) + extra;
            let rendered = render_script(&spec_with(&nodes), &filesystems("fs-0shared")).unwrap();
            let path = dir.path().join(format!("{os_family}-{install_mode}.sh"));
            fs::write(&path, rendered).unwrap();
            shellcheck(&path);
        }
    }
    shellcheck(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/plugin/entrypoint.sh"
    )));
}

#[test]
fn the_cloudformation_form_after_fn_sub_is_the_script_rendered_with_ids() {
    let sha = sha256_hex(PLUGIN_BYTES);
    let spec = spec_with(&nodes("auto", "systemd", PLUGIN_URL, &sha));
    let zoned = ZonedMountTarget {
        filesystem: "shared".into(),
        subnet: "subnet-a".into(),
        zone: "eu-west-1a".into(),
    };
    let user_data = render_cloudformation_script(&spec, &[zoned]).unwrap();
    let substituted = user_data
        .body
        .replace("${MountTargetIpSharedSubnetA}", "10.0.1.5")
        .replace("${FsIdShared}", "fs-0shared")
        .replace("${FsIdFast}", "fs-0fast")
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${AWS::URLSuffix}", "amazonaws.com")
        .replace("${!", "${");
    let mut filesystems = filesystems("fs-0shared");
    filesystems[1].mount_target_ips = [("eu-west-1a".to_owned(), "10.0.1.5".to_owned())].into();
    assert_eq!(substituted, render_script(&spec, &filesystems).unwrap());
}

#[test]
fn the_script_fits_in_user_data_until_extra_user_data_overflows_it() {
    for install_mode in ["systemd", "managed"] {
        let script = script("auto", install_mode);
        let encoded = launch_template_user_data(&script).unwrap();
        assert_eq!(decode_launch_template_user_data(&encoded).unwrap(), script);
    }
    let sha = sha256_hex(PLUGIN_BYTES);
    let padding = "# padding\n".repeat(USER_DATA_LIMIT_BYTES / 10);
    let nodes = nodes("auto", "systemd", PLUGIN_URL, &sha)
        + &format!("extra_user_data = \"\"\"\n{padding}\"\"\"\n");
    let oversized = render_script(&spec_with(&nodes), &filesystems("fs-0shared")).unwrap();
    let err = launch_template_user_data(&oversized).unwrap_err();
    assert_eq!(err.bytes, oversized.len());
    assert!(
        err.to_string()
            .contains("EC2 accepts at most 16384 bytes of user data")
    );
}

#[test]
fn rendered_systemd_script_snapshot() {
    insta::assert_snapshot!(script("debian", "systemd"));
}

/// A chroot with busybox for every command and the recording stubs for apt-get, dnf, yum,
/// systemctl, docker and curl; the "download server" is its /srv directory.
struct FakeRoot {
    dir: tempfile::TempDir,
}

impl FakeRoot {
    fn new(os_release: &str) -> FakeRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in [
            "bin",
            "usr/bin",
            "usr/sbin",
            "usr/lib/stub",
            "etc",
            "srv",
            "tmp",
            "dev",
            "var/lib",
            "run/systemd/system",
        ] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        install_busybox(root);
        for stub in ["systemctl", "docker", "curl", "stub-package-manager"] {
            let to = root.join("usr/bin").join(stub);
            fs::copy(Path::new(STUBS).join("usr/bin").join(stub), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // What the package manager stub installs as curl.
        fs::copy(
            Path::new(STUBS).join("usr/bin/curl"),
            root.join("usr/lib/stub/curl"),
        )
        .unwrap();
        for manager in ["apt-get", "dnf", "yum"] {
            symlink("stub-package-manager", root.join("usr/bin").join(manager)).unwrap();
        }
        fs::write(root.join("etc/os-release"), os_release).unwrap();
        fs::write(root.join("srv/cloudstor-plugin"), PLUGIN_BYTES).unwrap();
        let status = Command::new("mknod")
            .args(["-m", "666"])
            .arg(root.join("dev/null"))
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(status.success(), "mknod /dev/null (the tests run as root)");
        FakeRoot { dir }
    }

    /// `sleep` records its argument instead of waiting.
    fn stub_sleep(&self) {
        let to = self.path("/usr/bin/sleep");
        fs::copy(Path::new(STUBS).join("usr/bin/sleep"), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A minimal image: neither curl nor busybox's wget.
    fn without_downloaders(&self) {
        fs::remove_file(self.path("/usr/bin/curl")).unwrap();
        fs::remove_file(self.path("/bin/wget")).unwrap();
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.dir.path().join(inside.trim_start_matches('/'))
    }

    fn mark_active(&self, unit: &str) {
        let active = self.path("/var/lib/stub-systemd/active");
        fs::create_dir_all(&active).unwrap();
        fs::write(active.join(unit), "").unwrap();
    }

    /// Runs the script in the chroot; returns its output and the stub calls it made.
    fn run(&self, script: &str) -> (Output, Vec<String>) {
        fs::write(self.path("/bootstrap.sh"), script).unwrap();
        let _ = fs::remove_file(self.path("/stub-calls.log"));
        let output = Command::new("chroot")
            .arg(self.dir.path())
            .args(["/bin/sh", "/bootstrap.sh"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .expect("chroot runs (the tests run as root)");
        let calls = fs::read_to_string(self.path("/stub-calls.log")).unwrap_or_default();
        (output, calls.lines().map(str::to_owned).collect())
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("/var/log/cloudstor-bootstrap.log")).unwrap_or_default()
    }
}

/// Debian's static busybox, linked under every applet name it has.
fn install_busybox(root: &Path) {
    fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("/bin/busybox from Debian's busybox-static (scripts/test.sh installs it)");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
}

const DEBIAN: &str = "ID=debian\nVERSION_ID=\"12\"\n";
const ROCKY: &str = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";

fn changes(calls: &[String]) -> Vec<&String> {
    let changing = [
        "apt-get ",
        "dnf ",
        "yum ",
        "systemctl start",
        "systemctl restart",
        "systemctl enable",
        "daemon-reload",
        "curl ",
        "plugin create",
        "plugin enable",
        "plugin set",
        "plugin rm",
    ];
    calls
        .iter()
        .filter(|call| changing.iter().any(|word| call.contains(word)))
        .collect()
}

fn assert_ran(output: &Output, root: &FakeRoot) {
    assert!(
        output.status.success(),
        "script failed: {}\nstderr: {}\nlog:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        root.log()
    );
}

#[test]
fn systemd_install_on_debian_runs_twice_and_the_second_run_changes_nothing() {
    let root = FakeRoot::new(DEBIAN);
    root.mark_active("docker.service");
    let script = script("auto", "systemd");

    let (first, calls) = root.run(&script);
    assert_ran(&first, &root);
    assert_eq!(
        changes(&calls),
        [
            &format!("curl -fsSL -o /usr/local/bin/cloudstor-plugin.download {PLUGIN_URL}"),
            "apt-get update -q",
            "apt-get install -y -q nfs-common",
            "systemctl daemon-reload",
            "systemctl enable cloudstor-plugin.service",
            "systemctl start cloudstor-plugin.service",
            "systemctl restart docker.service",
        ]
    );
    assert_eq!(
        fs::read(root.path("/usr/local/bin/cloudstor-plugin")).unwrap(),
        PLUGIN_BYTES
    );
    let config_path = root.path("/etc/cloudstor/plugin.toml");
    let config = PluginConfig::parse(&fs::read_to_string(&config_path).unwrap(), &config_path)
        .expect("the plugin accepts the config the script wrote");
    assert_eq!(
        config.filesystems[1].backend,
        Backend::Efs {
            dns_name: "fs-0shared.efs.eu-west-1.amazonaws.com".into(),
            mount_options: None,
            mount_target_ips: Default::default(),
        }
    );
    assert_eq!(config.filesystems[1].id, "fs-0shared");
    assert_eq!(config.driver_name(), "cloudstor");
    let unit =
        fs::read_to_string(root.path("/etc/systemd/system/cloudstor-plugin.service")).unwrap();
    assert!(unit.contains("Before=docker.service"));

    let console = String::from_utf8_lossy(&first.stdout);
    assert!(
        console.contains("cloudstor-bootstrap: installing nfs-common")
            && console.contains("cloudstor-bootstrap: done"),
        "progress reaches the console (cloud-init's output) too: {console}"
    );
    assert!(root.log().contains("cloudstor-bootstrap: done"));

    let (second, calls) = root.run(&script);
    assert_ran(&second, &root);
    assert!(changes(&calls).is_empty(), "second run changed: {calls:#?}");
    assert!(root.log().contains("NFS client already installed"));
}

#[test]
fn a_minimal_image_without_curl_or_wget_gets_curl_from_its_package_manager() {
    let root = FakeRoot::new(DEBIAN);
    root.without_downloaders();
    let (output, calls) = root.run(&script("auto", "systemd"));
    assert_ran(&output, &root);
    let changes = changes(&calls);
    assert_eq!(
        changes[..3],
        [
            "apt-get update -q",
            "apt-get install -y -q curl ca-certificates",
            &format!("curl -fsSL -o /usr/local/bin/cloudstor-plugin.download {PLUGIN_URL}"),
        ]
    );
    assert_eq!(
        fs::read(root.path("/usr/local/bin/cloudstor-plugin")).unwrap(),
        PLUGIN_BYTES
    );
}

#[test]
fn connection_refused_is_retried_with_backoff() {
    let root = FakeRoot::new(DEBIAN);
    root.stub_sleep();
    fs::write(root.path("/srv/refusals"), "2").unwrap();
    let (output, calls) = root.run(&script("debian", "systemd"));
    assert_ran(&output, &root);
    let downloads_and_waits: Vec<&str> = calls
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with("curl ") || c.starts_with("sleep "))
        .map(|c| c.split(" -o").next().unwrap())
        .collect();
    assert_eq!(
        downloads_and_waits,
        [
            "curl -fsSL",
            "sleep 1",
            "curl -fsSL",
            "sleep 2",
            "curl -fsSL"
        ]
    );
    assert!(
        root.log()
            .contains("failed (attempt 2 of 6); retrying in 2s"),
        "{}",
        root.log()
    );
}

#[test]
fn a_download_that_never_succeeds_gives_up_with_what_to_check() {
    let root = FakeRoot::new(DEBIAN);
    root.stub_sleep();
    fs::write(root.path("/srv/refusals"), "100").unwrap();
    let (output, calls) = root.run(&script("debian", "systemd"));
    assert_eq!(output.status.code(), Some(1));
    let waits: Vec<&str> = calls
        .iter()
        .filter(|c| c.starts_with("sleep "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        waits,
        ["sleep 1", "sleep 2", "sleep 4", "sleep 8", "sleep 16"]
    );
    let log = root.log();
    assert!(
        log.contains(&format!(
            "error: cannot download {PLUGIN_URL} after 6 attempts; check that the node reaches it"
        )),
        "{log}"
    );
    assert!(
        log.contains("bootstrap stopped while downloading the plugin"),
        "{log}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("apt-get")));
    assert!(
        !root
            .path("/usr/local/bin/cloudstor-plugin.download")
            .exists()
    );
}

#[test]
fn without_systemd_the_script_says_so_and_changes_nothing() {
    let root = FakeRoot::new(DEBIAN);
    fs::remove_dir(root.path("/run/systemd/system")).unwrap();
    let (output, calls) = root.run(&script("debian", "systemd"));
    assert_eq!(output.status.code(), Some(1));
    assert!(changes(&calls).is_empty(), "{calls:#?}");
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(
        console.contains("error: this node does not run systemd"),
        "{console}"
    );
    assert!(
        !console.contains("a command failed"),
        "the failure went through fail, once: {console}"
    );
}

#[test]
fn a_command_that_fails_without_its_own_check_is_still_explained() {
    let root = FakeRoot::new(DEBIAN);
    // /etc/cloudstor as a file: the script's `mkdir -p /etc/cloudstor` fails under set -e.
    fs::write(root.path("/etc/cloudstor"), "").unwrap();
    let (output, _) = root.run(&script("debian", "systemd"));
    assert_eq!(output.status.code(), Some(1));
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(
        console.contains("error: a command failed (exit status 1) while installing the plugin"),
        "{console}"
    );
    assert!(
        console.contains("Fix the cause and run this script again"),
        "{console}"
    );
}

#[test]
fn auto_detects_rhel_and_installs_nfs_utils_with_dnf() {
    let root = FakeRoot::new(ROCKY);
    let (output, calls) = root.run(&script("auto", "systemd"));
    assert_ran(&output, &root);
    assert!(
        calls.contains(&"dnf install -y nfs-utils".to_owned()),
        "{calls:#?}"
    );
    assert!(!calls.iter().any(|call| call.starts_with("apt-get")));
}

#[test]
fn docker_that_was_not_running_is_not_restarted() {
    let root = FakeRoot::new(DEBIAN);
    let (output, calls) = root.run(&script("debian", "systemd"));
    assert_ran(&output, &root);
    assert!(calls.contains(&"systemctl start cloudstor-plugin.service".to_owned()));
    assert!(
        !calls
            .iter()
            .any(|call| call.contains("docker.service") && call.contains("restart"))
    );
}

#[test]
fn a_new_file_system_id_restarts_the_plugin_but_not_docker() {
    let root = FakeRoot::new(DEBIAN);
    root.mark_active("docker.service");
    let (first, _) = root.run(&script("debian", "systemd"));
    assert_ran(&first, &root);
    let sha = sha256_hex(PLUGIN_BYTES);
    let spec = spec_with(&nodes("debian", "systemd", PLUGIN_URL, &sha));
    let changed = render_script(&spec, &filesystems("fs-0replaced")).unwrap();
    let (second, calls) = root.run(&changed);
    assert_ran(&second, &root);
    assert_eq!(
        changes(&calls),
        ["systemctl restart cloudstor-plugin.service"]
    );
}

#[test]
fn a_wrong_sha256_aborts_before_anything_is_installed() {
    let root = FakeRoot::new(DEBIAN);
    root.mark_active("docker.service");
    let wrong = sha256_hex(b"some other binary");
    let spec = spec_with(&nodes("debian", "systemd", PLUGIN_URL, &wrong));
    let script = render_script(&spec, &filesystems("fs-0shared")).unwrap();

    let (output, calls) = root.run(&script);
    assert!(!output.status.success());
    assert_eq!(changes(&calls).len(), 1, "only the download: {calls:#?}");
    assert!(calls[0].starts_with("curl "));
    assert!(!root.path("/usr/local/bin/cloudstor-plugin").exists());
    assert!(
        !root
            .path("/usr/local/bin/cloudstor-plugin.download")
            .exists()
    );
    assert!(!root.path("/etc/cloudstor/plugin.toml").exists());
    assert!(!root.path("/usr/sbin/mount.nfs4").exists());
    let log = root.log();
    assert!(
        log.contains(&format!(
            "refusing {PLUGIN_URL}: its sha256 is {}",
            sha256_hex(PLUGIN_BYTES)
        )),
        "{log}"
    );
}

#[test]
fn managed_install_creates_and_enables_the_plugin_once() {
    let root = FakeRoot::new(DEBIAN);
    let package = tempfile::tempdir().unwrap();
    fs::create_dir(package.path().join("rootfs")).unwrap();
    fs::write(package.path().join("config.json"), "{}").unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(root.path("/srv/cloudstor-plugin.tar.gz"))
        .arg("-C")
        .arg(package.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let tarball = fs::read(root.path("/srv/cloudstor-plugin.tar.gz")).unwrap();
    let url = "https://downloads.example.com/cloudstor-plugin.tar.gz";
    let spec = spec_with(&nodes("debian", "managed", url, &sha256_hex(&tarball)));
    let script = render_script(&spec, &filesystems("fs-0shared")).unwrap();

    let (first, calls) = root.run(&script);
    assert_ran(&first, &root);
    let docker: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("docker plugin "))
        .collect();
    assert!(
        docker.contains(
            &&"docker plugin create cloudstor:aws /var/lib/cloudstor/plugin-package".to_owned()
        ),
        "{docker:#?}"
    );
    assert!(docker.contains(&&"docker plugin enable cloudstor:aws".to_owned()));
    assert!(
        root.path("/var/lib/cloudstor-plugin").is_dir(),
        "the plugin's host directory (its config.json bind-mounts it) exists before enable"
    );
    assert_eq!(
        fs::read_to_string(root.path("/var/lib/stub-docker/settings")).unwrap(),
        "EFS_ID_MAXIO=fs-0fast EFS_DNS_MAXIO=fs-0fast.efs.eu-west-1.amazonaws.com \
         EFS_ID_GENERAL_PURPOSE=fs-0shared EFS_DNS_GENERAL_PURPOSE=fs-0shared.efs.eu-west-1.amazonaws.com\n"
    );

    let (second, calls) = root.run(&script);
    assert_ran(&second, &root);
    assert!(changes(&calls).is_empty(), "second run changed: {calls:#?}");
}
