//! Nothing is adopted by accident: a file system is cloudstor's only when its tags say so
//! (a CreationToken alone proves nothing, anyone can pass any token), a lost tag is drift that
//! apply restores, two claimants of one address are an error, and `cloudstor import` adopts a
//! file system on request. Hand changes are made through the AWS API, against moto, and the
//! binary is run as a user would.

mod common;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use aws_sdk_efs::types::{PerformanceMode, Tag, ThroughputMode};
use common::{Stack, expect_code, stderr, stdout};

const DATA: &str = "[filesystems.data]\ntransition_to_ia = \"30d\"\n";

/// What a hand-made file system matches: unencrypted, bursting, no backup.
const LIKE_HAND_MADE: &str = "encrypted = false\nthroughput_mode = \"bursting\"\nbackup = false\ntransition_to_ia = \"30d\"\n";

/// A file system made outside cloudstor: unencrypted, bursting, with `tags`.
async fn by_hand(stack: &Stack, token: &str, tags: &[(&str, &str)]) -> String {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
        .collect();
    let created = stack
        .efs()
        .await
        .create_file_system()
        .creation_token(token)
        .performance_mode(PerformanceMode::GeneralPurpose)
        .throughput_mode(ThroughputMode::Bursting)
        .encrypted(false)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
    created.file_system_id().to_owned()
}

async fn filesystem_id(stack: &Stack, token: &str) -> String {
    let found = stack
        .efs()
        .await
        .describe_file_systems()
        .creation_token(token)
        .send()
        .await
        .unwrap();
    found.file_systems()[0].file_system_id().to_owned()
}

async fn tags(stack: &Stack, id: &str) -> BTreeMap<String, String> {
    let found = stack
        .efs()
        .await
        .describe_file_systems()
        .file_system_id(id)
        .send()
        .await
        .unwrap();
    found.file_systems()[0]
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

async fn untag(stack: &Stack, id: &str, keys: &[&str]) {
    stack
        .efs()
        .await
        .untag_resource()
        .resource_id(id)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .unwrap();
}

async fn mount_targets(stack: &Stack, id: &str) -> usize {
    let found = stack
        .efs()
        .await
        .describe_mount_targets()
        .file_system_id(id)
        .send()
        .await
        .unwrap();
    found.mount_targets().len()
}

async fn lifecycle_policies(stack: &Stack, id: &str) -> usize {
    let found = stack
        .efs()
        .await
        .describe_lifecycle_configuration()
        .file_system_id(id)
        .send()
        .await
        .unwrap();
    found.lifecycle_policies().len()
}

async fn exists(stack: &Stack, id: &str) -> bool {
    let found = stack.efs().await.describe_file_systems().send().await;
    found
        .unwrap()
        .file_systems()
        .iter()
        .any(|fs| fs.file_system_id() == id)
}

#[tokio::test]
async fn a_filesystem_made_by_hand_with_our_creation_token_is_named_and_left_alone() {
    let stack = Stack::new().await;
    let hand_made = by_hand(&stack, "cloudstor:demo:data", &[("team", "ops")]).await;
    let spec = stack.spec("demo", DATA);

    let plan = stack.run(&["plan", "-f", &spec]);
    expect_code(&plan, 1);
    let message = stderr(&plan);
    assert!(
        message.contains(&format!(
            "filesystem.data: {hand_made} already has the CreationToken cloudstor:demo:data, but cloudstor did not create it"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("cloudstor import filesystem.data {hand_made}")),
        "{message}"
    );

    let apply = stack.run(&["apply", "-f", &spec, "--auto-approve"]);
    expect_code(&apply, 1);
    assert_eq!(mount_targets(&stack, &hand_made).await, 0);
    assert_eq!(lifecycle_policies(&stack, &hand_made).await, 0);
    let tags = tags(&stack, &hand_made).await;
    assert!(
        tags.keys().all(|k| !k.starts_with("cloudstor:")),
        "{tags:?}"
    );

    let destroy = stack.run(&[
        "destroy",
        "-f",
        &spec,
        "--auto-approve",
        "--allow-data-loss",
    ]);
    expect_code(&destroy, 0);
    assert!(exists(&stack, &hand_made).await, "destroy spares it");
}

#[tokio::test]
async fn import_refuses_a_difference_that_forces_replacement() {
    let stack = Stack::new().await;
    let hand_made = by_hand(&stack, "made-by-hand", &[]).await;
    let spec = stack.spec("demo", DATA);

    let refused = stack.run(&["import", "-f", &spec, "filesystem.data", &hand_made]);
    expect_code(&refused, 1);
    let message = stderr(&refused);
    assert!(
        message.contains(&format!("cannot import {hand_made} as filesystem.data")),
        "{message}"
    );
    assert!(
        message.contains("encrypted: false in AWS, true in the spec"),
        "{message}"
    );
    assert!(message.contains("forces replacement"), "{message}");
    assert!(
        tags(&stack, &hand_made).await.is_empty(),
        "nothing was tagged"
    );

    let matching = stack.spec_file(
        "matching.toml",
        &format!("[filesystems.data]\n{LIKE_HAND_MADE}"),
    );
    expect_code(
        &stack.run(&["import", "-f", &matching, "filesystem.data", &hand_made]),
        0,
    );
    let plan = stack.run(&["plan", "-f", &matching]);
    expect_code(&plan, 0);
    assert!(
        !stdout(&plan).contains("replace"),
        "its own CreationToken is kept, not replaced: {}",
        stdout(&plan)
    );
}

#[tokio::test]
async fn import_adopts_a_filesystem_and_the_next_plan_updates_it_in_place() {
    let stack = Stack::new().await;
    let hand_made = by_hand(&stack, "cloudstor:demo:data", &[("team", "ops")]).await;
    let spec = stack.spec("demo", &format!("[filesystems.data]\n{LIKE_HAND_MADE}"));

    let imported = stack.run(&["import", "-f", &spec, "filesystem.data", &hand_made]);
    expect_code(&imported, 0);
    assert!(
        stdout(&imported).contains(&format!(
            "Import successful: filesystem.data is {hand_made}"
        )),
        "{}",
        stdout(&imported)
    );
    let tagged = tags(&stack, &hand_made).await;
    assert_eq!(tagged["cloudstor:stack"], "demo");
    assert_eq!(tagged["cloudstor:resource"], "filesystem.data");
    assert_eq!(tagged["cloudstor:protect"], "true");

    let plan = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&plan, 2);
    stack
        .snapshot_settings_naming(&[(&hand_made, "fs-[hand-made]")])
        .bind(|| insta::assert_snapshot!("plan_after_import", stdout(&plan)));

    stack.apply(&spec);
    assert_eq!(mount_targets(&stack, &hand_made).await, 3);
    assert_eq!(lifecycle_policies(&stack, &hand_made).await, 1);
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);

    let destroyed = stack.run(&[
        "destroy",
        "-f",
        &spec,
        "--auto-approve",
        "--allow-data-loss",
    ]);
    expect_code(&destroyed, 0);
    assert!(!exists(&stack, &hand_made).await);
}

