//! Nothing is adopted by accident: a file system is cloudstor's only when its tags say so
//! (a CreationToken alone proves nothing, anyone can pass any token), a lost tag is drift that
//! apply restores, two claimants of one address are an error, and `cloudstor import` adopts a
//! file system on request. Hand changes are made through the AWS API, against moto, and the
//! binary is run as a user would.

mod common;

use std::collections::BTreeMap;

use aws_sdk_efs::types::{PerformanceMode, Tag, ThroughputMode};
use common::{Stack, expect_code, stderr, stdout, write_spec};

const DATA: &str = "[filesystems.data]\ntransition_to_ia = \"30d\"\n";

/// What a hand-made file system matches: unencrypted, bursting, no backup.
const LIKE_HAND_MADE: &str = "encrypted = false\nthroughput_mode = \"bursting\"\nbackup = false\ntransition_to_ia = \"30d\"\n";

/// Stack `demo` with `filesystems`, in a file of its own.
fn spec_file(stack: &Stack, file: &str, filesystems: &str) -> String {
    let text = stack.network.spec("demo", 3, filesystems);
    write_spec(stack.dir.path(), file, &text)
        .display()
        .to_string()
}

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

    let matching = spec_file(
        &stack,
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

/// Items of the same issue after a converged apply: a lost tag, a second claimant, and a
/// hand-made file system holding the token of a file system the spec then adds. Plan names
/// each, the user follows its advice, apply repairs the rest, and the next plan is clean.
#[tokio::test]
async fn hand_changes_after_an_apply_are_each_detected_then_repaired_or_refused() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", DATA);
    stack.apply(&spec);
    let data = filesystem_id(&stack, "cloudstor:demo:data").await;

    untag(&stack, &data, &["cloudstor:stack"]).await;
    let claims = [
        ("cloudstor:stack", "demo"),
        ("cloudstor:resource", "filesystem.data"),
    ];
    let copy = by_hand(&stack, "copy-of-data", &claims).await;
    let extra = by_hand(&stack, "cloudstor:demo:extra", &[]).await;
    let grown = spec_file(
        &stack,
        "grown.toml",
        &format!("{DATA}\n[filesystems.extra]\n{LIKE_HAND_MADE}"),
    );

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
        message.contains(&format!("cloudstor import filesystem.extra {extra}")),
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
    assert_eq!(mount_targets(&stack, &copy).await, 0);
    assert_eq!(mount_targets(&stack, &extra).await, 0);

    untag(&stack, &copy, &["cloudstor:stack", "cloudstor:resource"]).await;
    expect_code(
        &stack.run(&["import", "-f", &grown, "filesystem.extra", &extra]),
        0,
    );
    let plan = stack.run(&["plan", "-f", &grown]);
    expect_code(&plan, 0);
    let shown = stdout(&plan);
    assert!(
        shown.contains("~ tags[\"cloudstor:stack\"] = \"demo\" -> \"none\""),
        "{shown}"
    );
    assert!(
        shown.contains("Plan: 3 to add, 2 to change, 0 to destroy."),
        "{shown}"
    );

    stack.apply(&grown);
    assert_eq!(tags(&stack, &data).await["cloudstor:stack"], "demo");
    assert_eq!(mount_targets(&stack, &extra).await, 3);
    assert_eq!(mount_targets(&stack, &copy).await, 0);
    expect_code(
        &stack.run(&["plan", "-f", &grown, "--detailed-exitcode"]),
        0,
    );
}
