//! A spec as a CloudFormation template.
//!
//! The template is built from [`Desired`], the same resource model the API engine applies, so
//! both engines make the same file systems, mount targets and security group. Logical ids are
//! derived from spec names (`filesystems.shared` → `FileSystemShared`), so a small spec change
//! gives a small template diff and CloudFormation keeps the resources it already has. A file
//! system renamed with `moved_from` keeps the logical ids of its old name ([`LogicalNames`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::TemplateError;
use crate::bootstrap::{SubVariable, ZonedMountTarget};
use crate::model::{
    Address, Desired, FileSystem, Lifecycle, MountTarget, NFS_PORT, PROTECT_TAG, RESOURCE_TAG,
    Resource, STACK_TAG, SecurityGroup, Source,
};
use crate::spec::{PrimaryTransition, Spec, ThroughputMode, Transition};

/// The logical id of the security group in front of every mount target.
pub const SECURITY_GROUP_ID: &str = "NfsSecurityGroup";
/// The logical id of the launch template that bootstraps the nodes (`[nodes]`).
pub const LAUNCH_TEMPLATE_ID: &str = "NodeLaunchTemplate";
/// The parameter that holds the VPC with `--parameterize`.
pub const VPC_PARAMETER: &str = "VpcId";

/// How the template is emitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// VPC and subnets become parameters whose defaults are the spec's values.
    pub parameterize: bool,
}

/// Builds the template. `subnet_zones` maps subnets to Availability Zones; it is only needed
/// (and only consulted) for One Zone file systems, whose single mount target goes in their zone.
pub fn build(
    spec: &Spec,
    subnet_zones: &BTreeMap<String, String>,
    options: TemplateOptions,
) -> Result<Value, TemplateError> {
    let names = LogicalNames::of(spec);
    names.check()?;
    let desired = Desired::from_spec(spec, subnet_zones);
    check_one_zone_targets(spec, &desired)?;
    let network = Network::new(spec, options);
    let mut sections = Sections {
        names,
        ..Sections::default()
    };
    for (address, resource) in &desired.resources {
        match (address, resource) {
            (_, Resource::SecurityGroup(group)) => {
                sections.add_security_group(&desired.stack, group, &network)
            }
            (Address::FileSystem(name), Resource::FileSystem(fs)) => {
                sections.add_filesystem(&desired.stack, name, fs, &network)
            }
            (_, Resource::MountTarget(target)) => sections.add_mount_target(target, &network),
            (_, Resource::FileSystem(_)) => {
                unreachable!("the model keys file systems by their spec name")
            }
            (_, Resource::LaunchTemplate(_)) => {
                unreachable!("Desired::from_spec leaves the launch template to the plan")
            }
        }
    }
    if let Some(nodes) = &spec.nodes {
        // A parameterized template may be deployed with other subnets, in other zones.
        let zoned = if options.parameterize {
            Vec::new()
        } else {
            zoned_mount_targets(&desired)
        };
        sections.add_launch_template(spec, &nodes.launch_template_name, &network, &zoned)?;
    }
    let mut template = Map::new();
    template.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
    template.insert(
        "Description".into(),
        json!(format!(
            "cloudstor stack {}: EFS file systems, their mount targets and the NFS security group",
            desired.stack
        )),
    );
    if options.parameterize {
        template.insert("Parameters".into(), network.parameters(&desired));
    }
    template.insert("Resources".into(), Value::Object(sections.resources));
    template.insert("Outputs".into(), Value::Object(sections.outputs));
    Ok(Value::Object(template))
}

/// The Resources and Outputs sections, filled one model resource at a time.
#[derive(Default)]
struct Sections {
    names: LogicalNames,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
}

impl Sections {
    fn add_security_group(&mut self, stack: &str, group: &SecurityGroup, network: &Network) {
        self.resources.insert(
            SECURITY_GROUP_ID.into(),
            security_group(stack, group, network),
        );
        for source in &group.ingress {
            self.resources
                .insert(ingress_logical_id(source), ingress(source, network));
        }
        self.add_output(
            SECURITY_GROUP_ID,
            "The security group in front of every mount target",
            json!({"Fn::GetAtt": [SECURITY_GROUP_ID, "GroupId"]}),
        );
    }

