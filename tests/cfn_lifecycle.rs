//! What happens after the first CloudFormation deployment, against moto: replacements that
//! cloudstor refuses whatever the change set's flag says (moto reports none), the node launch
//! template's default version moved to the new one, and protected file systems that leave the
//! stack shown and listed as kept rather than destroyed.

mod common;

use std::path::Path;

use aws_sdk_efs::types::Tag;
use cloudstor::cfn::changes::ChangeKind;
use cloudstor::cfn::{
    CfnError, DeployOutcome, KeptOutside, TemplateOptions, check_protection, render_change_set,
};
use cloudstor::spec::Spec;
use common::{
    CfnHarness as Harness, Network, cfn_harness as harness, mount_target_addresses,
    mount_target_ips_toml,
};

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn spec(text: &str) -> Spec {
    Spec::parse(Path::new("cloudstor.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

async fn deploy(h: &Harness, spec: &Spec) -> DeployOutcome {
    let prepared = h
        .stacks
        .prepare(spec, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.stacks
        .execute(&prepared, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn performance_mode(h: &Harness, id: &str) -> String {
    let efs = aws_sdk_efs::Client::new(&h.config);
    let found = efs
        .describe_file_systems()
        .file_system_id(id)
        .send()
        .await
        .unwrap();
    found.file_systems()[0]
        .performance_mode()
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn a_performance_mode_change_on_a_protected_file_system_is_refused_without_the_flag() {
    let h = harness().await;
    let general = "[filesystems.shared]\nthroughput_mode = \"bursting\"\n";
    let before = spec(&h.network.spec("cfn-protect", 2, general));
    let deployed = deploy(&h, &before).await;
    let shared = deployed.filesystems().next().unwrap().physical_id.clone();

    let text =
        "[filesystems.shared]\nthroughput_mode = \"bursting\"\nperformance_mode = \"maxIO\"\n";
    let after = spec(&h.network.spec("cfn-protect", 2, text));
    let prepared = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let change = prepared
        .view
        .changes
        .iter()
        .find(|c| c.logical_id == "FileSystemShared")
        .expect("the file system is modified");
    assert_eq!(
        change.kind,
        ChangeKind::Modify(cloudstor::cfn::Replacement::Always),
        "cloudstor knows PerformanceMode forces a replacement, whatever moto reports"
    );
    let rendered = render_change_set("cfn-protect", &prepared.view);
    assert!(
        rendered.contains("-/+ FileSystemShared\n      ~ PerformanceMode # forces replacement\n"),
        "{rendered}"
    );
    let refused = check_protection(&after, &prepared.view, &prepared.protected, false)
        .expect_err("a protected file system is not replaced without --allow-data-loss");
    assert!(
        matches!(&refused, CfnError::ProtectedReplacement { filesystems } if filesystems == &["filesystem.shared"]),
        "{refused:?}"
    );
    h.stacks.discard(&prepared).await.unwrap();
    assert_eq!(performance_mode(&h, &shared).await, "generalPurpose");

    let allowed = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap();
    check_protection(&after, &allowed.view, &allowed.protected, true)
        .expect("--allow-data-loss lets the replacement through");
}

fn nodes_spec(network: &Network, stack: &str, plugin_url: &str) -> String {
    let filesystems = format!(
        "[filesystems.shared]\nprotect = false\n\n[nodes]\nlaunch_template_name = \"{stack}-nodes\"\nos_family = \"debian\"\nplugin_url = \"{plugin_url}\"\nplugin_sha256 = \"{SHA}\"\n"
    );
    network.spec(stack, 2, &filesystems)
}

#[tokio::test]
async fn a_new_launch_template_version_becomes_the_default_after_the_update() {
    let h = harness().await;
    let first = spec(&nodes_spec(
        &h.network,
        "cfn-nodes",
        "https://example.com/v1",
    ));
    let created = deploy(&h, &first).await;
    let template = created
        .launch_template
        .clone()
        .expect("the stack has a launch template");
    assert_eq!((template.version, template.default_moved), (1, false));

    let second = spec(&nodes_spec(
        &h.network,
        "cfn-nodes",
        "https://example.com/v2",
    ));
    let prepared = h
        .stacks
        .prepare(&second, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = render_change_set("cfn-nodes", &prepared.view);
    assert!(
        plan.contains("Note: NodeLaunchTemplate gets a new version; cloudstor makes it the default version once the change set has executed"),
        "{plan}"
    );
    assert!(
        plan.contains("Note: Running nodes keep the user data they booted with")
            && plan.contains("aws autoscaling start-instance-refresh"),
        "{plan}"
    );
    let updated = h
        .stacks
        .execute(&prepared, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let template = updated.launch_template.clone().unwrap();
    assert_eq!((template.version, template.default_moved), (2, true));
    assert!(
        updated
            .to_string()
            .contains("default version 2 (made the default by cloudstor)"),
        "{updated}"
    );

    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let described = ec2
        .describe_launch_templates()
        .launch_template_ids(&template.id)
        .send()
        .await
        .unwrap();
    let described = &described.launch_templates()[0];
    assert_eq!(described.default_version_number(), Some(2));
    assert_eq!(described.latest_version_number(), Some(2));
    let default = ec2
        .describe_launch_template_versions()
        .launch_template_id(&template.id)
        .versions("$Default")
        .send()
        .await
        .unwrap();
    let data = default.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    let user_data = cloudstor::bootstrap::decode_launch_template_user_data(
        data.user_data().unwrap_or_default(),
    )
    .unwrap();
    assert!(
        user_data.contains("https://example.com/v2"),
        "$Default launches nodes with the new script"
    );
    let addresses = mount_target_addresses(&h.config).await;
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    let line = mount_target_ips_toml(&addresses);
    assert!(
        user_data.contains(&line),
        "nodes learn each mount target's address by zone: {line}\n{user_data}"
    );
}

#[tokio::test]
async fn a_protected_file_system_removed_from_the_spec_is_shown_and_listed_as_kept() {
    let h = harness().await;
    let both = "[filesystems.shared]\n\n[filesystems.scratch]\nprotect = false\n";
    deploy(&h, &spec(&h.network.spec("cfn-keep", 1, both))).await;

    let scratch_only = "[filesystems.scratch]\nprotect = false\n";
    let after = spec(&h.network.spec("cfn-keep", 1, scratch_only));
    let prepared = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = render_change_set("cfn-keep", &prepared.view);
    assert!(
        plan.contains(
            "  # FileSystemShared (AWS::EFS::FileSystem) will be removed from the stack and kept\n  < FileSystemShared\n"
        ),
        "{plan}"
    );
    assert!(
        !plan.contains("will be destroyed\n  - FileSystemShared"),
        "{plan}"
    );
    assert!(
        plan.ends_with(
            "Change set: 0 to add, 0 to change, 1 to destroy, 1 to keep outside the stack.\n"
        ),
        "the mount target goes, the file system stays: {plan}"
    );
    h.stacks.execute(&prepared, &mut |_| {}).await.unwrap();
    // moto deletes a retained resource on update (CloudFormation keeps it), so what
    // CloudFormation would have kept is made here: a file system with the stack's tags.
    let efs = aws_sdk_efs::Client::new(&h.config);
    let kept_id = efs
        .create_file_system()
        .creation_token("kept-by-retain")
        .tags(
            Tag::builder()
                .key("cloudstor:stack")
                .value("cfn-keep")
                .build()
                .unwrap(),
        )
        .tags(
            Tag::builder()
                .key("cloudstor:resource")
                .value("filesystem.shared")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .file_system_id()
        .to_owned();

    let kept = h.stacks.kept_outside("cfn-keep").await.unwrap();
    let listed: Vec<(&str, &str)> = kept
        .iter()
        .map(|fs| (fs.address.as_str(), fs.id.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("filesystem.shared", kept_id.as_str())],
        "the file systems the stack holds (scratch) are not listed"
    );
    assert_eq!(
        KeptOutside(&kept).to_string(),
        format!(
            "Kept outside the stack by DeletionPolicy: Retain (their data is kept, and still billed; delete them in EFS when no longer needed):\n  filesystem.shared {kept_id}\n"
        )
    );

    h.stacks.delete("cfn-keep", &mut |_| {}).await.unwrap();
    let after_delete = h.stacks.kept_outside("cfn-keep").await.unwrap();
    assert_eq!(
        after_delete, kept,
        "still listed once the stack is gone; scratch (protect = false) went with it"
    );
}

/// A rename with `moved_from` keeps the file system: its logical id stays the old name's, so
/// the change set only modifies it (its tags: no replacement, nothing removed), where the same
/// rename without `moved_from` takes it out of the stack. moto executes such an update without
/// applying the new tags (CloudFormation updates `FileSystemTags` in place), so after it the
/// test checks only that the file system, and its data, are still there.
#[tokio::test]
async fn a_file_system_renamed_with_moved_from_stays_the_same_file_system() {
    let h = harness().await;
    let before = spec(&h.network.spec("cfn-move", 1, "[filesystems.shared]\n"));
    let deployed = deploy(&h, &before).await;
    let id = deployed.filesystems().next().unwrap().physical_id.clone();

    let plain_rename = spec(&h.network.spec("cfn-move", 1, "[filesystems.data]\n"));
    let prepared = h
        .stacks
        .prepare(&plain_rename, TemplateOptions::default())
        .await
        .unwrap();
    assert!(
        prepared
            .view
            .changes
            .iter()
            .any(|c| c.logical_id == "FileSystemShared" && c.kind == ChangeKind::Release),
        "without moved_from the old file system leaves the stack: {:?}",
        prepared.view.changes
    );
    h.stacks.discard(&prepared).await.unwrap();

    let renamed = "[filesystems.data]\nmoved_from = \"shared\"\n";
    let after = spec(&h.network.spec("cfn-move", 1, renamed));
    let prepared = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<(&str, ChangeKind)> = prepared
        .view
        .changes
        .iter()
        .map(|c| (c.logical_id.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [(
            "FileSystemShared",
            ChangeKind::Modify(cloudstor::cfn::Replacement::Never)
        )],
        "only the same file system's tags change"
    );
    let rendered = render_change_set("cfn-move", &prepared.view);
    assert!(
        rendered.contains("Change set: 0 to add, 1 to change, 0 to destroy.\nNote: filesystem.shared has moved to filesystem.data (moved_from)"),
        "{rendered}"
    );
    check_protection(&after, &prepared.view, &prepared.protected, false)
        .expect("a move replaces nothing");
    h.stacks.execute(&prepared, &mut |_| {}).await.unwrap();
    let efs = aws_sdk_efs::Client::new(&h.config);
    let found = efs
        .describe_file_systems()
        .file_system_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(found.file_systems().len(), 1, "the file system is kept");
}
