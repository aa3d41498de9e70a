//! plan / apply / destroy through the real binary and the real AWS SDK against moto.

mod common;

use aws_sdk_ec2::types::Filter;
use aws_sdk_efs::types::{LifecyclePolicy, TransitionToIaRules};
use common::{Stack, expect_code, filesystems_and_mount_targets, stderr, stdout, write_spec};

const TWO_FILESYSTEMS: &str = r#"
[filesystems.shared]
transition_to_ia = "30d"
transition_to_archive = "90d"
tags = { team = "platform" }

[filesystems.fast]
performance_mode = "maxIO"
throughput_mode = "bursting"
"#;

#[tokio::test]
async fn plan_for_a_new_stack_creates_everything() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    let output = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&output, 2);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_create", stdout(&output)));
}

#[tokio::test]
async fn apply_converges_and_plan_then_shows_no_changes() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    let applied = stack.run(&["apply", "-f", &spec, "--auto-approve"]);
    expect_code(&applied, 0);
    assert!(
        stdout(&applied).contains("Apply complete! Resources: 9 added, 0 changed, 0 destroyed.")
    );

    let replan = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&replan, 0);
    insta::assert_snapshot!("plan_no_changes", stdout(&replan));

    let found = filesystems_and_mount_targets(&stack.moto.sdk_config().await).await;
    assert_eq!(found.len(), 2);
    for (_, targets) in found {
        assert_eq!(targets.len(), 3, "one mount target per subnet");
    }
}

#[tokio::test]
async fn lifecycle_change_is_an_update_in_place() {
    let stack = Stack::new().await;
    stack.apply(&stack.spec("demo", TWO_FILESYSTEMS));
    let changed = stack.spec("demo", &TWO_FILESYSTEMS.replace("\"30d\"", "\"7d\""));
    let output = stack.run(&["plan", "-f", &changed, "--detailed-exitcode"]);
    expect_code(&output, 2);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_update_lifecycle", stdout(&output)));

    stack.apply(&changed);
    let fs_id = filesystem_id(&stack.efs().await, "cloudstor:demo:shared").await;
    let lifecycle = stack
        .efs()
        .await
        .describe_lifecycle_configuration()
        .file_system_id(fs_id)
        .send()
        .await
        .unwrap();
    let ia: Vec<_> = lifecycle
        .lifecycle_policies()
        .iter()
        .filter_map(|p| p.transition_to_ia())
        .collect();
    assert_eq!(ia, [&TransitionToIaRules::After7Days]);
    expect_code(
        &stack.run(&["plan", "-f", &changed, "--detailed-exitcode"]),
        0,
    );
}