    fn add_filesystem(&mut self, stack: &str, name: &str, fs: &FileSystem, network: &Network) {
        let logical = self.names.filesystem(name);
        self.resources
            .insert(logical.clone(), filesystem(stack, name, fs, network));
        let description = format!("Id of file system `{name}`");
        self.add_output(&logical, &description, json!({"Ref": logical}));
        let dns_output = format!("{logical}DnsName");
        let dns_name = format!("${{{logical}}}.efs.${{AWS::Region}}.${{AWS::URLSuffix}}");
        self.outputs.insert(
            dns_output.clone(),
            json!({
                "Description": format!("DNS name nodes mount file system `{name}` by"),
                "Value": {"Fn::Sub": dns_name},
                "Export": {"Name": {"Fn::Sub": format!("${{AWS::StackName}}-{dns_output}")}},
            }),
        );
    }

    fn add_mount_target(&mut self, target: &MountTarget, network: &Network) {
        let logical = self
            .names
            .mount_target(&target.filesystem, &target.subnet_id);
        let filesystem = self.names.filesystem(&target.filesystem);
        self.resources
            .insert(logical.clone(), mount_target(&filesystem, target, network));
        // The zone is left out: it is known only when EC2 was asked, and the template must not
        // depend on that. Nodes get each address by zone through their user data.
        let description = format!(
            "IP address of the mount target of file system `{}` in subnet {}",
            target.filesystem, target.subnet_id
        );
        self.outputs.insert(
            format!("{logical}IpAddress"),
            json!({"Description": description, "Value": {"Fn::GetAtt": [logical, "IpAddress"]}}),
        );
    }

    /// The node bootstrap as user data; the file system ids are `Fn::Sub` variables bound to
    /// the file systems' `Ref`, so nodes learn them when the stack creates them.
    fn add_launch_template(
        &mut self,
        spec: &Spec,
        name: &str,
        network: &Network,
        mount_targets: &[ZonedMountTarget],
    ) -> Result<(), TemplateError> {
        let script = crate::bootstrap::render_cloudformation_script(spec, mount_targets)?;
        script.check_size()?;
        let variables: Map<String, Value> = script
            .variables
            .iter()
            .map(|(variable, stands_for)| (variable.clone(), self.names.bind(stands_for)))
            .collect();
        let stack = &spec.stack.name;
        let address = Address::LaunchTemplate.to_string();
        let resource = json!({
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {
                "LaunchTemplateName": name,
                "LaunchTemplateData": {
                    "UserData": {"Fn::Base64": {"Fn::Sub": [script.body, variables]}},
                    "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
                    "SecurityGroupIds": spec.network.node_security_group_ids.iter().map(|g| network.node_group(g)).collect::<Vec<_>>(),
                },
                "TagSpecifications": [{
                    "ResourceType": "launch-template",
                    "Tags": tags(&[(STACK_TAG, stack), (RESOURCE_TAG, &address)]),
                }],
            }
        });
        self.resources.insert(LAUNCH_TEMPLATE_ID.into(), resource);
        let description = format!("launch template {name} that bootstraps the swarm nodes");
        self.add_output(
            LAUNCH_TEMPLATE_ID,
            &description,
            json!({"Ref": LAUNCH_TEMPLATE_ID}),
        );
        // cloudstor makes this version the default after each deployment (CloudFormation
        // never moves the default itself).
        self.outputs.insert(
            format!("{LAUNCH_TEMPLATE_ID}LatestVersion"),
            json!({
                "Description": "latest version of the node launch template, which cloudstor makes the default",
                "Value": {"Fn::GetAtt": [LAUNCH_TEMPLATE_ID, "LatestVersionNumber"]},
            }),
        );
        Ok(())
    }

    /// `<logical id>Id`, exported as `<stack>-<logical id>Id` so other stacks can import it.
    fn add_output(&mut self, logical_id: &str, description: &str, value: Value) {
        let name = format!("{logical_id}Id");
        let export = json!({"Name": {"Fn::Sub": format!("${{AWS::StackName}}-{name}")}});
        self.outputs.insert(
            name,
            json!({"Description": description, "Value": value, "Export": export}),
        );
    }
}

