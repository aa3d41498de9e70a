//! The node bootstrap as a managed launch template, against moto: created with the rendered
//! script as user data, a spec change makes version 2 the default, destroy removes it.

mod common;

use base64::Engine;
use common::{
    Moto, Network, expect_code, mount_target_addresses, mount_target_ips_toml, network, stderr,
    stdout, write_spec,
};

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn spec_text(network: &Network, plugin_url: &str) -> String {
    let nodes = format!(
        "[filesystems.shared]\nprotect = false\n\n[nodes]\nlaunch_template_name = \"swarm-nodes\"\nos_family = \"debian\"\nplugin_url = \"{plugin_url}\"\nplugin_sha256 = \"{SHA}\"\n"
    );
    network.spec("nodes", 2, &nodes)
}

/// (default version number, decoded user data of the default version)
async fn default_version(ec2: &aws_sdk_ec2::Client) -> (i64, String) {
    let templates = ec2
        .describe_launch_templates()
        .launch_template_names("swarm-nodes")
        .send()
        .await
        .unwrap();
    let default = templates.launch_templates()[0]
        .default_version_number()
        .unwrap();
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_name("swarm-nodes")
        .versions(default.to_string())
        .send()
        .await
        .unwrap();
    let encoded = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap()
        .user_data()
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    (default, String::from_utf8(decoded).unwrap())
}

async fn default_data(ec2: &aws_sdk_ec2::Client) -> aws_sdk_ec2::types::ResponseLaunchTemplateData {
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_name("swarm-nodes")
        .versions("$Default")
        .send()
        .await
        .unwrap();
    versions.launch_template_versions()[0]
        .launch_template_data()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn launch_template_carries_the_bootstrap_and_gets_a_new_default_version_on_change() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let network = network(&config).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let dir = tempfile::tempdir().unwrap();
    let first = write_spec(
        dir.path(),
        "v1.toml",
        &spec_text(&network, "https://example.com/plugin-v1"),
    );
    let first = first.to_str().unwrap();

    let planned = moto.cloudstor(&["plan", "-f", first]);
    expect_code(&planned, 0);
    assert!(
        stdout(&planned).contains("+ user_data = (known after apply)"),
        "{}",
        stdout(&planned)
    );
    expect_code(
        &moto.cloudstor(&["apply", "-f", first, "--auto-approve"]),
        0,
    );

    let script = moto.cloudstor(&["bootstrap", "-f", first]);
    expect_code(&script, 0);
    let (version, user_data) = default_version(&ec2).await;
    assert_eq!(version, 1);
    assert_eq!(
        user_data,
        stdout(&script),
        "user data decodes to the rendered script"
    );
    assert!(
        user_data.contains("fs-"),
        "the file system id is in the script"
    );
    let targets = mount_target_addresses(&config).await;
    assert_eq!(targets.len(), 2, "one mount target per subnet: {targets:?}");
    let line = mount_target_ips_toml(&targets);
    assert!(
        user_data.contains(&line),
        "each mount target's address by zone, as EFS reports them: {line}\n{user_data}"
    );
    let data = default_data(&ec2).await;
    assert_eq!(
        data.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required"),
        "instance metadata v2 only"
    );
    assert_eq!(
        data.security_group_ids(),
        std::slice::from_ref(&network.node_group)
    );
    expect_code(
        &moto.cloudstor(&["plan", "-f", first, "--detailed-exitcode"]),
        0,
    );

    let second = write_spec(
        dir.path(),
        "v2.toml",
        &spec_text(&network, "https://example.com/plugin-v2"),
    );
    let second = second.to_str().unwrap();
    let changed = moto.cloudstor(&["plan", "-f", second, "--detailed-exitcode"]);
    expect_code(&changed, 2);
    let text = stdout(&changed);
    assert!(
        text.contains("# launch_template.nodes will be updated in-place"),
        "{text}"
    );
    assert!(
        text.contains("Note: Running nodes keep the user data they booted with")
            && text.contains("aws autoscaling start-instance-refresh"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Note: launch_template.nodes: instance metadata HttpTokens = required, node security groups {}.",
            network.node_group
        )),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("-") && l.contains("plugin-v1")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("+") && l.contains("plugin-v2")),
        "{text}"
    );

    expect_code(
        &moto.cloudstor(&["apply", "-f", second, "--auto-approve"]),
        0,
    );
    let (version, user_data) = default_version(&ec2).await;
    assert_eq!(version, 2, "the new version is the default");
    assert!(user_data.contains("plugin-v2") && !user_data.contains("plugin-v1"));
    let data = default_data(&ec2).await;
    assert_eq!(
        data.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required"),
        "the new version keeps instance metadata v2 required"
    );
    assert_eq!(
        data.security_group_ids(),
        std::slice::from_ref(&network.node_group)
    );
    expect_code(
        &moto.cloudstor(&["plan", "-f", second, "--detailed-exitcode"]),
        0,
    );

    expect_code(
        &moto.cloudstor(&["destroy", "-f", second, "--auto-approve"]),
        0,
    );
    let left = ec2.describe_launch_templates().send().await.unwrap();
    assert!(
        left.launch_templates().is_empty(),
        "destroy removed the launch template"
    );
}

#[tokio::test]
async fn user_data_over_16_kb_is_a_plan_time_error() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "{}extra_user_data = \"\"\"\n{}\"\"\"\n",
        spec_text(&network, "https://example.com/p"),
        "echo padding\n".repeat(1400)
    );
    let path = write_spec(dir.path(), "huge.toml", &huge);
    let output = moto.cloudstor(&["plan", "-f", path.to_str().unwrap()]);
    expect_code(&output, 1);
    assert!(
        stderr(&output).contains("user data too large: the node script is"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("EC2 accepts at most 16384 bytes"),
        "{}",
        stderr(&output)
    );
}
