//! The resources cloudstor manages, as the spec wants them and as AWS reports them.
//!
//! Both sides use the same types so the diff in [`crate::plan`] is a plain comparison. A
//! resource's address (`filesystem.shared`) names it in plans, in tags and in errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::spec::{
    FileSystemSpec, PerformanceMode, PrimaryTransition, Spec, ThroughputMode, Transition,
};

/// Tag keys that make the cloud the state.
pub const STACK_TAG: &str = "cloudstor:stack";
pub const RESOURCE_TAG: &str = "cloudstor:resource";
/// What cloudstor last applied to the in-place attributes, so changes made elsewhere show as drift.
pub const APPLIED_TAG: &str = "cloudstor:applied";
/// AWS's limits on tags (EC2 and EFS alike): 50 per resource, keys of 128 characters,
/// values of 256.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;
/// Parts the security group's [`APPLIED_TAG`] may be split into: its tag budget less the
/// `Name`, [`STACK_TAG`] and [`RESOURCE_TAG`] tags.
pub const MAX_INGRESS_TAGS: usize = MAX_TAGS - 3;
/// Kept on the file system so protection holds even after it leaves the spec.
pub const PROTECT_TAG: &str = "cloudstor:protect";

/// The NFS port EFS mount targets listen on.
pub const NFS_PORT: i32 = 2049;

/// Where a resource lives in the stack. Serialised as its text, so it can key JSON maps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Address {
    SecurityGroup,
    FileSystem(String),
    MountTarget {
        filesystem: String,
        subnet: String,
    },
    /// The launch template that bootstraps swarm nodes (`[nodes]`).
    LaunchTemplate,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecurityGroup => f.write_str("security_group.nfs"),
            Self::FileSystem(name) => write!(f, "filesystem.{name}"),
            Self::MountTarget { filesystem, subnet } => {
                write!(f, "mount_target.{filesystem}.{subnet}")
            }
            Self::LaunchTemplate => f.write_str("launch_template.nodes"),
        }
    }
}

impl From<Address> for String {
    fn from(address: Address) -> String {
        address.to_string()
    }
}

impl TryFrom<String> for Address {
    type Error = String;

    fn try_from(text: String) -> Result<Address, String> {
        Address::parse(&text).ok_or_else(|| format!("`{text}` is not a cloudstor resource address"))
    }
}

impl Address {
    pub fn parse(text: &str) -> Option<Address> {
        match text {
            "security_group.nfs" => return Some(Self::SecurityGroup),
            "launch_template.nodes" => return Some(Self::LaunchTemplate),
            _ => {}
        }
        if let Some(name) = text.strip_prefix("filesystem.") {
            return Some(Self::FileSystem(name.to_owned()));
        }
        let (filesystem, subnet) = text.strip_prefix("mount_target.")?.split_once('.')?;
        Some(Self::MountTarget {
            filesystem: filesystem.to_owned(),
            subnet: subnet.to_owned(),
        })
    }
}

/// Who may reach the mount targets on tcp/2049, or the peer of any other rule refresh finds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Source {
    Group(String),
    /// An IPv4 or IPv6 CIDR.
    Cidr(String),
    /// Never in a spec; found only on rules added outside cloudstor.
    PrefixList(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Group(id) | Self::Cidr(id) | Self::PrefixList(id) => f.write_str(id),
        }
    }
}

impl Source {
    pub fn parse(text: &str) -> Source {
        if text.starts_with("sg-") {
            Self::Group(text.to_owned())
        } else if text.starts_with("pl-") {
            Self::PrefixList(text.to_owned())
        } else {
            Self::Cidr(text.to_owned())
        }
    }
}