/// The template as YAML (CloudFormation's long form of intrinsic functions, so no tags), with
/// the format version quoted (unquoted, YAML 1.1 reads it as a date) and multi-line strings (the
/// node script) as literal block scalars a person can read and diff.
pub fn to_yaml(template: &Value) -> String {
    let text = serde_norway::to_string(template).expect("a JSON value always serialises as YAML");
    text.lines()
        .map(
            |line| match line.strip_prefix("AWSTemplateFormatVersion: ") {
                Some(version) if !version.starts_with('\'') => {
                    format!("AWSTemplateFormatVersion: '{version}'\n")
                }
                _ => literal_block(line).unwrap_or_else(|| format!("{line}\n")),
            },
        )
        .collect()
}

/// `<indent>- "a\nb\n"` or `<indent>key: "a\nb\n"` as a literal block scalar; `None` for any
/// other line.
fn literal_block(line: &str) -> Option<String> {
    let quote = line.find('"')?;
    let (head, quoted) = line.split_at(quote);
    let is_value = head.ends_with("- ") || head.ends_with(": ");
    let text: String = serde_norway::from_str(quoted).ok()?;
    if !is_value || !text.contains('\n') || !quoted.ends_with('"') {
        return None;
    }
    let indent = " ".repeat(head.len() - head.trim_start().len() + 2);
    let chomp = match text.len() - text.trim_end_matches('\n').len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("{head}|2{chomp}\n");
    for content in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
        if content.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{indent}{content}\n"));
        }
    }
    Some(out)
}

/// `fast-io` → `FastIo`: CloudFormation logical ids are alphanumeric only.
pub fn pascal_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

fn filesystem_logical_id(name: &str) -> String {
    format!("FileSystem{}", pascal_case(name))
}

fn ingress_logical_id(source: &Source) -> String {
    match source {
        Source::Group(id) => format!("NfsIngress{}", pascal_case(id)),
        // Dots, colons and the slash become x so 10.1.0.0/16 and 101.0.0.0/16 stay apart.
        Source::Cidr(cidr) => format!("NfsIngressCidr{}", cidr.replace(['.', ':', '/'], "x")),
        Source::PrefixList(id) => format!("NfsIngress{}", pascal_case(id)),
    }
}

/// Keyed by file system and subnet, parameterized or not.
fn mount_target_logical_id(filesystem: &str, subnet: &str) -> String {
    format!(
        "MountTarget{}{}",
        pascal_case(filesystem),
        pascal_case(subnet)
    )
}

/// The mount targets whose zone is known (from EC2, when the template was built with it).
fn zoned_mount_targets(desired: &Desired) -> Vec<ZonedMountTarget> {
    desired
        .resources
        .values()
        .filter_map(|resource| match resource {
            Resource::MountTarget(target) => Some(ZonedMountTarget {
                filesystem: target.filesystem.clone(),
                subnet: target.subnet_id.clone(),
                zone: target.availability_zone.clone()?,
            }),
            _ => None,
        })
        .collect()
}

/// The name each file system's logical ids follow: the one it was created under. A rename
/// with `moved_from` keeps the old name's logical ids, so CloudFormation updates the file
/// system and its mount targets in place (their cloudstor tags) instead of removing them and
/// creating empty ones, which is what a new logical id means to it.
#[derive(Debug, Default)]
pub struct LogicalNames(BTreeMap<String, String>);

impl LogicalNames {
    pub fn of(spec: &Spec) -> Self {
        let names = spec.filesystems.iter().map(|(name, fs)| {
            let created_as = fs.moved_from.as_ref().unwrap_or(name);
            (name.clone(), created_as.clone())
        });
        Self(names.collect())
    }

    fn created_as<'a>(&'a self, name: &'a str) -> &'a str {
        self.0.get(name).map_or(name, String::as_str)
    }

    /// The logical id of file system `name` (a spec name).
    pub fn filesystem(&self, name: &str) -> String {
        filesystem_logical_id(self.created_as(name))
    }

    fn mount_target(&self, filesystem: &str, subnet: &str) -> String {
        mount_target_logical_id(self.created_as(filesystem), subnet)
    }

    /// What the template binds a node-script variable to.
    fn bind(&self, stands_for: &SubVariable) -> Value {
        match stands_for {
            SubVariable::FileSystemId(name) => json!({"Ref": self.filesystem(name)}),
            SubVariable::MountTargetIp { filesystem, subnet } => {
                json!({"Fn::GetAtt": [self.mount_target(filesystem, subnet), "IpAddress"]})
            }
        }
    }

