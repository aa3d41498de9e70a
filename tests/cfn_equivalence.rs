//! The two engines agree: the same spec applied by the API engine (stack `by-api`) and
//! deployed by the CloudFormation engine (stack `by-cfn`) into one moto server holds the same
//! resources with the same settings, as the EFS and EC2 describe calls report them.
//!
//! Egress is left out of the comparison: the API engine revokes AWS's default allow-all egress
//! and the template replaces it with a loopback-only rule, but moto's CloudFormation ignores
//! `SecurityGroupEgress`, so under moto the stack's group keeps the default. (With one more
//! moto difference normalised, see [`provisioned`].)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::Filter;
use cloudstor::apply::{ApplyOptions, Progress};
use cloudstor::cfn::{Stacks, TemplateOptions};
use cloudstor::cloud::Cloud;
use cloudstor::spec::Spec;

fn filesystems(one_zone: &str) -> String {
    format!(
        r#"[filesystems.shared]
throughput_mode = "elastic"
transition_to_ia = "30d"
transition_to_archive = "90d"
transition_to_primary = "on_first_access"
tags = {{ team = "platform" }}

[filesystems.fast]
performance_mode = "maxIO"
throughput_mode = "provisioned"
provisioned_throughput_mibps = 64
backup = false

[filesystems.local]
availability_zone = "{one_zone}"
throughput_mode = "bursting"
"#
    )
}

/// Everything a describe call says about one stack, without ids and names that must differ.
#[derive(Debug, PartialEq, Eq)]
struct Described {
    filesystems: BTreeMap<String, Vec<String>>,
    ingress: BTreeSet<String>,
}

/// moto's CloudFormation reports 0 MiB/s where its API reports none when throughput is not
/// provisioned; AWS ignores the figure then, so both mean "not provisioned".
fn provisioned(fs: &aws_sdk_efs::types::FileSystemDescription) -> Option<f64> {
    fs.provisioned_throughput_in_mibps()
        .filter(|mibps| *mibps > 0.0)
}

async fn describe(config: &SdkConfig, stack: &str) -> Described {
    let efs = aws_sdk_efs::Client::new(config);
    let ec2 = aws_sdk_ec2::Client::new(config);
    let groups = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("tag:cloudstor:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.security_groups().len(),
        1,
        "one NFS group for {stack}"
    );
    let group = &groups.security_groups()[0];
    let group_id = group.group_id().unwrap().to_owned();
    let ingress = group
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            let ports = format!(
                "{:?} {:?}-{:?}",
                p.ip_protocol(),
                p.from_port(),
                p.to_port()
            );
            let groups = p
                .user_id_group_pairs()
                .iter()
                .map(|g| g.group_id().unwrap_or_default().to_owned());
            let cidrs = p
                .ip_ranges()
                .iter()
                .map(|r| r.cidr_ip().unwrap_or_default().to_owned());
            groups
                .chain(cidrs)
                .map(move |source| format!("{ports} from {source}"))
        })
        .collect();

    let mut filesystems = BTreeMap::new();
    let all = efs.describe_file_systems().send().await.unwrap();
    for fs in all.file_systems() {
        let tag = |key: &str| {
            fs.tags()
                .iter()
                .find(|t| t.key() == key)
                .map(|t| t.value().to_owned())
        };
        if tag("cloudstor:stack").as_deref() != Some(stack) {
            continue;
        }
        let id = fs.file_system_id();
        let lifecycle = efs
            .describe_lifecycle_configuration()
            .file_system_id(id)
            .send()
            .await
            .unwrap();
        let backup = efs.describe_backup_policy().file_system_id(id).send().await;
        let backup = backup
            .ok()
            .and_then(|b| b.backup_policy().map(|p| p.status().as_str().to_owned()));
        let targets = efs
            .describe_mount_targets()
            .file_system_id(id)
            .send()
            .await
            .unwrap();
        let mut facts = vec![
            format!("performance {}", fs.performance_mode().as_str()),
            format!(
                "throughput {:?} {:?}",
                fs.throughput_mode(),
                provisioned(fs)
            ),
            format!("encrypted {:?} kms {:?}", fs.encrypted(), fs.kms_key_id()),
            format!("zone {:?}", fs.availability_zone_name()),
            format!("lifecycle {:?}", lifecycle.lifecycle_policies()),
            format!("backup {:?}", backup.unwrap_or_else(|| "DISABLED".into())),
            format!("protect {:?}", tag("cloudstor:protect")),
        ];
        let user_tags: BTreeMap<&str, &str> = fs
            .tags()
            .iter()
            .filter(|t| {
                !t.key().starts_with("cloudstor:")
                    && !t.key().starts_with("aws:")
                    && t.key() != "Name"
            })
            .map(|t| (t.key(), t.value()))
            .collect();
        facts.push(format!("tags {user_tags:?}"));
        for target in targets.mount_targets() {
            let groups = efs
                .describe_mount_target_security_groups()
                .mount_target_id(target.mount_target_id())
                .send()
                .await
                .unwrap();
            let guarded = groups.security_groups() == [group_id.clone()];
            facts.push(format!(
                "mount target in {} guarded by the NFS group: {guarded}",
                target.subnet_id()
            ));
        }
        facts.sort();
        filesystems.insert(tag("cloudstor:resource").expect("address tag"), facts);
    }
    Described {
        filesystems,
        ingress,
    }
}

#[tokio::test]
async fn api_engine_and_cloudformation_engine_make_the_same_stack() {
    let moto = common::Moto::start();
    let config = moto.sdk_config().await;
    let network = common::network(&config).await;
    let one_zone = network.subnets[0].1.clone();
    let spec_for = |stack: &str| {
        let text = network.spec(stack, 3, &filesystems(&one_zone));
        Spec::parse(Path::new("cloudstor.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    };

    let cloud = Cloud::from_sdk_config(&config);
    let by_api = spec_for("by-api");
    let (plan, _) = cloudstor::plan::plan(&cloud, &by_api, false).await.unwrap();
    cloudstor::apply::apply(&cloud, &plan, ApplyOptions::default(), Progress::lines())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let stacks = Stacks::from_sdk_config(&config)
        .with_polling(Duration::from_millis(50), Duration::from_secs(60));
    let prepared = stacks
        .prepare(&spec_for("by-cfn"), TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stacks
        .execute(&prepared, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let api = describe(&config, "by-api").await;
    let cfn = describe(&config, "by-cfn").await;
    assert_eq!(api.filesystems.len(), 3, "{api:#?}");
    assert_eq!(api, cfn);
}
