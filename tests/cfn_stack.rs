//! The CloudFormation engine against moto's CloudFormation: deploy through a change set, check
//! what it made through the EFS and EC2 describe calls, change the spec, delete the stack.
//!
//! moto's change sets carry Add / Modify / Remove but no Replacement or property details, and
//! moto neither emits resource events nor rolls back; those paths are in `cfn_stack_sdk_mocked.rs`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use aws_sdk_ec2::types::Filter;
use aws_sdk_efs::types::FileSystemDescription;
use cloudstor::cfn::changes::ChangeKind;
use cloudstor::cfn::{CfnError, PreparedChangeSet, TemplateOptions, render_change_set};
use cloudstor::spec::Spec;
use common::{CfnHarness as Harness, Moto, cfn_harness as harness, filesystems_and_mount_targets};

const FILESYSTEMS: &str = r#"[filesystems.shared]
throughput_mode = "elastic"
transition_to_ia = "30d"
transition_to_archive = "90d"
backup = true
tags = { team = "platform" }

[filesystems.fast]
performance_mode = "maxIO"
throughput_mode = "bursting"
backup = false
protect = false
"#;

fn spec(text: &str) -> Spec {
    Spec::parse(Path::new("cloudstor.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn actions(prepared: &PreparedChangeSet) -> BTreeSet<(String, &'static str)> {
    prepared
        .view
        .changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                ChangeKind::Add => "Add",
                ChangeKind::Modify(_) => "Modify",
                ChangeKind::Remove => "Remove",
                ChangeKind::Release => "Release",
            };
            (c.logical_id.clone(), kind)
        })
        .collect()
}

async fn deploy(h: &Harness, spec: &Spec) -> cloudstor::cfn::DeployOutcome {
    let prepared = h
        .stacks
        .prepare(spec, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut events = Vec::new();
    let outcome = h
        .stacks
        .execute(&prepared, &mut |event| events.push(event.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        events.iter().any(|e| e.contains("_COMPLETE")),
        "events were streamed: {events:?}"
    );
    outcome
}

async fn stack_filesystems(h: &Harness, stack: &str) -> Vec<FileSystemDescription> {
    let efs = aws_sdk_efs::Client::new(&h.config);
    let all = efs.describe_file_systems().send().await.unwrap();
    all.file_systems()
        .iter()
        .filter(|fs| {
            fs.tags()
                .iter()
                .any(|t| t.key() == "cloudstor:stack" && t.value() == stack)
        })
        .cloned()
        .collect()
}

fn tag<'a>(fs: &'a FileSystemDescription, key: &str) -> Option<&'a str> {
    fs.tags().iter().find(|t| t.key() == key).map(|t| t.value())
}

