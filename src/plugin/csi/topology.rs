//! Where a volume can be used. A volume on a One Zone file system is accessible from that
//! file system's zone only (`cloudstor/zone=<zone>`); any other volume from every node, which
//! CSI says with no topology at all. Nodes report their zone in NodeGetInfo.

use std::collections::HashMap;

use tonic::Status;

use super::ZONE_KEY;
use super::proto::{Topology, TopologyRequirement};
use crate::plugin::config::FilesystemConfig;

pub fn of_zone(zone: &str) -> Topology {
    Topology {
        segments: HashMap::from([(ZONE_KEY.to_string(), zone.to_string())]),
    }
}

/// Checks CreateVolume's `accessibility_requirements` against the file system the volume
/// goes to. A key other than `cloudstor/zone` is INVALID_ARGUMENT. A One Zone file system
/// outside every `requisite` topology is RESOURCE_EXHAUSTED, the spec's "unable to
/// provision in accessible_topology". `preferred` alone is a wish: the spec lets the plugin
/// choose another topology, and the response names the one it has.
pub fn check_requirement(
    requirement: Option<&TopologyRequirement>,
    fs: &FilesystemConfig,
) -> Result<(), Status> {
    let Some(requirement) = requirement else {
        return Ok(());
    };
    let asked = requirement.requisite.iter().chain(&requirement.preferred);
    if let Some(key) = asked
        .flat_map(|topology| topology.segments.keys())
        .find(|key| key.as_str() != ZONE_KEY)
    {
        return Err(Status::invalid_argument(format!(
            "topology key {key:?} is not one cloudstor knows; its only key is {ZONE_KEY}"
        )));
    }
    let (Some(zone), false) = (&fs.one_zone, requirement.requisite.is_empty()) else {
        return Ok(());
    };
    let reachable = requirement
        .requisite
        .iter()
        .any(|topology| topology.segments.get(ZONE_KEY).is_none_or(|z| z == zone));
    if reachable {
        return Ok(());
    }
    let required = zones(&requirement.requisite);
    Err(Status::resource_exhausted(format!(
        "file system {} is One Zone in {zone}, outside the required topology ({required}); \
         require {ZONE_KEY}={zone}, or configure a file system in one of those zones",
        fs.id
    )))
}

/// A node may publish a One Zone volume only in that zone. Swarm schedules by the volume's
/// topology, so this refuses what only a stale or wrong node zone would let through; a node
/// that knows no zone is not refused (the mount works across zones, at a transfer cost).
pub fn check_node(
    volume: &str,
    fs: &FilesystemConfig,
    node_zone: Option<&str>,
) -> Result<(), Status> {
    match (&fs.one_zone, node_zone) {
        (Some(zone), Some(node)) if zone != node => Err(Status::failed_precondition(format!(
            "volume {volume} is on One Zone file system {} in {zone}, and this node is in \
             {node}; run the task in {zone} (--topology-required {ZONE_KEY}={zone})",
            fs.id
        ))),
        _ => Ok(()),
    }
}

fn zones(topologies: &[Topology]) -> String {
    let zones: Vec<&str> = topologies
        .iter()
        .filter_map(|topology| topology.segments.get(ZONE_KEY).map(String::as_str))
        .collect();
    zones.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::config::Backend;
    use tonic::Code;

    fn filesystem(one_zone: Option<&str>) -> FilesystemConfig {
        FilesystemConfig {
            id: "fs-1".into(),
            performance_mode: Default::default(),
            backend: Backend::HostPath { path: "/x".into() },
            one_zone: one_zone.map(str::to_string),
        }
    }

    fn requisite(zones: &[&str]) -> TopologyRequirement {
        TopologyRequirement {
            requisite: zones.iter().map(|zone| of_zone(zone)).collect(),
            preferred: Vec::new(),
        }
    }

    #[test]
    fn a_one_zone_file_system_serves_only_requirements_that_include_its_zone() {
        let zonal = filesystem(Some("us-east-1b"));
        let both = requisite(&["us-east-1a", "us-east-1b"]);
        assert!(check_requirement(Some(&both), &zonal).is_ok());
        assert!(check_requirement(None, &zonal).is_ok());
        let elsewhere = requisite(&["us-east-1a", "us-east-1c"]);
        let refused = check_requirement(Some(&elsewhere), &zonal).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            refused.message().contains("us-east-1a, us-east-1c"),
            "{refused:?}"
        );
        let preferred_only = TopologyRequirement {
            requisite: Vec::new(),
            preferred: vec![of_zone("us-east-1a")],
        };
        assert!(check_requirement(Some(&preferred_only), &zonal).is_ok());
        assert!(check_requirement(Some(&elsewhere), &filesystem(None)).is_ok());
    }

    #[test]
    fn unknown_topology_keys_are_refused() {
        let mut region = requisite(&[]);
        region.preferred = vec![Topology {
            segments: HashMap::from([("region".to_string(), "R1".to_string())]),
        }];
        let refused = check_requirement(Some(&region), &filesystem(None)).unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
    }

    #[test]
    fn a_node_in_another_zone_may_not_publish_a_one_zone_volume() {
        let zonal = filesystem(Some("us-east-1b"));
        assert!(check_node("v", &zonal, Some("us-east-1b")).is_ok());
        assert!(check_node("v", &zonal, None).is_ok());
        assert!(check_node("v", &filesystem(None), Some("us-east-1a")).is_ok());
        let refused = check_node("v", &zonal, Some("us-east-1a")).unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
    }
}
