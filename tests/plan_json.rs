//! How a plan reaches others: `plan --json` and `show --json` follow `terraform show -json`'s
//! shape (docs/plan-json.md), `show` prints a saved plan, and colour appears on a terminal
//! only. Plans are made offline from a spec and what refresh would have seen.

use std::path::Path;
use std::process::Command;

use cloudstor::cloud::Observed;
use cloudstor::model::{Address, AppliedRecord, Desired, Resource, STACK_TAG};
use cloudstor::plan::{Plan, render_json, render_text};
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

/// `old` renamed with `moved_from` and nothing else (Terraform's `moved` block, a no-op), and
/// `data`, its `cloudstor:stack` tag removed by hand, getting it back (an update).
#[test]
fn moves_and_restored_tags_are_resource_changes_as_terraform_shows_moves() {
    let mut observed = observed();
    observed.lost_tags.insert(
        Address::FileSystem("data".into()),
        vec![(STACK_TAG.into(), "demo".into())],
    );
    let wanted = spec(
        "[filesystems.data]\nthroughput_mode = \"bursting\"\nbackup = false\n\n[filesystems.renamed]\nmoved_from = \"old\"\n",
    );
    let plan = Plan::new(&wanted, &observed, false).unwrap();
    let json = render_json(&plan);
    insta::assert_json_snapshot!("plan_json_move_and_restore", json["resource_changes"]);
    assert_eq!(
        json["summary"],
        serde_json::json!({"move": 1, "add": 0, "change": 1, "destroy": 0})
    );
    assert!(
        render_text(&plan).contains("Plan: 1 to move, 0 to add, 1 to change, 0 to destroy."),
        "the text plan counts them the same way"
    );
}

/// `old` renamed to `renamed` while its throughput mode changes, and `data` getting its
/// `cloudstor:stack` tag back while its backups are switched on again: Terraform lists each
/// address once, so each is one `update` carrying the move and the restored tags.
#[test]
fn a_file_system_that_moves_and_changes_is_one_entry() {
    let mut observed = observed();
    observed.lost_tags.insert(
        Address::FileSystem("data".into()),
        vec![(STACK_TAG.into(), "demo".into())],
    );
    let wanted = spec(
        "[filesystems.data]\nthroughput_mode = \"bursting\"\n\n[filesystems.renamed]\nmoved_from = \"old\"\nthroughput_mode = \"bursting\"\n",
    );
    let plan = Plan::new(&wanted, &observed, false).unwrap();
    let json = render_json(&plan);
    let entries = json["resource_changes"].as_array().unwrap();
    let addresses: Vec<&str> = entries
        .iter()
        .map(|entry| entry["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["filesystem.data", "filesystem.renamed"]);
    let renamed = &entries[1];
    assert_eq!(renamed["previous_address"], "filesystem.old");
    assert_eq!(renamed["change"]["actions"], serde_json::json!(["update"]));
    assert_eq!(renamed["change"]["after"]["throughput_mode"], "bursting");
    let data = &entries[0];
    assert!(data.get("previous_address").is_none(), "{data}");
    assert_eq!(data["change"]["after"]["backup"], true);
    assert_eq!(
        data["change"]["before"]["ownership_tags"],
        serde_json::json!({})
    );
    assert_eq!(
        data["change"]["after"]["ownership_tags"],
        serde_json::json!({ STACK_TAG: "demo" })
    );
    assert_eq!(
        json["summary"],
        serde_json::json!({"move": 1, "add": 0, "change": 2, "destroy": 0}),
        "the summary counts moves and changes as the text plan does"
    );
    assert!(
        render_text(&plan).contains("Plan: 1 to move, 0 to add, 2 to change, 0 to destroy."),
        "{}",
        render_text(&plan)
    );
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

/// The offline plan saved to a file in `dir`.
fn saved(dir: &Path) -> String {
    let path = dir.join("demo.plan");
    plan().save(&path).unwrap();
    path.display().to_string()
}

#[test]
fn show_prints_a_saved_plan_as_text_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let text = cloudstor(&["show", &file]);
    assert_eq!(text.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&text.stdout), render_text(&plan()));
    let json = cloudstor(&["show", "--json", &file]);
    assert_eq!(json.status.code(), Some(0));
    let shown: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(shown, render_json(&plan()));
}

#[test]
fn show_of_something_else_is_a_json_error_under_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloudstor.toml");
    std::fs::write(&path, NETWORK).unwrap();
    let output = cloudstor(&["show", "--json", &path.display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let summary = error["diagnostics"][0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("is not a cloudstor plan file"),
        "{summary}"
    );
}

/// `cloudstor show` on a pseudo-terminal (util-linux `script`), with `env` set.
fn on_a_terminal(file: &str, flags: &str, env: &[(&str, &str)]) -> String {
    let command = format!("{} show {flags} {file}", env!("CARGO_BIN_EXE_cloudstor"));
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("script(1) from util-linux runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_unless_no_color_asks_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let coloured = on_a_terminal(&file, "", &[]);
    assert!(
        coloured.contains("\x1b[32m+\x1b[0m filesystem.fresh"),
        "{coloured}"
    );
    assert!(coloured.contains("\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m filesystem.data"));
    assert!(coloured.contains("\x1b[31m# forces replacement\x1b[0m"));
    for plain in [
        on_a_terminal(&file, "--no-color", &[]),
        on_a_terminal(&file, "", &[("NO_COLOR", "1")]),
    ] {
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("-/+ filesystem.data"), "{plain}");
    }
    // Not a terminal: plain (the other tests here read stdout through a pipe).
    let piped = cloudstor(&["show", &file]);
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'));
}
