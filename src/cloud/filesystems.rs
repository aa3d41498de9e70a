//! EFS writes: file systems, their lifecycle and backup policies, and mount targets.

use aws_sdk_efs::types::{
    BackupPolicy, LifeCycleState, LifecyclePolicy, Status, Tag, TransitionToArchiveRules,
    TransitionToIaRules, TransitionToPrimaryStorageClassRules,
};

use super::ownership::{Claim, OwnershipError, OwnershipProblem, claim};
use super::{Cloud, CloudError, aws_error, retry_while, wait_until};
use crate::model::{
    APPLIED_TAG, Address, AppliedRecord, FileSystem, Lifecycle, PROTECT_TAG, RESOURCE_TAG,
    STACK_TAG,
};
use crate::spec::{PrimaryTransition, Transition};

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

fn rule(transition: Transition) -> Option<String> {
    match transition {
        Transition::None => None,
        Transition::AfterDays(1) => Some("AFTER_1_DAY".into()),
        Transition::AfterDays(days) => Some(format!("AFTER_{days}_DAYS")),
    }
}

/// One policy per transition, as the API requires; an empty list removes the configuration.
fn lifecycle_policies(lifecycle: &Lifecycle) -> Vec<LifecyclePolicy> {
    let mut policies = Vec::new();
    if let Some(rule) = rule(lifecycle.to_ia) {
        let ia = TransitionToIaRules::from(rule.as_str());
        policies.push(LifecyclePolicy::builder().transition_to_ia(ia).build());
    }
    if let Some(rule) = rule(lifecycle.to_archive) {
        let archive = TransitionToArchiveRules::from(rule.as_str());
        policies.push(
            LifecyclePolicy::builder()
                .transition_to_archive(archive)
                .build(),
        );
    }
    if lifecycle.to_primary == PrimaryTransition::OnFirstAccess {
        let primary = TransitionToPrimaryStorageClassRules::After1Access;
        policies.push(
            LifecyclePolicy::builder()
                .transition_to_primary_storage_class(primary)
                .build(),
        );
    }
    policies
}

fn filesystem_tags(stack: &str, name: &str, fs: &FileSystem) -> Vec<Tag> {
    let address = Address::FileSystem(name.to_owned());
    let applied = AppliedRecord::of(fs, Default::default());
    let mut tags = vec![
        tag("Name", format!("{stack}-{name}")),
        tag(STACK_TAG, stack),
        tag(RESOURCE_TAG, address.to_string()),
        tag(PROTECT_TAG, fs.protect.to_string()),
        tag(APPLIED_TAG, applied.encode()),
    ];
    tags.extend(fs.tags.iter().map(|(k, v)| tag(k, v)));
    tags
}

