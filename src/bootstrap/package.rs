//! The managed Docker plugin package: `config.json` and a `rootfs/` that
//! `docker plugin create cloudstor:aws DIR` accepts as it is.
//!
//! The same package serves as a CSI plugin for Swarm cluster volumes (`--csi`): the same
//! rootfs and settings, with a config.json that declares the CSI interfaces and Swarm's
//! `/data/published` as the propagated mount.
//!
//! The rootfs is a scratch tree: the static plugin binary and a static busybox for the
//! entrypoint (which turns `docker plugin set` settings into the plugin's config file and binds
//! hostpath data). The plugin mounts EFS with `mount(2)` itself: no `mount.nfs` helper needed.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::template::{Template, template};

const CONFIG_JSON: Template = template!("plugin/config.json");
const ENTRYPOINT: Template = template!("plugin/entrypoint.sh");

/// Busybox applets the entrypoint runs by name.
const BUSYBOX_APPLETS: [&str; 4] = ["sh", "mkdir", "mount", "umount"];

/// Directories the plugin expects in its rootfs; `/var/lib/cloudstor` is the
/// propagatedMount, so mounts under it are visible to Docker, and `/var/lib/cloudstor-plugin`
/// is where the host directory that outlives the plugin is mounted.
const ROOTFS_DIRS: [&str; 9] = [
    "bin",
    "usr/local/bin",
    "etc/cloudstor",
    "var/lib/cloudstor",
    "var/lib/cloudstor-plugin",
    "run/docker/plugins",
    // Where Swarm asks a CSI plugin to publish volumes: the CSI package's propagatedMount.
    "data/published",
    "proc",
    "tmp",
];

/// A package could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{} is dynamically linked; a plugin rootfs has no libraries. Build it with RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --no-default-features --bin cloudstor-plugin --target x86_64-unknown-linux-gnu",
        path.display()
    )]
    NotStatic { path: PathBuf },
    #[error("{} is not an ELF executable", path.display())]
    NotElf { path: PathBuf },
}

/// Which protocol the packaged plugin speaks to Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    /// `docker.volumedriver/1.0`: volumes for `docker run`, services and stacks.
    VolumeDriver,
    /// `docker.csicontroller/1.0` + `docker.csinode/1.0`: Swarm cluster volumes.
    Csi,
}

/// Where the package went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedPlugin {
    pub config: PathBuf,
    pub rootfs: PathBuf,
}

/// Writes `dir/config.json` and `dir/rootfs/` with `plugin_binary` and `busybox`, both of
/// which must be statically linked.
pub fn package_managed_plugin(
    dir: &Path,
    plugin_binary: &Path,
    busybox: &Path,
    kind: PackageKind,
) -> Result<PackagedPlugin, PackageError> {
    check_static(plugin_binary)?;
    check_static(busybox)?;
    let rootfs = dir.join("rootfs");
    for sub in ROOTFS_DIRS {
        create_dir(&rootfs.join(sub))?;
    }
    install_executable(
        plugin_binary,
        &rootfs.join("usr/local/bin/cloudstor-plugin"),
    )?;
    install_executable(busybox, &rootfs.join("bin/busybox"))?;
    for applet in BUSYBOX_APPLETS {
        link_applet(&rootfs.join("bin").join(applet))?;
    }
    write(&rootfs.join("cloudstor-entrypoint.sh"), ENTRYPOINT.text)?;
    let config = dir.join("config.json");
    let config_json = match kind {
        PackageKind::VolumeDriver => CONFIG_JSON.text.to_string(),
        PackageKind::Csi => csi_config_json(),
    };
    write(&config, &config_json)?;
    Ok(PackagedPlugin { config, rootfs })
}

/// The VolumeDriver config.json turned into the CSI one, so both packages keep the same
/// settings, mounts and capabilities. Docker sets `CSI_ENDPOINT` to the socket's path inside
/// the plugin; `PLUGIN_PROTOCOL` tells the entrypoint to serve CSI there.
fn csi_config_json() -> String {
    let mut config: serde_json::Value =
        serde_json::from_str(CONFIG_JSON.text).expect("the config.json template is JSON");
    config["description"] =
        "cloudstor CSI: Swarm cluster volumes on shared EFS file systems".into();
    config["documentation"] = "https://github.com/cloudstor/cloudstor/blob/main/docs/csi.md".into();
    config["interface"] = serde_json::json!({
        "types": ["docker.csicontroller/1.0", "docker.csinode/1.0"],
        "socket": "csi.sock"
    });
    config["propagatedMount"] = "/data/published".into();
    let env = config["env"].as_array_mut().expect("env is a list");
    env.push(serde_json::json!({
        "name": "PLUGIN_PROTOCOL",
        "description": "what the entrypoint serves: csi (this package) or volumedriver",
        "value": "csi"
    }));
    let mut text = serde_json::to_string_pretty(&config).expect("JSON serialises");
    text.push('\n');
    text
}

/// An ELF file is dynamically linked when it names a program interpreter (`PT_INTERP`).
fn check_static(path: &Path) -> Result<(), PackageError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    match elf_has_interpreter(&bytes) {
        Some(false) => Ok(()),
        Some(true) => Err(PackageError::NotStatic {
            path: path.to_owned(),
        }),
        None => Err(PackageError::NotElf {
            path: path.to_owned(),
        }),
    }
}