/// A security group rule other than tcp/2049 ingress: cloudstor never makes one (the group
/// has no egress either), so refresh reports each as it finds it, for apply to revoke.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// As EC2 reports it: `tcp`, `udp`, `icmp`, a protocol number, or `-1` for all.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Source,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", _, _) => write!(f, "all traffic {}", self.peer),
            (protocol, Some(from), Some(to)) if from == to => {
                write!(f, "{protocol}/{from} {}", self.peer)
            }
            (protocol, Some(from), Some(to)) => write!(f, "{protocol}/{from}-{to} {}", self.peer),
            (protocol, _, _) => write!(f, "{protocol} {}", self.peer),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: Option<String>,
    pub name: String,
    pub vpc_id: String,
    pub ingress: BTreeSet<Source>,
    /// Ingress other than tcp/2049 from a source; always empty in the spec.
    #[serde(default)]
    pub other_ingress: BTreeSet<Rule>,
    /// Always empty in the spec: mount targets only answer NFS clients.
    #[serde(default)]
    pub egress: BTreeSet<Rule>,
}

/// The lifecycle configuration: one policy per transition, as EFS stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    pub to_ia: Transition,
    pub to_archive: Transition,
    pub to_primary: PrimaryTransition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSystem {
    pub id: Option<String>,
    pub creation_token: String,
    pub performance_mode: PerformanceMode,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub availability_zone: Option<String>,
    pub throughput_mode: ThroughputMode,
    pub provisioned_throughput_mibps: Option<u32>,
    pub lifecycle: Lifecycle,
    pub backup: bool,
    pub protect: bool,
    /// The user's tags; cloudstor's own tags are not part of the comparison.
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountTarget {
    pub id: Option<String>,
    /// The file system's name in the spec.
    pub filesystem: String,
    /// `None` until the file system exists.
    pub filesystem_id: Option<String>,
    pub subnet_id: String,
    /// `None` until the stack's security group exists; then that group alone.
    pub security_groups: Option<BTreeSet<String>>,
    pub availability_zone: Option<String>,
    /// The address AWS gave it: known once it exists. Nodes are told it (see
    /// [`crate::bootstrap`]); it is not an attribute anyone sets, so plan never diffs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// The node bootstrap, delivered as a launch template's user data. Launch templates cannot be
/// edited: a change is a new version made the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    pub id: Option<String>,
    pub name: String,
    /// The node script; `None` until the file systems it names exist.
    pub user_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resource {
    SecurityGroup(SecurityGroup),
    FileSystem(FileSystem),
    MountTarget(MountTarget),
    LaunchTemplate(LaunchTemplate),
}

/// One named attribute for display and JSON; `None` is "known after apply".
pub type Attribute = (&'static str, Option<Value>);

impl Resource {
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::SecurityGroup(sg) => sg.id.as_deref(),
            Self::FileSystem(fs) => fs.id.as_deref(),
            Self::MountTarget(mt) => mt.id.as_deref(),
            Self::LaunchTemplate(lt) => lt.id.as_deref(),
        }
    }

    /// Attributes that cannot change without a new resource.
    pub fn forces_replacement(&self, attribute: &str) -> bool {
        let fixed: &[&str] = match self {
            Self::SecurityGroup(_) => &["name", "vpc_id"],
            Self::FileSystem(_) => &[
                "performance_mode",
                "encrypted",
                "kms_key_id",
                "availability_zone",
                "creation_token",
            ],
            Self::MountTarget(_) => &["file_system_id", "subnet_id"],
            Self::LaunchTemplate(_) => &["name"],
        };
        fixed.contains(&attribute)
    }

    pub fn attributes(&self) -> Vec<Attribute> {
        let id = ("id", self.id().map(|id| json!(id)));
        let mut attributes = vec![id];
        match self {
            Self::SecurityGroup(sg) => attributes.extend([
                ("name", Some(json!(sg.name))),
                ("vpc_id", Some(json!(sg.vpc_id))),
                ("ingress_tcp_2049", Some(texts(&sg.ingress))),
                ("ingress_other", Some(texts(&sg.other_ingress))),
                ("egress", Some(texts(&sg.egress))),
            ]),
            Self::FileSystem(fs) => attributes.extend(filesystem_attributes(fs)),
            Self::MountTarget(mt) => attributes.extend([
                (
                    "file_system_id",
                    mt.filesystem_id.as_ref().map(|id| json!(id)),
                ),
                ("subnet_id", Some(json!(mt.subnet_id))),
                (
                    "security_groups",
                    mt.security_groups.as_ref().map(|groups| json!(groups)),
                ),
            ]),
            Self::LaunchTemplate(lt) => attributes.extend([
                ("name", Some(json!(lt.name))),
                (
                    "user_data",
                    lt.user_data.as_ref().map(|script| json!(script)),
                ),
            ]),
        }
        attributes
    }
}

fn texts<T: fmt::Display>(items: &BTreeSet<T>) -> Value {
    json!(items.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn filesystem_attributes(fs: &FileSystem) -> Vec<Attribute> {
    vec![
        ("creation_token", Some(json!(fs.creation_token))),
        (
            "performance_mode",
            Some(json!(fs.performance_mode.as_str())),
        ),
        ("encrypted", Some(json!(fs.encrypted))),
        (
            "kms_key_id",
            fs.kms_key_id
                .as_ref()
                .map(|k| json!(k))
                .or(Some(Value::Null)),
        ),
        (
            "availability_zone",
            Some(
                fs.availability_zone
                    .as_ref()
                    .map_or(Value::Null, |z| json!(z)),
            ),
        ),
        ("throughput_mode", Some(json!(fs.throughput_mode.as_str()))),
        (
            "provisioned_throughput_mibps",
            Some(
                fs.provisioned_throughput_mibps
                    .map_or(Value::Null, |m| json!(m)),
            ),
        ),
        (
            "transition_to_ia",
            Some(json!(fs.lifecycle.to_ia.to_string())),
        ),
        (
            "transition_to_archive",
            Some(json!(fs.lifecycle.to_archive.to_string())),
        ),
        (
            "transition_to_primary",
            Some(json!(fs.lifecycle.to_primary.as_str())),
        ),
        ("backup", Some(json!(fs.backup))),
        ("protect", Some(json!(fs.protect))),
        ("tags", Some(json!(fs.tags))),
    ]
}

/// The key of part `part` (from 1) of the security group's applied ingress: the first part
/// keeps the plain [`APPLIED_TAG`], so groups tagged before the split read as before.
pub fn ingress_tag_key(part: usize) -> String {
    if part == 1 {
        APPLIED_TAG.to_owned()
    } else {
        format!("{APPLIED_TAG}:{part}")
    }
}

/// The applied ingress as tags: space-separated sources, split into as many values of at most
/// [`MAX_TAG_VALUE`] characters as it takes (17 IPv4 CIDRs already need two).
pub fn ingress_tags(ingress: &BTreeSet<Source>) -> Vec<(String, String)> {
    let mut parts = vec![String::new()];
    for source in ingress.iter().map(ToString::to_string) {
        let part = parts.last_mut().expect("parts are never empty");
        if part.is_empty() {
            part.push_str(&source);
        } else if part.len() + 1 + source.len() <= MAX_TAG_VALUE {
            part.push(' ');
            part.push_str(&source);
        } else {
            parts.push(source);
        }
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(index, value)| (ingress_tag_key(index + 1), value))
        .collect()
}

/// Reads the applied ingress back from a group's tags; `None` when cloudstor never recorded it.
pub fn ingress_from_tags<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<BTreeSet<Source>> {
    let mut parts = BTreeMap::new();
    for (key, value) in tags {
        let part = if key == APPLIED_TAG {
            1
        } else {
            match key
                .strip_prefix(APPLIED_TAG)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(part) => part,
                None => continue,
            }
        };
        parts.insert(part, value);
    }
    parts.contains_key(&1).then(|| {
        parts
            .values()
            .flat_map(|value| value.split_whitespace())
            .map(Source::parse)
            .collect()
    })
}

/// Everything the spec asks for, keyed by address.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub stack: String,
    pub resources: BTreeMap<Address, Resource>,
}

/// The CreationToken that makes file system creation idempotent across interrupted applies.
pub fn creation_token(stack: &str, filesystem: &str) -> String {
    format!("cloudstor:{stack}:{filesystem}")
}

pub fn security_group_name(stack: &str) -> String {
    format!("cloudstor-{stack}-nfs")
}

impl Desired {
    /// `subnet_zones` maps each spec subnet to its Availability Zone (from refresh), which
    /// decides where a One Zone file system gets its single mount target.
    pub fn from_spec(spec: &Spec, subnet_zones: &BTreeMap<String, String>) -> Desired {
        let stack = spec.stack.name.clone();
        let mut resources = BTreeMap::new();
        let ingress = spec
            .network
            .node_security_group_ids
            .iter()
            .chain(&spec.network.allowed_cidrs)
            .map(|source| Source::parse(source))
            .collect();
        resources.insert(
            Address::SecurityGroup,
            Resource::SecurityGroup(SecurityGroup {
                id: None,
                name: security_group_name(&stack),
                vpc_id: spec.network.vpc_id.clone(),
                ingress,
                other_ingress: BTreeSet::new(),
                egress: BTreeSet::new(),
            }),
        );
        for (name, fs) in &spec.filesystems {
            resources.insert(
                Address::FileSystem(name.clone()),
                Resource::FileSystem(desired_filesystem(&stack, name, fs)),
            );
            for subnet in mount_target_subnets(spec, fs, subnet_zones) {
                let address = Address::MountTarget {
                    filesystem: name.clone(),
                    subnet: subnet.clone(),
                };
                let target = MountTarget {
                    id: None,
                    filesystem: name.clone(),
                    filesystem_id: None,
                    subnet_id: subnet.clone(),
                    security_groups: None,
                    availability_zone: subnet_zones.get(subnet).cloned(),
                    ip_address: None,
                };
                resources.insert(address, Resource::MountTarget(target));
            }
        }
        Desired { stack, resources }
    }
}

/// All spec subnets, or for a One Zone file system only the subnet in its zone.
fn mount_target_subnets<'a>(
    spec: &'a Spec,
    fs: &FileSystemSpec,
    subnet_zones: &BTreeMap<String, String>,
) -> Vec<&'a String> {
    let subnets = spec.network.subnet_ids.iter();
    match &fs.availability_zone {
        None => subnets.collect(),
        Some(zone) => subnets
            .filter(|subnet| subnet_zones.get(*subnet) == Some(zone))
            .collect(),
    }
}

