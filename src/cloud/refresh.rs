//! Reading a stack's resources: concurrent, paginated describe calls, filtered by tags.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission};
use aws_sdk_efs::types::{FileSystemDescription, LifecyclePolicy, MountTargetDescription};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::ownership::{Claim, TokenHolder, claim, token_name};
use super::{Cloud, CloudError, aws_error};
use crate::model::{
    APPLIED_TAG, Address, AppliedRecord, FileSystem, Lifecycle, MountTarget, NFS_PORT, PROTECT_TAG,
    RESOURCE_TAG, Resource, Rule, STACK_TAG, SecurityGroup, Source, ingress_from_tags,
};
use crate::spec::{PerformanceMode, PrimaryTransition, Spec, ThroughputMode, Transition};

/// How many describe calls run at once during refresh.
const REFRESH_CONCURRENCY: usize = 32;

/// What exists in AWS for one stack, keyed like [`crate::model::Desired`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub resources: BTreeMap<Address, Resource>,
    /// What cloudstor last applied, per file system and for the security group's ingress.
    #[serde(skip)]
    pub applied: BTreeMap<Address, AppliedRecord>,
    #[serde(skip)]
    pub applied_ingress: Option<BTreeSet<Source>>,
    /// Bytes stored per file system, as last metered; kept out of the fingerprint.
    #[serde(skip)]
    pub sizes: BTreeMap<Address, i64>,
    /// Availability Zone of each spec subnet that exists.
    pub subnet_zones: BTreeMap<String, String>,
    /// VPC of each spec subnet that exists.
    #[serde(skip)]
    pub subnet_vpcs: BTreeMap<String, String>,
    /// VPC of each node security group from the spec that exists.
    #[serde(skip)]
    pub node_groups: BTreeMap<String, String>,
    /// The region the clients talk to (file system DNS names depend on it).
    #[serde(skip)]
    pub region: Option<String>,
    /// Ownership tags removed by hand from file systems that are still ours (see
    /// [`super::ownership`]): (tag, the value apply writes back).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_tags: BTreeMap<Address, Vec<(String, String)>>,
    /// Every live file system holding one of the stack's CreationTokens, by token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, TokenHolder>,
    /// Addresses that more than one file system claims: (id, CreationToken) of each.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub claimants: BTreeMap<Address, Vec<(String, String)>>,
}

impl Observed {
    /// A digest of everything refresh saw that a plan depends on.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let canonical = serde_json::to_vec(self).expect("observed state serialises");
        hex::encode(sha2::Sha256::digest(canonical))
    }
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

impl Cloud {
    /// Reads the stack named in `spec` and the network it refers to.
    pub async fn refresh(&self, spec: &Spec) -> Result<Observed, CloudError> {
        let stack = &spec.stack.name;
        let (filesystems, group, subnets, node_groups, template) = tokio::try_join!(
            self.stack_filesystems(stack),
            self.stack_security_group(stack),
            self.subnets(&spec.network.subnet_ids),
            self.existing_groups(&spec.network.node_security_group_ids),
            self.stack_launch_template(stack),
        )?;
        let mut observed = Observed {
            node_groups,
            region: self.region(),
            ..Observed::default()
        };
        if let Some(template) = template {
            let resource = Resource::LaunchTemplate(template);
            observed.resources.insert(Address::LaunchTemplate, resource);
        }
        for (subnet, zone, vpc) in subnets {
            observed.subnet_zones.insert(subnet.clone(), zone);
            observed.subnet_vpcs.insert(subnet, vpc);
        }
        if let Some((group, applied)) = group {
            observed.applied_ingress = applied;
            observed
                .resources
                .insert(Address::SecurityGroup, Resource::SecurityGroup(group));
        }
        let owned = owned_filesystems(&mut observed, stack, filesystems);
        // Collected first: a closure inside the stream's type makes the future not provably
        // `Send` (rustc's higher-ranked lifetime limits), and apply runs refresh in a task.
        let lookups: Vec<_> = owned.iter().map(|(fs, _, _)| self.details(fs)).collect();
        let details = futures::stream::iter(lookups)
            .buffered(REFRESH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let targets = self.add_filesystems(&mut observed, &owned, details);
        self.add_mount_targets(&mut observed, targets).await?;
        Ok(observed)
    }

    /// One file system by id as cloudstor models it (lifecycle and backup left at their
    /// defaults: only what a CreateFileSystem fixes is read), with its cloudstor tags
    /// `cloudstor:stack` and `cloudstor:resource`; `None` when no such file system exists.
    pub async fn describe_filesystem(
        &self,
        id: &str,
    ) -> Result<Option<(FileSystem, Option<String>, Option<String>)>, CloudError> {
        let found = match self
            .efs
            .describe_file_systems()
            .file_system_id(id)
            .send()
            .await
        {
            Ok(found) => found,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_file_system_not_found()) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(aws_error(id, "DescribeFileSystems")(error)),
        };
        Ok(found.file_systems().first().map(|fs| {
            let tag = |key| efs_tag(fs.tags(), key).map(str::to_owned);
            (
                observed_filesystem(fs, &[], false),
                tag(STACK_TAG),
                tag(RESOURCE_TAG),
            )
        }))
    }

