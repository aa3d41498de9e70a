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
    let user_data = render_cloudformation_script(&spec(&nodes(""))).unwrap();
    assert_eq!(
        user_data.variables,
        BTreeMap::from([
            ("FsIdFastIo".to_owned(), "fast-io".to_owned()),
            ("FsIdShared".to_owned(), "shared".to_owned()),
        ])
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
        .filter(|piece| !(piece.starts_with("FsId") || piece.starts_with("AWS::")))
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
    assert_eq!(
        node_filesystems(&spec, &observed, "eu-west-1").unwrap(),
        filesystems()
    );
    assert_eq!(
        planned_node_filesystems(&spec, &observed, "eu-west-1"),
        filesystems()
    );
}
