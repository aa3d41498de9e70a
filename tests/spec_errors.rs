//! Bad specs: each is refused with file:line:column, a message and, where one helps, a hint,
//! before any AWS call. One case also runs through the binary to pin the exit code.

use std::path::Path;

use cloudstor::spec::Spec;

const GOOD: &str = r#"[stack]
name = "prod"

[network]
vpc_id = "vpc-0abc"
subnet_ids = ["subnet-a", "subnet-b"]
node_security_group_ids = ["sg-nodes"]

[filesystems.shared]
throughput_mode = "elastic"
transition_to_ia = "30d"
"#;

fn error_for(text: &str) -> String {
    Spec::parse(Path::new("cloudstor.toml"), text)
        .expect_err("the spec is refused")
        .to_string()
}

/// The good spec admitting `list` (TOML array items) instead of the node group.
fn cidrs(list: &str) -> String {
    with(
        "node_security_group_ids = [\"sg-nodes\"]",
        &format!("allowed_cidrs = [{list}]"),
    )
}

fn with(old: &str, new: &str) -> String {
    assert!(
        GOOD.contains(old),
        "test setup: {old:?} is in the good spec"
    );
    GOOD.replacen(old, new, 1)
}

#[test]
fn the_good_spec_is_accepted() {
    Spec::parse(Path::new("cloudstor.toml"), GOOD).unwrap();
}