    /// Every live file system tagged with the stack, as (id, `cloudstor:resource` tag),
    /// whoever holds it: cloudstor, a CloudFormation stack, or nobody any more.
    pub async fn tagged_filesystems(
        &self,
        stack: &str,
    ) -> Result<Vec<(String, String)>, CloudError> {
        Ok(self
            .stack_filesystems(stack)
            .await?
            .iter()
            .map(|fs| {
                let address = efs_tag(fs.tags(), RESOURCE_TAG).unwrap_or_default();
                (fs.file_system_id().to_owned(), address.to_owned())
            })
            .collect())
    }

    async fn stack_filesystems(
        &self,
        stack: &str,
    ) -> Result<Vec<FileSystemDescription>, CloudError> {
        let all: Vec<FileSystemDescription> = self
            .efs
            .describe_file_systems()
            .max_items(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error("file systems", "DescribeFileSystems"))?;
        let live = |fs: &FileSystemDescription| {
            !matches!(fs.life_cycle_state().as_str(), "deleting" | "deleted")
        };
        let related = |fs: &FileSystemDescription| {
            efs_tag(fs.tags(), STACK_TAG) == Some(stack)
                || token_name(stack, fs.creation_token()).is_some()
        };
        Ok(all
            .into_iter()
            .filter(|fs| live(fs) && related(fs))
            .collect())
    }

