//! `cloudstor.toml`: parsing and the checks that need no AWS call.
//!
//! Every mistake is reported with the file, line and column of the offending key or value and,
//! where one helps, a hint. Checks that need AWS (subnets exist, one per AZ) live in [`crate::cloud`]
//! and run at plan time.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::model::{MAX_INGRESS_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS};

/// A checked spec: everything here has passed the offline checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub stack: StackSpec,
    pub network: NetworkSpec,
    pub filesystems: BTreeMap<String, FileSystemSpec>,
    pub nodes: Option<NodesSpec>,
    /// Where the spec was read, so problems found later in AWS can point at its lines.
    #[serde(skip)]
    pub origin: Origin,
}

/// A spec file's path and text. Not part of what a spec asks for: a spec read back from a
/// saved plan has none, and every origin compares equal.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    path: PathBuf,
    text: String,
}

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    pub name: String,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// Sources admitted on tcp/2049: security groups of the swarm nodes, or CIDRs.
    pub node_security_group_ids: Vec<String>,
    pub allowed_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSystemSpec {
    pub performance_mode: PerformanceMode,
    pub throughput_mode: ThroughputMode,
    pub provisioned_throughput_mibps: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub transition_to_ia: Transition,
    pub transition_to_archive: Transition,
    pub transition_to_primary: PrimaryTransition,
    pub backup: bool,
    /// One Zone file system when set.
    pub availability_zone: Option<String>,
    pub protect: bool,
    pub tags: BTreeMap<String, String>,
    /// The name this file system had in the spec before a rename: plan moves its address
    /// instead of destroying it and creating another (Terraform's `moved` block).
    #[serde(default)]
    pub moved_from: Option<String>,
}

/// Node bootstrap settings (`[nodes]`), used by the launch template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesSpec {
    pub launch_template_name: String,
    #[serde(default)]
    pub os_family: OsFamily,
    pub plugin_url: String,
    pub plugin_sha256: String,
    #[serde(default)]
    pub install_mode: InstallMode,
    #[serde(default)]
    pub extra_user_data: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    Debian,
    Rhel,
    #[default]
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallMode {
    #[default]
    Systemd,
    Managed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PerformanceMode {
    #[default]
    #[serde(rename = "generalPurpose")]
    GeneralPurpose,
    #[serde(rename = "maxIO")]
    MaxIo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThroughputMode {
    #[default]
    Elastic,
    Bursting,
    Provisioned,
}

/// A lifecycle transition to IA or Archive: after N days of no access, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Transition {
    #[default]
    None,
    AfterDays(u16),
}

/// Days EFS accepts for `TransitionToIA` and `TransitionToArchive`.
pub const TRANSITION_DAYS: [u16; 9] = [1, 7, 14, 30, 60, 90, 180, 270, 365];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryTransition {
    #[default]
    None,
    OnFirstAccess,
}

impl PerformanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GeneralPurpose => "generalPurpose",
            Self::MaxIo => "maxIO",
        }
    }
}

impl ThroughputMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elastic => "elastic",
            Self::Bursting => "bursting",
            Self::Provisioned => "provisioned",
        }
    }
}

impl PrimaryTransition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::OnFirstAccess => "on_first_access",
        }
    }
}

impl TryFrom<String> for Transition {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text == "none" {
            return Ok(Self::None);
        }
        let days = text.strip_suffix('d').and_then(|d| d.parse::<u16>().ok());
        match days {
            Some(days) if TRANSITION_DAYS.contains(&days) => Ok(Self::AfterDays(days)),
            _ => Err(format!(
                "`{text}` is not a transition EFS accepts; use one of {} or \"none\"",
                TRANSITION_DAYS.map(|d| format!("\"{d}d\"")).join(", ")
            )),
        }
    }
}

impl From<Transition> for String {
    fn from(transition: Transition) -> String {
        transition.to_string()
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::AfterDays(days) => write!(f, "{days}d"),
        }
    }
}

/// A spec that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}{}", path.display(), hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },
}

