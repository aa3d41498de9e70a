//! Node bootstrap: the user-data script that gives a swarm node the NFS client and the
//! cloudstor volume plugin, the launch-template form of it, and the managed-plugin package.
//!
//! The script is rendered from `templates/bootstrap.sh` and its partials with the stack's
//! file systems. Their ids exist only after apply, so rendering takes them as a list of
//! [`NodeFileSystem`]: from a refresh ([`node_filesystems`]), or as CloudFormation
//! `${FsId...}` variables for `Fn::Sub` ([`render_cloudformation_script`]).

mod package;
mod template;
mod user_data;

use std::collections::{BTreeMap, BTreeSet};

use crate::cfn::pascal_case;
use crate::cloud::Observed;
use crate::model::{Address, Desired, MountTarget, Resource};
use crate::spec::{InstallMode, NodesSpec, OsFamily, PerformanceMode, Spec};
use template::{Template, TemplateError, template};

pub use package::{PackageError, PackageKind, PackagedPlugin, package_managed_plugin};
pub use user_data::{
    RUNNING_NODES_KEEP_USER_DATA, USER_DATA_LIMIT_BYTES, UserDataTooLarge, UserDataUnreadable,
    decode_launch_template_user_data, launch_template_user_data, user_data_diff,
};

const BOOTSTRAP: Template = template!("bootstrap.sh");
const SYSTEMD_MODE: Template = template!("bootstrap/systemd.sh");
const MANAGED_MODE: Template = template!("bootstrap/managed.sh");
const PLUGIN_CONFIG: Template = template!("bootstrap/plugin.toml");
const PLUGIN_CONFIG_FILESYSTEM: Template = template!("bootstrap/filesystem.toml");
/// The plugin's own unit file, installed verbatim.
const PLUGIN_UNIT: Template = template!("cloudstor-plugin.service");

/// One of the stack's file systems as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFileSystem {
    /// The spec's name (`shared` for `[filesystems.shared]`).
    pub name: String,
    pub id: String,
    pub dns_name: String,
    pub performance_mode: PerformanceMode,
    /// Availability Zone → IP address of the file system's mount target there: the plugin
    /// mounts its zone's address when the DNS name does not resolve.
    pub mount_target_ips: BTreeMap<String, String>,
}

impl NodeFileSystem {
    /// An EFS file system, reached at `<id>.efs.<region>.amazonaws.com`.
    pub fn efs(name: &str, id: &str, region: &str, performance_mode: PerformanceMode) -> Self {
        NodeFileSystem {
            name: name.to_owned(),
            id: id.to_owned(),
            dns_name: format!("{id}.efs.{region}.amazonaws.com"),
            performance_mode,
            mount_target_ips: BTreeMap::new(),
        }
    }

    /// The same file system with its mount targets' addresses by zone.
    pub fn with_mount_target_ips(mut self, ips: BTreeMap<String, String>) -> Self {
        self.mount_target_ips = ips;
        self
    }
}

