//! The CloudFormation engine: the spec as a template, deployed as a stack through change sets.
//!
//! - [`template`]: spec → template (`serde_json::Value`), JSON or YAML.
//! - [`changes`]: a change set as a person reads it, in the style of `cloudstor plan`.
//! - [`stack`]: create or update the stack through a change set, follow its events to the end,
//!   report a rollback with the resource that failed and why, and delete the stack.

pub mod changes;
pub mod drift;
pub mod replacement;
pub mod stack;
pub mod template;

pub use changes::{ChangeSetView, Replacement, ResourceChangeView, render_change_set};
pub use stack::{
    DeleteOutcome, DeployOutcome, KeptFileSystem, KeptOutside, LaunchTemplateVersion,
    PreparedChangeSet, StackEvent, Stacks,
};
pub use template::{TemplateOptions, build, pascal_case, to_yaml};

use std::collections::BTreeSet;

use crate::cloud::CloudError;

/// A spec that cannot be expressed as a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "file systems `{first}` and `{second}` would both be {logical_id} in the template; rename one of them"
    )]
    LogicalIdClash {
        first: String,
        second: String,
        logical_id: String,
    },
    #[error(
        "file system `{filesystem}` lives in {zone} (One Zone) but none of the subnets {} is known to be in {zone}",
        subnets.join(", ")
    )]
    NoSubnetInZone {
        filesystem: String,
        zone: String,
        subnets: Vec<String>,
    },
    #[error("the node bootstrap for the launch template cannot be rendered")]
    Bootstrap(#[from] crate::bootstrap::BootstrapError),
    #[error(transparent)]
    UserDataTooLarge(#[from] crate::bootstrap::UserDataTooLarge),
}

/// A failed CloudFormation deployment or deletion, with what a user needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum CfnError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error("stack {stack}: {operation} failed: {code}: {message}")]
    Aws {
        stack: String,
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("stack {stack}: change set {change_set} failed: {reason}")]
    ChangeSetFailed {
        stack: String,
        change_set: String,
        reason: String,
    },
    #[error(
        "stack {stack} ended in {status}{}",
        failure.as_ref().map(|f| format!(": {} ({}) failed: {}", f.logical_id, f.resource_type, f.reason)).unwrap_or_default()
    )]
    StackFailed {
        stack: String,
        status: String,
        /// The first resource that failed, which is what started the rollback.
        failure: Option<Box<StackEvent>>,
    },
    #[error("stack {stack} is in {status} and cannot be updated; {hint}")]
    NotUpdatable {
        stack: String,
        status: String,
        hint: &'static str,
    },
    #[error(
        "the change set replaces protected file systems {}: the stack would move on to new, empty ones (and delete the old ones where the spec sets protect = false); switch protection off in an apply of its own first, or pass --allow-data-loss if that is what you want",
        filesystems.join(", ")
    )]
    ProtectedReplacement { filesystems: Vec<String> },
    #[error("stack {stack} does not exist")]
    NoSuchStack { stack: String },
    #[error(
        "stack {stack}: still {status} after {waited:?}; check it in the CloudFormation console"
    )]
    Timeout {
        stack: String,
        status: String,
        waited: std::time::Duration,
    },
}

/// Refuses a change set that replaces a protected file system, as the API engine refuses
/// to, unless the user allows it. Protected means so in AWS (`protected_in_aws`, by spec
/// name, the old one for a file system renamed with `moved_from`) or in the spec: the edit that sets `protect = false` also sets the Delete policies,
/// so it must not replace the file system too. Removals of file systems the spec still
/// protects need no check: `DeletionPolicy: Retain` keeps them and their data.
pub fn check_protection(
    spec: &crate::spec::Spec,
    view: &ChangeSetView,
    protected_in_aws: &BTreeSet<String>,
    allow_data_loss: bool,
) -> Result<(), CfnError> {
    let names = template::LogicalNames::of(spec);
    let filesystems: Vec<String> = spec
        .filesystems
        .iter()
        .filter(|(name, fs)| {
            let in_aws = [Some(*name), fs.moved_from.as_ref()]
                .into_iter()
                .flatten()
                .any(|name| protected_in_aws.contains(name));
            (fs.protect || in_aws) && view.replaces(&names.filesystem(name))
        })
        .map(|(name, _)| format!("filesystem.{name}"))
        .collect();
    if filesystems.is_empty() || allow_data_loss {
        return Ok(());
    }
    Err(CfnError::ProtectedReplacement { filesystems })
}

/// The template for `spec`. Only a One Zone file system needs AWS: its mount target goes in the
/// subnet of its zone, and subnet zones come from EC2 (a read-only call).
pub async fn template_for(
    spec: &crate::spec::Spec,
    cloud: &crate::cloud::Cloud,
    options: TemplateOptions,
) -> Result<serde_json::Value, CfnError> {
    let one_zone = spec
        .filesystems
        .values()
        .any(|fs| fs.availability_zone.is_some());
    let zones = if one_zone {
        cloud.refresh(spec).await?.subnet_zones
    } else {
        Default::default()
    };
    Ok(build(spec, &zones, options)?)
}