    async fn details(&self, fs: &FileSystemDescription) -> Result<Details, CloudError> {
        let id = fs.file_system_id();
        let targets = self
            .efs
            .describe_mount_targets()
            .file_system_id(id)
            .into_paginator()
            .items()
            .send()
            .try_collect();
        let lifecycle = self
            .efs
            .describe_lifecycle_configuration()
            .file_system_id(id)
            .send();
        let backup = self.efs.describe_backup_policy().file_system_id(id).send();
        let (targets, lifecycle, backup) = tokio::join!(targets, lifecycle, backup);
        let targets = targets.map_err(aws_error(id, "DescribeMountTargets"))?;
        let lifecycle = lifecycle.map_err(aws_error(id, "DescribeLifecycleConfiguration"))?;
        let backup = match backup {
            Ok(output) => output
                .backup_policy()
                .is_some_and(|p| matches!(p.status().as_str(), "ENABLED" | "ENABLING")),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_policy_not_found()) =>
            {
                false
            }
            Err(error) => return Err(aws_error(id, "DescribeBackupPolicy")(error)),
        };
        Ok((targets, lifecycle.lifecycle_policies().to_vec(), backup))
    }

    /// Adds file systems and returns their mount targets, each with its file system's name.
    fn add_filesystems(
        &self,
        observed: &mut Observed,
        owned: &[Owned],
        details: Vec<Details>,
    ) -> Vec<(String, MountTargetDescription)> {
        let mut targets = Vec::new();
        for ((fs, name, lost), (mount_targets, policies, backup)) in owned.iter().zip(details) {
            let address = Address::FileSystem(name.clone());
            if let Some(applied) = efs_tag(fs.tags(), APPLIED_TAG).and_then(AppliedRecord::decode) {
                observed.applied.insert(address.clone(), applied);
            }
            if let Some(size) = fs.size_in_bytes() {
                observed.sizes.insert(address.clone(), size.value());
            }
            if !lost.is_empty() {
                observed.lost_tags.insert(address.clone(), lost.clone());
            }
            let resource = Resource::FileSystem(observed_filesystem(fs, &policies, backup));
            observed.resources.insert(address, resource);
            targets.extend(mount_targets.into_iter().map(|mt| (name.clone(), mt)));
        }
        targets
    }

    /// Adds mount targets, reading their security groups from their network interfaces in one
    /// batched call instead of one DescribeMountTargetSecurityGroups per target.
    async fn add_mount_targets(
        &self,
        observed: &mut Observed,
        targets: Vec<(String, MountTargetDescription)>,
    ) -> Result<(), CloudError> {
        let live: Vec<_> = targets
            .into_iter()
            .filter(|(_, mt)| !matches!(mt.life_cycle_state().as_str(), "deleting" | "deleted"))
            .collect();
        let interfaces: Vec<String> = live
            .iter()
            .filter_map(|(_, mt)| mt.network_interface_id().map(str::to_owned))
            .collect();
        let groups = self.interface_groups(interfaces).await?;
        for (filesystem, mt) in live {
            let address = Address::MountTarget {
                filesystem: filesystem.clone(),
                subnet: mt.subnet_id().to_owned(),
            };
            let security_groups = mt
                .network_interface_id()
                .and_then(|eni| groups.get(eni))
                .cloned();
            let target = MountTarget {
                id: Some(mt.mount_target_id().to_owned()),
                filesystem,
                filesystem_id: Some(mt.file_system_id().to_owned()),
                subnet_id: mt.subnet_id().to_owned(),
                security_groups,
                availability_zone: mt.availability_zone_name().map(str::to_owned),
                ip_address: mt.ip_address().map(str::to_owned),
            };
            observed
                .resources
                .insert(address, Resource::MountTarget(target));
        }
        Ok(())
    }

    async fn interface_groups(
        &self,
        interfaces: Vec<String>,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, CloudError> {
        if interfaces.is_empty() {
            return Ok(BTreeMap::new());
        }
        let found: Vec<_> = self
            .ec2
            .describe_network_interfaces()
            .set_network_interface_ids(Some(interfaces))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error("mount targets", "DescribeNetworkInterfaces"))?;
        Ok(found
            .into_iter()
            .filter_map(|eni| {
                let groups = eni
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_owned));
                Some((eni.network_interface_id()?.to_owned(), groups.collect()))
            })
            .collect())
    }

    async fn stack_security_group(
        &self,
        stack: &str,
    ) -> Result<Option<(SecurityGroup, Option<BTreeSet<Source>>)>, CloudError> {
        let groups: Vec<_> = self
            .ec2
            .describe_security_groups()
            .filters(tag_filter(STACK_TAG, stack))
            .filters(tag_filter(
                RESOURCE_TAG,
                &Address::SecurityGroup.to_string(),
            ))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error(Address::SecurityGroup, "DescribeSecurityGroups"))?;
        let Some(group) = groups.into_iter().next() else {
            return Ok(None);
        };
        let applied = ingress_from_tags(
            group
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?))),
        );
        let (ingress, other_ingress) = rules(group.ip_permissions())
            .into_iter()
            .partition::<Vec<_>, _>(is_nfs);
        let observed = SecurityGroup {
            id: group.group_id().map(str::to_owned),
            name: group.group_name().unwrap_or_default().to_owned(),
            vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
            ingress: ingress.into_iter().map(|rule| rule.peer).collect(),
            other_ingress: other_ingress.into_iter().collect(),
            egress: rules(group.ip_permissions_egress()).into_iter().collect(),
        };
        Ok(Some((observed, applied)))
    }

    /// (subnet, zone, vpc) for each listed subnet that exists. A filter, unlike SubnetIds,
    /// does not fail on the first missing id, so every missing one can be named at once.
    async fn subnets(&self, ids: &[String]) -> Result<Vec<(String, String, String)>, CloudError> {
        let found: Vec<_> = self
            .ec2
            .describe_subnets()
            .filters(filter("subnet-id", ids))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error("network.subnet_ids", "DescribeSubnets"))?;
        Ok(found
            .into_iter()
            .filter_map(|s| {
                Some((
                    s.subnet_id()?.to_owned(),
                    s.availability_zone()?.to_owned(),
                    s.vpc_id()?.to_owned(),
                ))
            })
            .collect())
    }

    /// (group, vpc) for each listed security group that exists.
    async fn existing_groups(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, String>, CloudError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let found: Vec<_> = self
            .ec2
            .describe_security_groups()
            .filters(filter("group-id", ids))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error(
                "network.node_security_group_ids",
                "DescribeSecurityGroups",
            ))?;
        Ok(found
            .into_iter()
            .filter_map(|g| Some((g.group_id()?.to_owned(), g.vpc_id()?.to_owned())))
            .collect())
    }
}