impl Spec {
    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_owned(),
            source,
        })?;
        Spec::parse(path, &text)
    }

    /// Checks spec text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let locate = |problem: Problem| problem.locate(path, text);
        let raw: RawSpec = toml::from_str(text).map_err(|e| locate(Problem::from_toml(&e)))?;
        let mut spec = raw.check().map_err(locate)?;
        spec.origin = Origin {
            path: path.to_owned(),
            text: text.to_owned(),
        };
        Ok(spec)
    }

    /// `file:line:column` of a node security group id, for problems AWS reveals at plan time.
    pub fn locate_node_group(&self, id: &str) -> Option<String> {
        self.locate(|network| &network.node_security_group_ids, id)
    }

    /// `file:line:column` of a `subnet_ids` entry, for problems AWS reveals at plan time.
    pub fn locate_subnet(&self, id: &str) -> Option<String> {
        self.locate(|network| network.subnet_ids.get_ref(), id)
    }

    /// Where `id` is written in the list `field` picks; `None` for a spec without its text
    /// (read back from a saved plan).
    fn locate(
        &self,
        field: impl Fn(&RawNetwork) -> &Vec<Spanned<String>>,
        id: &str,
    ) -> Option<String> {
        let Origin { path, text } = &self.origin;
        let raw: RawSpec = toml::from_str(text).ok()?;
        let found = field(&raw.network)
            .iter()
            .find(|entry| entry.get_ref() == id)?;
        let (line, column) = position(text, found.span().start);
        Some(format!("{}:{line}:{column}", path.display()))
    }
}

impl Spec {
    /// The file the spec was read from, for messages; empty for a spec from a saved plan.
    pub fn origin_path(&self) -> String {
        self.origin.path.display().to_string()
    }

