//! `apply --engine cloudformation` and `destroy --engine cloudformation` through the binary,
//! against moto's CloudFormation.

mod common;

use common::{Moto, expect_code, network, stdout, write_spec};

const FILESYSTEMS: &str =
    "[filesystems.shared]\ntransition_to_ia = \"30d\"\n\n[filesystems.scratch]\nprotect = false\n";

#[tokio::test]
async fn cloudformation_engine_deploys_shows_no_changes_and_deletes_keeping_protected_data() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let network = network(&config).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "cfn.toml",
        &network.spec("viacfn", 2, FILESYSTEMS),
    );
    let spec = spec.to_str().unwrap();

    let refused = moto.cloudstor(&["apply", "--engine", "cloudformation", "-f", spec]);
    expect_code(&refused, 1);
    let efs = aws_sdk_efs::Client::new(&config);
    assert!(
        efs.describe_file_systems()
            .send()
            .await
            .unwrap()
            .file_systems()
            .is_empty(),
        "nothing deployed without approval"
    );

    let applied = moto.cloudstor(&[
        "apply",
        "--engine",
        "cloudformation",
        "-f",
        spec,
        "--auto-approve",
    ]);
    expect_code(&applied, 0);
    let text = stdout(&applied);
    assert!(text.contains("+ FileSystemShared"), "{text}");
    assert_eq!(
        efs.describe_file_systems()
            .send()
            .await
            .unwrap()
            .file_systems()
            .len(),
        2
    );

    let again = moto.cloudstor(&[
        "apply",
        "--engine",
        "cloudformation",
        "-f",
        spec,
        "--auto-approve",
    ]);
    expect_code(&again, 0);
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));

    let plan_file = moto.cloudstor(&["apply", "--engine", "cloudformation", "saved.plan"]);
    expect_code(&plan_file, 1);

    let deleted = moto.cloudstor(&[
        "destroy",
        "--engine",
        "cloudformation",
        "-f",
        spec,
        "--auto-approve",
    ]);
    expect_code(&deleted, 0);
    let remaining = efs.describe_file_systems().send().await.unwrap();
    let tokens: Vec<_> = remaining
        .file_systems()
        .iter()
        .map(|fs| fs.name().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        remaining.file_systems().len(),
        1,
        "only the protected file system is retained: {tokens:?}"
    );
    assert!(
        stdout(&deleted).contains("FileSystemShared"),
        "the retained file system is listed: {}",
        stdout(&deleted)
    );
}