#[tokio::test]
async fn performance_mode_change_forces_replacement_of_a_protected_fs_only_with_consent() {
    let stack = Stack::new().await;
    stack.apply(&stack.spec("demo", TWO_FILESYSTEMS));
    let changed = stack.spec(
        "demo",
        &TWO_FILESYSTEMS.replace("\"maxIO\"", "\"generalPurpose\""),
    );
    let output = stack.run(&["plan", "-f", &changed]);
    expect_code(&output, 0);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_replace_performance_mode", stdout(&output)));

    let refused = stack.run(&["apply", "-f", &changed, "--auto-approve"]);
    expect_code(&refused, 1);
    assert!(
        stderr(&refused).contains("filesystem.fast (fs-"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("is protected and would be replaced; it holds 0 bytes"));
    let before = filesystem_id(&stack.efs().await, "cloudstor:demo:fast").await;

    expect_code(
        &stack.run(&[
            "apply",
            "-f",
            &changed,
            "--auto-approve",
            "--allow-data-loss",
        ]),
        0,
    );
    let after = filesystem_id(&stack.efs().await, "cloudstor:demo:fast").await;
    assert_ne!(before, after, "the file system was replaced");
    expect_code(
        &stack.run(&["plan", "-f", &changed, "--detailed-exitcode"]),
        0,
    );
}

#[tokio::test]
async fn changes_made_outside_cloudstor_show_as_drift() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    stack.apply(&spec);
    let efs = stack.efs().await;
    let shared = filesystem_id(&efs, "cloudstor:demo:shared").await;
    let only_ia = LifecyclePolicy::builder()
        .transition_to_ia(TransitionToIaRules::After60Days)
        .build();
    efs.put_lifecycle_configuration()
        .file_system_id(&shared)
        .lifecycle_policies(only_ia)
        .send()
        .await
        .unwrap();
    let targets = efs
        .describe_mount_targets()
        .file_system_id(&shared)
        .send()
        .await
        .unwrap();
    let gone = targets
        .mount_targets()
        .iter()
        .find(|mt| mt.subnet_id() == stack.network.subnets[1].0)
        .unwrap();
    efs.delete_mount_target()
        .mount_target_id(gone.mount_target_id())
        .send()
        .await
        .unwrap();

    let output = stack.run(&["plan", "-f", &spec]);
    expect_code(&output, 0);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_drift", stdout(&output)));
    stack.apply(&spec);
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn protected_destroy_is_refused_and_changes_nothing() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    stack.apply(&spec);
    let refused = stack.run(&["destroy", "-f", &spec, "--auto-approve"]);
    expect_code(&refused, 1);
    let message = stderr(&refused);
    assert!(
        message.contains("filesystem.shared (fs-") && message.contains("filesystem.fast (fs-"),
        "{message}"
    );
    assert!(
        message.contains("is protected and would be destroyed; it holds 0 bytes"),
        "{message}"
    );
    assert!(message.contains("--allow-data-loss"), "{message}");
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn destroy_leaves_nothing_tagged_with_the_stack_and_spares_other_stacks() {
    let stack = Stack::new().await;
    let doomed = stack.spec("doomed", TWO_FILESYSTEMS);
    let neighbour = stack.spec("neighbour", "[filesystems.data]\n");
    stack.apply(&doomed);
    stack.apply(&neighbour);
    let destroyed = stack.run(&[
        "destroy",
        "-f",
        &doomed,
        "--auto-approve",
        "--allow-data-loss",
    ]);
    expect_code(&destroyed, 0);
    assert!(stdout(&destroyed).contains("Destroy complete! Resources: 9 destroyed."));

    let config = stack.moto.sdk_config().await;
    let filesystems = aws_sdk_efs::Client::new(&config)
        .describe_file_systems()
        .send()
        .await
        .unwrap();
    let stacks: Vec<_> = filesystems
        .file_systems()
        .iter()
        .flat_map(|fs| {
            fs.tags()
                .iter()
                .filter(|t| t.key() == "cloudstor:stack")
                .map(|t| t.value().to_owned())
        })
        .collect();
    assert_eq!(stacks, ["neighbour"]);
    let groups = aws_sdk_ec2::Client::new(&config)
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("tag:cloudstor:stack")
                .values("doomed")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups().is_empty());
    expect_code(
        &stack.run(&["plan", "-f", &neighbour, "--detailed-exitcode"]),
        0,
    );
}

#[tokio::test]
async fn saved_plan_applies_once_and_is_refused_when_stale() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    let plan_file = stack.dir.path().join("demo.plan");
    let plan_path = plan_file.display().to_string();
    expect_code(&stack.run(&["plan", "-f", &spec, "--out", &plan_path]), 0);
    let stale = stack.dir.path().join("stale.plan").display().to_string();
    expect_code(&stack.run(&["plan", "-f", &spec, "--out", &stale]), 0);

    let applied = stack.run(&["apply", &plan_path]);
    expect_code(&applied, 0);
    assert!(stdout(&applied).contains("9 added"));
    let refused = stack.run(&["apply", &stale]);
    expect_code(&refused, 1);
    assert!(
        stderr(&refused).contains("the saved plan is stale"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test]
async fn json_plan_uses_terraform_action_encoding() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    stack.apply(&spec);
    let changed = stack.spec(
        "demo",
        &TWO_FILESYSTEMS.replace("\"maxIO\"", "\"generalPurpose\""),
    );
    let output = stack.run(&["plan", "-f", &changed, "--json"]);
    expect_code(&output, 0);
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let fast = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "filesystem.fast")
        .unwrap();
    assert_eq!(
        fast["change"]["actions"],
        serde_json::json!(["delete", "create"])
    );
    assert_eq!(
        fast["change"]["replace_paths"],
        serde_json::json!([["performance_mode"]])
    );
    assert_eq!(fast["change"]["after_unknown"]["id"], true);
    assert_eq!(
        (&fast["type"], &fast["name"]),
        (&"filesystem".into(), &"fast".into())
    );
    assert_eq!(
        plan["summary"],
        serde_json::json!({"move": 0, "add": 4, "change": 0, "destroy": 4})
    );
}