#[tokio::test]
async fn a_lost_stack_tag_is_drift_that_apply_restores() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", DATA);
    stack.apply(&spec);
    let id = filesystem_id(&stack, "cloudstor:demo:data").await;
    untag(&stack, &id, &["cloudstor:stack"]).await;

    let plan = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&plan, 2);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_lost_stack_tag", stdout(&plan)));

    let applied = stack.run(&["apply", "-f", &spec, "--auto-approve"]);
    expect_code(&applied, 0);
    assert!(
        stdout(&applied).contains("Apply complete! Resources: 0 added, 1 changed, 0 destroyed."),
        "{}",
        stdout(&applied)
    );
    assert_eq!(tags(&stack, &id).await["cloudstor:stack"], "demo");
    assert_eq!(mount_targets(&stack, &id).await, 3);
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn two_filesystems_claiming_one_address_is_an_error_naming_both() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", DATA);
    stack.apply(&spec);
    let original = filesystem_id(&stack, "cloudstor:demo:data").await;
    let claims = [
        ("cloudstor:stack", "demo"),
        ("cloudstor:resource", "filesystem.data"),
    ];
    let copy = by_hand(&stack, "restored-from-backup", &claims).await;

    let plan: &[&str] = &["plan", "-f", &spec];
    let apply: &[&str] = &["apply", "-f", &spec, "--auto-approve"];
    for args in [plan, apply] {
        let output = stack.run(args);
        expect_code(&output, 1);
        let message = stderr(&output);
        assert!(
            message.contains(&format!(
                "filesystem.data is claimed by 2 file systems: {original} (CreationToken cloudstor:demo:data), {copy} (CreationToken restored-from-backup)"
            )) || message.contains(&format!(
                "filesystem.data is claimed by 2 file systems: {copy} (CreationToken restored-from-backup), {original} (CreationToken cloudstor:demo:data)"
            )),
            "{message}"
        );
        assert!(message.contains("aws efs untag-resource"), "{message}");
    }
    assert_eq!(mount_targets(&stack, &copy).await, 0);

    untag(&stack, &copy, &["cloudstor:stack", "cloudstor:resource"]).await;
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