    /// `file:line:column` of `key` in `[filesystems.<name>]`, or of the table's name when the
    /// key is left at its default: for problems AWS reveals later, such as an import refused.
    pub fn locate_filesystem_key(&self, name: &str, key: &str) -> Option<String> {
        let Origin { path, text } = &self.origin;
        let raw: RawSpec = toml::from_str(text).ok()?;
        let (table, fs) = raw.filesystems.iter().find(|(n, _)| n.get_ref() == name)?;
        let span = match key {
            "performance_mode" => fs.performance_mode.as_ref().map(Spanned::span),
            "encrypted" => fs.encrypted.as_ref().map(Spanned::span),
            "kms_key_id" => fs.kms_key_id.as_ref().map(Spanned::span),
            "availability_zone" => fs.availability_zone.as_ref().map(Spanned::span),
            _ => None,
        }
        .unwrap_or_else(|| table.span());
        let (line, column) = position(text, span.start);
        Some(format!("{}:{line}:{column}", path.display()))
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A mistake found before its position is turned into line and column.
#[derive(Debug)]
struct Problem {
    span: Range<usize>,
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn at<T>(value: &Spanned<T>, message: impl Into<String>, hint: Option<String>) -> Problem {
        Problem {
            span: value.span(),
            message: message.into(),
            hint,
        }
    }

    fn from_toml(error: &toml::de::Error) -> Problem {
        let message = error.message().trim().to_owned();
        Problem {
            span: error.span().unwrap_or(0..0),
            hint: unknown_field_hint(&message),
            message,
        }
    }

    fn locate(self, path: &Path, text: &str) -> SpecError {
        let (line, column) = position(text, self.span.start);
        SpecError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// serde reports "unknown field `x`, expected one of `a`, `b`"; suggest the closest expected one.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let mut quoted = rest.split('`').step_by(2);
    let unknown = quoted.next()?;
    let closest = quoted
        .map(|candidate| (strsim::levenshtein(unknown, candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min()?;
    Some(format!("did you mean `{}`?", closest.1))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    stack: RawStack,
    network: RawNetwork,
    #[serde(default)]
    filesystems: BTreeMap<Spanned<String>, RawFileSystem>,
    nodes: Option<Spanned<NodesSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    name: Spanned<String>,
    region: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    vpc_id: Spanned<String>,
    subnet_ids: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    node_security_group_ids: Vec<Spanned<String>>,
    #[serde(default)]
    allowed_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    allow_public_cidrs: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSystem {
    #[serde(default)]
    performance_mode: Option<Spanned<PerformanceMode>>,
    #[serde(default)]
    throughput_mode: Option<Spanned<ThroughputMode>>,
    provisioned_throughput_mibps: Option<Spanned<u32>>,
    #[serde(default)]
    encrypted: Option<Spanned<bool>>,
    kms_key_id: Option<Spanned<String>>,
    #[serde(default)]
    transition_to_ia: Option<Spanned<Transition>>,
    #[serde(default)]
    transition_to_archive: Option<Spanned<Transition>>,
    #[serde(default)]
    transition_to_primary: PrimaryTransition,
    #[serde(default = "yes")]
    backup: bool,
    availability_zone: Option<Spanned<String>>,
    #[serde(default = "yes")]
    protect: bool,
    #[serde(default)]
    tags: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    moved_from: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// Characters allowed in a stack name: it becomes part of tags, a security group name and
/// every file system's CreationToken (at most 64 characters in all).
const MAX_STACK_NAME: usize = 32;
const MAX_FILESYSTEM_NAME: usize = 20;

/// User tags per file system: AWS's 50 less `Name` and the four `cloudstor:` tags.
const MAX_USER_TAGS: usize = MAX_TAGS - 5;
/// Sources whose applied record is sure to fit the security group's tag budget: each takes
/// at most 44 characters (the longest IPv6 CIDR and a space), so 5 per tag value.
const MAX_SOURCES: usize = MAX_INGRESS_TAGS * (MAX_TAG_VALUE / 44);

fn is_simple_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl RawSpec {
    fn check(self) -> Result<Spec, Problem> {
        let stack = self.stack.check()?;
        let network = self.network.check()?;
        if self.filesystems.is_empty() {
            return Err(Problem {
                span: 0..0,
                message: "the spec declares no file systems".into(),
                hint: Some("add a table such as [filesystems.shared]".into()),
            });
        }
        check_moves(&self.filesystems)?;
        let mut filesystems = BTreeMap::new();
        for (name, raw) in self.filesystems {
            check_name(&name, "file system", MAX_FILESYSTEM_NAME)?;
            raw.check_tags(&stack.name, name.get_ref())?;
            filesystems.insert(name.into_inner(), raw.check()?);
        }
        let nodes = self.nodes.map(check_nodes).transpose()?;
        Ok(Spec {
            stack,
            network,
            filesystems,
            nodes,
            origin: Origin::default(),
        })
    }
}

fn check_name(name: &Spanned<String>, what: &str, max: usize) -> Result<(), Problem> {
    if is_simple_name(name.get_ref()) && name.get_ref().len() <= max {
        return Ok(());
    }
    Err(Problem::at(
        name,
        format!("{what} name `{}` is not usable", name.get_ref()),
        Some(format!(
            "use 1 to {max} letters, digits, `-` or `_`, starting with a letter or digit"
        )),
    ))
}

/// A `moved_from` names a usable old name that no table still has (the move would have
/// nowhere to come from), other than its own, and no two tables move from the same name.
fn check_moves(filesystems: &BTreeMap<Spanned<String>, RawFileSystem>) -> Result<(), Problem> {
    let mut sources = std::collections::BTreeSet::new();
    for (name, raw) in filesystems {
        let Some(from) = &raw.moved_from else {
            continue;
        };
        check_name(from, "moved_from", MAX_FILESYSTEM_NAME)?;
        let old = from.get_ref();
        if old == name.get_ref() {
            return Err(Problem::at(
                from,
                format!("filesystems.{old} cannot move from itself"),
                Some("remove moved_from, or name the file system's old name".into()),
            ));
        }
        if filesystems.keys().any(|other| other.get_ref() == old) {
            return Err(Problem::at(
                from,
                format!(
                    "filesystems.{} moves from filesystems.{old}, which is still in the spec",
                    name.get_ref()
                ),
                Some(format!(
                    "a move renames: remove [filesystems.{old}], or remove this moved_from to keep both"
                )),
            ));
        }
        if !sources.insert(old) {
            return Err(Problem::at(
                from,
                format!("two file systems move from filesystems.{old}"),
                Some("one file system can only take one new name".into()),
            ));
        }
    }
    Ok(())
}

fn check_nodes(nodes: Spanned<NodesSpec>) -> Result<NodesSpec, Problem> {
    let sha = &nodes.get_ref().plugin_sha256;
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Problem::at(
            &nodes,
            "nodes.plugin_sha256 must be 64 hexadecimal characters",
            Some("compute it with `sha256sum cloudstor-plugin`".into()),
        ));
    }
    Ok(nodes.into_inner())
}

impl RawStack {
    fn check(self) -> Result<StackSpec, Problem> {
        check_name(&self.name, "stack", MAX_STACK_NAME)?;
        Ok(StackSpec {
            name: self.name.into_inner(),
            region: self.region,
        })
    }
}

fn check_ids(ids: &[Spanned<String>], prefix: &str, what: &str) -> Result<(), Problem> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !id.get_ref().starts_with(prefix) {
            return Err(Problem::at(
                id,
                format!("`{}` is not a {what} id", id.get_ref()),
                Some(format!("{what} ids start with `{prefix}`")),
            ));
        }
        if !seen.insert(id.get_ref()) {
            return Err(Problem::at(
                id,
                format!("{what} `{}` is listed twice", id.get_ref()),
                None,
            ));
        }
    }
    Ok(())
}

impl RawNetwork {
    fn check(self) -> Result<NetworkSpec, Problem> {
        if !self.vpc_id.get_ref().starts_with("vpc-") {
            return Err(Problem::at(
                &self.vpc_id,
                format!("`{}` is not a VPC id", self.vpc_id.get_ref()),
                Some("VPC ids start with `vpc-`".into()),
            ));
        }
        if self.subnet_ids.get_ref().is_empty() {
            return Err(Problem::at(
                &self.subnet_ids,
                "network.subnet_ids is empty: mount targets need at least one subnet",
                Some("list one subnet per Availability Zone your swarm nodes run in".into()),
            ));
        }
        check_ids(self.subnet_ids.get_ref(), "subnet-", "subnet")?;
        check_ids(&self.node_security_group_ids, "sg-", "security group")?;
        for cidr in &self.allowed_cidrs {
            check_cidr(cidr, self.allow_public_cidrs)?;
        }
        if let Some(extra) = self
            .node_security_group_ids
            .iter()
            .chain(&self.allowed_cidrs)
            .nth(MAX_SOURCES)
        {
            return Err(Problem::at(
                extra,
                format!(
                    "network admits {} sources; cloudstor records at most {MAX_SOURCES} in the security group's tags",
                    self.node_security_group_ids.len() + self.allowed_cidrs.len()
                ),
                Some(
                    "admit the swarm nodes by their security group, or by fewer, wider CIDRs"
                        .into(),
                ),
            ));
        }
        if self.node_security_group_ids.is_empty() && self.allowed_cidrs.is_empty() {
            return Err(Problem::at(
                &self.vpc_id,
                "nobody may mount: network has neither node_security_group_ids nor allowed_cidrs",
                Some(
                    "add node_security_group_ids = [\"sg-...\"] with your swarm nodes' group"
                        .into(),
                ),
            ));
        }
        Ok(NetworkSpec {
            vpc_id: self.vpc_id.into_inner(),
            subnet_ids: unspan(self.subnet_ids.into_inner()),
            node_security_group_ids: unspan(self.node_security_group_ids),
            allowed_cidrs: unspan(self.allowed_cidrs),
        })
    }
}

fn unspan(values: Vec<Spanned<String>>) -> Vec<String> {
    values.into_iter().map(Spanned::into_inner).collect()
}

/// Where NFS clients may come from without `allow_public_cidrs`: RFC 1918, the RFC 6598
/// carrier-grade NAT range (also used inside VPCs) and IPv6 unique local addresses.
const PRIVATE_RANGES: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// A source CIDR must be canonical (AWS would store another text than the spec's, and a
/// typo such as `10.0.0.1/0` would silently widen it) and, unless the spec opts in, private.
fn check_cidr(cidr: &Spanned<String>, allow_public: bool) -> Result<(), Problem> {
    let text = cidr.get_ref();
    let Ok(net) = text.parse::<IpNet>() else {
        let hint = match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) => format!("for one address write \"{address}/32\""),
            Ok(IpAddr::V6(address)) => format!("for one address write \"{address}/128\""),
            Err(_) => "write a CIDR such as \"10.0.0.0/16\" or \"fd00::/8\"".into(),
        };
        return Err(Problem::at(
            cidr,
            format!("`{text}` is not a CIDR"),
            Some(hint),
        ));
    };
    let canonical = net.trunc().to_string();
    if *text != canonical {
        let what = if net.trunc() == net {
            "is not written canonically"
        } else {
            "has host bits set"
        };
        return Err(Problem::at(
            cidr,
            format!("{text} {what}"),
            Some(format!("did you mean {canonical}?")),
        ));
    }
    if allow_public || is_private(&net) {
        return Ok(());
    }
    Err(Problem::at(
        cidr,
        format!(
            "{text} admits addresses outside the private ranges {}",
            PRIVATE_RANGES.join(", ")
        ),
        Some(
            "NFS must not be open to the internet; give your VPC's or subnets' CIDR, or set allow_public_cidrs = true in [network] if you really mean it".into(),
        ),
    ))
}

fn is_private(net: &IpNet) -> bool {
    PRIVATE_RANGES.iter().any(|range| {
        range
            .parse::<IpNet>()
            .is_ok_and(|range| range.contains(net))
    })
}

impl RawFileSystem {
    fn check(self) -> Result<FileSystemSpec, Problem> {
        self.check_throughput()?;
        self.check_encryption()?;
        self.check_lifecycle()?;
        self.check_one_zone()?;
        Ok(self.into_spec())
    }

    /// Tags AWS would refuse, and those cloudstor sets itself: refresh leaves its own tags out
    /// of the comparison, so a spec setting one would show a change on every plan.
    fn check_tags(&self, stack: &str, name: &str) -> Result<(), Problem> {
        let Some(tags) = &self.tags else {
            return Ok(());
        };
        if tags.get_ref().len() > MAX_USER_TAGS {
            return Err(Problem::at(
                tags,
                format!(
                    "{} tags; with the {} cloudstor sets, a file system may carry {MAX_USER_TAGS}",
                    tags.get_ref().len(),
                    MAX_TAGS - MAX_USER_TAGS
                ),
                Some(format!("AWS allows {MAX_TAGS} tags per file system")),
            ));
        }
        for (key, value) in tags.get_ref() {
            let text = key.get_ref();
            if text.starts_with("cloudstor:") || text.starts_with("aws:") {
                return Err(Problem::at(
                    key,
                    format!("tag `{text}` uses a reserved prefix"),
                    Some("cloudstor:* and aws:* tags are managed for you".into()),
                ));
            }
            if text == "Name" {
                return Err(Problem::at(
                    key,
                    "tag `Name` is set by cloudstor",
                    Some(format!(
                        "cloudstor names each file system STACK-NAME (here {stack}-{name}); rename the [filesystems] table to change it"
                    )),
                ));
            }
            if text.chars().count() > MAX_TAG_KEY {
                return Err(Problem::at(
                    key,
                    format!(
                        "tag key of {} characters; AWS allows {MAX_TAG_KEY}",
                        text.chars().count()
                    ),
                    None,
                ));
            }
            let length = value.get_ref().chars().count();
            if length > MAX_TAG_VALUE {
                return Err(Problem::at(
                    value,
                    format!(
                        "tag `{text}` has a value of {length} characters; AWS allows {MAX_TAG_VALUE}"
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    fn check_throughput(&self) -> Result<(), Problem> {
        let mode = value_or_default(&self.throughput_mode);
        match (&self.provisioned_throughput_mibps, mode) {
            (Some(mibps), mode) if mode != ThroughputMode::Provisioned => Err(Problem::at(
                mibps,
                format!(
                    "provisioned_throughput_mibps is set but throughput_mode is \"{}\"",
                    mode.as_str()
                ),
                Some("set throughput_mode = \"provisioned\" or remove this line".into()),
            )),
            (Some(mibps), _) if !(1..=3414).contains(mibps.get_ref()) => Err(Problem::at(
                mibps,
                format!("{} MiB/s is outside 1..=3414", mibps.get_ref()),
                None,
            )),
            (None, ThroughputMode::Provisioned) => Err(Problem::at(
                self.throughput_mode
                    .as_ref()
                    .expect("provisioned is never the default"),
                "throughput_mode \"provisioned\" needs provisioned_throughput_mibps",
                Some("add provisioned_throughput_mibps = 64 (MiB/s)".into()),
            )),
            _ => self.check_maxio_throughput(),
        }
    }

    fn check_maxio_throughput(&self) -> Result<(), Problem> {
        let is_maxio = value_or_default(&self.performance_mode) == PerformanceMode::MaxIo;
        let elastic = value_or_default(&self.throughput_mode) == ThroughputMode::Elastic;
        if let (true, true, Some(mode)) = (is_maxio, elastic, &self.performance_mode) {
            return Err(Problem::at(
                mode,
                "performance_mode \"maxIO\" does not support elastic throughput",
                Some("set throughput_mode = \"bursting\" or \"provisioned\"".into()),
            ));
        }
        if let (true, Some(zone)) = (is_maxio, &self.availability_zone) {
            return Err(Problem::at(
                zone,
                "One Zone file systems cannot use performance_mode \"maxIO\"",
                None,
            ));
        }
        Ok(())
    }

    fn check_encryption(&self) -> Result<(), Problem> {
        match (&self.kms_key_id, &self.encrypted) {
            (Some(_), Some(encrypted)) if !encrypted.get_ref() => Err(Problem::at(
                encrypted,
                "kms_key_id is set but encrypted = false",
                Some("a KMS key only makes sense with encrypted = true".into()),
            )),
            (Some(key), _) if !key.get_ref().starts_with("arn:") => Err(Problem::at(
                key,
                "kms_key_id must be a key ARN",
                Some("arn:aws:kms:REGION:ACCOUNT:key/ID".into()),
            )),
            // EFS stores and reports the key an alias points to, so an alias would never
            // compare equal and every plan would replace the file system.
            (Some(key), _) if key.get_ref().contains(":alias/") => Err(Problem::at(
                key,
                "kms_key_id is a KMS alias; EFS reports the key it points to, so every plan would show a replacement",
                Some(format!(
                    "give the key ARN: aws kms describe-key --key-id {} --query KeyMetadata.Arn",
                    key.get_ref()
                )),
            )),
            _ => Ok(()),
        }
    }

    fn check_lifecycle(&self) -> Result<(), Problem> {
        let Some(archive) = &self.transition_to_archive else {
            return Ok(());
        };
        let Transition::AfterDays(archive_days) = *archive.get_ref() else {
            return Ok(());
        };
        if value_or_default(&self.throughput_mode) != ThroughputMode::Elastic
            || value_or_default(&self.performance_mode) != PerformanceMode::GeneralPurpose
        {
            return Err(Problem::at(
                archive,
                "transition_to_archive needs throughput_mode \"elastic\" and performance_mode \"generalPurpose\"",
                Some("EFS offers the Archive storage class only to Elastic, General Purpose file systems".into()),
            ));
        }
        if let Transition::AfterDays(ia_days) = value_or_default(&self.transition_to_ia)
            && ia_days >= archive_days
        {
            return Err(Problem::at(
                archive,
                format!(
                    "transition_to_archive ({archive_days}d) must come after transition_to_ia ({ia_days}d)"
                ),
                None,
            ));
        }
        Ok(())
    }

    fn check_one_zone(&self) -> Result<(), Problem> {
        let Some(zone) = &self.availability_zone else {
            return Ok(());
        };
        let looks_like_zone = zone.get_ref().len() > 2
            && zone.get_ref().ends_with(|c: char| c.is_ascii_lowercase())
            && zone.get_ref().contains('-');
        if looks_like_zone {
            return Ok(());
        }
        Err(Problem::at(
            zone,
            format!("`{}` is not an Availability Zone name", zone.get_ref()),
            Some("write a zone such as \"us-east-1a\"".into()),
        ))
    }

    fn into_spec(self) -> FileSystemSpec {
        FileSystemSpec {
            performance_mode: value_or_default(&self.performance_mode),
            throughput_mode: value_or_default(&self.throughput_mode),
            provisioned_throughput_mibps: self
                .provisioned_throughput_mibps
                .map(Spanned::into_inner),
            encrypted: self.encrypted.is_none_or(Spanned::into_inner),
            kms_key_id: self.kms_key_id.map(Spanned::into_inner),
            transition_to_ia: value_or_default(&self.transition_to_ia),
            transition_to_archive: value_or_default(&self.transition_to_archive),
            transition_to_primary: self.transition_to_primary,
            backup: self.backup,
            availability_zone: self.availability_zone.map(Spanned::into_inner),
            protect: self.protect,
            tags: self
                .tags
                .map(Spanned::into_inner)
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key.into_inner(), value.into_inner()))
                .collect(),
            moved_from: self.moved_from.map(Spanned::into_inner),
        }
    }
}

fn value_or_default<T: Copy + Default>(value: &Option<Spanned<T>>) -> T {
    value.as_ref().map(|v| *v.get_ref()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASIC: &str = r#"
[stack]
name = "demo"

[network]
vpc_id = "vpc-1"
subnet_ids = ["subnet-a", "subnet-b"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
transition_to_ia = "30d"
transition_to_archive = "90d"
"#;

    #[test]
    fn basic_spec_gets_safe_defaults() {
        let spec = Spec::parse(Path::new("c.toml"), BASIC).unwrap();
        let fs = &spec.filesystems["shared"];
        assert!(fs.encrypted && fs.protect && fs.backup);
        assert_eq!(fs.throughput_mode, ThroughputMode::Elastic);
        assert_eq!(fs.transition_to_ia, Transition::AfterDays(30));
        assert_eq!(fs.transition_to_primary, PrimaryTransition::None);
    }

    #[test]
    fn unknown_key_gets_a_suggestion_and_position() {
        let text = BASIC.replace("transition_to_ia", "transition_to_iaa");
        let error = Spec::parse(Path::new("c.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("c.toml:11:1: unknown field `transition_to_iaa`"),
            "{error}"
        );
        assert!(
            error.contains("did you mean `transition_to_ia`?"),
            "{error}"
        );
    }

    #[test]
    fn moved_from_must_name_a_table_that_is_gone() {
        let moved = BASIC.replace(
            "[filesystems.shared]",
            "[filesystems.data]\nmoved_from = \"shared\"",
        );
        let spec = Spec::parse(Path::new("c.toml"), &moved).unwrap();
        assert_eq!(
            spec.filesystems["data"].moved_from.as_deref(),
            Some("shared")
        );

        let both = format!("{moved}\n[filesystems.shared]\n");
        let error = Spec::parse(Path::new("c.toml"), &both)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("c.toml:11:14: filesystems.data moves from filesystems.shared, which is still in the spec"),
            "{error}"
        );
        let itself = moved.replace("\"shared\"", "\"data\"");
        let error = Spec::parse(Path::new("c.toml"), &itself)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("c.toml:11:14: filesystems.data cannot move from itself"),
            "{error}"
        );
        let twice = format!("{moved}\n[filesystems.other]\nmoved_from = \"shared\"\n");
        let error = Spec::parse(Path::new("c.toml"), &twice)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("two file systems move from filesystems.shared"),
            "{error}"
        );
    }

    #[test]
    fn transition_days_outside_efs_list_are_refused() {
        assert!(Transition::try_from("45d".to_string()).is_err());
        assert_eq!(
            Transition::try_from("365d".to_string()),
            Ok(Transition::AfterDays(365))
        );
    }
}