#[tokio::test]
async fn apply_without_a_terminal_needs_auto_approve() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", TWO_FILESYSTEMS);
    let refused = stack.run(&["apply", "-f", &spec]);
    expect_code(&refused, 1);
    assert!(
        stderr(&refused).contains("stdin is not a terminal; pass --auto-approve"),
        "{}",
        stderr(&refused)
    );
    let filesystems = stack
        .efs()
        .await
        .describe_file_systems()
        .send()
        .await
        .unwrap();
    assert!(filesystems.file_systems().is_empty(), "nothing was created");
}

#[tokio::test]
async fn plan_names_subnets_that_are_missing_outside_the_vpc_or_share_a_zone() {
    let stack = Stack::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&stack.moto.sdk_config().await);
    let other_vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let other_vpc = other_vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let foreign = ec2
        .create_subnet()
        .vpc_id(&other_vpc)
        .cidr_block("10.9.1.0/24")
        .availability_zone("us-east-1f")
        .send()
        .await
        .unwrap();
    let foreign = foreign.subnet().unwrap().subnet_id().unwrap().to_owned();
    let twin = ec2
        .create_subnet()
        .vpc_id(&stack.network.vpc)
        .cidr_block("172.31.200.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    let twin = twin.subnet().unwrap().subnet_id().unwrap().to_owned();

    let text = stack.network.spec("demo", 1, "[filesystems.data]\n");
    let first = &stack.network.subnets[0].0;
    let text = text.replace(
        &format!("[\"{first}\"]"),
        &format!("[\"{first}\", \"{twin}\", \"{foreign}\", \"subnet-00000000000000000\"]"),
    );
    let spec = write_spec(stack.dir.path(), "bad.toml", &text)
        .display()
        .to_string();
    let output = stack.run(&["plan", "-f", &spec]);
    expect_code(&output, 1);
    let message = stderr(&output);
    // Each problem points at the subnet_ids entry to fix.
    let line = text
        .lines()
        .position(|l| l.starts_with("subnet_ids"))
        .unwrap();
    let at = |id: &str| {
        // The column of the opening quote, as for every string in the spec.
        let column = text.lines().nth(line).unwrap().find(id).unwrap();
        format!("{spec}:{}:{column}: ", line + 1)
    };
    assert!(
        message.contains(&format!(
            "{}subnet subnet-00000000000000000 not found in us-east-1",
            at("subnet-00000000000000000")
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "{}subnet {foreign} is in {other_vpc}, not in network.vpc_id",
            at(&foreign)
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}subnets {first} and {twin} are all in us-east-1a; EFS allows one mount target per Availability Zone", at(&twin))),
        "{message}"
    );
    assert!(
        message.contains(first) && message.contains(&twin),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_region_is_named_as_the_problem() {
    let stack = Stack::new().await;
    let text = stack
        .network
        .spec("demo", 1, "[filesystems.data]\n")
        .replace("region = \"us-east-1\"", "region = \"eu-nowhere-1\"");
    let spec = write_spec(stack.dir.path(), "region.toml", &text);
    let output = stack.run(&["plan", "-f", &spec.display().to_string()]);
    expect_code(&output, 1);
    let message = stderr(&output);
    assert!(
        message.starts_with(
            "error: eu-nowhere-1 is not an AWS region cloudstor knows, and no AWS endpoint answered there ("
        ),
        "{message}"
    );
    assert!(
        message.contains("check stack.region, --region or AWS_REGION"),
        "{message}"
    );
}

async fn filesystem_id(efs: &aws_sdk_efs::Client, token: &str) -> String {
    let found = efs
        .describe_file_systems()
        .creation_token(token)
        .send()
        .await
        .unwrap();
    found.file_systems()[0].file_system_id().to_owned()
}
