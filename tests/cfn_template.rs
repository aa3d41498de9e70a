//! `cloudstor template`: snapshots of the template of every example, and cfn-lint (the real
//! one, pinned in requirements-dev.txt) over every template the tests can make, in JSON and
//! YAML, plain and parameterized: zero errors, zero warnings.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudstor::cfn::{TemplateOptions, build, to_yaml};
use cloudstor::spec::Spec;
use serde_json::Value;

fn examples() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples/ exists")
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "toml"))
            .collect();
    paths.sort();
    assert!(paths.len() >= 4, "examples: {paths:?}");
    paths
}

/// The examples list their subnets in zone order (us-east-1a, 1b, ...); EC2 would say so.
fn zones_in_order(spec: &Spec) -> BTreeMap<String, String> {
    spec.network
        .subnet_ids
        .iter()
        .zip('a'..='f')
        .map(|(subnet, letter)| (subnet.clone(), format!("us-east-1{letter}")))
        .collect()
}

fn template_of(path: &Path, options: TemplateOptions) -> Value {
    let spec = Spec::load(path).unwrap_or_else(|e| panic!("{e}"));
    build(&spec, &zones_in_order(&spec), options).unwrap_or_else(|e| panic!("{e}"))
}

/// Specs beyond the examples that reach the other branches of the emitter.
const TEST_SPECS: [(&str, &str); 2] = [
    (
        "cidrs-and-kms",
        r#"[stack]
name = "lint-cidrs"
[network]
vpc_id = "vpc-0123456789abcdef0"
subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1"]
allowed_cidrs = ["10.0.0.0/16", "10.1.0.0/16"]
[filesystems.secure]
kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
transition_to_ia = "1d"
transition_to_archive = "365d"
transition_to_primary = "on_first_access"
"#,
    ),
    (
        "unencrypted-unprotected",
        r#"[stack]
name = "lint-plain"
[network]
vpc_id = "vpc-0123456789abcdef0"
subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
node_security_group_ids = ["sg-0123456789abcdef0", "sg-0123456789abcdef1"]
[filesystems.tmp-data]
encrypted = false
protect = false
backup = false
throughput_mode = "bursting"
[filesystems.logs_2]
throughput_mode = "provisioned"
provisioned_throughput_mibps = 3414
"#,
    ),
];

#[test]
fn every_example_has_a_stable_template() {
    for path in examples() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let template = template_of(&path, TemplateOptions::default());
        insta::assert_json_snapshot!(format!("template_{name}"), template);
    }
}

#[test]
fn parameterized_template_keeps_the_spec_as_defaults() {
    let basic = examples()
        .into_iter()
        .find(|p| p.ends_with("basic.toml"))
        .unwrap();
    let template = template_of(&basic, TemplateOptions { parameterize: true });
    insta::assert_snapshot!("template_basic_parameterized_yaml", to_yaml(&template));
}

#[test]
fn cfn_lint_passes_every_template_with_no_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut write = |name: String, template: &Value| {
        let json = dir.path().join(format!("{name}.json"));
        std::fs::write(&json, serde_json::to_string_pretty(template).unwrap()).unwrap();
        let yaml = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&yaml, to_yaml(template)).unwrap();
        files.extend([json, yaml]);
    };
    for path in examples() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        for parameterize in [false, true] {
            let template = template_of(&path, TemplateOptions { parameterize });
            write(format!("{name}-{parameterize}"), &template);
        }
    }
    for (name, text) in TEST_SPECS {
        let spec = Spec::parse(Path::new(name), text).unwrap_or_else(|e| panic!("{e}"));
        for parameterize in [false, true] {
            let template =
                build(&spec, &BTreeMap::new(), TemplateOptions { parameterize }).unwrap();
            write(format!("{name}-{parameterize}"), &template);
        }
    }
    let output = Command::new("cfn-lint")
        .args(["--format", "parseable"])
        .args(&files)
        .output()
        .expect("cfn-lint runs; install it with `pip install -r requirements-dev.txt`");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint found problems (exit {:?}) in {} templates:\n{}{}",
        output.status.code(),
        files.len(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// cfn-lint must be able to fail this test: a template with a wrong property is refused.
#[test]
fn cfn_lint_refuses_a_broken_template() {
    let basic = examples()
        .into_iter()
        .find(|p| p.ends_with("basic.toml"))
        .unwrap();
    let mut template = template_of(&basic, TemplateOptions::default());
    template["Resources"]["FileSystemShared"]["Properties"]["Tags"] = serde_json::json!([]);
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), template.to_string()).unwrap();
    let output = Command::new("cfn-lint")
        .arg(file.path())
        .output()
        .expect("cfn-lint runs");
    assert!(
        !output.status.success(),
        "cfn-lint accepted an unknown property"
    );
}

#[test]
fn template_command_prints_yaml_and_json() {
    let basic = examples()
        .into_iter()
        .find(|p| p.ends_with("basic.toml"))
        .unwrap();
    let basic = basic.to_str().unwrap();
    let json = run(&["template", "-f", basic]);
    common::expect_code(&json, 0);
    let parsed: Value = serde_json::from_slice(&json.stdout).expect("stdout is JSON");
    assert_eq!(
        parsed,
        template_of(Path::new(basic), TemplateOptions::default())
    );
    let yaml = run(&[
        "template",
        "-f",
        basic,
        "--format",
        "yaml",
        "--parameterize",
    ]);
    common::expect_code(&yaml, 0);
    let parsed: Value = serde_norway::from_slice(&yaml.stdout).expect("stdout is YAML");
    assert_eq!(
        parsed["Parameters"]["Subnet0aaaaaaaaaaaaaaa1"]["Type"],
        "AWS::EC2::Subnet::Id"
    );
}

#[test]
fn template_command_refuses_a_bad_spec_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::write_spec(
        dir.path(),
        "bad.toml",
        "[stack]\nname = \"x\"\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\"]\nnode_security_group_ids = [\"sg-1\"]\n[filesystems.a]\nthroughput_mode = \"fast\"\n",
    );
    let output = run(&["template", "-f", spec.to_str().unwrap()]);
    common::expect_code(&output, 1);
    assert!(output.stdout.is_empty(), "nothing printed on error");
    let stderr = common::stderr(&output);
    assert!(stderr.contains("bad.toml:8:"), "{stderr}");
}

#[test]
fn template_command_refuses_names_that_clash() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::write_spec(
        dir.path(),
        "clash.toml",
        "[stack]\nname = \"x\"\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\"]\nnode_security_group_ids = [\"sg-1\"]\n[filesystems.my-data]\n[filesystems.my_data]\n",
    );
    let output = run(&["template", "-f", spec.to_str().unwrap()]);
    common::expect_code(&output, 1);
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("`my-data` and `my_data` would both be FileSystemMyData"),
        "{stderr}"
    );
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("cloudstor runs")
}