fn desired_filesystem(stack: &str, name: &str, fs: &FileSystemSpec) -> FileSystem {
    FileSystem {
        id: None,
        creation_token: creation_token(stack, name),
        performance_mode: fs.performance_mode,
        encrypted: fs.encrypted,
        kms_key_id: fs.kms_key_id.clone(),
        availability_zone: fs.availability_zone.clone(),
        throughput_mode: fs.throughput_mode,
        provisioned_throughput_mibps: fs.provisioned_throughput_mibps,
        lifecycle: Lifecycle {
            to_ia: fs.transition_to_ia,
            to_archive: fs.transition_to_archive,
            to_primary: fs.transition_to_primary,
        },
        backup: fs.backup,
        protect: fs.protect,
        tags: fs.tags.clone(),
    }
}

/// What cloudstor last applied to a file system's in-place attributes and mount targets.
///
/// Stored in the [`APPLIED_TAG`] tag, whose value may only hold letters, digits, spaces and
/// `+ - = . _ : / @`, hence the `key=value` words.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppliedRecord {
    pub throughput_mode: Option<ThroughputMode>,
    pub provisioned_throughput_mibps: Option<u32>,
    pub lifecycle: Lifecycle,
    pub backup: bool,
    pub subnets: BTreeSet<String>,
}