impl Cloud {
    /// Creates a file system, or adopts the one an interrupted apply already created with the
    /// same CreationToken (it carries this stack's tags from its creation on; a stranger with
    /// the token is refused), then waits for it to become available.
    pub async fn create_filesystem(
        &self,
        stack: &str,
        name: &str,
        fs: &FileSystem,
    ) -> Result<String, CloudError> {
        let address = Address::FileSystem(name.to_owned());
        let created = self
            .efs
            .create_file_system()
            .creation_token(&fs.creation_token)
            .performance_mode(fs.performance_mode.as_str().into())
            .encrypted(fs.encrypted)
            .set_kms_key_id(fs.kms_key_id.clone())
            .throughput_mode(fs.throughput_mode.as_str().into())
            .set_provisioned_throughput_in_mibps(fs.provisioned_throughput_mibps.map(f64::from))
            .set_availability_zone_name(fs.availability_zone.clone())
            .backup(fs.backup)
            .set_tags(Some(filesystem_tags(stack, name, fs)))
            .send()
            .await;
        let (id, state) = match created {
            Ok(output) => (
                output.file_system_id().to_owned(),
                output.life_cycle_state().clone(),
            ),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_file_system_already_exists()) =>
            {
                tracing::info!(%address, token = fs.creation_token, "adopting file system from an earlier apply");
                let id = self
                    .filesystem_by_token(stack, &address, &fs.creation_token)
                    .await?;
                (id, LifeCycleState::Creating)
            }
            Err(error) => return Err(aws_error(&address, "CreateFileSystem")(error)),
        };
        // AWS answers `creating`; poll only when the answer is not already final.
        if state != LifeCycleState::Available {
            self.wait_filesystem_available(&address, &id).await?;
        }
        if fs.lifecycle != Lifecycle::default() {
            self.put_lifecycle(&address, &id, &fs.lifecycle).await?;
        }
        Ok(id)
    }

    async fn filesystem_by_token(
        &self,
        stack: &str,
        address: &Address,
        token: &str,
    ) -> Result<String, CloudError> {
        let found = self
            .efs
            .describe_file_systems()
            .creation_token(token)
            .send()
            .await
            .map_err(aws_error(address, "DescribeFileSystems"))?;
        let Some(holder) = found.file_systems().first() else {
            return Err(CloudError::Aws {
                resource: address.to_string(),
                operation: "CreateFileSystem",
                code: Some("FileSystemAlreadyExists".into()),
                message: format!(
                    "token {token} is taken but no file system carries it; retry shortly"
                ),
            });
        };
        let id = holder.file_system_id().to_owned();
        let problem = match claim(stack, holder) {
            Claim::Ours { name, .. } if Address::FileSystem(name.clone()) == *address => {
                return Ok(id);
            }
            Claim::Ours { name, .. } => OwnershipProblem::TokenTaken {
                address: address.clone(),
                id,
                token: token.to_owned(),
                holder: Address::FileSystem(name),
            },
            Claim::NotOurs => OwnershipProblem::Foreign {
                address: address.clone(),
                id,
                token: token.to_owned(),
            },
        };
        Err(OwnershipError(vec![problem]).into())
    }

    async fn wait_filesystem_available(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<(), CloudError> {
        let resource = address.to_string();
        wait_until(
            &resource,
            self.waits.filesystem,
            self.waits.max_poll_interval,
            || async {
                let found = self
                    .efs
                    .describe_file_systems()
                    .file_system_id(id)
                    .send()
                    .await
                    .map_err(aws_error(address, "DescribeFileSystems"))?;
                let state = found
                    .file_systems()
                    .first()
                    .map(|fs| fs.life_cycle_state().clone());
                Ok(match state {
                    Some(LifeCycleState::Available) => Ok(()),
                    Some(state) => Err(state.as_str().to_owned()),
                    None => Err("not yet visible".to_owned()),
                })
            },
        )
        .await
    }

    pub async fn put_lifecycle(
        &self,
        address: &Address,
        id: &str,
        lifecycle: &Lifecycle,
    ) -> Result<(), CloudError> {
        self.efs
            .put_lifecycle_configuration()
            .file_system_id(id)
            .set_lifecycle_policies(Some(lifecycle_policies(lifecycle)))
            .send()
            .await
            .map_err(aws_error(address, "PutLifecycleConfiguration"))?;
        Ok(())
    }

    pub async fn put_backup(
        &self,
        address: &Address,
        id: &str,
        enabled: bool,
    ) -> Result<(), CloudError> {
        let status = if enabled {
            Status::Enabled
        } else {
            Status::Disabled
        };
        let policy = BackupPolicy::builder()
            .status(status)
            .build()
            .expect("status is set");
        self.efs
            .put_backup_policy()
            .file_system_id(id)
            .backup_policy(policy)
            .send()
            .await
            .map_err(aws_error(address, "PutBackupPolicy"))?;
        Ok(())
    }

    /// Changes throughput mode or provisioned MiB/s. AWS allows one mode change or decrease per
    /// 24 hours and answers TooManyRequests after that; it is surfaced at once, not retried.
    pub async fn update_throughput(
        &self,
        address: &Address,
        id: &str,
        fs: &FileSystem,
    ) -> Result<(), CloudError> {
        self.efs
            .update_file_system()
            .file_system_id(id)
            .throughput_mode(fs.throughput_mode.as_str().into())
            .set_provisioned_throughput_in_mibps(fs.provisioned_throughput_mibps.map(f64::from))
            .send()
            .await
            .map_err(aws_error(address, "UpdateFileSystem"))?;
        self.wait_filesystem_available(address, id).await
    }

    /// Replaces the user's tags and the protection flag, leaving cloudstor's own tags alone.
    pub async fn update_filesystem_tags(
        &self,
        address: &Address,
        id: &str,
        before: &FileSystem,
        after: &FileSystem,
    ) -> Result<(), CloudError> {
        let removed: Vec<String> = before
            .tags
            .keys()
            .filter(|k| !after.tags.contains_key(*k))
            .cloned()
            .collect();
        if !removed.is_empty() {
            self.efs
                .untag_resource()
                .resource_id(id)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(aws_error(address, "UntagResource"))?;
        }
        let mut tags: Vec<Tag> = after.tags.iter().map(|(k, v)| tag(k, v)).collect();
        tags.push(tag(PROTECT_TAG, after.protect.to_string()));
        self.tag_filesystem(address, id, tags).await
    }

    /// Writes cloudstor's own tags: (tag, value) pairs.
    pub async fn retag_filesystem(
        &self,
        address: &Address,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), CloudError> {
        let tags = tags.iter().map(|(key, value)| tag(key, value)).collect();
        self.tag_filesystem(address, id, tags).await
    }

    /// Records what was applied, so later plans can tell drift from spec changes.
    pub async fn record_applied(
        &self,
        address: &Address,
        id: &str,
        record: &AppliedRecord,
    ) -> Result<(), CloudError> {
        self.tag_filesystem(address, id, vec![tag(APPLIED_TAG, record.encode())])
            .await
    }

    async fn tag_filesystem(
        &self,
        address: &Address,
        id: &str,
        tags: Vec<Tag>,
    ) -> Result<(), CloudError> {
        self.efs
            .tag_resource()
            .resource_id(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_error(address, "TagResource"))?;
        Ok(())
    }

    /// Deletes a file system once its mount targets are gone, and waits until it is gone.
    pub async fn delete_filesystem(&self, address: &Address, id: &str) -> Result<(), CloudError> {
        let deleted = retry_while(
            &["FileSystemInUse"],
            self.waits.dependency,
            self.waits.max_poll_interval,
            || async {
                self.efs
                    .delete_file_system()
                    .file_system_id(id)
                    .send()
                    .await
                    .map_err(aws_error(address, "DeleteFileSystem"))
            },
        )
        .await;
        match deleted {
            Err(error) if error.code() == Some("FileSystemNotFound") => return Ok(()),
            other => other?,
        };
        let resource = address.to_string();
        wait_until(
            &resource,
            self.waits.filesystem,
            self.waits.max_poll_interval,
            || async {
                match self
                    .efs
                    .describe_file_systems()
                    .file_system_id(id)
                    .send()
                    .await
                {
                    Ok(found) => Ok(match found.file_systems().first() {
                        Some(fs) if fs.life_cycle_state() != &LifeCycleState::Deleted => {
                            Err(fs.life_cycle_state().as_str().to_owned())
                        }
                        _ => Ok(()),
                    }),
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_file_system_not_found()) =>
                    {
                        Ok(Ok(()))
                    }
                    Err(error) => Err(aws_error(address, "DescribeFileSystems")(error)),
                }
            },
        )
        .await
    }

    /// Creates a mount target, or adopts the one an interrupted apply left in this subnet,
    /// then waits for it to become available.
    pub async fn create_mount_target(
        &self,
        address: &Address,
        filesystem_id: &str,
        subnet_id: &str,
        security_group: &str,
    ) -> Result<String, CloudError> {
        let created = self
            .efs
            .create_mount_target()
            .file_system_id(filesystem_id)
            .subnet_id(subnet_id)
            .security_groups(security_group)
            .send()
            .await;
        let (id, state) = match created {
            Ok(output) => (
                output.mount_target_id().to_owned(),
                output.life_cycle_state().clone(),
            ),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_mount_target_conflict()) =>
            {
                let id = self
                    .mount_target_in(address, filesystem_id, subnet_id)
                    .await?
                    .ok_or_else(|| aws_error(address, "CreateMountTarget")(error))?;
                (id, LifeCycleState::Creating)
            }
            Err(error) => return Err(aws_error(address, "CreateMountTarget")(error)),
        };
        if state != LifeCycleState::Available {
            self.wait_mount_target(address, &id, true).await?;
        }
        Ok(id)
    }

    async fn mount_target_in(
        &self,
        address: &Address,
        filesystem_id: &str,
        subnet_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let found = self
            .efs
            .describe_mount_targets()
            .file_system_id(filesystem_id)
            .send()
            .await
            .map_err(aws_error(address, "DescribeMountTargets"))?;
        Ok(found
            .mount_targets()
            .iter()
            .find(|mt| mt.subnet_id() == subnet_id)
            .map(|mt| mt.mount_target_id().to_owned()))
    }

    pub async fn set_mount_target_group(
        &self,
        address: &Address,
        id: &str,
        security_group: &str,
    ) -> Result<(), CloudError> {
        self.efs
            .modify_mount_target_security_groups()
            .mount_target_id(id)
            .security_groups(security_group)
            .send()
            .await
            .map_err(aws_error(address, "ModifyMountTargetSecurityGroups"))?;
        Ok(())
    }

    /// Deletes a mount target and waits until its network interface is released, since the
    /// security group and the file system cannot be deleted before.
    pub async fn delete_mount_target(&self, address: &Address, id: &str) -> Result<(), CloudError> {
        match self
            .efs
            .delete_mount_target()
            .mount_target_id(id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_mount_target_not_found()) =>
            {
                return Ok(());
            }
            Err(error) => return Err(aws_error(address, "DeleteMountTarget")(error)),
        }
        self.wait_mount_target(address, id, false).await
    }

    async fn wait_mount_target(
        &self,
        address: &Address,
        id: &str,
        want_available: bool,
    ) -> Result<(), CloudError> {
        let resource = address.to_string();
        wait_until(
            &resource,
            self.waits.mount_target,
            self.waits.max_poll_interval,
            || async {
                let found = self
                    .efs
                    .describe_mount_targets()
                    .mount_target_id(id)
                    .send()
                    .await;
                let state = match found {
                    Ok(output) => output
                        .mount_targets()
                        .first()
                        .map(|mt| mt.life_cycle_state().clone()),
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_mount_target_not_found()) =>
                    {
                        None
                    }
                    Err(error) => return Err(aws_error(address, "DescribeMountTargets")(error)),
                };
                Ok(match (want_available, state) {
                    (true, Some(LifeCycleState::Available)) => Ok(()),
                    (false, None | Some(LifeCycleState::Deleted)) => Ok(()),
                    (_, Some(state)) => Err(state.as_str().to_owned()),
                    (true, None) => Err("not yet visible".to_owned()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_is_one_policy_per_transition() {
        let lifecycle = Lifecycle {
            to_ia: Transition::AfterDays(1),
            to_archive: Transition::AfterDays(90),
            to_primary: PrimaryTransition::OnFirstAccess,
        };
        let policies = lifecycle_policies(&lifecycle);
        assert_eq!(policies.len(), 3);
        assert_eq!(
            policies[0].transition_to_ia().unwrap().as_str(),
            "AFTER_1_DAY"
        );
        assert_eq!(
            policies[1].transition_to_archive().unwrap().as_str(),
            "AFTER_90_DAYS"
        );
        assert!(lifecycle_policies(&Lifecycle::default()).is_empty());
    }
}
