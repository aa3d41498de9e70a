//! CreateVolume's parameters (`--opt` on `docker volume create`) and capacity range as the
//! volume options the VolumeDriver protocol stores, so both make the same volumes.

use std::collections::HashMap;

use tonic::Status;

use super::proto::CapacityRange;
use crate::plugin::options::{Access, CapacityRequest, VolumeOptions};

/// The options of a volume asked for with `parameters`, `capacity` and the access the
/// capabilities imply. `access` is not a parameter here: `--sharing` and `--scope` say it.
pub fn volume_options(
    parameters: &HashMap<String, String>,
    capacity: Option<&CapacityRange>,
    access: Access,
) -> Result<VolumeOptions, Status> {
    if parameters.contains_key("access") {
        return Err(Status::invalid_argument(
            "option access is set by --sharing and --scope on a cluster volume; drop --opt access",
        ));
    }
    let mut options = VolumeOptions::parse(parameters)
        .map_err(|err| Status::invalid_argument(err.to_string()))?;
    options.access = access;
    options.capacity = capacity.map(capacity_request).transpose()?.flatten();
    Ok(options)
}

/// `None` when neither bound is given. A bound that cannot be met is OUT_OF_RANGE, as the
/// CSI spec asks; any size can be recorded, since EFS grows without a quota.
fn capacity_request(range: &CapacityRange) -> Result<Option<CapacityRequest>, Status> {
    let bytes = |value: i64, field: &str| {
        u64::try_from(value).map_err(|_| {
            Status::out_of_range(format!("capacity_range.{field} is negative: {value}"))
        })
    };
    let required_bytes = bytes(range.required_bytes, "required_bytes")?;
    let limit_bytes = bytes(range.limit_bytes, "limit_bytes")?;
    if limit_bytes != 0 && required_bytes > limit_bytes {
        return Err(Status::out_of_range(format!(
            "--required-bytes {required_bytes} is more than --limit-bytes {limit_bytes}"
        )));
    }
    let given = required_bytes != 0 || limit_bytes != 0;
    Ok(given.then_some(CapacityRequest {
        required_bytes,
        limit_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_the_volumedriver_options() {
        let range = CapacityRange {
            required_bytes: 1 << 30,
            limit_bytes: 0,
        };
        let options = volume_options(
            &params(&[("uid", "1000"), ("mode", "0750")]),
            Some(&range),
            Access::SingleNode,
        )
        .unwrap();
        assert_eq!(options.uid, Some(1000));
        assert_eq!(options.mode, Some(0o750));
        assert_eq!(options.access, Access::SingleNode);
        assert_eq!(options.capacity.unwrap().required_bytes, 1 << 30);
        assert!(options.describe().contains("not enforced"));
    }

    #[test]
    fn bad_parameters_and_ranges_are_refused() {
        let unknown = volume_options(&params(&[("size", "1")]), None, Access::MultiNode);
        assert!(unknown.unwrap_err().message().contains("valid options"));
        let access = volume_options(
            &params(&[("access", "single-node")]),
            None,
            Access::MultiNode,
        );
        assert!(access.unwrap_err().message().contains("--sharing"));
        let inverted = CapacityRange {
            required_bytes: 10,
            limit_bytes: 5,
        };
        let refused = volume_options(&params(&[]), Some(&inverted), Access::MultiNode);
        assert_eq!(refused.unwrap_err().code(), tonic::Code::OutOfRange);
        let empty = CapacityRange::default();
        let none = volume_options(&params(&[]), Some(&empty), Access::MultiNode).unwrap();
        assert_eq!(none.capacity, None);
    }
}
