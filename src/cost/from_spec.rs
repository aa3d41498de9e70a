//! Estimates for the file systems of a spec: their throughput mode, provisioned throughput,
//! One Zone placement and lifecycle transitions replace the command-line EFS settings.

use crate::spec::{FileSystemSpec, Spec, Transition};

use super::error::CostError;
use super::scenario::Scenario;

/// One scenario per file system of `spec`, by name, built on `base` (size, traffic, shares,
/// EBS settings). The region is `base`'s: the caller decides between flag, spec and AWS chain.
pub fn scenarios_from_spec(
    spec: &Spec,
    base: &Scenario,
) -> Result<Vec<(String, Scenario)>, CostError> {
    spec.filesystems
        .iter()
        .map(|(name, filesystem)| Ok((name.clone(), scenario_for(name, filesystem, base)?)))
        .collect()
}

fn scenario_for(
    name: &str,
    filesystem: &FileSystemSpec,
    base: &Scenario,
) -> Result<Scenario, CostError> {
    let mut scenario = base.clone();
    let efs = &mut scenario.efs;
    efs.throughput_mode = filesystem.throughput_mode;
    efs.provisioned_mibps = filesystem.provisioned_throughput_mibps.map(f64::from);
    efs.one_zone = filesystem.availability_zone.is_some();
    efs.backup = efs.backup || filesystem.backup;
    let archive = efs.archive_share.fraction();
    let infrequent = 1.0 - efs.standard_share.fraction() - archive;
    if infrequent > 1e-9 && filesystem.transition_to_ia == Transition::None {
        return Err(CostError::ShareWithoutTransition {
            filesystem: name.to_string(),
            class: "Infrequent Access",
            key: "transition_to_ia",
        });
    }
    if archive > 0.0 && filesystem.transition_to_archive == Transition::None {
        return Err(CostError::ShareWithoutTransition {
            filesystem: name.to_string(),
            class: "Archive",
            key: "transition_to_archive",
        });
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cost::size::Share;
    use crate::spec::ThroughputMode;

    const SPEC: &str = r#"
[stack]
name = "swarm-prod"

[network]
vpc_id = "vpc-0abc"
subnet_ids = ["subnet-a"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
throughput_mode = "provisioned"
provisioned_throughput_mibps = 64
transition_to_ia = "30d"

[filesystems.local]
throughput_mode = "bursting"
availability_zone = "us-east-1a"
"#;

    fn base() -> Scenario {
        Scenario::for_test("us-east-1", 100.0)
    }

    #[test]
    fn each_file_system_brings_its_own_efs_settings() {
        let spec = Spec::parse(Path::new("cloudstor.toml"), SPEC).unwrap();
        let scenarios = scenarios_from_spec(&spec, &base()).unwrap();
        let names: Vec<_> = scenarios.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["local", "shared"]);
        let local = &scenarios[0].1.efs;
        assert_eq!(local.throughput_mode, ThroughputMode::Bursting);
        assert!(local.one_zone);
        let shared = &scenarios[1].1.efs;
        assert_eq!(shared.throughput_mode, ThroughputMode::Provisioned);
        assert_eq!(shared.provisioned_mibps, Some(64.0));
        assert!(!shared.one_zone);
    }

    #[test]
    fn a_share_outside_standard_needs_the_transition_in_the_spec() {
        let spec = Spec::parse(Path::new("cloudstor.toml"), SPEC).unwrap();
        let mut base = base();
        base.efs.standard_share = Share::from_fraction(0.5).unwrap();
        let error = scenarios_from_spec(&spec, &base).unwrap_err().to_string();
        assert!(error.contains("file system \"local\""), "{error}");
        assert!(error.contains("transition_to_ia"), "{error}");
    }
}