impl AppliedRecord {
    pub fn of(fs: &FileSystem, subnets: BTreeSet<String>) -> AppliedRecord {
        AppliedRecord {
            throughput_mode: Some(fs.throughput_mode),
            provisioned_throughput_mibps: fs.provisioned_throughput_mibps,
            lifecycle: fs.lifecycle,
            backup: fs.backup,
            subnets,
        }
    }

    pub fn encode(&self) -> String {
        let mode = self.throughput_mode.map_or("", ThroughputMode::as_str);
        let mibps = self.provisioned_throughput_mibps.unwrap_or(0);
        let subnets: Vec<_> = self.subnets.iter().map(String::as_str).collect();
        format!(
            "tm={mode} pt={mibps} ia={} ar={} pr={} bk={} mt={}",
            self.lifecycle.to_ia,
            self.lifecycle.to_archive,
            self.lifecycle.to_primary.as_str(),
            self.backup,
            subnets.join("/")
        )
    }

    /// Reads a tag value; anything unreadable yields `None` (no drift is reported then).
    pub fn decode(text: &str) -> Option<AppliedRecord> {
        let fields: BTreeMap<&str, &str> = text
            .split(' ')
            .filter_map(|word| word.split_once('='))
            .collect();
        let throughput_mode = match *fields.get("tm")? {
            "elastic" => ThroughputMode::Elastic,
            "bursting" => ThroughputMode::Bursting,
            "provisioned" => ThroughputMode::Provisioned,
            _ => return None,
        };
        let mibps: u32 = fields.get("pt")?.parse().ok()?;
        let transition = |key| Transition::try_from(fields.get(key)?.to_string()).ok();
        let to_primary = match *fields.get("pr")? {
            "on_first_access" => PrimaryTransition::OnFirstAccess,
            _ => PrimaryTransition::None,
        };
        Some(AppliedRecord {
            throughput_mode: Some(throughput_mode),
            provisioned_throughput_mibps: (mibps > 0).then_some(mibps),
            lifecycle: Lifecycle {
                to_ia: transition("ia")?,
                to_archive: transition("ar")?,
                to_primary,
            },
            backup: fields.get("bk")?.parse().ok()?,
            subnets: fields
                .get("mt")?
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_record_survives_its_tag_encoding() {
        let record = AppliedRecord {
            throughput_mode: Some(ThroughputMode::Provisioned),
            provisioned_throughput_mibps: Some(64),
            lifecycle: Lifecycle {
                to_ia: Transition::AfterDays(30),
                to_archive: Transition::None,
                to_primary: PrimaryTransition::OnFirstAccess,
            },
            backup: true,
            subnets: ["subnet-a".to_string(), "subnet-b".to_string()].into(),
        };
        let encoded = record.encode();
        assert!(encoded.len() <= 256);
        assert!(
            encoded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c))
        );
        assert_eq!(AppliedRecord::decode(&encoded), Some(record));
    }

    #[test]
    fn applied_record_fits_a_tag_with_six_zones_of_long_subnet_ids() {
        let record = AppliedRecord {
            throughput_mode: Some(ThroughputMode::Provisioned),
            provisioned_throughput_mibps: Some(3414),
            lifecycle: Lifecycle {
                to_ia: Transition::AfterDays(365),
                to_archive: Transition::AfterDays(365),
                to_primary: PrimaryTransition::OnFirstAccess,
            },
            backup: false,
            subnets: (0..6)
                .map(|i| format!("subnet-0123456789abcdef{i}"))
                .collect(),
        };
        assert!(
            record.encode().len() <= MAX_TAG_VALUE,
            "{}",
            record.encode()
        );
    }

    #[test]
    fn many_sources_split_into_tags_within_aws_limits() {
        let ingress: BTreeSet<Source> = (0..17)
            .map(|i| Source::Cidr(format!("10.{i}.128.0/17")))
            .chain((0..40).map(|i| Source::Cidr(format!("fd00:1234:5678:{i:x}::/64"))))
            .chain([Source::Group("sg-0123456789abcdef0".into())])
            .collect();
        let tags = ingress_tags(&ingress);
        assert!(tags.len() > 1, "{tags:?}");
        for (key, value) in &tags {
            assert!(
                key.len() <= MAX_TAG_KEY && value.len() <= MAX_TAG_VALUE,
                "{key}={value}"
            );
        }
        assert_eq!(tags[0].0, APPLIED_TAG);
        let read = ingress_from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(read, Some(ingress));
    }

    #[test]
    fn applied_ingress_reads_the_single_tag_of_earlier_versions() {
        let read = ingress_from_tags([("Name", "x"), (APPLIED_TAG, "sg-1 10.0.0.0/16")]);
        let expected = [
            Source::Group("sg-1".into()),
            Source::Cidr("10.0.0.0/16".into()),
        ];
        assert_eq!(read, Some(expected.into()));
        assert_eq!(ingress_from_tags([("Name", "x")]), None);
    }

    #[test]
    fn addresses_round_trip() {
        for text in [
            "security_group.nfs",
            "filesystem.shared",
            "mount_target.shared.subnet-a",
        ] {
            assert_eq!(Address::parse(text).unwrap().to_string(), text);
        }
    }
}
