use std::path::Path;

use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn spec(nodes: &str) -> Spec {
    let text = format!(
        r#"
[stack]
name = "swarm-prod"
region = "eu-west-1"

[network]
vpc_id = "vpc-0abc"
subnet_ids = ["subnet-a"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
performance_mode = "generalPurpose"

[filesystems.fast-io]
performance_mode = "maxIO"
throughput_mode = "bursting"

{nodes}
"#
    );
    Spec::parse(Path::new("cloudstor.toml"), &text).unwrap()
}

fn nodes(extra: &str) -> String {
    format!(
        "[nodes]\nlaunch_template_name = \"swarm-nodes\"\nplugin_url = \"https://example.com/it's/plugin\"\nplugin_sha256 = \"{}\"\n{extra}",
        SHA.to_ascii_uppercase()
    )
}

fn filesystems() -> Vec<NodeFileSystem> {
    vec![
        NodeFileSystem::efs("fast-io", "fs-0fast", "eu-west-1", PerformanceMode::MaxIo),
        NodeFileSystem::efs(
            "shared",
            "fs-0shared",
            "eu-west-1",
            PerformanceMode::GeneralPurpose,
        ),
    ]
}

#[test]
fn the_script_carries_ids_dns_names_url_and_lowercase_sha() {
    let script = render_script(&spec(&nodes("")), &filesystems()).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"));
    assert!(script.contains("id = \"fs-0shared\""));
    assert!(script.contains("dns_name = \"fs-0fast.efs.eu-west-1.amazonaws.com\""));
    assert!(script.contains("performance_mode = \"maxIO\""));
    assert!(script.contains(r"PLUGIN_URL='https://example.com/it'\''s/plugin'"));
    assert!(script.contains(&format!("PLUGIN_SHA256={SHA}\n")));
    assert!(
        script.contains("Before=docker.service"),
        "the unit is inlined"
    );
    assert!(!script.contains("docker plugin create"));
}

#[test]
fn managed_mode_sets_the_plugin_env_instead_of_a_unit() {
    let spec = spec(&nodes("install_mode = \"managed\"\n"));
    let script = render_script(&spec, &filesystems()).unwrap();
    assert!(script.contains("docker plugin create \"$PLUGIN_NAME\""));
    assert!(script.contains(
        "PLUGIN_SETTINGS='EFS_ID_MAXIO=fs-0fast EFS_DNS_MAXIO=fs-0fast.efs.eu-west-1.amazonaws.com \
         EFS_ID_GENERAL_PURPOSE=fs-0shared"
    ));
    assert!(!script.contains("cloudstor-plugin.service"));
}

#[test]
fn mount_target_addresses_reach_both_install_modes() {
    let ips = BTreeMap::from([
        ("eu-west-1a".to_owned(), "10.0.1.5".to_owned()),
        ("eu-west-1b".to_owned(), "10.0.2.7".to_owned()),
    ]);
    let with_ips: Vec<NodeFileSystem> = filesystems()
        .into_iter()
        .map(|fs| fs.with_mount_target_ips(ips.clone()))
        .collect();
    let systemd = render_script(&spec(&nodes("")), &with_ips).unwrap();
    let table = r#"mount_target_ips = { "eu-west-1a" = "10.0.1.5", "eu-west-1b" = "10.0.2.7" }"#;
    assert_eq!(systemd.matches(table).count(), 2, "{systemd}");
    let managed = render_script(&spec(&nodes("install_mode = \"managed\"\n")), &with_ips).unwrap();
    assert!(managed.contains(
        "EFS_DNS_MAXIO=fs-0fast.efs.eu-west-1.amazonaws.com \
         EFS_MOUNT_TARGET_IPS_MAXIO=eu-west-1a=10.0.1.5,eu-west-1b=10.0.2.7 EFS_ID_GENERAL_PURPOSE"
    ));
    assert!(
        managed.contains(
            "EFS_MOUNT_TARGET_IPS_GENERAL_PURPOSE=eu-west-1a=10.0.1.5,eu-west-1b=10.0.2.7'"
        )
    );
    let mut unsafe_zone = with_ips;
    unsafe_zone[0].mount_target_ips = BTreeMap::from([("a\"; rm -rf /".into(), "10.0.0.1".into())]);
    assert!(matches!(
        render_script(&spec(&nodes("")), &unsafe_zone),
        Err(BootstrapError::UnsafeValue {
            what: "Availability Zone",
            ..
        })
    ));
}

#[test]
fn extra_user_data_comes_last() {
    let spec = spec(&nodes("extra_user_data = \"echo hello from extra\"\n"));
    let script = render_script(&spec, &filesystems()).unwrap();
    assert!(script.ends_with("\nmain\n\n# extra_user_data from [nodes]:\necho hello from extra\n"));
}

#[test]
fn without_a_nodes_section_there_is_no_script() {
    let err = render_script(&spec(""), &filesystems()).unwrap_err();
    assert!(matches!(err, BootstrapError::NoNodesSection));
}

#[test]
fn two_file_systems_of_one_mode_are_refused() {
    let mut both_general = filesystems();
    both_general[0].performance_mode = PerformanceMode::GeneralPurpose;
    let err = render_script(&spec(&nodes("")), &both_general).unwrap_err();
    assert_eq!(
        err.to_string(),
        "file systems fast-io and shared are both generalPurpose; the plugin picks a file system by performance mode, so keep one of each"
    );
}

#[test]
fn an_id_that_could_break_out_of_quotes_is_refused() {
    let mut evil = filesystems();
    evil[1].id = "fs-1'; rm -rf /".into();
    let err = render_script(&spec(&nodes("")), &evil).unwrap_err();
    assert!(matches!(
        err,
        BootstrapError::UnsafeValue {
            what: "file system id",
            ..
        }
    ));
}

#[test]
fn cloudformation_form_keeps_fs_variables_and_escapes_the_shell() {
    let zoned = ZonedMountTarget {
        filesystem: "shared".into(),
        subnet: "subnet-a".into(),
        zone: "eu-west-1a".into(),
    };
    let user_data = render_cloudformation_script(&spec(&nodes("")), &[zoned]).unwrap();
    let ip = SubVariable::MountTargetIp {
        filesystem: "shared".into(),
        subnet: "subnet-a".into(),
    };
    assert_eq!(
        user_data.variables,
        BTreeMap::from([
            (
                "FsIdFastIo".to_owned(),
                SubVariable::FileSystemId("fast-io".into())
            ),
            (
                "FsIdShared".to_owned(),
                SubVariable::FileSystemId("shared".into())
            ),
            ("MountTargetIpSharedSubnetA".to_owned(), ip),
        ])
    );
    assert!(
        user_data
            .body
            .contains(r#"mount_target_ips = { "eu-west-1a" = "${MountTargetIpSharedSubnetA}" }"#),
        "{}",
        user_data.body
    );
    let body = &user_data.body;
    assert!(body.contains("id = \"${FsIdShared}\""));
    assert!(body.contains("dns_name = \"${FsIdFastIo}.efs.${AWS::Region}.${AWS::URLSuffix}\""));
    assert!(
        body.contains("\"${!ID:-} ${!ID_LIKE:-}\""),
        "shell expansions escaped"
    );
    let unescaped_shell = body
        .split("${")
        .skip(1)
        .filter(|piece| !piece.starts_with('!'))
        .filter(|piece| {
            !["FsId", "AWS::", "MountTargetIp"]
                .iter()
                .any(|v| piece.starts_with(v))
        })
        .count();
    assert_eq!(unescaped_shell, 0);
}

#[test]
fn cloudformation_variables_are_alphanumeric() {
    assert_eq!(cloudformation_variable("shared"), "FsIdShared");
    assert_eq!(cloudformation_variable("fast-io_2"), "FsIdFastIo2");
}

#[test]
fn node_filesystems_come_from_refresh_or_say_apply_first() {
    let spec = spec(&nodes(""));
    let mut observed = Observed::default();
    let err = node_filesystems(&spec, &observed, "eu-west-1").unwrap_err();
    let planned = planned_node_filesystems(&spec, &observed, "eu-west-1");
    assert_eq!(planned[0].id, ID_KNOWN_AFTER_APPLY);
    assert_eq!(ID_KNOWN_AFTER_APPLY.len(), "fs-0123456789abcdef0".len());
    assert!(render_script(&spec, &planned).is_ok());
    assert_eq!(
        err.to_string(),
        "file system fast-io does not exist yet; run `cloudstor apply` first"
    );
    for (name, id) in [("shared", "fs-0shared"), ("fast-io", "fs-0fast")] {
        let desired = crate::model::Desired::from_spec(&spec, &BTreeMap::new());
        let Some(Resource::FileSystem(mut fs)) = desired
            .resources
            .get(&Address::FileSystem(name.into()))
            .cloned()
        else {
            panic!("{name} is desired");
        };
        fs.id = Some(id.into());
        observed
            .resources
            .insert(Address::FileSystem(name.into()), Resource::FileSystem(fs));
    }
    let err = node_filesystems(&spec, &observed, "eu-west-1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the mount target of file system fast-io in subnet-a does not exist yet; run `cloudstor apply` first"
    );
    let planned = planned_node_filesystems(&spec, &observed, "eu-west-1");
    assert_eq!(
        planned[0].mount_target_ips,
        BTreeMap::from([("subnet-a".to_owned(), IP_KNOWN_AFTER_APPLY.to_owned())]),
        "a target to be created stands in with the longest address"
    );
    assert!(!all_known(&planned));
    for (name, ip) in [("shared", "10.0.1.5"), ("fast-io", "10.0.1.6")] {
        let target = MountTarget {
            id: Some(format!("fsmt-{name}")),
            filesystem: name.into(),
            filesystem_id: None,
            subnet_id: "subnet-a".into(),
            security_groups: None,
            availability_zone: Some("eu-west-1a".into()),
            ip_address: Some(ip.into()),
        };
        let address = Address::MountTarget {
            filesystem: name.into(),
            subnet: "subnet-a".into(),
        };
        observed
            .resources
            .insert(address, Resource::MountTarget(target));
    }
    let expected: Vec<NodeFileSystem> = filesystems()
        .into_iter()
        .zip(["10.0.1.6", "10.0.1.5"])
        .map(|(fs, ip)| fs.with_mount_target_ips([("eu-west-1a".into(), ip.into())].into()))
        .collect();
    assert_eq!(
        node_filesystems(&spec, &observed, "eu-west-1").unwrap(),
        expected
    );
    let planned = planned_node_filesystems(&spec, &observed, "eu-west-1");
    assert_eq!(planned, expected);
    assert!(all_known(&planned));
}
