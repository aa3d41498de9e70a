//! The NFS security group and the groups on mount targets hold exactly what the spec asks for:
//! every rule or group added outside cloudstor shows as drift in the plan and apply removes
//! it. Against moto, through the binary.

mod common;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use common::{Stack, expect_code, stderr, stdout};

const ONE_FILESYSTEM: &str = "[filesystems.data]\n";

fn permission(
    protocol: &str,
    ports: Option<(i32, i32)>,
) -> aws_sdk_ec2::types::builders::IpPermissionBuilder {
    IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|p| p.0))
        .set_to_port(ports.map(|p| p.1))
}

fn from_cidr(protocol: &str, ports: Option<(i32, i32)>, cidr: &str) -> IpPermission {
    permission(protocol, ports)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

#[tokio::test]
async fn rules_added_by_hand_show_as_drift_and_apply_revokes_them() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", ONE_FILESYSTEM);
    stack.apply(&spec);
    let ec2 = stack.ec2().await;
    let group = stack.stack_group("demo").await;
    let prefix_list = ec2
        .create_managed_prefix_list()
        .prefix_list_name("office")
        .max_entries(5)
        .address_family("IPv4")
        .send()
        .await
        .unwrap();
    let prefix_list = prefix_list.prefix_list().unwrap().prefix_list_id().unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(from_cidr("tcp", Some((22, 22)), "0.0.0.0/0"))
        .ip_permissions(from_cidr("-1", None, "0.0.0.0/0"))
        .ip_permissions(from_cidr("udp", Some((2049, 2049)), "10.0.0.0/8"))
        .ip_permissions(
            permission("tcp", Some((2049, 2049)))
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .build(),
        )
        .ip_permissions(
            permission("tcp", Some((2049, 2049)))
                .prefix_list_ids(PrefixListId::builder().prefix_list_id(prefix_list).build())
                .build(),
        )
        .ip_permissions(
            permission("tcp", Some((0, 65535)))
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id(&stack.network.node_group)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_egress()
        .group_id(&group)
        .ip_permissions(from_cidr("-1", None, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();

    let output = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&output, 2);
    let settings = stack.snapshot_settings_naming(&[(prefix_list, "pl-[office]")]);
    settings.bind(|| insta::assert_snapshot!("plan_rules_added_by_hand", stdout(&output)));

    stack.apply(&spec);
    let found = ec2
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .unwrap();
    let found = &found.security_groups()[0];
    assert!(found.ip_permissions_egress().is_empty(), "{found:?}");
    let ingress: Vec<_> = found
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            let peers = p.user_id_group_pairs().iter().filter_map(|g| g.group_id());
            let ports = (p.ip_protocol(), p.from_port(), p.to_port());
            let others = p.ip_ranges().len() + p.ipv6_ranges().len() + p.prefix_list_ids().len();
            peers.map(move |peer| (ports, peer.to_owned(), others))
        })
        .collect();
    assert_eq!(
        ingress,
        [(
            (Some("tcp"), Some(2049), Some(2049)),
            stack.network.node_group.clone(),
            0
        )],
        "{found:?}"
    );
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn a_group_added_to_a_mount_target_shows_as_drift_and_apply_removes_it() {
    let stack = Stack::new().await;
    let spec = stack.spec("demo", ONE_FILESYSTEM);
    stack.apply(&spec);
    let group = stack.stack_group("demo").await;
    let intruder = stack
        .ec2()
        .await
        .create_security_group()
        .group_name("intruder")
        .description("added by hand")
        .vpc_id(&stack.network.vpc)
        .send()
        .await
        .unwrap();
    let intruder = intruder.group_id().unwrap();
    let efs = stack.efs().await;
    let filesystem = efs.describe_file_systems().send().await.unwrap();
    let targets = efs
        .describe_mount_targets()
        .file_system_id(filesystem.file_systems()[0].file_system_id())
        .send()
        .await
        .unwrap();
    let target = targets
        .mount_targets()
        .iter()
        .find(|mt| mt.subnet_id() == stack.network.subnets[1].0)
        .unwrap()
        .mount_target_id();
    efs.modify_mount_target_security_groups()
        .mount_target_id(target)
        .security_groups(&group)
        .security_groups(intruder)
        .send()
        .await
        .unwrap();

    let output = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&output, 2);
    // Not a snapshot: both groups' ids are random, and so is their order in the plan.
    let plan = stdout(&output);
    let target_address = format!("mount_target.data.{}", stack.network.subnets[1].0);
    let mut now = [group.as_str(), intruder];
    now.sort();
    for line in [
        format!("  # {target_address} has changed"),
        format!(
            "      ~ security_groups = \"{group}\" -> \"{}, {}\"",
            now[0], now[1]
        ),
        format!("  # {target_address} will be updated in-place"),
        format!("          - \"{intruder}\""),
        "Plan: 0 to add, 1 to change, 0 to destroy.".to_string(),
    ] {
        assert!(plan.contains(&line), "no line {line:?} in\n{plan}");
    }

    stack.apply(&spec);
    let groups = efs
        .describe_mount_target_security_groups()
        .mount_target_id(target)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups(), [group]);
    expect_code(&stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]), 0);
}