/// Why no node script could be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the spec has no [nodes] section; add one to bootstrap swarm nodes")]
    NoNodesSection,
    #[error("file system {name} does not exist yet; run `cloudstor apply` first")]
    NotCreated { name: String },
    #[error(
        "the mount target of file system {filesystem} in {subnet} does not exist yet; run `cloudstor apply` first"
    )]
    MountTargetNotCreated { filesystem: String, subnet: String },
    #[error(
        "file systems {first} and {second} are both {}; the plugin picks a file system by performance mode, so keep one of each",
        mode.as_str()
    )]
    SamePerformanceMode {
        mode: PerformanceMode,
        first: String,
        second: String,
    },
    #[error("{what} {value:?} has characters a node script cannot carry safely")]
    UnsafeValue { what: &'static str, value: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The node script for `spec`, with the given file systems' ids and DNS names.
pub fn render_script(
    spec: &Spec,
    filesystems: &[NodeFileSystem],
) -> Result<String, BootstrapError> {
    let nodes = spec.nodes.as_ref().ok_or(BootstrapError::NoNodesSection)?;
    check_filesystems(filesystems)?;
    let install_mode_functions = match nodes.install_mode {
        InstallMode::Systemd => SYSTEMD_MODE.render(&[
            (
                "PLUGIN_CONFIG",
                &plugin_config(&spec.stack.name, filesystems)?,
            ),
            ("PLUGIN_UNIT", PLUGIN_UNIT.text),
        ])?,
        InstallMode::Managed => MANAGED_MODE.render(&[(
            "PLUGIN_SETTINGS",
            &shell_quote(&managed_plugin_settings(filesystems)),
        )])?,
    };
    Ok(BOOTSTRAP.render(&[
        ("STACK", &spec.stack.name),
        ("OS_FAMILY", os_family_word(nodes.os_family)),
        ("PLUGIN_URL", &shell_quote(&nodes.plugin_url)),
        ("PLUGIN_SHA256", &nodes.plugin_sha256.to_ascii_lowercase()),
        ("INSTALL_MODE_FUNCTIONS", &install_mode_functions),
        ("EXTRA_USER_DATA", &extra_user_data(nodes)),
    ])?)
}

/// Stands in for the id of a file system apply has not created yet: as long as a real EFS id
/// (`fs-` and 17 hex digits), so a script rendered with it is as long as the real one.
pub const ID_KNOWN_AFTER_APPLY: &str = "fs-known-after-apply";

/// Stands in for the address of a mount target apply has not created yet: the longest IPv4
/// address, so a script rendered with it is at least as long as the real one.
pub const IP_KNOWN_AFTER_APPLY: &str = "255.255.255.255";

/// The stack's file systems and mount targets as refresh found them; an error names one not
/// created yet.
pub fn node_filesystems(
    spec: &Spec,
    observed: &Observed,
    region: &str,
) -> Result<Vec<NodeFileSystem>, BootstrapError> {
    let desired = Desired::from_spec(spec, &observed.subnet_zones);
    spec.filesystems
        .iter()
        .map(|(name, fs_spec)| {
            let id = observed_id(observed, name)
                .ok_or_else(|| BootstrapError::NotCreated { name: name.clone() })?;
            let mut ips = BTreeMap::new();
            for target in desired_mount_targets(&desired, name) {
                let (zone, ip) = observed_address(observed, target).ok_or_else(|| {
                    BootstrapError::MountTargetNotCreated {
                        filesystem: name.clone(),
                        subnet: target.subnet_id.clone(),
                    }
                })?;
                ips.insert(zone, ip);
            }
            Ok(
                NodeFileSystem::efs(name, id, region, fs_spec.performance_mode)
                    .with_mount_target_ips(ips),
            )
        })
        .collect()
}

/// For plan: like [`node_filesystems`], with [`ID_KNOWN_AFTER_APPLY`] and
/// [`IP_KNOWN_AFTER_APPLY`] for what does not exist yet, so the user data can be diffed and
/// size-checked before apply.
pub fn planned_node_filesystems(
    spec: &Spec,
    observed: &Observed,
    region: &str,
) -> Vec<NodeFileSystem> {
    let desired = Desired::from_spec(spec, &observed.subnet_zones);
    spec.filesystems
        .iter()
        .map(|(name, fs_spec)| {
            let id = observed_id(observed, name).unwrap_or(ID_KNOWN_AFTER_APPLY);
            let ips = desired_mount_targets(&desired, name)
                .map(|target| {
                    observed_address(observed, target).unwrap_or_else(|| {
                        let zone = target.availability_zone.as_ref();
                        let zone = zone.unwrap_or(&target.subnet_id).clone();
                        (zone, IP_KNOWN_AFTER_APPLY.to_owned())
                    })
                })
                .collect();
            NodeFileSystem::efs(name, id, region, fs_spec.performance_mode)
                .with_mount_target_ips(ips)
        })
        .collect()
}

/// Whether every id and address in `filesystems` is real, not a stand-in.
pub fn all_known(filesystems: &[NodeFileSystem]) -> bool {
    filesystems.iter().all(|fs| {
        fs.id != ID_KNOWN_AFTER_APPLY
            && !fs
                .mount_target_ips
                .values()
                .any(|ip| ip == IP_KNOWN_AFTER_APPLY)
    })
}

fn desired_mount_targets<'a>(
    desired: &'a Desired,
    filesystem: &'a str,
) -> impl Iterator<Item = &'a MountTarget> {
    desired
        .resources
        .values()
        .filter_map(move |resource| match resource {
            Resource::MountTarget(target) if target.filesystem == filesystem => Some(target),
            _ => None,
        })
}

/// Zone and IP address of the mount target refresh found where `target` is wanted.
fn observed_address(observed: &Observed, target: &MountTarget) -> Option<(String, String)> {
    let address = Address::MountTarget {
        filesystem: target.filesystem.clone(),
        subnet: target.subnet_id.clone(),
    };
    match observed.resources.get(&address)? {
        Resource::MountTarget(MountTarget {
            availability_zone: Some(zone),
            ip_address: Some(ip),
            ..
        }) => Some((zone.clone(), ip.clone())),
        _ => None,
    }
}

fn observed_id<'a>(observed: &'a Observed, name: &str) -> Option<&'a str> {
    match observed
        .resources
        .get(&Address::FileSystem(name.to_owned()))
    {
        Some(Resource::FileSystem(fs)) => fs.id.as_deref(),
        _ => None,
    }
}

