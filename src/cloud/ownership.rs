//! Which EFS file systems belong to a stack, and what is wrong when that is unclear.
//!
//! The rule: a file system is the stack's `filesystem.<name>` when its tags say so,
//! `cloudstor:stack = <stack>` and `cloudstor:resource = filesystem.<name>`. The CreationToken
//! `cloudstor:<stack>:<name>` alone proves nothing, since anyone can pass any token to
//! CreateFileSystem; a file system made by hand with it is named by plan and left alone until
//! `cloudstor import` adopts it. The token does count as evidence beside a cloudstor tag: when
//! one of the two ownership tags was removed by hand, the other one (or the
//! `cloudstor:applied` record) together with this stack's token shows the file system is
//! still ours, and the missing tag is drift that apply restores.

use aws_sdk_efs::types::FileSystemDescription;
use serde::Serialize;

use super::refresh::efs_tag;
use crate::model::{APPLIED_TAG, Address, RESOURCE_TAG, STACK_TAG};

/// What a file system is to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Claim {
    /// The stack's `filesystem.<name>`; `lost` names the ownership tags removed since.
    Ours {
        name: String,
        lost: Vec<&'static str>,
    },
    /// Nothing shows cloudstor made it for this stack, whatever its CreationToken.
    NotOurs,
}

/// The name a CreationToken of `stack` gives, if it is one.
pub(super) fn token_name<'a>(stack: &str, token: &'a str) -> Option<&'a str> {
    token
        .strip_prefix("cloudstor:")?
        .strip_prefix(stack)?
        .strip_prefix(':')
}

/// Applies the rule in the module documentation to one file system.
pub(super) fn claim(stack: &str, fs: &FileSystemDescription) -> Claim {
    let tags = fs.tags();
    let stack_tag = efs_tag(tags, STACK_TAG);
    let resource = match efs_tag(tags, RESOURCE_TAG).and_then(Address::parse) {
        Some(Address::FileSystem(name)) => Some(name),
        _ => None,
    };
    let token = token_name(stack, fs.creation_token()).map(str::to_owned);
    let recorded = efs_tag(tags, APPLIED_TAG).is_some();
    let ours = |name: String, lost: Vec<&'static str>| Claim::Ours { name, lost };
    match (stack_tag, resource, token) {
        (Some(s), Some(name), _) if s == stack => ours(name, Vec::new()),
        (Some(s), None, Some(name)) if s == stack => ours(name, vec![RESOURCE_TAG]),
        (None, Some(name), Some(_)) => ours(name, vec![STACK_TAG]),
        (None, None, Some(name)) if recorded => ours(name, vec![STACK_TAG, RESOURCE_TAG]),
        _ => Claim::NotOurs,
    }
}

/// A file system that holds one of the stack's CreationTokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenHolder {
    pub id: String,
    /// Where it is in the stack; `None` when it is not the stack's.
    pub address: Option<Address>,
}

/// One reason cloudstor cannot tell, or must not assume, which file system is its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipProblem {
    #[error(
        "{address}: {id} already has the CreationToken {token}, but cloudstor did not create it (it carries no cloudstor:stack or cloudstor:resource tag of this stack), so cloudstor leaves it alone. To manage it, run `cloudstor import {address} {id}`; to keep it out of the stack, give {address} another name in the spec"
    )]
    Foreign {
        address: Address,
        id: String,
        token: String,
    },
    #[error(
        "{address}: its CreationToken {token} is still held by {id}, which the stack knows as {holder} (renamed with moved_from); a CreationToken cannot change, so give {address} another name in the spec"
    )]
    TokenTaken {
        address: Address,
        id: String,
        token: String,
        holder: Address,
    },
    #[error(
        "{address} is claimed by {} file systems: {}; cloudstor will not guess which one holds the data. Keep the one you mean and take the claim off the others with `aws efs untag-resource --resource-id {} --tag-keys cloudstor:stack cloudstor:resource` (or delete them), then plan again",
        claimants.len(),
        claimants.iter().map(|(id, token)| format!("{id} (CreationToken {token})")).collect::<Vec<_>>().join(", "),
        untag_hint(address, claimants)
    )]
    Claimed {
        address: Address,
        /// (id, CreationToken) of each claimant.
        claimants: Vec<(String, String)>,
    },
}

/// The claimants to untag: those without the address's own CreationToken when one has it.
fn untag_hint(address: &Address, claimants: &[(String, String)]) -> String {
    let Address::FileSystem(name) = address else {
        return "FS-ID".to_owned();
    };
    let suffix = format!(":{name}");
    let own = |token: &str| token.starts_with("cloudstor:") && token.ends_with(&suffix);
    let others: Vec<&str> = claimants
        .iter()
        .filter(|(_, token)| !own(token))
        .map(|(id, _)| id.as_str())
        .collect();
    if others.is_empty() || others.len() == claimants.len() {
        "FS-ID".to_owned()
    } else {
        others.join(" / ")
    }
}

/// Every ownership problem a plan found, reported together so one round of fixes suffices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cloudstor changes only file systems it can tell are its own:\n{}",
    .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
)]
pub struct OwnershipError(pub Vec<OwnershipProblem>);

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_efs::types::{LifeCycleState, PerformanceMode, Tag};

    fn fs(token: &str, tags: &[(&str, &str)]) -> FileSystemDescription {
        FileSystemDescription::builder()
            .owner_id("1")
            .creation_token(token)
            .file_system_id("fs-1")
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .life_cycle_state(LifeCycleState::Available)
            .number_of_mount_targets(0)
            .performance_mode(PerformanceMode::GeneralPurpose)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    }

    fn ours(name: &str, lost: &[&'static str]) -> Claim {
        Claim::Ours {
            name: name.into(),
            lost: lost.to_vec(),
        }
    }

    #[test]
    fn tags_prove_ownership_and_a_token_alone_does_not() {
        let stack = ("cloudstor:stack", "demo");
        let resource = ("cloudstor:resource", "filesystem.data");
        let token = "cloudstor:demo:data";
        assert_eq!(
            claim("demo", &fs(token, &[stack, resource])),
            ours("data", &[])
        );
        assert_eq!(
            claim("demo", &fs("restored", &[stack, resource])),
            ours("data", &[])
        );
        assert_eq!(claim("demo", &fs(token, &[])), Claim::NotOurs);
        assert_eq!(
            claim("demo", &fs(token, &[("cloudstor:stack", "other")])),
            Claim::NotOurs
        );
        assert_eq!(claim("demo", &fs("by-hand", &[resource])), Claim::NotOurs);
    }

    #[test]
    fn a_lost_tag_is_restored_when_the_token_and_another_tag_agree() {
        let token = "cloudstor:demo:data";
        let resource = ("cloudstor:resource", "filesystem.data");
        assert_eq!(
            claim("demo", &fs(token, &[resource])),
            ours("data", &[STACK_TAG])
        );
        assert_eq!(
            claim("demo", &fs(token, &[("cloudstor:stack", "demo")])),
            ours("data", &[RESOURCE_TAG])
        );
        assert_eq!(
            claim("demo", &fs(token, &[("cloudstor:applied", "tm=elastic")])),
            ours("data", &[STACK_TAG, RESOURCE_TAG])
        );
    }

    #[test]
    fn token_names_belong_to_one_stack() {
        assert_eq!(token_name("demo", "cloudstor:demo:data"), Some("data"));
        assert_eq!(token_name("demo", "cloudstor:demo2:data"), None);
        assert_eq!(token_name("demo", "made-by-hand"), None);
    }
}