/// Reads the program headers of a 64-bit little-endian ELF file; `None` if it is not one.
fn elf_has_interpreter(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let read_u16 = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let header_table = u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?) as usize;
    let entry_size = usize::from(read_u16(0x36)?);
    let entries = usize::from(read_u16(0x38)?);
    let mut has_interpreter = false;
    for index in 0..entries {
        let at = header_table + index * entry_size;
        let kind = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        has_interpreter |= kind == PT_INTERP;
    }
    Some(has_interpreter)
}

fn install_executable(from: &Path, to: &Path) -> Result<(), PackageError> {
    fs::copy(from, to).map_err(io_error(from))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).map_err(io_error(to))
}

/// `bin/<applet>` → `busybox`, replacing a link left by an earlier package run.
fn link_applet(link: &Path) -> Result<(), PackageError> {
    match fs::remove_file(link) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(io_error(link)(error)),
        _ => {}
    }
    symlink("busybox", link).map_err(io_error(link))
}

fn create_dir(path: &Path) -> Result<(), PackageError> {
    fs::create_dir_all(path).map_err(io_error(path))
}

fn write(path: &Path, text: &str) -> Result<(), PackageError> {
    fs::write(path, text).map_err(io_error(path))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_declares_a_volume_driver_with_host_network_and_sys_admin() {
        let config: serde_json::Value = serde_json::from_str(CONFIG_JSON.text).unwrap();
        assert_eq!(
            config["interface"]["types"],
            serde_json::json!(["docker.volumedriver/1.0"])
        );
        assert_eq!(config["interface"]["socket"], "cloudstor.sock");
        assert_eq!(config["network"]["type"], "host");
        assert_eq!(config["propagatedMount"], "/var/lib/cloudstor");
        let data = &config["mounts"][0];
        assert_eq!(
            (&data["name"], &data["source"], &data["destination"]),
            (
                &serde_json::json!("data"),
                &serde_json::json!("/var/lib/cloudstor-plugin"),
                &serde_json::json!("/var/lib/cloudstor-plugin")
            )
        );
        assert_eq!(data["settable"], serde_json::json!(["source"]));
        let docker = &config["mounts"][1];
        assert_eq!(
            (&docker["source"], &docker["destination"]),
            (
                &serde_json::json!("/var/run/docker.sock"),
                &serde_json::json!("/run/docker.sock")
            )
        );
        assert!(
            ENTRYPOINT
                .text
                .contains(r#"docker_socket = "/run/docker.sock""#)
        );
        assert!(
            ENTRYPOINT
                .text
                .contains(r#"state_dir = "%s/state"\n' "$DATA""#)
                && ENTRYPOINT.text.contains("DATA=/var/lib/cloudstor-plugin\n"),
            "the state dir is on the data mount, not under the propagatedMount"
        );
        assert_eq!(
            config["linux"]["capabilities"],
            serde_json::json!(["CAP_SYS_ADMIN"])
        );
        let settable: Vec<&str> = config["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|env| env["settable"] == serde_json::json!(["value"]))
            .map(|env| env["name"].as_str().unwrap())
            .collect();
        for name in [
            "EFS_ID_GENERAL_PURPOSE",
            "EFS_MOUNT_TARGET_IPS_GENERAL_PURPOSE",
            "EFS_ID_MAXIO",
            "EFS_MOUNT_TARGET_IPS_MAXIO",
            "AVAILABILITY_ZONE",
            "HOSTPATH_DIR",
        ] {
            assert!(settable.contains(&name), "{name} is settable");
        }
    }

    #[test]
    fn the_csi_config_declares_both_csi_interfaces_with_the_same_settings() {
        let volume_driver: serde_json::Value = serde_json::from_str(CONFIG_JSON.text).unwrap();
        let csi: serde_json::Value = serde_json::from_str(&csi_config_json()).unwrap();
        assert_eq!(
            csi["interface"],
            serde_json::json!({
                "types": ["docker.csicontroller/1.0", "docker.csinode/1.0"],
                "socket": "csi.sock"
            })
        );
        assert_eq!(csi["propagatedMount"], "/data/published");
        assert_eq!(csi["linux"], volume_driver["linux"]);
        assert_eq!(csi["mounts"], volume_driver["mounts"]);
        let env = csi["env"].as_array().unwrap();
        assert_eq!(
            &env[..env.len() - 1],
            volume_driver["env"].as_array().unwrap()
        );
        assert_eq!(env.last().unwrap()["value"], "csi");
        assert!(ENTRYPOINT.text.contains("PLUGIN_PROTOCOL"));
    }

    #[test]
    fn the_static_busybox_is_static_and_this_test_binary_is_not() {
        let busybox = Path::new("/bin/busybox");
        if busybox.exists() {
            assert!(check_static(busybox).is_ok());
        }
        let me = std::env::current_exe().unwrap();
        assert!(matches!(
            check_static(&me),
            Err(PackageError::NotStatic { .. })
        ));
    }

    /// The command must build the binary the package needs: static, and without the AWS SDK
    /// (`aws` is a default feature), exactly as docs/bootstrap.md shows it.
    #[test]
    fn the_suggested_static_build_is_the_documented_one() {
        let message = PackageError::NotStatic {
            path: PathBuf::from("target/release/cloudstor-plugin"),
        }
        .to_string();
        let command = "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --no-default-features --bin cloudstor-plugin --target x86_64-unknown-linux-gnu";
        assert!(message.ends_with(command), "{message}");
        let docs = include_str!("../../docs/bootstrap.md");
        assert!(
            docs.contains(&format!("\n{command}\n")),
            "docs/bootstrap.md"
        );
    }

    #[test]
    fn a_script_is_not_an_elf_executable() {
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\n"), None);
    }
}