/// The node script as the body of a CloudFormation `Fn::Sub`: file system ids and mount
/// target addresses are the variables in `variables`, every other `${` of the script is
/// escaped as `${!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudFormationUserData {
    pub body: String,
    /// `Fn::Sub` variable (`FsIdShared`) → what the template binds it to.
    pub variables: BTreeMap<String, SubVariable>,
}

/// What a variable of [`CloudFormationUserData`] stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubVariable {
    /// The id (`Ref`) of the spec's file system of this name.
    FileSystemId(String),
    /// The `IpAddress` of the mount target of `filesystem` in `subnet`.
    MountTargetIp { filesystem: String, subnet: String },
}

/// A mount target whose Availability Zone the template knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonedMountTarget {
    pub filesystem: String,
    pub subnet: String,
    pub zone: String,
}

impl CloudFormationUserData {
    /// The script as `Fn::Sub` writes it out, with the longest values its variables can take:
    /// what EC2's user-data limit applies to. (The id stand-in is longer than any IPv4
    /// address, so it serves for both kinds of variable.)
    pub fn longest_substitution(&self) -> String {
        let mut script = self.body.replace("${!", "\u{0}");
        for variable in self.variables.keys() {
            script = script.replace(&format!("${{{variable}}}"), ID_KNOWN_AFTER_APPLY);
        }
        script
            .replace("${AWS::Region}", LONGEST_REGION)
            .replace("${AWS::URLSuffix}", LONGEST_URL_SUFFIX)
            .replace('\u{0}', "${")
    }

    /// Refused as EC2 would refuse it, before the template reaches CloudFormation.
    pub fn check_size(&self) -> Result<(), UserDataTooLarge> {
        launch_template_user_data(&self.longest_substitution()).map(|_| ())
    }
}

/// Stand-ins as long as the longest region name and URL suffix (`ap-southeast-5`,
/// `amazonaws.com.cn`), so the size check holds in every partition.
const LONGEST_REGION: &str = "xx-xxxxxxxxx-9";
const LONGEST_URL_SUFFIX: &str = "amazonaws.com.cn";

/// Pseudo parameters `Fn::Sub` fills in by itself.
const CLOUDFORMATION_PSEUDO_PARAMETERS: [&str; 2] = ["AWS::Region", "AWS::URLSuffix"];

/// The node script for a CloudFormation launch template, before the file systems exist.
/// `mount_targets` are those whose zone is known; their addresses join the plugin config.
pub fn render_cloudformation_script(
    spec: &Spec,
    mount_targets: &[ZonedMountTarget],
) -> Result<CloudFormationUserData, BootstrapError> {
    let mut variables = BTreeMap::new();
    let filesystems: Vec<NodeFileSystem> = spec
        .filesystems
        .iter()
        .map(|(name, fs_spec)| {
            let id_variable = cloudformation_variable(name);
            variables.insert(id_variable.clone(), SubVariable::FileSystemId(name.clone()));
            let mut ips = BTreeMap::new();
            for target in mount_targets.iter().filter(|t| &t.filesystem == name) {
                let variable = mount_target_ip_variable(name, &target.subnet);
                ips.insert(target.zone.clone(), format!("${{{variable}}}"));
                let ip = SubVariable::MountTargetIp {
                    filesystem: name.clone(),
                    subnet: target.subnet.clone(),
                };
                variables.insert(variable, ip);
            }
            let id = format!("${{{id_variable}}}");
            NodeFileSystem {
                name: name.clone(),
                dns_name: format!("{id}.efs.${{AWS::Region}}.${{AWS::URLSuffix}}"),
                id,
                performance_mode: fs_spec.performance_mode,
                mount_target_ips: ips,
            }
        })
        .collect();
    let script = render_script(spec, &filesystems)?;
    let known: BTreeSet<&str> = variables
        .keys()
        .map(String::as_str)
        .chain(CLOUDFORMATION_PSEUDO_PARAMETERS)
        .collect();
    Ok(CloudFormationUserData {
        body: escape_for_sub(&script, &known),
        variables,
    })
}

/// `shared`, `subnet-0a1` → `MountTargetIpSharedSubnet0a1`.
fn mount_target_ip_variable(filesystem: &str, subnet: &str) -> String {
    format!(
        "MountTargetIp{}{}",
        pascal_case(filesystem),
        pascal_case(subnet)
    )
}

/// `shared` → `FsIdShared`, `fast-io` → `FsIdFastIo`: `Fn::Sub` variables are alphanumeric.
pub fn cloudformation_variable(filesystem: &str) -> String {
    format!("FsId{}", pascal_case(filesystem))
}