#[tokio::test]
async fn deployed_stack_holds_what_the_spec_asks_for() {
    let h = harness().await;
    let spec = spec(&h.network.spec("cfn-deploy", 3, FILESYSTEMS));
    let outcome = deploy(&h, &spec).await;
    assert_eq!(outcome.status, "CREATE_COMPLETE");
    assert_eq!(outcome.filesystems().count(), 2);
    let summary = outcome.to_string();
    assert!(
        summary.starts_with("Stack cfn-deploy: CREATE_COMPLETE\n  FileSystem"),
        "{summary}"
    );

    let efs = aws_sdk_efs::Client::new(&h.config);
    let filesystems = stack_filesystems(&h, "cfn-deploy").await;
    assert_eq!(filesystems.len(), 2);
    let shared = filesystems
        .iter()
        .find(|fs| tag(fs, "cloudstor:resource") == Some("filesystem.shared"))
        .expect("filesystem.shared exists");
    assert_eq!(shared.performance_mode().as_str(), "generalPurpose");
    assert_eq!(shared.throughput_mode().unwrap().as_str(), "elastic");
    assert_eq!(shared.encrypted(), Some(true));
    assert_eq!(tag(shared, "team"), Some("platform"));
    let lifecycle = efs
        .describe_lifecycle_configuration()
        .file_system_id(shared.file_system_id())
        .send()
        .await
        .unwrap();
    let transitions: Vec<String> = lifecycle
        .lifecycle_policies()
        .iter()
        .map(|p| format!("{:?}/{:?}", p.transition_to_ia(), p.transition_to_archive()))
        .collect();
    assert_eq!(
        transitions,
        ["Some(After30Days)/None", "None/Some(After90Days)"]
    );
    let backup = efs
        .describe_backup_policy()
        .file_system_id(shared.file_system_id())
        .send()
        .await
        .unwrap();
    assert_eq!(backup.backup_policy().unwrap().status().as_str(), "ENABLED");
    let fast = filesystems
        .iter()
        .find(|fs| tag(fs, "cloudstor:resource") == Some("filesystem.fast"))
        .expect("filesystem.fast exists");
    assert_eq!(fast.performance_mode().as_str(), "maxIO");
    assert_eq!(fast.throughput_mode().unwrap().as_str(), "bursting");

    let group_id = outcome
        .resources
        .iter()
        .find(|r| r.logical_id == "NfsSecurityGroup")
        .map(|r| r.physical_id.clone())
        .expect("the security group is in the stack");
    let mounted = filesystems_and_mount_targets(&h.config).await;
    for fs in [shared, fast] {
        let (_, targets) = mounted
            .iter()
            .find(|(found, _)| found.file_system_id() == fs.file_system_id())
            .expect("the stack's file system is listed");
        let subnets: BTreeSet<&str> = targets.iter().map(|t| t.subnet_id()).collect();
        let wanted: BTreeSet<&str> = h.network.subnets[..3]
            .iter()
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(subnets, wanted, "one mount target per spec subnet");
        for target in targets {
            let groups = efs
                .describe_mount_target_security_groups()
                .mount_target_id(target.mount_target_id())
                .send()
                .await
                .unwrap();
            assert_eq!(groups.security_groups(), std::slice::from_ref(&group_id));
        }
    }

    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let group = ec2
        .describe_security_groups()
        .group_ids(&group_id)
        .send()
        .await
        .unwrap();
    let group = &group.security_groups()[0];
    assert_eq!(group.vpc_id(), Some(h.network.vpc.as_str()));
    let ingress: Vec<(Option<i32>, Option<i32>, Vec<&str>)> = group
        .ip_permissions()
        .iter()
        .map(|p| {
            (
                p.from_port(),
                p.to_port(),
                p.user_id_group_pairs()
                    .iter()
                    .filter_map(|g| g.group_id())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        ingress,
        [(Some(2049), Some(2049), vec![h.network.node_group.as_str()])],
        "only NFS, only from the node group"
    );
}

#[tokio::test]
async fn spec_changes_become_a_change_set_with_the_expected_actions() {
    let h = harness().await;
    let before = spec(&h.network.spec("cfn-change", 2, FILESYSTEMS));
    deploy(&h, &before).await;

    let unchanged = h
        .stacks
        .prepare(&before, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(unchanged.view.is_empty(), "{:?}", unchanged.view);
    let text = render_change_set("cfn-change", &unchanged.view);
    // moto has no drift detection: the plan says so instead of implying there is none.
    assert!(
        text.starts_with("Note: drift could not be checked (DetectStackDrift failed: ")
            && text.ends_with(
                "changes made outside CloudFormation are not shown.\n\nNo changes. Stack cfn-change matches the configuration.\n"
            ),
        "{text}"
    );
    h.stacks.discard(&unchanged).await.unwrap();

    // A third subnet and no more `fast`: mount targets come and go, `fast` goes.
    let shared_only = FILESYSTEMS.split("[filesystems.fast]").next().unwrap();
    let after = spec(&h.network.spec("cfn-change", 3, shared_only));
    let prepared = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let subnet = |i: usize| {
        let id = &h.network.subnets[i].0["subnet-".len()..];
        format!("Subnet{}{}", id[..1].to_ascii_uppercase(), &id[1..])
    };
    let expected: BTreeSet<(String, &str)> = [
        (format!("MountTargetShared{}", subnet(2)), "Add"),
        ("FileSystemFast".to_string(), "Remove"),
        (format!("MountTargetFast{}", subnet(0)), "Remove"),
        (format!("MountTargetFast{}", subnet(1)), "Remove"),
    ]
    .into();
    assert_eq!(actions(&prepared), expected);
    let text = render_change_set("cfn-change", &prepared.view);
    assert!(
        text.contains(&format!("  + MountTargetShared{}", subnet(2))),
        "{text}"
    );
    assert!(text.contains("  - FileSystemFast"), "{text}");
    assert!(
        text.ends_with("Change set: 1 to add, 0 to change, 3 to destroy.\n"),
        "{text}"
    );

    let outcome = h
        .stacks
        .execute(&prepared, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, "UPDATE_COMPLETE");
    let filesystems = stack_filesystems(&h, "cfn-change").await;
    assert_eq!(filesystems.len(), 1, "fast (protect = false) was deleted");
    assert_eq!(filesystems[0].number_of_mount_targets(), 3);

    // An in-place change to the file system shows as a modification; discarding it leaves
    // the stack as it was.
    let bursting = shared_only.replace(
        "throughput_mode = \"elastic\"\ntransition_to_ia = \"30d\"\ntransition_to_archive = \"90d\"",
        "throughput_mode = \"bursting\"\ntransition_to_ia = \"30d\"",
    );
    let modified = spec(&h.network.spec("cfn-change", 3, &bursting));
    let prepared = h
        .stacks
        .prepare(&modified, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        actions(&prepared),
        [("FileSystemShared".to_string(), "Modify")].into()
    );
    h.stacks.discard(&prepared).await.unwrap();
    let again = h
        .stacks
        .prepare(&after, TemplateOptions::default())
        .await
        .unwrap();
    assert!(
        again.view.is_empty(),
        "the discarded change set changed nothing"
    );
}

#[tokio::test]
async fn an_invalid_subnet_is_named_and_nothing_is_created() {
    let h = harness().await;
    let text = h
        .network
        .spec("cfn-bad", 1, FILESYSTEMS)
        .replace(&h.network.subnets[0].0, "subnet-0deadbeef0000000");
    let error = h
        .stacks
        .prepare(&spec(&text), TemplateOptions::default())
        .await
        .expect_err("a missing subnet is refused");
    assert!(matches!(error, CfnError::Cloud(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("subnet subnet-0deadbeef0000000 not found"),
        "{error}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&h.config);
    let stacks = cfn.describe_stacks().send().await.unwrap();
    assert!(stacks.stacks().is_empty(), "no stack was created");
    assert!(stack_filesystems(&h, "cfn-bad").await.is_empty());
}

#[tokio::test]
async fn deleting_the_stack_keeps_protected_file_systems_and_lists_them() {
    let h = harness().await;
    let spec = spec(&h.network.spec("cfn-delete", 2, FILESYSTEMS));
    let deployed = deploy(&h, &spec).await;
    let shared_id = deployed
        .filesystems()
        .find(|r| r.logical_id == "FileSystemShared")
        .map(|r| r.physical_id.clone())
        .unwrap();

    let mut events = Vec::new();
    let outcome = h
        .stacks
        .delete("cfn-delete", &mut |e| events.push(e.status.clone()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        events.contains(&"DELETE_COMPLETE".to_string()),
        "{events:?}"
    );
    let retained: Vec<(&str, &str)> = outcome
        .retained
        .iter()
        .map(|r| (r.logical_id.as_str(), r.physical_id.as_str()))
        .collect();
    assert_eq!(retained, [("FileSystemShared", shared_id.as_str())]);
    assert_eq!(
        outcome.to_string(),
        format!(
            "Stack cfn-delete deleted.\nLeft in place by DeletionPolicy: Retain (their data is kept, and still billed):\n  AWS::EFS::FileSystem {shared_id} (FileSystemShared)\n"
        )
    );

    let left = stack_filesystems(&h, "cfn-delete").await;
    let ids: Vec<&str> = left.iter().map(|fs| fs.file_system_id()).collect();
    assert_eq!(
        ids,
        [shared_id.as_str()],
        "only the protected file system is left"
    );
    assert_eq!(left[0].number_of_mount_targets(), 0);
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let groups = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("tag:cloudstor:stack")
                .values("cfn-delete")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups().is_empty(), "the NFS group is gone");

    let again = h.stacks.delete("cfn-delete", &mut |_| {}).await;
    assert!(
        matches!(again, Err(CfnError::NoSuchStack { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn template_command_puts_a_one_zone_mount_target_in_the_subnet_of_its_zone() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let network = common::network(&config).await;
    let (subnet, zone) = network.subnets[2].clone();
    let filesystems = format!(
        "[filesystems.local]\navailability_zone = \"{zone}\"\nthroughput_mode = \"bursting\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_spec(
        dir.path(),
        "one-zone.toml",
        &network.spec("one-zone", 3, &filesystems),
    );

    let output = moto.cloudstor(&["template", "-f", path.to_str().unwrap()]);
    common::expect_code(&output, 0);
    let template: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let targets: Vec<&serde_json::Value> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::EFS::MountTarget")
        .collect();
    assert_eq!(targets.len(), 1, "One Zone: a single mount target");
    assert_eq!(targets[0]["Properties"]["SubnetId"], subnet.as_str());
    assert_eq!(
        template["Resources"]["FileSystemLocal"]["Properties"]["AvailabilityZoneName"],
        zone.as_str()
    );
}

#[tokio::test]
async fn declining_a_first_deployment_leaves_no_stack_behind() {
    let h = harness().await;
    let spec = spec(&h.network.spec("cfn-declined", 1, FILESYSTEMS));
    let prepared = h
        .stacks
        .prepare(&spec, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(prepared.creates_stack);
    assert_eq!(prepared.view.summary(), (6, 0, 0), "{:?}", prepared.view);
    h.stacks.discard(&prepared).await.unwrap();

    let cfn = aws_sdk_cloudformation::Client::new(&h.config);
    let stacks = cfn.describe_stacks().send().await.unwrap();
    assert!(stacks.stacks().is_empty(), "{:?}", stacks.stacks());
    assert!(stack_filesystems(&h, "cfn-declined").await.is_empty());
}