#[tokio::test]
async fn plan_refuses_a_node_security_group_in_another_vpc() {
    let stack = Stack::new().await;
    let ec2 = stack.ec2().await;
    let other_vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let other_vpc = other_vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let foreign = ec2
        .create_security_group()
        .group_name("nodes-elsewhere")
        .description("swarm nodes of another VPC")
        .vpc_id(&other_vpc)
        .send()
        .await
        .unwrap();
    let foreign = foreign.group_id().unwrap();
    let text = stack
        .network
        .spec("demo", 1, ONE_FILESYSTEM)
        .replace(&stack.network.node_group, foreign);
    let spec = common::write_spec(stack.dir.path(), "foreign.toml", &text);

    let output = stack.run(&["plan", "-f", &spec.display().to_string()]);
    expect_code(&output, 1);
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "{}:8:28: node security group {foreign} is in {other_vpc}, not in network.vpc_id {}",
            spec.display(),
            stack.network.vpc
        )),
        "{message}"
    );
}

/// The spec for stack `demo` over one subnet admitting `count` /20 CIDRs besides the nodes.
fn with_cidrs(stack: &Stack, count: usize) -> String {
    let cidrs: Vec<String> = (0..count)
        .map(|i| format!("\"10.{}.{}.0/20\"", 100 + i / 16, (i % 16) * 16))
        .collect();
    let text = stack.network.spec("demo", 1, ONE_FILESYSTEM).replace(
        "node_security_group_ids",
        &format!(
            "allowed_cidrs = [{}]\nnode_security_group_ids",
            cidrs.join(", ")
        ),
    );
    common::write_spec(stack.dir.path(), "cidrs.toml", &text)
        .display()
        .to_string()
}

async fn group_tags(stack: &Stack) -> Vec<(String, String)> {
    let group = stack.stack_group("demo").await;
    let found = stack
        .ec2()
        .await
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    found.security_groups()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect()
}

/// EC2 refuses tag values over 256 characters (moto does not), and the record of what was
/// applied to the group grows with every source: 17 CIDRs already made it 319.
#[tokio::test]
async fn many_cidrs_keep_every_tag_within_aws_limits_and_converge() {
    let stack = Stack::new().await;
    let spec = with_cidrs(&stack, 24);
    stack.apply(&spec);
    let tags = group_tags(&stack).await;
    let applied: Vec<_> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("cloudstor:applied"))
        .collect();
    assert!(applied.len() > 1, "the record is split: {tags:?}");
    for (key, value) in &tags {
        assert!(
            key.len() <= 128 && value.len() <= 256,
            "{key} = {value} ({} characters)",
            value.len()
        );
    }
    let output = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&output, 0);
    assert!(
        !stdout(&output).contains("changed outside"),
        "{}",
        stdout(&output)
    );

    // Fewer sources fit one tag again; the parts left over must not read as applied.
    let spec = with_cidrs(&stack, 2);
    stack.apply(&spec);
    let tags = group_tags(&stack).await;
    let applied: Vec<_> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("cloudstor:applied"))
        .collect();
    assert_eq!(applied.len(), 1, "{tags:?}");
    let output = stack.run(&["plan", "-f", &spec, "--detailed-exitcode"]);
    expect_code(&output, 0);
    assert!(
        !stdout(&output).contains("changed outside"),
        "{}",
        stdout(&output)
    );
}