/// One rule per peer: EC2 groups every peer of a protocol and port range in one permission.
fn rules(permissions: &[IpPermission]) -> Vec<Rule> {
    permissions
        .iter()
        .flat_map(|p| {
            let groups = p.user_id_group_pairs().iter().filter_map(|g| g.group_id());
            let v4 = p.ip_ranges().iter().filter_map(|r| r.cidr_ip());
            let v6 = p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6());
            let lists = p
                .prefix_list_ids()
                .iter()
                .filter_map(|l| l.prefix_list_id());
            groups.chain(v4).chain(v6).chain(lists).map(|peer| Rule {
                protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
                from_port: p.from_port(),
                to_port: p.to_port(),
                peer: Source::parse(peer),
            })
        })
        .collect()
}

/// The kind of rule cloudstor makes: tcp/2049 ingress (prefix lists are never a spec source).
fn is_nfs(rule: &Rule) -> bool {
    rule.protocol == "tcp"
        && rule.from_port == Some(NFS_PORT)
        && rule.to_port == Some(NFS_PORT)
        && !matches!(rule.peer, Source::PrefixList(_))
}

type Details = (Vec<MountTargetDescription>, Vec<LifecyclePolicy>, bool);

/// A file system of the stack, its name, and the ownership tags to write back: (tag, value).
type Owned = (FileSystemDescription, String, Vec<(String, String)>);

/// Keeps the stack's own file systems (the rule is in [`super::ownership`]), notes who holds
/// each of its CreationTokens, and every address claimed more than once.
fn owned_filesystems(
    observed: &mut Observed,
    stack: &str,
    filesystems: Vec<FileSystemDescription>,
) -> Vec<Owned> {
    let mut owned: Vec<Owned> = Vec::new();
    let mut claims: BTreeMap<Address, Vec<(String, String)>> = BTreeMap::new();
    for fs in filesystems {
        let id = fs.file_system_id().to_owned();
        let address = match claim(stack, &fs) {
            Claim::Ours { name, lost } => {
                let address = Address::FileSystem(name.clone());
                let restore = lost
                    .into_iter()
                    .map(|tag| {
                        let value = if tag == STACK_TAG {
                            stack.to_owned()
                        } else {
                            address.to_string()
                        };
                        (tag.to_owned(), value)
                    })
                    .collect();
                claims
                    .entry(address.clone())
                    .or_default()
                    .push((id.clone(), fs.creation_token().to_owned()));
                owned.push((fs.clone(), name, restore));
                Some(address)
            }
            Claim::NotOurs => None,
        };
        if token_name(stack, fs.creation_token()).is_some() {
            let holder = TokenHolder { id, address };
            observed
                .tokens
                .insert(fs.creation_token().to_owned(), holder);
        }
    }
    observed.claimants = claims.into_iter().filter(|(_, c)| c.len() > 1).collect();
    owned
}

fn observed_filesystem(
    fs: &FileSystemDescription,
    policies: &[LifecyclePolicy],
    backup: bool,
) -> FileSystem {
    let tags = fs
        .tags()
        .iter()
        .filter(|t| {
            !t.key().starts_with("cloudstor:") && !t.key().starts_with("aws:") && t.key() != "Name"
        })
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    let throughput_mode = match fs.throughput_mode().map(|m| m.as_str()) {
        Some("provisioned") => ThroughputMode::Provisioned,
        Some("elastic") => ThroughputMode::Elastic,
        _ => ThroughputMode::Bursting,
    };
    let provisioned = (throughput_mode == ThroughputMode::Provisioned)
        .then(|| {
            fs.provisioned_throughput_in_mibps()
                .map(|m| m.round() as u32)
        })
        .flatten();
    FileSystem {
        id: Some(fs.file_system_id().to_owned()),
        creation_token: fs.creation_token().to_owned(),
        performance_mode: match fs.performance_mode().as_str() {
            "maxIO" => PerformanceMode::MaxIo,
            _ => PerformanceMode::GeneralPurpose,
        },
        encrypted: fs.encrypted().unwrap_or(false),
        kms_key_id: fs.kms_key_id().map(str::to_owned),
        availability_zone: fs.availability_zone_name().map(str::to_owned),
        throughput_mode,
        provisioned_throughput_mibps: provisioned,
        lifecycle: lifecycle_from_policies(policies),
        backup,
        protect: efs_tag(fs.tags(), PROTECT_TAG) != Some("false"),
        tags,
    }
}

