//! Which CSI volume capabilities a volume serves. Swarm turns `--scope` and `--sharing` into
//! one access mode (moby/swarmkit internal/csi/capability): single scope is a single-node
//! mode, `--sharing readonly` a reader-only mode, `onewriter` with multi scope is
//! MULTI_NODE_SINGLE_WRITER, `all` is MULTI_NODE_MULTI_WRITER.
//!
//! Swarm's scheduler keeps a second writing task off a `onewriter` or `none` volume; across
//! nodes the plugin enforces it with the lease rules of `access=single-node`, so a node that
//! Swarm believes free (a task left over after a partition) is refused too.

use tonic::Status;

use super::proto::VolumeCapability;
use super::proto::volume_capability::access_mode::Mode;
use super::proto::volume_capability::{AccessMode, AccessType};
use crate::plugin::options::Access;

/// What a set of capabilities asks of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub access: Access,
    pub read_only: bool,
}

/// The one usage all `capabilities` agree on; a block volume, an unknown mode or a mix of
/// single- and multi-node modes is refused.
pub fn usage(capabilities: &[VolumeCapability]) -> Result<Usage, Status> {
    let mut usages = capabilities.iter().map(usage_of);
    let first = usages
        .next()
        .ok_or_else(|| super::status::missing("volume_capabilities"))??;
    for other in usages {
        let other = other?;
        if other.access != first.access {
            return Err(Status::invalid_argument(
                "volume_capabilities mix single-node and multi-node access modes; ask for one",
            ));
        }
    }
    Ok(first)
}

pub fn usage_of(capability: &VolumeCapability) -> Result<Usage, Status> {
    match capability.access_type {
        Some(AccessType::Mount(_)) => {}
        Some(AccessType::Block(_)) => {
            return Err(Status::invalid_argument(
                "cloudstor volumes are directories on a shared file system, not block devices; \
                 create the volume with --type mount",
            ));
        }
        None => return Err(super::status::missing("volume_capability.access_type")),
    }
    let mode = capability
        .access_mode
        .as_ref()
        .map(AccessMode::mode)
        .unwrap_or(Mode::Unknown);
    let (access, read_only) = match mode {
        Mode::SingleNodeWriter | Mode::SingleNodeSingleWriter | Mode::SingleNodeMultiWriter => {
            (Access::SingleNode, false)
        }
        Mode::SingleNodeReaderOnly => (Access::SingleNode, true),
        Mode::MultiNodeSingleWriter => (Access::SingleNode, false),
        Mode::MultiNodeReaderOnly => (Access::MultiNode, true),
        Mode::MultiNodeMultiWriter => (Access::MultiNode, false),
        Mode::Unknown => {
            return Err(Status::invalid_argument(
                "volume_capability.access_mode is missing or unknown; \
                 set --sharing and --scope on the volume",
            ));
        }
    };
    Ok(Usage { access, read_only })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::csi::proto::volume_capability::{BlockVolume, MountVolume};

    fn capability(mode: Mode) -> VolumeCapability {
        VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume::default())),
            access_mode: Some(AccessMode { mode: mode as i32 }),
        }
    }

    #[test]
    fn swarm_sharing_modes_map_to_lease_rules() {
        let all = usage(&[capability(Mode::MultiNodeMultiWriter)]).unwrap();
        assert_eq!(all.access, Access::MultiNode);
        let onewriter = usage(&[capability(Mode::MultiNodeSingleWriter)]).unwrap();
        assert_eq!(onewriter.access, Access::SingleNode);
        let readonly = usage(&[capability(Mode::MultiNodeReaderOnly)]).unwrap();
        assert!(readonly.read_only);
        assert_eq!(readonly.access, Access::MultiNode);
    }

    #[test]
    fn block_unknown_and_mixed_capabilities_are_refused() {
        let block = VolumeCapability {
            access_type: Some(AccessType::Block(BlockVolume {})),
            ..capability(Mode::MultiNodeMultiWriter)
        };
        assert!(
            usage(&[block])
                .unwrap_err()
                .message()
                .contains("--type mount")
        );
        assert!(usage(&[capability(Mode::Unknown)]).is_err());
        assert!(usage(&[]).is_err());
        let mixed = [
            capability(Mode::SingleNodeWriter),
            capability(Mode::MultiNodeMultiWriter),
        ];
        assert!(usage(&mixed).unwrap_err().message().contains("mix"));
    }
}
