//! `cloudstor import`: adopting, on request, a file system cloudstor did not create.
//!
//! Plan never takes over a file system on its own (see [`crate::cloud::OwnershipProblem`]).
//! Import compares the file system with the spec first: a difference that only a replacement
//! could remove (performance mode, encryption, KMS key, One Zone Availability Zone) is refused,
//! since the next apply would destroy the data it was asked to keep. Every other difference is
//! an ordinary in-place update in the next plan. Import then writes the ownership tags, so
//! refresh finds the file system, and `cloudstor:protect = true`: data cloudstor did not create
//! is never destroyed without switching protection off in an apply of its own.

use crate::cloud::{Cloud, CloudError};
use crate::model::{Address, Desired, FileSystem, PROTECT_TAG, RESOURCE_TAG, Resource, STACK_TAG};
use crate::spec::Spec;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub address: Address,
    pub id: String,
    /// The stack had this file system at this address already; nothing was written.
    pub already: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "`{0}` is not a file system address; write filesystem.NAME, as in `cloudstor import filesystem.shared fs-0123456789abcdef0`"
    )]
    Address(String),
    #[error(
        "{address} is not in {spec}; add [filesystems.{name}] to the spec first, so import can compare it with {id}"
    )]
    NotInSpec {
        address: Address,
        name: String,
        spec: String,
        id: String,
    },
    #[error(
        "{id}: no such file system in this region; list them with `aws efs describe-file-systems`"
    )]
    NotFound { id: String },
    #[error(
        "cannot import {id} as {address}: it belongs to {owner} already; import adopts only file systems no cloudstor stack manages"
    )]
    Owned {
        id: String,
        address: Address,
        owner: String,
    },
    #[error(
        "cannot import {id} as {address}: the stack has {existing} there already; remove [filesystems.{name}] from the spec or import under another name"
    )]
    Occupied {
        id: String,
        address: Address,
        name: String,
        existing: String,
    },
    #[error(
        "cannot import {id} as {address}: it differs from the spec in what cannot change without replacing it (forces replacement), and a replacement would destroy its data:\n{}\nChange the spec to match the file system, then import again.",
        .differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    Replacement {
        id: String,
        address: Address,
        differences: Vec<String>,
    },
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// Adopts file system `id` as `address` (`filesystem.NAME` of `spec`).
pub async fn import(
    cloud: &Cloud,
    spec: &Spec,
    address: &str,
    id: &str,
) -> Result<Imported, ImportError> {
    let Some(Address::FileSystem(name)) = Address::parse(address) else {
        return Err(ImportError::Address(address.to_owned()));
    };
    let address = Address::FileSystem(name.clone());
    let observed = cloud.refresh(spec).await?;
    let desired = Desired::from_spec(spec, &observed.subnet_zones);
    let Some(Resource::FileSystem(wanted)) = desired.resources.get(&address) else {
        return Err(ImportError::NotInSpec {
            address,
            name,
            spec: spec.origin_path(),
            id: id.to_owned(),
        });
    };
    if let Some(existing) = observed.resources.get(&address).and_then(Resource::id) {
        if existing == id {
            return Ok(Imported {
                address,
                id: id.to_owned(),
                already: true,
            });
        }
        return Err(ImportError::Occupied {
            id: id.to_owned(),
            address,
            name,
            existing: existing.to_owned(),
        });
    }
    let Some((actual, stack, resource)) = cloud.describe_filesystem(id).await? else {
        return Err(ImportError::NotFound { id: id.to_owned() });
    };
    if stack.is_some() || resource.is_some() {
        let owner = format!(
            "{} of stack {}",
            resource.as_deref().unwrap_or("a resource"),
            stack.as_deref().unwrap_or("(untagged)")
        );
        return Err(ImportError::Owned {
            id: id.to_owned(),
            address,
            owner,
        });
    }
    let differences = fixed_differences(spec, &name, wanted, &actual);
    if !differences.is_empty() {
        return Err(ImportError::Replacement {
            id: id.to_owned(),
            address,
            differences,
        });
    }
    let tags = [
        (STACK_TAG, spec.stack.name.clone()),
        (RESOURCE_TAG, address.to_string()),
        (PROTECT_TAG, "true".to_owned()),
    ]
    .map(|(tag, value)| (tag.to_owned(), value));
    cloud.retag_filesystem(&address, id, &tags).await?;
    Ok(Imported {
        address,
        id: id.to_owned(),
        already: false,
    })
}

/// The attributes fixed at creation in which the file system differs from the spec, each with
/// where the spec says so. A spec without `kms_key_id` accepts whichever key AWS chose.
fn fixed_differences(
    spec: &Spec,
    name: &str,
    wanted: &FileSystem,
    actual: &FileSystem,
) -> Vec<String> {
    let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "none (Regional)".into());
    let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
    let mut compared = vec![
        (
            "performance_mode",
            actual.performance_mode.as_str().to_owned(),
            wanted.performance_mode.as_str().to_owned(),
        ),
        (
            "encrypted",
            actual.encrypted.to_string(),
            wanted.encrypted.to_string(),
        ),
        (
            "availability_zone",
            zone(&actual.availability_zone),
            zone(&wanted.availability_zone),
        ),
    ];
    if wanted.kms_key_id.is_some() {
        compared.push((
            "kms_key_id",
            key(&actual.kms_key_id),
            key(&wanted.kms_key_id),
        ));
    }
    compared
        .into_iter()
        .filter(|(_, is, want)| is != want)
        .map(|(attribute, is, want)| {
            let at = spec
                .locate_filesystem_key(name, attribute)
                .map(|at| format!(" ({at})"))
                .unwrap_or_default();
            format!("{attribute}: {is} in AWS, {want} in the spec{at}")
        })
        .collect()
}