/// Escapes each `${` that is not one of `known` variables as `${!`, which `Fn::Sub` writes
/// back as a literal `${`; the shell's own `${VAR}` survive the substitution.
fn escape_for_sub(script: &str, known: &BTreeSet<&str>) -> String {
    let mut out = String::with_capacity(script.len() + 64);
    let mut pieces = script.split("${");
    out.push_str(pieces.next().unwrap_or_default());
    for piece in pieces {
        let is_variable = piece
            .split_once('}')
            .is_some_and(|(name, _)| known.contains(name));
        out.push_str(if is_variable { "${" } else { "${!" });
        out.push_str(piece);
    }
    out
}

/// `plugin.toml` for the systemd install: one `[[filesystems]]` table per file system.
fn plugin_config(stack: &str, filesystems: &[NodeFileSystem]) -> Result<String, BootstrapError> {
    let tables = filesystems
        .iter()
        .map(|fs| {
            PLUGIN_CONFIG_FILESYSTEM.render(&[
                ("NAME", &fs.name),
                ("ID", &fs.id),
                ("PERFORMANCE_MODE", fs.performance_mode.as_str()),
                ("DNS_NAME", &fs.dns_name),
                ("MOUNT_TARGET_IPS", &toml_mount_target_ips(fs)),
            ])
        })
        .collect::<Result<String, _>>()?;
    Ok(PLUGIN_CONFIG.render(&[("STACK", stack), ("FILESYSTEMS", &tables)])?)
}

/// `docker plugin set` arguments for the managed plugin's settable environment.
fn managed_plugin_settings(filesystems: &[NodeFileSystem]) -> String {
    filesystems
        .iter()
        .map(|fs| {
            let mode = match fs.performance_mode {
                PerformanceMode::GeneralPurpose => "GENERAL_PURPOSE",
                PerformanceMode::MaxIo => "MAXIO",
            };
            let mut settings = format!("EFS_ID_{mode}={} EFS_DNS_{mode}={}", fs.id, fs.dns_name);
            if !fs.mount_target_ips.is_empty() {
                let pairs: Vec<String> = fs
                    .mount_target_ips
                    .iter()
                    .map(|(zone, ip)| format!("{zone}={ip}"))
                    .collect();
                settings += &format!(" EFS_MOUNT_TARGET_IPS_{mode}={}", pairs.join(","));
            }
            settings
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `mount_target_ips = { "us-east-1a" = "10.0.1.5" }` and a newline, or nothing.
fn toml_mount_target_ips(fs: &NodeFileSystem) -> String {
    if fs.mount_target_ips.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = fs
        .mount_target_ips
        .iter()
        .map(|(zone, ip)| format!("\"{zone}\" = \"{ip}\""))
        .collect();
    format!("mount_target_ips = {{ {} }}\n", pairs.join(", "))
}

fn extra_user_data(nodes: &NodesSpec) -> String {
    match nodes.extra_user_data.as_deref() {
        Some(extra) if !extra.trim().is_empty() => {
            let newline = if extra.ends_with('\n') { "" } else { "\n" };
            format!("\n# extra_user_data from [nodes]:\n{extra}{newline}")
        }
        _ => String::new(),
    }
}

fn os_family_word(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Debian => "debian",
        OsFamily::Rhel => "rhel",
        OsFamily::Auto => "auto",
    }
}

/// One file system per performance mode (the plugin chooses by mode), and only values that
/// are inert inside the script's single quotes, heredocs and TOML strings.
fn check_filesystems(filesystems: &[NodeFileSystem]) -> Result<(), BootstrapError> {
    let mut by_mode: BTreeMap<&str, &str> = BTreeMap::new();
    for fs in filesystems {
        check_inert("file system name", &fs.name)?;
        check_inert("file system id", &fs.id)?;
        check_inert("file system DNS name", &fs.dns_name)?;
        for (zone, ip) in &fs.mount_target_ips {
            check_inert("Availability Zone", zone)?;
            check_inert("mount target IP address", ip)?;
        }
        if let Some(first) = by_mode.insert(fs.performance_mode.as_str(), &fs.name) {
            return Err(BootstrapError::SamePerformanceMode {
                mode: fs.performance_mode,
                first: first.to_owned(),
                second: fs.name.clone(),
            });
        }
    }
    Ok(())
}

/// Letters, digits, `-._:` and the `${}` of CloudFormation variables.
fn check_inert(what: &'static str, value: &str) -> Result<(), BootstrapError> {
    let inert = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:${}".contains(c));
    if inert {
        Ok(())
    } else {
        Err(BootstrapError::UnsafeValue {
            what,
            value: value.to_owned(),
        })
    }
}

/// `'text'`, with each `'` written as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