    /// Two spec names that differ only in punctuation or case would share a logical id.
    fn check(&self) -> Result<(), TemplateError> {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for name in self.0.keys() {
            let logical = self.filesystem(name);
            if let Some(first) = seen.insert(logical.to_ascii_lowercase(), name) {
                return Err(TemplateError::LogicalIdClash {
                    first: first.to_owned(),
                    second: name.clone(),
                    logical_id: logical,
                });
            }
        }
        Ok(())
    }
}

/// A One Zone file system needs the zone of its subnet, which only EC2 knows.
fn check_one_zone_targets(spec: &Spec, desired: &Desired) -> Result<(), TemplateError> {
    for (name, fs) in &spec.filesystems {
        let Some(zone) = &fs.availability_zone else {
            continue;
        };
        let has_target = desired.resources.keys().any(
            |address| matches!(address, Address::MountTarget { filesystem, .. } if filesystem == name),
        );
        if !has_target {
            return Err(TemplateError::NoSubnetInZone {
                filesystem: name.clone(),
                zone: zone.clone(),
                subnets: spec.network.subnet_ids.clone(),
            });
        }
    }
    Ok(())
}

/// Where VPC and subnet values come from: the spec, or parameters defaulting to it.
struct Network {
    parameterize: bool,
    vpc_id: String,
    subnet_ids: Vec<String>,
}

impl Network {
    fn new(spec: &Spec, options: TemplateOptions) -> Network {
        Network {
            parameterize: options.parameterize,
            vpc_id: spec.network.vpc_id.clone(),
            subnet_ids: spec.network.subnet_ids.clone(),
        }
    }

    fn vpc(&self) -> Value {
        if self.parameterize {
            json!({"Ref": VPC_PARAMETER})
        } else {
            json!(self.vpc_id)
        }
    }

    /// Keyed by the spec's subnet, never by its position: dropping one subnet must not rename
    /// the others' mount targets (a replacement each, and two targets in one zone on EFS).
    fn subnet_parameter(&self, subnet: &str) -> String {
        format!(
            "Subnet{}",
            pascal_case(subnet.trim_start_matches("subnet-"))
        )
    }

    fn subnet(&self, subnet: &str) -> Value {
        if self.parameterize {
            json!({"Ref": self.subnet_parameter(subnet)})
        } else {
            json!(subnet)
        }
    }

    fn node_group_parameter(group: &str) -> String {
        format!("NodeGroup{}", pascal_case(group.trim_start_matches("sg-")))
    }

    /// A node security group: a rule's source and the launch template's groups.
    fn node_group(&self, group: &str) -> Value {
        if self.parameterize {
            json!({"Ref": Network::node_group_parameter(group)})
        } else {
            json!(group)
        }
    }

    fn cidr_parameter(cidr: &str) -> String {
        format!("NfsCidr{}", cidr.replace(['.', ':', '/'], "x"))
    }

    fn cidr(&self, cidr: &str) -> Value {
        if self.parameterize {
            json!({"Ref": Network::cidr_parameter(cidr)})
        } else {
            json!(cidr)
        }
    }

    fn zone_parameter(filesystem: &str) -> String {
        format!("{}Zone", filesystem_logical_id(filesystem))
    }

    /// A One Zone file system's zone; its mount target's subnet parameter must be in it.
    fn zone(&self, filesystem: &str, zone: &str) -> Value {
        if self.parameterize {
            json!({"Ref": Network::zone_parameter(filesystem)})
        } else {
            json!(zone)
        }
    }

    /// The VPC and each subnet that holds a mount target (a subnet no One Zone file system
    /// uses would be an unused parameter).
    fn parameters(&self, desired: &Desired) -> Value {
        let mut parameters = Map::new();
        parameters.insert(
            VPC_PARAMETER.into(),
            json!({
                "Type": "AWS::EC2::VPC::Id",
                "Default": self.vpc_id,
                "Description": "VPC of the swarm nodes and of the mount targets' security group",
            }),
        );
        let used: BTreeSet<&str> = desired
            .resources
            .values()
            .filter_map(|resource| match resource {
                Resource::MountTarget(target) => Some(target.subnet_id.as_str()),
                _ => None,
            })
            .collect();
        for subnet in self.subnet_ids.iter().filter(|s| used.contains(s.as_str())) {
            parameters.insert(
                self.subnet_parameter(subnet),
                json!({
                    "Type": "AWS::EC2::Subnet::Id",
                    "Default": subnet,
                    "Description": "A subnet for one mount target per file system; one subnet per Availability Zone",
                }),
            );
        }
        self.source_parameters(desired, &mut parameters);
        Value::Object(parameters)
    }

