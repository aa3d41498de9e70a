//! EC2 writes: the security group that admits the swarm nodes to the mount targets on tcp/2049.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};

use super::{Cloud, CloudError, aws_error, retry_while};
use crate::model::{
    Address, MAX_INGRESS_TAGS, NFS_PORT, RESOURCE_TAG, Rule, STACK_TAG, SecurityGroup, Source,
    ingress_tag_key, ingress_tags,
};

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// One tcp/2049 permission per source: nothing wider than NFS from the nodes.
fn nfs_permission(source: &Source) -> IpPermission {
    permission(&Rule {
        protocol: "tcp".into(),
        from_port: Some(NFS_PORT),
        to_port: Some(NFS_PORT),
        peer: source.clone(),
    })
}

/// The permission that authorizes or revokes exactly `rule`; a description only labels it.
fn permission(rule: &Rule) -> IpPermission {
    let permission = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port);
    let label = "swarm nodes (cloudstor)";
    match &rule.peer {
        Source::Group(id) => {
            permission.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
        Source::Cidr(cidr) if cidr.contains(':') => permission.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .description(label)
                .build(),
        ),
        Source::Cidr(cidr) => {
            permission.ip_ranges(IpRange::builder().cidr_ip(cidr).description(label).build())
        }
        Source::PrefixList(id) => {
            permission.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
        }
    }
    .build()
}

impl Cloud {
    /// Creates the group with its tags in one call (so an interrupted apply finds it), removes
    /// AWS's default allow-all egress, and admits each source on tcp/2049.
    pub async fn create_security_group(
        &self,
        stack: &str,
        group: &SecurityGroup,
    ) -> Result<String, CloudError> {
        let address = Address::SecurityGroup;
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .tags(tag("Name", &group.name))
            .tags(tag(STACK_TAG, stack))
            .tags(tag(RESOURCE_TAG, address.to_string()))
            .build();
        let created = self
            .ec2
            .create_security_group()
            .group_name(&group.name)
            .description(format!(
                "NFS (tcp/2049) to the EFS mount targets of cloudstor stack {stack}"
            ))
            .vpc_id(&group.vpc_id)
            .tag_specifications(tags)
            .send()
            .await
            .map_err(aws_error(&address, "CreateSecurityGroup"))?;
        let id = created.group_id().unwrap_or_default().to_owned();
        self.revoke_default_egress(&id).await?;
        self.update_ingress(&id, &group.ingress, &BTreeSet::new(), &group.ingress)
            .await?;
        Ok(id)
    }

    async fn revoke_default_egress(&self, id: &str) -> Result<(), CloudError> {
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        match self
            .ec2
            .revoke_security_group_egress()
            .group_id(id)
            .ip_permissions(all)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error.as_service_error().and_then(|e| e.meta().code())
                    == Some("InvalidPermission.NotFound") =>
            {
                Ok(())
            }
            Err(error) => Err(aws_error(
                Address::SecurityGroup,
                "RevokeSecurityGroupEgress",
            )(error)),
        }
    }

    /// Authorizes `add`, revokes `remove`, then records `now` as what cloudstor applied.
    pub async fn update_ingress(
        &self,
        id: &str,
        add: &BTreeSet<Source>,
        remove: &BTreeSet<Source>,
        now: &BTreeSet<Source>,
    ) -> Result<(), CloudError> {
        let address = Address::SecurityGroup;
        if !add.is_empty() {
            let authorized = self
                .ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(add.iter().map(nfs_permission).collect()))
                .send()
                .await;
            match authorized {
                Err(error)
                    if error.as_service_error().and_then(|e| e.meta().code())
                        == Some("InvalidPermission.Duplicate") => {}
                other => {
                    other.map_err(aws_error(&address, "AuthorizeSecurityGroupIngress"))?;
                }
            }
        }
        if !remove.is_empty() {
            self.ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(remove.iter().map(nfs_permission).collect()))
                .send()
                .await
                .map_err(aws_error(&address, "RevokeSecurityGroupIngress"))?;
        }
        let parts = ingress_tags(now);
        let written = parts.len();
        self.ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(parts.into_iter().map(|(k, v)| tag(&k, v)).collect()))
            .send()
            .await
            .map_err(aws_error(&address, "CreateTags"))?;
        // Fewer sources may need fewer parts; parts left from before would read as applied.
        if !remove.is_empty() && written < MAX_INGRESS_TAGS {
            let stale = (written + 1..=MAX_INGRESS_TAGS)
                .map(|part| Tag::builder().key(ingress_tag_key(part)).build());
            self.ec2
                .delete_tags()
                .resources(id)
                .set_tags(Some(stale.collect()))
                .send()
                .await
                .map_err(aws_error(&address, "DeleteTags"))?;
        }
        Ok(())
    }

    /// Revokes rules cloudstor did not make: ingress other than tcp/2049 from the spec's
    /// sources, and any egress.
    pub async fn revoke_rules(
        &self,
        id: &str,
        ingress: &BTreeSet<Rule>,
        egress: &BTreeSet<Rule>,
    ) -> Result<(), CloudError> {
        let address = Address::SecurityGroup;
        if !ingress.is_empty() {
            self.ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(ingress.iter().map(permission).collect()))
                .send()
                .await
                .map_err(aws_error(&address, "RevokeSecurityGroupIngress"))?;
        }
        if !egress.is_empty() {
            self.ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(egress.iter().map(permission).collect()))
                .send()
                .await
                .map_err(aws_error(&address, "RevokeSecurityGroupEgress"))?;
        }
        Ok(())
    }

    /// Deletes the group, retrying while released mount-target interfaces still hold it.
    pub async fn delete_security_group(&self, id: &str) -> Result<(), CloudError> {
        let address = Address::SecurityGroup;
        let deleted = retry_while(
            &["DependencyViolation", "InvalidGroup.InUse"],
            self.waits.dependency,
            self.waits.max_poll_interval,
            || async {
                self.ec2
                    .delete_security_group()
                    .group_id(id)
                    .send()
                    .await
                    .map_err(aws_error(&address, "DeleteSecurityGroup"))
            },
        )
        .await;
        match deleted {
            Err(error) if error.code() == Some("InvalidGroup.NotFound") => Ok(()),
            other => other.map(drop),
        }
    }
}