/// Ingress and egress rules that open the stack's NFS group to the world: tcp/22 and all
/// traffic from 0.0.0.0/0, NFS from ::/0, and allow-all egress.
async fn open_to_the_world(stack: &Stack, group: &str) {
    let rule = |protocol: &str, port: Option<i32>| {
        IpPermission::builder()
            .ip_protocol(protocol)
            .set_from_port(port)
            .set_to_port(port)
    };
    let anywhere = || IpRange::builder().cidr_ip("0.0.0.0/0").build();
    let ec2 = stack.ec2().await;
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(rule("tcp", Some(22)).ip_ranges(anywhere()).build())
        .ip_permissions(rule("-1", None).ip_ranges(anywhere()).build())
        .ip_permissions(
            rule("tcp", Some(2049))
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_egress()
        .group_id(group)
        .ip_permissions(rule("-1", None).ip_ranges(anywhere()).build())
        .send()
        .await
        .unwrap();
}

/// (ingress, egress) of a security group, each rule as "protocol port peer".
async fn rules(stack: &Stack, group: &str) -> (Vec<String>, Vec<String>) {
    let found = stack
        .ec2()
        .await
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    let found = &found.security_groups()[0];
    let show = |permissions: &[IpPermission]| -> Vec<String> {
        permissions
            .iter()
            .flat_map(|p| {
                let peers = p
                    .ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip())
                    .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
                    .chain(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()));
                let ports = format!(
                    "{} {:?}",
                    p.ip_protocol().unwrap_or_default(),
                    p.from_port()
                );
                peers.map(move |peer| format!("{ports} {peer}"))
            })
            .collect()
    };
    (
        show(found.ip_permissions()),
        show(found.ip_permissions_egress()),
    )
}

/// A group of the default VPC, added to the mount target of `filesystem` in `subnet` beside
/// the stack's; returns (the mount target, the added group).
async fn add_group_to_mount_target(
    stack: &Stack,
    filesystem: &str,
    subnet: &str,
    group: &str,
) -> (String, String) {
    let intruder = stack
        .ec2()
        .await
        .create_security_group()
        .group_name("intruder")
        .description("added by hand")
        .vpc_id(&stack.network.vpc)
        .send()
        .await
        .unwrap();
    let intruder = intruder.group_id().unwrap().to_owned();
    let efs = stack.efs().await;
    let targets = efs
        .describe_mount_targets()
        .file_system_id(filesystem)
        .send()
        .await
        .unwrap();
    let target = targets
        .mount_targets()
        .iter()
        .find(|mt| mt.subnet_id() == subnet)
        .unwrap()
        .mount_target_id()
        .to_owned();
    efs.modify_mount_target_security_groups()
        .mount_target_id(&target)
        .security_groups(group)
        .security_groups(&intruder)
        .send()
        .await
        .unwrap();
    (target, intruder)
}

async fn mount_target_groups(stack: &Stack, target: &str) -> Vec<String> {
    let found = stack
        .efs()
        .await
        .describe_mount_target_security_groups()
        .mount_target_id(target)
        .send()
        .await
        .unwrap();
    found.security_groups().to_vec()
}

