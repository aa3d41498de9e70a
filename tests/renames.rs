//! Renaming a file system in the spec with `moved_from` moves its address and keeps its data:
//! apply rewrites the `cloudstor:resource` tag and nothing else. Against moto, through the
//! binary.

mod common;

use common::{Stack, expect_code, stderr, stdout};

const OLD: &str = "[filesystems.old]\ntransition_to_ia = \"30d\"\n";
const MOVED: &str = "[filesystems.new]\nmoved_from = \"old\"\ntransition_to_ia = \"30d\"\n";
const NEW: &str = "[filesystems.new]\ntransition_to_ia = \"30d\"\n";

/// (id, CreationToken, `cloudstor:resource`) of every file system.
async fn filesystems(stack: &Stack) -> Vec<(String, String, String)> {
    let found = stack
        .efs()
        .await
        .describe_file_systems()
        .send()
        .await
        .unwrap();
    found
        .file_systems()
        .iter()
        .map(|fs| {
            let resource = fs
                .tags()
                .iter()
                .find(|t| t.key() == "cloudstor:resource")
                .map(|t| t.value().to_owned())
                .unwrap_or_default();
            (
                fs.file_system_id().to_owned(),
                fs.creation_token().to_owned(),
                resource,
            )
        })
        .collect()
}

async fn mount_target_ids(stack: &Stack, id: &str) -> Vec<String> {
    let found = stack
        .efs()
        .await
        .describe_mount_targets()
        .file_system_id(id)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = found
        .mount_targets()
        .iter()
        .map(|mt| mt.mount_target_id().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn moved_from_renames_the_address_without_touching_the_filesystem() {
    let stack = Stack::new().await;
    stack.apply(&stack.spec_file("old.toml", OLD));
    let [(id, token, _)] = &filesystems(&stack).await[..] else {
        panic!("one file system")
    };
    let targets = mount_target_ids(&stack, id).await;
    assert_eq!(targets.len(), 3);

    let moved = stack.spec_file("moved.toml", MOVED);
    let plan = stack.run(&["plan", "-f", &moved, "--detailed-exitcode"]);
    expect_code(&plan, 2);
    stack
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!("plan_move", stdout(&plan)));

    let json = stack.run(&["plan", "-f", &moved, "--json"]);
    expect_code(&json, 0);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let [change] = &json["resource_changes"].as_array().unwrap()[..] else {
        panic!("one resource change: {json}")
    };
    assert_eq!(change["address"], "filesystem.new");
    assert_eq!(change["previous_address"], "filesystem.old");
    assert_eq!(change["change"]["actions"], serde_json::json!(["no-op"]));
    assert_eq!(change["change"]["before"], change["change"]["after"]);
    assert_eq!(change["change"]["before"]["id"], id.as_str());
    assert_eq!(json["summary"]["move"], 1);

    let applied = stack.run(&["apply", "-f", &moved, "--auto-approve"]);
    expect_code(&applied, 0);
    assert!(
        stdout(&applied).contains("Apply complete! Resources: 0 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&applied)
    );
    assert_eq!(
        filesystems(&stack).await,
        [(id.clone(), token.clone(), "filesystem.new".to_owned())],
        "the same file system, its CreationToken unchanged, at its new address"
    );
    assert_eq!(mount_target_ids(&stack, id).await, targets);
    expect_code(
        &stack.run(&["plan", "-f", &moved, "--detailed-exitcode"]),
        0,
    );
    let settled = stack.spec_file("new.toml", NEW);
    expect_code(
        &stack.run(&["plan", "-f", &settled, "--detailed-exitcode"]),
        0,
    );

    let reused = stack.spec_file("reused.toml", &format!("{NEW}\n{OLD}"));
    let refused = stack.run(&["plan", "-f", &reused]);
    expect_code(&refused, 1);
    assert!(
        stderr(&refused).contains(&format!(
            "filesystem.old: its CreationToken cloudstor:demo:old is still held by {id}, which the stack knows as filesystem.new"
        )),
        "{}",
        stderr(&refused)
    );
}