    /// Node security groups, allowed CIDRs and One Zone file systems' zones.
    fn source_parameters(&self, desired: &Desired, parameters: &mut Map<String, Value>) {
        for (address, resource) in &desired.resources {
            match (address, resource) {
                (_, Resource::SecurityGroup(group)) => {
                    for source in &group.ingress {
                        if let Some((name, parameter)) = source_parameter(source) {
                            parameters.insert(name, parameter);
                        }
                    }
                }
                (Address::FileSystem(name), Resource::FileSystem(fs)) => {
                    if let Some(zone) = &fs.availability_zone {
                        parameters.insert(
                            Network::zone_parameter(name),
                            json!({
                                "Type": "AWS::EC2::AvailabilityZone::Name",
                                "Default": zone,
                                "Description": format!("Availability Zone of One Zone file system `{name}`; its mount target's subnet must be in it"),
                            }),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

fn source_parameter(source: &Source) -> Option<(String, Value)> {
    match source {
        Source::Group(id) => Some((
            Network::node_group_parameter(id),
            json!({
                "Type": "AWS::EC2::SecurityGroup::Id",
                "Default": id,
                "Description": "A security group of the swarm nodes: NFS from it reaches the mount targets",
            }),
        )),
        Source::Cidr(cidr) => Some((
            Network::cidr_parameter(cidr),
            json!({
                "Type": "String",
                "Default": cidr,
                "Description": "A CIDR block allowed to reach the mount targets over NFS",
            }),
        )),
        Source::PrefixList(_) => None,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(key, value)| json!({"Key": key, "Value": value}))
            .collect(),
    )
}

/// The group alone; its ingress rules are separate resources (see [`ingress`]).
fn security_group(stack: &str, group: &SecurityGroup, network: &Network) -> Value {
    json!({
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": format!("NFS (tcp/2049) to the EFS mount targets of cloudstor stack {stack}"),
            "VpcId": network.vpc(),
            // Mount targets only answer; a rule to loopback replaces AWS's allow-all egress,
            // as the API engine revokes it.
            "SecurityGroupEgress": [{
                "IpProtocol": "-1",
                "CidrIp": "127.0.0.1/32",
                "Description": "no egress: mount targets only answer NFS clients",
            }],
            "Tags": tags(&[
                ("Name", &group.name),
                (STACK_TAG, stack),
                (RESOURCE_TAG, &Address::SecurityGroup.to_string()),
            ]),
        },
    })
}

fn ingress(source: &Source, network: &Network) -> Value {
    let mut properties = json!({
        "GroupId": {"Fn::GetAtt": [SECURITY_GROUP_ID, "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": NFS_PORT,
        "ToPort": NFS_PORT,
        "Description": format!("NFS from {source}"),
    });
    let (key, value) = match source {
        Source::Group(id) => ("SourceSecurityGroupId", network.node_group(id)),
        Source::Cidr(cidr) if cidr.contains(':') => ("CidrIpv6", network.cidr(cidr)),
        Source::Cidr(cidr) => ("CidrIp", network.cidr(cidr)),
        Source::PrefixList(id) => ("SourcePrefixListId", json!(id)),
    };
    properties[key] = value;
    json!({"Type": "AWS::EC2::SecurityGroupIngress", "Properties": properties})
}

fn filesystem(stack: &str, name: &str, fs: &FileSystem, network: &Network) -> Value {
    let mut properties = Map::new();
    properties.insert("Encrypted".into(), json!(fs.encrypted));
    if let Some(key) = &fs.kms_key_id {
        properties.insert("KmsKeyId".into(), json!(key));
    }
    properties.insert(
        "PerformanceMode".into(),
        json!(fs.performance_mode.as_str()),
    );
    properties.insert("ThroughputMode".into(), json!(fs.throughput_mode.as_str()));
    if let (ThroughputMode::Provisioned, Some(mibps)) =
        (fs.throughput_mode, fs.provisioned_throughput_mibps)
    {
        properties.insert("ProvisionedThroughputInMibps".into(), json!(mibps));
    }
    if let Some(zone) = &fs.availability_zone {
        properties.insert("AvailabilityZoneName".into(), network.zone(name, zone));
    }
    let backup = if fs.backup { "ENABLED" } else { "DISABLED" };
    properties.insert("BackupPolicy".into(), json!({"Status": backup}));
    let policies = lifecycle_policies(&fs.lifecycle);
    if !policies.is_empty() {
        properties.insert("LifecyclePolicies".into(), Value::Array(policies));
    }
    properties.insert("FileSystemTags".into(), filesystem_tags(stack, name, fs));
    // Retain keeps the data when the stack is deleted or CloudFormation replaces the file
    // system; only `protect = false` lets CloudFormation delete it.
    let policy = if fs.protect { "Retain" } else { "Delete" };
    json!({
        "Type": "AWS::EFS::FileSystem",
        "DeletionPolicy": policy,
        "UpdateReplacePolicy": policy,
        "Properties": properties,
    })
}

fn filesystem_tags(stack: &str, name: &str, fs: &FileSystem) -> Value {
    let display_name = format!("{stack}-{name}");
    let address = Address::FileSystem(name.to_owned()).to_string();
    let protect = fs.protect.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("Name", &display_name),
        (STACK_TAG, stack),
        (RESOURCE_TAG, &address),
        (PROTECT_TAG, &protect),
    ];
    pairs.extend(fs.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    tags(&pairs)
}

/// EFS wants one transition per policy object.
fn lifecycle_policies(lifecycle: &Lifecycle) -> Vec<Value> {
    let days = |transition: Transition| match transition {
        Transition::None => None,
        Transition::AfterDays(1) => Some("AFTER_1_DAY".to_owned()),
        Transition::AfterDays(days) => Some(format!("AFTER_{days}_DAYS")),
    };
    let mut policies = Vec::new();
    if let Some(after) = days(lifecycle.to_ia) {
        policies.push(json!({"TransitionToIA": after}));
    }
    if let Some(after) = days(lifecycle.to_archive) {
        policies.push(json!({"TransitionToArchive": after}));
    }
    if lifecycle.to_primary == PrimaryTransition::OnFirstAccess {
        policies.push(json!({"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}));
    }
    policies
}

fn mount_target(filesystem_logical_id: &str, target: &MountTarget, network: &Network) -> Value {
    json!({
        "Type": "AWS::EFS::MountTarget",
        "Properties": {
            "FileSystemId": {"Ref": filesystem_logical_id},
            "SubnetId": network.subnet(&target.subnet_id),
            "SecurityGroups": [{"Fn::GetAtt": [SECURITY_GROUP_ID, "GroupId"]}],
        },
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SPEC: &str = r#"
[stack]
name = "demo"

[network]
vpc_id = "vpc-1"
subnet_ids = ["subnet-a1", "subnet-b2"]
node_security_group_ids = ["sg-nodes"]
allowed_cidrs = ["10.1.0.0/16"]

[filesystems.shared]
transition_to_ia = "1d"
transition_to_archive = "90d"

[filesystems.fast-io]
performance_mode = "maxIO"
throughput_mode = "provisioned"
provisioned_throughput_mibps = 64
protect = false
"#;

    fn template(text: &str, options: TemplateOptions) -> Result<Value, TemplateError> {
        let spec = Spec::parse(Path::new("t.toml"), text).unwrap();
        build(&spec, &BTreeMap::new(), options)
    }

    #[test]
    fn logical_ids_come_from_spec_names() {
        let template = template(SPEC, TemplateOptions::default()).unwrap();
        let mut ids: Vec<&String> = template["Resources"].as_object().unwrap().keys().collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "FileSystemFastIo",
                "FileSystemShared",
                "MountTargetFastIoSubnetA1",
                "MountTargetFastIoSubnetB2",
                "MountTargetSharedSubnetA1",
                "MountTargetSharedSubnetB2",
                "NfsIngressCidr10x1x0x0x16",
                "NfsIngressSgNodes",
                "NfsSecurityGroup",
            ]
        );
    }

    /// CloudFormation keys resources by logical id: a rename with `moved_from` keeps the old
    /// ones, so the stack updates the file system's tags instead of swapping in an empty one.
    #[test]
    fn a_moved_file_system_keeps_the_logical_ids_of_its_old_name() {
        let moved = SPEC.replace(
            "[filesystems.shared]",
            "[filesystems.data]\nmoved_from = \"shared\"",
        );
        let before = template(SPEC, TemplateOptions::default()).unwrap();
        let after = template(&moved, TemplateOptions::default()).unwrap();
        let ids = |t: &Value| {
            let ids: std::collections::BTreeSet<String> = t["Resources"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            ids
        };
        assert_eq!(ids(&after), ids(&before));
        let properties = |t: &Value| t["Resources"]["FileSystemShared"]["Properties"].clone();
        let tags = properties(&after)["FileSystemTags"].clone();
        assert!(
            tags.as_array()
                .unwrap()
                .contains(&json!({"Key": RESOURCE_TAG, "Value": "filesystem.data"})),
            "{tags}"
        );
        let mut unchanged = properties(&after);
        unchanged["FileSystemTags"] = properties(&before)["FileSystemTags"].clone();
        assert_eq!(unchanged, properties(&before), "only the tags change");
        assert_eq!(
            after["Resources"]["MountTargetSharedSubnetA1"],
            before["Resources"]["MountTargetSharedSubnetA1"]
        );
        let clash = SPEC.replace(
            "[filesystems.fast-io]",
            "[filesystems.data]\nmoved_from = \"Fast_Io\"\n[filesystems.fast-io]",
        );
        let error = template(&clash, TemplateOptions::default()).unwrap_err();
        assert!(error.to_string().contains("FileSystemFastIo"), "{error}");
    }

    #[test]
    fn an_ipv6_source_is_an_ipv6_rule() {
        let text = SPEC.replace("\"10.1.0.0/16\"", "\"fd00:1::/32\"");
        let template = template(&text, TemplateOptions::default()).unwrap();
        let ingress = &template["Resources"]["NfsIngressCidrfd00x1xxx32"]["Properties"];
        assert_eq!(ingress["CidrIpv6"], "fd00:1::/32");
        assert_eq!(ingress.get("CidrIp"), None);
    }

    #[test]
    fn only_protected_file_systems_are_retained() {
        let template = template(SPEC, TemplateOptions::default()).unwrap();
        let resources = &template["Resources"];
        assert_eq!(resources["FileSystemShared"]["DeletionPolicy"], "Retain");
        assert_eq!(
            resources["FileSystemShared"]["UpdateReplacePolicy"],
            "Retain"
        );
        assert_eq!(resources["FileSystemFastIo"]["DeletionPolicy"], "Delete");
    }

    #[test]
    fn lifecycle_and_throughput_use_efs_names() {
        let template = template(SPEC, TemplateOptions::default()).unwrap();
        let shared = &template["Resources"]["FileSystemShared"]["Properties"];
        assert_eq!(
            shared["LifecyclePolicies"],
            json!([{"TransitionToIA": "AFTER_1_DAY"}, {"TransitionToArchive": "AFTER_90_DAYS"}])
        );
        let fast = &template["Resources"]["FileSystemFastIo"]["Properties"];
        assert_eq!(fast["ProvisionedThroughputInMibps"], 64);
        assert!(fast.get("LifecyclePolicies").is_none());
    }

    #[test]
    fn parameterized_network_defaults_to_the_spec() {
        let options = TemplateOptions { parameterize: true };
        let template = template(SPEC, options).unwrap();
        assert_eq!(template["Parameters"]["SubnetB2"]["Default"], "subnet-b2");
        let target = &template["Resources"]["MountTargetSharedSubnetB2"]["Properties"];
        assert_eq!(target["SubnetId"], json!({"Ref": "SubnetB2"}));
        assert_eq!(
            template["Parameters"]["NodeGroupNodes"]["Default"],
            "sg-nodes"
        );
        let rule = &template["Resources"]["NfsIngressSgNodes"]["Properties"];
        assert_eq!(
            rule["SourceSecurityGroupId"],
            json!({"Ref": "NodeGroupNodes"})
        );
        assert_eq!(
            template["Parameters"]["NfsCidr10x1x0x0x16"]["Default"],
            "10.1.0.0/16"
        );
    }

    #[test]
    fn dropping_the_first_subnet_keeps_the_other_mount_targets_logical_ids() {
        let options = TemplateOptions { parameterize: true };
        let both = template(SPEC, options).unwrap();
        let text = SPEC.replace("[\"subnet-a1\", \"subnet-b2\"]", "[\"subnet-b2\"]");
        let second_only = template(&text, options).unwrap();
        let ids = |t: &Value| -> BTreeSet<String> {
            t["Resources"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|id| id.starts_with("MountTarget"))
                .cloned()
                .collect()
        };
        let kept: BTreeSet<String> = ids(&both)
            .into_iter()
            .filter(|id| id.ends_with("SubnetB2"))
            .collect();
        assert_eq!(ids(&second_only), kept);
        assert_eq!(
            second_only["Resources"]["MountTargetSharedSubnetB2"],
            both["Resources"]["MountTargetSharedSubnetB2"]
        );
    }

    #[test]
    fn names_that_share_a_logical_id_are_refused() {
        let text = SPEC.replace("[filesystems.shared]", "[filesystems.fast_io]");
        let error = template(&text, TemplateOptions::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`fast-io` and `fast_io` would both be FileSystemFastIo"),
            "{error}"
        );
    }

    #[test]
    fn one_zone_file_system_without_a_subnet_in_its_zone_is_refused() {
        let text = SPEC.replace(
            "transition_to_ia = \"1d\"",
            "availability_zone = \"us-east-1c\"",
        );
        let error = template(&text, TemplateOptions::default()).unwrap_err();
        assert!(error.to_string().contains("us-east-1c"), "{error}");
    }

    const NODES: &str = "\n[nodes]\nlaunch_template_name = \"swarm\"\nplugin_url = \"https://example.com/p\"\nplugin_sha256 = \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n";

    #[test]
    fn each_file_system_outputs_its_dns_name() {
        let template = template(SPEC, TemplateOptions::default()).unwrap();
        assert_eq!(
            template["Outputs"]["FileSystemSharedDnsName"]["Value"],
            json!({"Fn::Sub": "${FileSystemShared}.efs.${AWS::Region}.${AWS::URLSuffix}"})
        );
    }

    #[test]
    fn the_launch_template_requires_imdsv2_attaches_node_groups_and_outputs_its_version() {
        let template = template(&format!("{SPEC}{NODES}"), TemplateOptions::default()).unwrap();
        let data = &template["Resources"][LAUNCH_TEMPLATE_ID]["Properties"]["LaunchTemplateData"];
        assert_eq!(data["MetadataOptions"]["HttpTokens"], "required");
        assert_eq!(data["SecurityGroupIds"], json!(["sg-nodes"]));
        assert_eq!(
            template["Outputs"]["NodeLaunchTemplateLatestVersion"]["Value"],
            json!({"Fn::GetAtt": [LAUNCH_TEMPLATE_ID, "LatestVersionNumber"]})
        );
    }

    #[test]
    fn a_node_script_over_16_kb_is_refused_before_any_template_is_made() {
        let padding = "echo padding\n".repeat(2400);
        let text = format!("{SPEC}{NODES}extra_user_data = \"\"\"\n{padding}\"\"\"\n");
        let error = template(&text, TemplateOptions::default()).unwrap_err();
        assert!(
            matches!(&error, TemplateError::UserDataTooLarge(too_large) if too_large.bytes > 30_000),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("EC2 accepts at most 16384 bytes"),
            "{error}"
        );
    }

    #[test]
    fn yaml_quotes_the_format_version_and_writes_the_script_as_a_block() {
        let template = template(&format!("{SPEC}{NODES}"), TemplateOptions::default()).unwrap();
        let yaml = to_yaml(&template);
        assert!(
            yaml.starts_with("AWSTemplateFormatVersion: '2010-09-09'\n"),
            "{yaml}"
        );
        assert!(yaml.contains("- |2\n              #!/bin/sh\n"), "{yaml}");
        let parsed: Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(parsed, template, "the YAML reads back as the same template");
    }

    #[test]
    fn a_block_keeps_trailing_newlines_and_their_absence() {
        for text in ["a\n\tb\n", "a\nb", "a\n\n  b\n\n\n"] {
            let value = json!({"Key": [text]});
            let yaml = to_yaml(&value);
            let parsed: Value = serde_norway::from_str(&yaml).unwrap();
            assert_eq!(parsed, value, "{yaml}");
        }
    }
}