/// Issue 13's hand changes, all at once after a converged apply: rules that open the NFS
/// group to the world (item 1), a group added to a mount target (2), a hand-made file system
/// holding the token of a file system the spec then adds (6), a lost stack tag (7), and a
/// second claimant (8). Plan and apply refuse while ownership is unclear, naming both
/// problems; the user follows their advice, the plan then shows every remaining change as
/// drift, apply repairs them, and the next plan is clean.
#[tokio::test]
async fn every_hand_change_is_detected_then_repaired_or_refused() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", DATA);
    stack.apply(&spec);
    let data = filesystem_id(&stack, "cloudstor:demo:data").await;
    let group = stack.stack_group("demo").await;
    let applied_rules = rules(&stack, &group).await;
    let subnet = stack.network.subnets[1].0.clone();

    open_to_the_world(&stack, &group).await;
    let (target, intruder) = add_group_to_mount_target(&stack, &data, &subnet, &group).await;
    untag(&stack, &data, &["cloudstor:stack"]).await;
    let claims = [
        ("cloudstor:stack", "demo"),
        ("cloudstor:resource", "filesystem.data"),
    ];
    let copy = by_hand(&stack, "copy-of-data", &claims).await;
    let extra = by_hand(&stack, "cloudstor:demo:extra", &[]).await;
    let grown = stack.spec_file(
        "grown.toml",
        &format!("{DATA}\n[filesystems.extra]\n{LIKE_HAND_MADE}"),
    );
    let opened = rules(&stack, &group).await;
    assert_ne!(opened, applied_rules);

    let refused = stack.run(&["plan", "-f", &grown]);
    expect_code(&refused, 1);
    let message = stderr(&refused);
    assert!(
        message.contains("filesystem.data is claimed by 2 file systems")
            && message.contains(&copy)
            && message.contains(&data),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "filesystem.extra: {extra} already has the CreationToken cloudstor:demo:extra, but cloudstor did not create it"
        )) && message.contains(&format!("cloudstor import filesystem.extra {extra}")),
        "{message}"
    );
    let refused = stack.run(&["apply", "-f", &grown, "--auto-approve"]);
    expect_code(&refused, 1);
    assert_eq!(
        stderr(&refused),
        message,
        "apply refuses for the same reasons"
    );
    assert!(
        !tags(&stack, &data).await.contains_key("cloudstor:stack"),
        "nothing was repaired while the plan was refused"
    );
    assert_eq!(rules(&stack, &group).await, opened);
    assert_eq!(mount_target_groups(&stack, &target).await.len(), 2);
    assert_eq!(mount_targets(&stack, &copy).await, 0);
    assert_eq!(mount_targets(&stack, &extra).await, 0);

    untag(&stack, &copy, &["cloudstor:stack", "cloudstor:resource"]).await;
    expect_code(
        &stack.run(&["import", "-f", &grown, "filesystem.extra", &extra]),
        0,
    );
    let plan = stack.run(&["plan", "-f", &grown, "--detailed-exitcode"]);
    expect_code(&plan, 2);
    let shown = stdout(&plan);
    let nodes = &stack.network.node_group;
    let target_address = format!("mount_target.data.{subnet}");
    // The two groups on the mount target are listed in id order, which is random.
    let mut both = [group.as_str(), intruder.as_str()];
    both.sort();
    for line in [
        // Drift, as it was applied -> as it is now.
        "  # security_group.nfs has changed".to_owned(),
        format!("      ~ ingress_tcp_2049 = \"{nodes}\" -> \"{nodes}, ::/0\""),
        "      ~ ingress_other    = \"none\" -> \"all traffic 0.0.0.0/0, tcp/22 0.0.0.0/0\""
            .to_owned(),
        "      ~ egress           = \"none\" -> \"all traffic 0.0.0.0/0\"".to_owned(),
        format!("  # {target_address} has changed"),
        format!(
            "      ~ security_groups = \"{group}\" -> \"{}, {}\"",
            both[0], both[1]
        ),
        "  # filesystem.data has changed".to_owned(),
        "      ~ tags[\"cloudstor:stack\"] = \"demo\" -> \"none\"".to_owned(),
        // The actions that undo it.
        "  # security_group.nfs will be updated in-place".to_owned(),
        "          - \"::/0\"".to_owned(),
        "          - \"all traffic 0.0.0.0/0\"".to_owned(),
        "          - \"tcp/22 0.0.0.0/0\"".to_owned(),
        format!("  # {target_address} will be updated in-place"),
        format!("          - \"{intruder}\""),
        "  # filesystem.data will get its cloudstor tags back".to_owned(),
        "      ~ tags[\"cloudstor:stack\"] = none -> \"demo\"".to_owned(),
        // The imported file system gets the spec's lifecycle and its mount targets.
        "  # filesystem.extra will be updated in-place".to_owned(),
        "Plan: 3 to add, 4 to change, 0 to destroy.".to_owned(),
    ] {
        assert!(shown.contains(&line), "no line {line:?} in\n{shown}");
    }

    stack.apply(&grown);
    assert_eq!(rules(&stack, &group).await, applied_rules);
    assert_eq!(mount_target_groups(&stack, &target).await, [group]);
    assert_eq!(tags(&stack, &data).await["cloudstor:stack"], "demo");
    assert_eq!(mount_targets(&stack, &extra).await, 3);
    assert_eq!(mount_targets(&stack, &copy).await, 0);
    let clean = stack.run(&["plan", "-f", &grown, "--detailed-exitcode"]);
    expect_code(&clean, 0);
    assert!(
        stdout(&clean).starts_with("No changes."),
        "{}",
        stdout(&clean)
    );
}
