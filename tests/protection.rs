//! Protection is read from AWS (the `cloudstor:protect` tag), never from the spec alone: one
//! edit cannot switch it off and replace or destroy the file system in the same apply, and
//! plan says beforehand what apply will refuse. Against moto, through the binary.

mod common;

use common::{Stack, expect_code, stderr, stdout};

const PROTECTED: &str = "[filesystems.data]\nperformance_mode = \"generalPurpose\"\n";

async fn filesystem_id(stack: &Stack) -> String {
    let found = stack
        .efs()
        .await
        .describe_file_systems()
        .creation_token("cloudstor:demo:data")
        .send()
        .await
        .unwrap();
    found.file_systems()[0].file_system_id().to_owned()
}

#[tokio::test]
async fn switching_protection_off_and_replacing_takes_two_applies() {
    let stack = Stack::new().await;
    stack.apply(&stack.spec("demo", PROTECTED));
    let before = filesystem_id(&stack).await;
    let both = stack.spec_file("both.toml",
        "[filesystems.data]\nperformance_mode = \"maxIO\"\nthroughput_mode = \"bursting\"\nprotect = false\n",
    );

    let refused = stack.run(&["apply", "-f", &both, "--auto-approve"]);
    expect_code(&refused, 1);
    assert!(
        stderr(&refused).contains(&format!(
            "filesystem.data ({before}) is protected and would be replaced"
        )),
        "{}",
        stderr(&refused)
    );
    assert_eq!(filesystem_id(&stack).await, before, "nothing was replaced");

    let plan = stack.run(&["plan", "-f", &both]);
    expect_code(&plan, 0);
    let shown = stdout(&plan);
    assert!(
        shown.contains(&format!(
            "Apply will refuse these changes without --allow-data-loss:\n  - filesystem.data ({before}) is protected and would be replaced; it holds 0 bytes"
        )),
        "{shown}"
    );

    let unprotect = stack.spec_file(
        "unprotect.toml",
        "[filesystems.data]\nperformance_mode = \"generalPurpose\"\nprotect = false\n",
    );
    stack.apply(&unprotect);
    assert_eq!(filesystem_id(&stack).await, before);
    stack.apply(&both);
    assert_ne!(
        filesystem_id(&stack).await,
        before,
        "replaced once unprotected"
    );
    expect_code(&stack.run(&["plan", "-f", &both, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn plan_of_a_destroy_says_what_apply_will_refuse() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", PROTECTED);
    stack.apply(&spec);
    let id = filesystem_id(&stack).await;
    let other = stack.spec_file("other.toml", "[filesystems.other]\nprotect = false\n");
    let plan = stack.run(&["plan", "-f", &other]);
    expect_code(&plan, 0);
    assert!(
        stdout(&plan).contains(&format!(
            "  - filesystem.data ({id}) is protected and would be destroyed; it holds 0 bytes"
        )),
        "{}",
        stdout(&plan)
    );
}
