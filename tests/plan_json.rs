//! `plan --json` and `show --json` follow `terraform show -json`'s shape (docs/plan-json.md),
//! pinned by snapshots of a plan made offline from a spec and what refresh would have seen.

use std::path::Path;
use std::process::Command;

use cloudstor::cloud::Observed;
use cloudstor::model::{Address, AppliedRecord, Desired, Resource};
use cloudstor::plan::{Plan, render_json};
use cloudstor::spec::Spec;

const NETWORK: &str = r#"[stack]
name = "demo"

[network]
vpc_id = "vpc-1"
subnet_ids = ["subnet-a"]
node_security_group_ids = ["sg-nodes"]
"#;

fn spec(filesystems: &str) -> Spec {
    Spec::parse(
        Path::new("cloudstor.toml"),
        &format!("{NETWORK}\n{filesystems}"),
    )
    .unwrap()
}

/// After an apply of `[filesystems.data]` and `[filesystems.old]`, with backups of `data`
/// switched off outside cloudstor.
fn observed() -> Observed {
    let earlier = spec("[filesystems.data]\nthroughput_mode = \"bursting\"\n\n[filesystems.old]\n");
    let zones = [("subnet-a".to_string(), "us-east-1a".to_string())].into();
    let mut resources = Desired::from_spec(&earlier, &zones).resources;
    let mut applied = std::collections::BTreeMap::new();
    for (address, resource) in &mut resources {
        match resource {
            Resource::FileSystem(fs) => {
                fs.id = Some(format!("fs-{address}"));
                applied.insert(
                    address.clone(),
                    AppliedRecord::of(fs, ["subnet-a".to_string()].into()),
                );
                if *address == Address::FileSystem("data".into()) {
                    fs.backup = false;
                }
            }
            Resource::SecurityGroup(sg) => sg.id = Some("sg-stack".into()),
            Resource::MountTarget(mt) => {
                mt.id = Some(format!("fsmt-{}", mt.filesystem));
                mt.filesystem_id = Some(format!("fs-filesystem.{}", mt.filesystem));
                mt.security_groups = Some(["sg-stack".to_string()].into());
            }
            Resource::LaunchTemplate(_) => unreachable!("the spec has no [nodes]"),
        }
    }
    Observed {
        resources,
        applied,
        subnet_zones: zones,
        ..Observed::default()
    }
}

/// Replaces `data` (maxIO), adds `fresh`, deletes `old`.
fn plan() -> Plan {
    let wanted = spec(
        "[filesystems.data]\nperformance_mode = \"maxIO\"\nthroughput_mode = \"bursting\"\nprotect = false\n\n[filesystems.fresh]\nbackup = false\n",
    );
    Plan::new(&wanted, &observed(), false).unwrap()
}

#[test]
fn plan_json_follows_terraform_show_json() {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r#""cloudstor_version": "[^"]+""#,
        r#""cloudstor_version": "[version]""#,
    );
    settings.bind(|| insta::assert_json_snapshot!("plan_json", render_json(&plan())));
}

fn cloudstor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("cloudstor runs")
}

#[test]
fn errors_under_json_are_diagnostics_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloudstor.toml");
    let text = format!("{NETWORK}\n[filesystems.data]\ntransition_to_ia = \"45d\"\n");
    std::fs::write(&path, text).unwrap();
    let output = cloudstor(&["plan", "-f", &path.display().to_string(), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&dir.path().display().to_string()), "[dir]");
    settings.bind(|| insta::assert_json_snapshot!("plan_json_spec_error", error));
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}