fn days_in(rule: &str) -> Transition {
    let days = rule
        .trim_start_matches("AFTER_")
        .split('_')
        .next()
        .and_then(|d| d.parse().ok());
    days.map_or(Transition::None, Transition::AfterDays)
}

fn lifecycle_from_policies(policies: &[LifecyclePolicy]) -> Lifecycle {
    let mut lifecycle = Lifecycle::default();
    for policy in policies {
        if let Some(rule) = policy.transition_to_ia() {
            lifecycle.to_ia = days_in(rule.as_str());
        }
        if let Some(rule) = policy.transition_to_archive() {
            lifecycle.to_archive = days_in(rule.as_str());
        }
        if policy.transition_to_primary_storage_class().is_some() {
            lifecycle.to_primary = PrimaryTransition::OnFirstAccess;
        }
    }
    lifecycle
}

/// The plan-time checks that need AWS: every subnet exists, lies in the spec's VPC, and has
/// an Availability Zone to itself; every node security group exists; One Zone file systems
/// have a subnet in their zone.
pub fn check_network(spec: &Spec, observed: &Observed) -> Result<(), CloudError> {
    let mut problems = Vec::new();
    let network = &spec.network;
    let at = |subnet: &str| {
        spec.locate_subnet(subnet)
            .map(|at| format!("{at}: "))
            .unwrap_or_default()
    };
    for subnet in &network.subnet_ids {
        if !observed.subnet_zones.contains_key(subnet) {
            problems.push(format!(
                "{}subnet {subnet} not found in {}; check network.subnet_ids and the region",
                at(subnet),
                observed.region.as_deref().unwrap_or("this region")
            ));
        }
    }
    for (subnet, vpc) in &observed.subnet_vpcs {
        if *vpc != network.vpc_id {
            problems.push(format!(
                "{}subnet {subnet} is in {vpc}, not in network.vpc_id {}",
                at(subnet),
                network.vpc_id
            ));
        }
    }
    let mut by_zone: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for subnet in &network.subnet_ids {
        if let Some(zone) = observed.subnet_zones.get(subnet) {
            by_zone.entry(zone).or_default().push(subnet);
        }
    }
    for (zone, subnets) in by_zone.iter().filter(|(_, s)| s.len() > 1) {
        problems.push(format!(
            "{}subnets {} are all in {zone}; EFS allows one mount target per Availability Zone, keep one of them",
            at(subnets[1]),
            subnets.join(" and ")
        ));
    }
    problems.extend(node_group_problems(spec, observed));
    for (name, fs) in &spec.filesystems {
        if let Some(zone) = &fs.availability_zone
            && !observed.subnet_zones.values().any(|z| z == zone)
        {
            problems.push(format!(
                "filesystems.{name} is One Zone in {zone}, but no subnet in network.subnet_ids is in {zone}"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(CloudError::Network(format!(
        "the network in the spec does not match AWS:\n  - {}",
        problems.join("\n  - ")
    )))
}

/// Missing node groups, and groups of another VPC: AWS would refuse them as sources only
/// when apply authorizes the ingress.
fn node_group_problems(spec: &Spec, observed: &Observed) -> Vec<String> {
    let network = &spec.network;
    let mut problems = Vec::new();
    let at = |group: &str| {
        spec.locate_node_group(group)
            .map(|at| format!("{at}: "))
            .unwrap_or_default()
    };
    for group in &network.node_security_group_ids {
        if !observed.node_groups.contains_key(group) {
            problems.push(format!(
                "{}node security group {group} not found",
                at(group)
            ));
        }
    }
    for (group, vpc) in &observed.node_groups {
        if *vpc != network.vpc_id {
            let at = at(group);
            problems.push(format!(
                "{at}node security group {group} is in {vpc}, not in network.vpc_id {}; list the swarm nodes' group in {}",
                network.vpc_id, network.vpc_id
            ));
        }
    }
    problems
}

pub(super) fn efs_tag<'a>(tags: &'a [aws_sdk_efs::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == key).map(|t| t.value())
}