#[test]
fn bad_specs_name_position_problem_and_hint() {
    let cases: Vec<(String, &str)> = vec![
        (
            with("throughput_mode", "throughput_mdoe"),
            "cloudstor.toml:10:1: unknown field `throughput_mdoe`, expected one of `performance_mode`, `throughput_mode`, `provisioned_throughput_mibps`, `encrypted`, `kms_key_id`, `transition_to_ia`, `transition_to_archive`, `transition_to_primary`, `backup`, `availability_zone`, `protect`, `tags`, `moved_from`\n  hint: did you mean `throughput_mode`?",
        ),
        (
            with("\"elastic\"", "\"fast\""),
            "cloudstor.toml:10:19: unknown variant `fast`, expected one of `elastic`, `bursting`, `provisioned`",
        ),
        (
            with("\"30d\"", "\"45d\""),
            "cloudstor.toml:11:20: `45d` is not a transition EFS accepts; use one of \"1d\", \"7d\", \"14d\", \"30d\", \"60d\", \"90d\", \"180d\", \"270d\", \"365d\" or \"none\"",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                "transition_to_ia = \"30d\"\ntransition_to_archive = \"90d\"\nperformance_mode = \"maxIO\"\nthroughput_mode_x = 1",
            ),
            "cloudstor.toml:14:1: unknown field `throughput_mode_x`",
        ),
        (
            with(
                "throughput_mode = \"elastic\"",
                "throughput_mode = \"bursting\"\ntransition_to_archive = \"90d\"",
            ),
            "cloudstor.toml:11:25: transition_to_archive needs throughput_mode \"elastic\" and performance_mode \"generalPurpose\"\n  hint: EFS offers the Archive storage class only to Elastic, General Purpose file systems",
        ),
        (
            with(
                "throughput_mode = \"elastic\"",
                "performance_mode = \"maxIO\"",
            ),
            "cloudstor.toml:10:20: performance_mode \"maxIO\" does not support elastic throughput\n  hint: set throughput_mode = \"bursting\" or \"provisioned\"",
        ),
        (
            with(
                "throughput_mode = \"elastic\"",
                "provisioned_throughput_mibps = 64",
            ),
            "cloudstor.toml:10:32: provisioned_throughput_mibps is set but throughput_mode is \"elastic\"\n  hint: set throughput_mode = \"provisioned\" or remove this line",
        ),
        (
            with("\"elastic\"", "\"provisioned\""),
            "cloudstor.toml:10:19: throughput_mode \"provisioned\" needs provisioned_throughput_mibps\n  hint: add provisioned_throughput_mibps = 64 (MiB/s)",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                "encrypted = false\nkms_key_id = \"arn:aws:kms:us-east-1:1:key/x\"",
            ),
            "cloudstor.toml:11:13: kms_key_id is set but encrypted = false\n  hint: a KMS key only makes sense with encrypted = true",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                "transition_to_ia = \"90d\"\ntransition_to_archive = \"30d\"",
            ),
            "cloudstor.toml:12:25: transition_to_archive (30d) must come after transition_to_ia (90d)",
        ),
        (
            with("\"subnet-b\"", "\"subnet-a\""),
            "cloudstor.toml:6:27: subnet `subnet-a` is listed twice",
        ),
        (
            with("\"subnet-b\"", "\"sn-b\""),
            "cloudstor.toml:6:27: `sn-b` is not a subnet id\n  hint: subnet ids start with `subnet-`",
        ),
        (
            with(
                "node_security_group_ids = [\"sg-nodes\"]",
                "allowed_cidrs = [\"0.0.0.0/0\"]",
            ),
            "cloudstor.toml:7:18: 0.0.0.0/0 admits addresses outside the private ranges 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7\n  hint: NFS must not be open to the internet; give your VPC's or subnets' CIDR, or set allow_public_cidrs = true in [network] if you really mean it",
        ),
        (
            cidrs("\"10.0.0.1/0\""),
            "cloudstor.toml:7:18: 10.0.0.1/0 has host bits set\n  hint: did you mean 0.0.0.0/0?",
        ),
        (
            cidrs("\"10.0.0.0/8\", \"0.0.0.0/1\", \"128.0.0.0/1\""),
            "cloudstor.toml:7:32: 0.0.0.0/1 admits addresses outside the private ranges",
        ),
        (
            cidrs("\"128.0.0.0/1\""),
            "cloudstor.toml:7:18: 128.0.0.0/1 admits addresses outside the private ranges",
        ),
        (
            cidrs("\"0.0.0.0/00\""),
            "cloudstor.toml:7:18: 0.0.0.0/00 is not written canonically\n  hint: did you mean 0.0.0.0/0?",
        ),
        (
            cidrs("\"172.31.5.7/16\""),
            "cloudstor.toml:7:18: 172.31.5.7/16 has host bits set\n  hint: did you mean 172.31.0.0/16?",
        ),
        (
            cidrs("\"10.0.0.0/7\""),
            "cloudstor.toml:7:18: 10.0.0.0/7 admits addresses outside the private ranges",
        ),
        (
            cidrs("\"10.0.0.9\""),
            "cloudstor.toml:7:18: `10.0.0.9` is not a CIDR\n  hint: for one address write \"10.0.0.9/32\"",
        ),
        (
            cidrs("\"::/0\""),
            "cloudstor.toml:7:18: ::/0 admits addresses outside the private ranges",
        ),
        (
            cidrs("\"fd00:0::/8\""),
            "cloudstor.toml:7:18: fd00:0::/8 is not written canonically\n  hint: did you mean fd00::/8?",
        ),
        (
            with("node_security_group_ids = [\"sg-nodes\"]\n", ""),
            "cloudstor.toml:5:10: nobody may mount: network has neither node_security_group_ids nor allowed_cidrs",
        ),
        (
            with("name = \"prod\"", "name = \"prod stack\""),
            "cloudstor.toml:2:8: stack name `prod stack` is not usable\n  hint: use 1 to 32 letters, digits, `-` or `_`, starting with a letter or digit",
        ),
        (
            with("[filesystems.shared]", "[filesystems.\"../x\"]"),
            "cloudstor.toml:9:14: file system name `../x` is not usable",
        ),
        (
            with(
                "subnet_ids = [\"subnet-a\", \"subnet-b\"]",
                "subnet_ids = []",
            ),
            "cloudstor.toml:6:14: network.subnet_ids is empty: mount targets need at least one subnet",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                "tags = { \"cloudstor:stack\" = \"other\" }",
            ),
            "cloudstor.toml:11:10: tag `cloudstor:stack` uses a reserved prefix",
        ),
        (
            with("transition_to_ia = \"30d\"", "tags = { Name = \"shared\" }"),
            "cloudstor.toml:11:10: tag `Name` is set by cloudstor\n  hint: cloudstor names each file system STACK-NAME (here prod-shared); rename the [filesystems] table to change it",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                &format!("tags = {{ team = \"{}\" }}", "x".repeat(257)),
            ),
            "cloudstor.toml:11:17: tag `team` has a value of 257 characters; AWS allows 256",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                &format!("tags = {{ {} = \"x\" }}", "k".repeat(129)),
            ),
            "cloudstor.toml:11:10: tag key of 129 characters; AWS allows 128",
        ),
        (
            with(
                "transition_to_ia = \"30d\"",
                &format!(
                    "tags = {{ {} }}",
                    (0..46)
                        .map(|i| format!("t{i} = \"x\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            "cloudstor.toml:11:8: 46 tags; with the 5 cloudstor sets, a file system may carry 45",
        ),
        (
            with(
                "throughput_mode = \"elastic\"",
                "kms_key_id = \"arn:aws:kms:us-east-1:111122223333:alias/efs\"",
            ),
            "cloudstor.toml:10:14: kms_key_id is a KMS alias; EFS reports the key it points to, so every plan would show a replacement\n  hint: give the key ARN: aws kms describe-key --key-id arn:aws:kms:us-east-1:111122223333:alias/efs --query KeyMetadata.Arn",
        ),
        (
            with("transition_to_ia = \"30d\"", "availability_zone = \"eu\""),
            "cloudstor.toml:11:21: `eu` is not an Availability Zone name",
        ),
        (
            format!("{GOOD}\n[filesystems.data]\nmoved_from = \"shared\"\n"),
            "cloudstor.toml:14:14: filesystems.data moves from filesystems.shared, which is still in the spec\n  hint: a move renames: remove [filesystems.shared], or remove this moved_from to keep both",
        ),
        (
            with(
                "[filesystems.shared]\n",
                "[filesystems.shared]\nmoved_from = \"old one\"\n",
            ),
            "cloudstor.toml:10:14: moved_from name `old one` is not usable",
        ),
        (
            with(
                "[stack]\nname = \"prod\"\n",
                "[stack]\nname = \"prod\"\n[stack]\n",
            ),
            "cloudstor.toml:3:2: duplicate key",
        ),
        (
            format!(
                "{GOOD}\n[nodes]\nlaunch_template_name = \"n\"\nplugin_url = \"https://x\"\nplugin_sha256 = \"abc\"\n"
            ),
            "cloudstor.toml:13:1: nodes.plugin_sha256 must be 64 hexadecimal characters",
        ),
    ];
    let mut mismatches = Vec::new();
    for (text, expected) in &cases {
        let error = error_for(text);
        if !error.starts_with(expected) {
            mismatches.push(format!("expected: {expected}\n     got: {error}\n"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn more_sources_than_the_group_can_record_are_refused_at_the_first_one_too_many() {
    let list: Vec<String> = (0..236).map(|i| format!("\"10.0.{i}.0/24\"")).collect();
    let text = cidrs(&list.join(", "));
    let line = text.lines().nth(6).unwrap();
    let column = line.find(&list[235]).unwrap() + 1;
    assert_eq!(
        error_for(&text),
        format!(
            "cloudstor.toml:7:{column}: network admits 236 sources; cloudstor records at most 235 in the security group's tags\n  hint: admit the swarm nodes by their security group, or by fewer, wider CIDRs"
        )
    );
}

#[test]
fn private_cidrs_pass_and_public_ones_only_when_the_spec_says_so() {
    let private = cidrs(
        "\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.1.0/24\", \"100.64.0.0/10\", \"fd00::/8\"",
    );
    let spec = Spec::parse(Path::new("cloudstor.toml"), &private).unwrap();
    assert_eq!(spec.network.allowed_cidrs.len(), 5);

    let public = cidrs("\"203.0.113.0/24\", \"2001:db8::/32\"");
    assert!(error_for(&public).starts_with("cloudstor.toml:7:18: 203.0.113.0/24 admits"));
    let allowed = public.replace(
        "allowed_cidrs =",
        "allow_public_cidrs = true\nallowed_cidrs =",
    );
    let spec = Spec::parse(Path::new("cloudstor.toml"), &allowed).unwrap();
    assert_eq!(
        spec.network.allowed_cidrs,
        ["203.0.113.0/24", "2001:db8::/32"]
    );
}

#[test]
fn the_binary_reports_a_bad_spec_and_exits_1_without_calling_aws() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloudstor.toml");
    std::fs::write(&path, with("\"30d\"", "\"45d\"")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(["plan", "-f"])
        .arg(&path)
        // An endpoint nobody listens on: any AWS call would fail with a different error.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:11:20: `45d` is not a transition",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_missing_spec_file_says_which_path() {
    let error = Spec::load(Path::new("/nonexistent/cloudstor.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("cannot read /nonexistent/cloudstor.toml:"),
        "{error}"
    );
}
