//! The plugin's errors as gRPC status codes, chosen as the CSI spec lists them per RPC; the
//! message is the error's own, which says what to do next.

use tonic::{Code, Status};

use crate::plugin::error::Error;

pub fn from_error(err: Error) -> Status {
    let code = match &err {
        Error::Name(_) | Error::Option(_) | Error::NoFilesystem { .. } => Code::InvalidArgument,
        Error::NotFound { .. } => Code::NotFound,
        Error::OptionsConflict { .. } => Code::AlreadyExists,
        Error::InUseHere { .. }
        | Error::InUseElsewhere { .. }
        | Error::SingleNodeBusy { .. }
        | Error::Conflict { .. } => Code::FailedPrecondition,
        // The volume exists but belongs to the VolumeDriver plugin: NOT_FOUND would tell
        // Swarm a DeleteVolume is done (the spec's OK for a missing volume) or that the
        // volume is gone, while FAILED_PRECONDITION says it is there and needs an operator.
        // CreateVolume answers ALREADY_EXISTS instead (see `controller`).
        Error::ClusterVolume { .. } | Error::NotClusterVolume { .. } => Code::FailedPrecondition,
        Error::Timeout { .. }
        | Error::Unavailable { .. }
        | Error::Mount { .. }
        | Error::MountServer { .. }
        | Error::NotMounted { .. }
        | Error::StoreMissing { .. } => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(code, err.to_string())
}

/// A required field the request left empty.
pub fn missing(field: &str) -> Status {
    Status::invalid_argument(format!("{field} is missing from the request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_codes_the_csi_spec_names() {
        let not_found = from_error(Error::NotFound { volume: "v".into() });
        assert_eq!(not_found.code(), Code::NotFound);
        let conflict = from_error(Error::OptionsConflict {
            volume: "v".into(),
            existing: "a".into(),
            requested: "b".into(),
        });
        assert_eq!(conflict.code(), Code::AlreadyExists);
        let busy = from_error(Error::SingleNodeBusy {
            volume: "v".into(),
            node: "n".into(),
        });
        assert_eq!(busy.code(), Code::FailedPrecondition);
        assert!(busy.message().contains("mounted on node n"), "{busy:?}");
    }
}
