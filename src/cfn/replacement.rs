//! What cloudstor knows about CloudFormation replacements, independently of the change set.
//!
//! A change set's `Replacement` flag is CloudFormation's word on whether a modification builds
//! a new resource, but not every implementation reports it (moto reports none). Protection
//! must not hang on that flag alone, so the properties that force a new resource of each type
//! cloudstor deploys are listed here (CloudFormation User Guide, the "Update requires:
//! Replacement" note of each property) and compared between the deployed and the new template.

use serde_json::Value;

/// Properties whose change makes CloudFormation replace a resource of `resource_type`.
pub fn forcing_properties(resource_type: &str) -> &'static [&'static str] {
    match resource_type {
        "AWS::EFS::FileSystem" => &[
            "PerformanceMode",
            "Encrypted",
            "KmsKeyId",
            "AvailabilityZoneName",
        ],
        "AWS::EFS::MountTarget" => &["FileSystemId", "SubnetId", "IpAddress"],
        "AWS::EC2::SecurityGroup" => &["GroupDescription", "GroupName", "VpcId"],
        _ => &[],
    }
}

/// The properties of `logical_id` that differ between the deployed and the new template and
/// force its replacement. Empty when the resource is new, gone or only updated in place.
pub fn replacing_properties(deployed: &Value, proposed: &Value, logical_id: &str) -> Vec<String> {
    let before = &deployed["Resources"][logical_id];
    let after = &proposed["Resources"][logical_id];
    let Some(resource_type) = after["Type"].as_str() else {
        return Vec::new();
    };
    if before["Type"].as_str() != Some(resource_type) {
        return Vec::new();
    }
    forcing_properties(resource_type)
        .iter()
        .filter(|name| before["Properties"][**name] != after["Properties"][**name])
        .map(|name| (*name).to_owned())
        .collect()
}

/// Whether the deployed template keeps `logical_id` in AWS when the stack lets go of it.
pub fn is_retained(deployed: &Value, logical_id: &str) -> bool {
    deployed["Resources"][logical_id]["DeletionPolicy"]
        .as_str()
        .is_some_and(|policy| policy.starts_with("Retain"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(performance_mode: &str, throughput_mode: &str) -> Value {
        json!({"Resources": {"FileSystemShared": {
            "Type": "AWS::EFS::FileSystem",
            "DeletionPolicy": "Retain",
            "Properties": {
                "Encrypted": true,
                "PerformanceMode": performance_mode,
                "ThroughputMode": throughput_mode,
            },
        }}})
    }

    #[test]
    fn a_performance_mode_change_forces_replacement() {
        let deployed = template("generalPurpose", "bursting");
        let proposed = template("maxIO", "bursting");
        assert_eq!(
            replacing_properties(&deployed, &proposed, "FileSystemShared"),
            ["PerformanceMode"]
        );
    }

    #[test]
    fn in_place_changes_and_new_resources_force_nothing() {
        let deployed = template("generalPurpose", "bursting");
        let proposed = template("generalPurpose", "elastic");
        assert!(replacing_properties(&deployed, &proposed, "FileSystemShared").is_empty());
        assert!(replacing_properties(&json!({}), &proposed, "FileSystemShared").is_empty());
    }

    #[test]
    fn adding_a_kms_key_forces_replacement() {
        let deployed = template("generalPurpose", "bursting");
        let mut proposed = deployed.clone();
        proposed["Resources"]["FileSystemShared"]["Properties"]["KmsKeyId"] = json!("alias/efs");
        assert_eq!(
            replacing_properties(&deployed, &proposed, "FileSystemShared"),
            ["KmsKeyId"]
        );
    }

    #[test]
    fn retain_policies_are_recognised() {
        let deployed = template("generalPurpose", "bursting");
        assert!(is_retained(&deployed, "FileSystemShared"));
        assert!(!is_retained(&deployed, "MountTargetShared"));
    }
}
