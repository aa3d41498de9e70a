//! `cloudstor bootstrap` through the real binary: file system ids from a refresh against moto,
//! a clear error before apply, and the CloudFormation form without any AWS call.

mod common;

use common::{Moto, REGION, expect_code, network, stderr, stdout, write_spec};

const NODES: &str = r#"
[filesystems.shared]

[filesystems.fast]
performance_mode = "maxIO"
throughput_mode = "bursting"

[nodes]
launch_template_name = "swarm-nodes"
os_family = "debian"
plugin_url = "https://example.com/cloudstor-plugin"
plugin_sha256 = "f61f1aef37c67d1c8b16d91edbfda46721c4632c986616a89b44dfd595729405"
"#;

async fn filesystem_id(moto: &Moto, token: &str) -> String {
    let efs = aws_sdk_efs::Client::new(&moto.sdk_config().await);
    let found = efs
        .describe_file_systems()
        .creation_token(token)
        .send()
        .await
        .unwrap();
    found.file_systems()[0].file_system_id().to_owned()
}

#[tokio::test]
async fn bootstrap_prints_the_script_with_the_applied_file_systems() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "cloudstor.toml",
        &network.spec("nodes", 2, NODES),
    );
    let spec = spec.to_str().unwrap();

    let before_apply = moto.cloudstor(&["bootstrap", "-f", spec]);
    expect_code(&before_apply, 1);
    assert!(
        stderr(&before_apply)
            .contains("file system fast does not exist yet; run `cloudstor apply` first"),
        "{}",
        stderr(&before_apply)
    );

    expect_code(&moto.cloudstor(&["apply", "-f", spec, "--auto-approve"]), 0);
    let output = moto.cloudstor(&["bootstrap", "-f", spec]);
    expect_code(&output, 0);
    let script = stdout(&output);
    assert!(script.starts_with("#!/bin/sh\n"));
    for (name, mode) in [("shared", "generalPurpose"), ("fast", "maxIO")] {
        let id = filesystem_id(&moto, &format!("cloudstor:nodes:{name}")).await;
        let table = format!(
            "# filesystem.{name}\n[[filesystems]]\nid = \"{id}\"\nperformance_mode = \"{mode}\"\nbackend = \"efs\"\ndns_name = \"{id}.efs.{REGION}.amazonaws.com\"\n"
        );
        assert!(script.contains(&table), "{name} missing from:\n{script}");
    }
}

#[test]
fn bootstrap_cloudformation_needs_no_aws() {
    let dir = tempfile::tempdir().unwrap();
    let spec_text = format!(
        "[stack]\nname = \"nodes\"\n\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\"]\nnode_security_group_ids = [\"sg-1\"]\n{NODES}"
    );
    let spec = write_spec(dir.path(), "cloudstor.toml", &spec_text);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(["bootstrap", "--cloudformation", "-f"])
        .arg(&spec)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    expect_code(&output, 0);
    assert!(stdout(&output).contains("id = \"${FsIdShared}\""));
    assert!(stderr(&output).contains("Fn::Sub variable FsIdFast: the id of filesystem.fast"));
}

#[tokio::test]
async fn bootstrap_refuses_a_script_ec2_would_refuse_in_both_forms() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "{}extra_user_data = \"\"\"\n{}\"\"\"\n",
        network.spec("nodes", 2, NODES),
        "echo padding\n".repeat(2400)
    );
    let spec = write_spec(dir.path(), "huge.toml", &huge);
    let spec = spec.to_str().unwrap();
    expect_code(&moto.cloudstor(&["apply", "-f", spec, "--auto-approve"]), 1);
    // The file systems exist, so the API form renders too, and is refused the same way.
    let fitting = write_spec(dir.path(), "fits.toml", &network.spec("nodes", 2, NODES));
    let fitting = fitting.to_str().unwrap();
    expect_code(
        &moto.cloudstor(&["apply", "-f", fitting, "--auto-approve"]),
        0,
    );
    for args in [
        vec!["bootstrap", "-f", spec],
        vec!["bootstrap", "--cloudformation", "-f", spec],
        vec!["template", "-f", spec],
    ] {
        let output = moto.cloudstor(&args);
        expect_code(&output, 1);
        assert!(
            stderr(&output).contains("EC2 accepts at most 16384 bytes of user data"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "nothing printed: {args:?}");
    }
}
