//! In-place updates that moto does not implement (UpdateFileSystem and PutBackupPolicy answer
//! 500 there), tested against the AWS SDK's own response mocking (aws-smithy-mocks), as the
//! design asks. The plan comes from the real diff; only the EFS responses are mocked.

use std::path::Path;

use aws_sdk_efs::Client;
use aws_sdk_efs::operation::describe_file_systems::DescribeFileSystemsOutput;
use aws_sdk_efs::operation::put_backup_policy::PutBackupPolicyOutput;
use aws_sdk_efs::operation::tag_resource::TagResourceOutput;
use aws_sdk_efs::operation::update_file_system::{UpdateFileSystemError, UpdateFileSystemOutput};
use aws_sdk_efs::types::{
    FileSystemDescription, LifeCycleState, PerformanceMode, Status, ThroughputMode,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use cloudstor::apply::{ApplyError, ApplyOptions, Progress};
use cloudstor::cloud::{Cloud, Observed, Waits};
use cloudstor::model::{Address, Desired, Resource};
use cloudstor::plan::{Action, Plan};
use cloudstor::spec::Spec;

const SPEC: &str = r#"[stack]
name = "mocked"

[network]
vpc_id = "vpc-1"
subnet_ids = ["subnet-a"]
node_security_group_ids = ["sg-nodes"]

[filesystems.data]
throughput_mode = "provisioned"
provisioned_throughput_mibps = 64
backup = false
"#;

/// What refresh would have seen: the file system as the spec wanted it before this change
/// (elastic throughput, backups on), with its mount target and security group in place.
fn observed_before(spec: &Spec) -> Observed {
    let zones = [("subnet-a".to_string(), "us-east-1a".to_string())].into();
    let mut before = Desired::from_spec(spec, &zones).resources;
    for resource in before.values_mut() {
        match resource {
            Resource::FileSystem(fs) => {
                fs.id = Some("fs-1".into());
                fs.throughput_mode = cloudstor::spec::ThroughputMode::Elastic;
                fs.provisioned_throughput_mibps = None;
                fs.backup = true;
            }
            Resource::SecurityGroup(sg) => sg.id = Some("sg-stack".into()),
            Resource::MountTarget(mt) => {
                mt.id = Some("fsmt-1".into());
                mt.filesystem_id = Some("fs-1".into());
                mt.security_groups = Some(["sg-stack".to_string()].into());
            }
            Resource::LaunchTemplate(_) => unreachable!("the spec has no [nodes]"),
        }
    }
    Observed {
        resources: before,
        subnet_zones: zones,
        ..Observed::default()
    }
}

fn available() -> DescribeFileSystemsOutput {
    let fs = FileSystemDescription::builder()
        .owner_id("1")
        .creation_token("cloudstor:mocked:data")
        .file_system_id("fs-1")
        .creation_time(aws_smithy_types::DateTime::from_secs(0))
        .life_cycle_state(LifeCycleState::Available)
        .number_of_mount_targets(1)
        .performance_mode(PerformanceMode::GeneralPurpose)
        .set_tags(Some(Vec::new()))
        .build()
        .unwrap();
    DescribeFileSystemsOutput::builder()
        .file_systems(fs)
        .build()
}

fn cloud_with(efs: Client) -> Cloud {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_ec2::config::Region::new("us-east-1"))
        .build();
    Cloud::new(efs, aws_sdk_ec2::Client::from_conf(config)).with_waits(Waits {
        max_poll_interval: std::time::Duration::from_millis(10),
        ..Waits::default()
    })
}

fn planned() -> Plan {
    let spec = Spec::parse(Path::new("mocked.toml"), SPEC).unwrap();
    let plan = Plan::new(&spec, &observed_before(&spec), false).unwrap();
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    assert_eq!(plan.changes[0].address, Address::FileSystem("data".into()));
    assert_eq!(plan.changes[0].action, Action::Update);
    plan
}

#[tokio::test]
async fn throughput_and_backup_changes_update_in_place_sdk_mocked() {
    let update = mock!(Client::update_file_system)
        .match_requests(|r| {
            r.file_system_id() == Some("fs-1")
                && r.throughput_mode() == Some(&ThroughputMode::Provisioned)
                && r.provisioned_throughput_in_mibps() == Some(64.0)
        })
        .then_output(|| {
            UpdateFileSystemOutput::builder()
                .owner_id("1")
                .creation_token("cloudstor:mocked:data")
                .file_system_id("fs-1")
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .life_cycle_state(LifeCycleState::Updating)
                .number_of_mount_targets(1)
                .size_in_bytes(
                    aws_sdk_efs::types::FileSystemSize::builder()
                        .value(0)
                        .build(),
                )
                .performance_mode(PerformanceMode::GeneralPurpose)
                .set_tags(Some(Vec::new()))
                .build()
                .unwrap()
        });
    let describe = mock!(Client::describe_file_systems).then_output(available);
    let backup = mock!(Client::put_backup_policy)
        .match_requests(|r| r.backup_policy().map(|p| p.status()) == Some(&Status::Disabled))
        .then_output(|| PutBackupPolicyOutput::builder().build());
    let record = mock!(Client::tag_resource)
        .match_requests(|r| {
            r.tags().iter().any(|t| {
                t.key() == "cloudstor:applied" && t.value().contains("tm=provisioned pt=64")
            })
        })
        .then_output(|| TagResourceOutput::builder().build());
    let efs = mock_client!(
        aws_sdk_efs,
        RuleMode::MatchAny,
        [&update, &describe, &backup, &record]
    );

    let report = cloudstor::apply::apply(
        &cloud_with(efs),
        &planned(),
        ApplyOptions::default(),
        Progress::lines(),
    )
    .await
    .expect("the update applies");
    assert_eq!(report.changed, 1);
    assert_eq!(update.num_calls(), 1, "one UpdateFileSystem");
    assert!(
        describe.num_calls() >= 1,
        "waited for the file system to be available again"
    );
    assert_eq!(backup.num_calls(), 1, "one PutBackupPolicy");
    assert_eq!(record.num_calls(), 1, "the applied state was recorded");
}

#[tokio::test]
async fn throughput_change_limit_fails_at_once_with_aws_message_sdk_mocked() {
    let message = "You have reached the maximum number of throughput mode changes. Wait until 2026-11-24T10:00:00Z UTC and try again.";
    let update = mock!(Client::update_file_system).then_error(move || {
        UpdateFileSystemError::TooManyRequests(
            aws_sdk_efs::types::error::TooManyRequests::builder()
                .error_code("TooManyRequests")
                .message(message)
                .meta(
                    aws_sdk_efs::error::ErrorMetadata::builder()
                        .code("TooManyRequests")
                        .message(message)
                        .build(),
                )
                .build()
                .unwrap(),
        )
    });
    let efs = mock_client!(aws_sdk_efs, RuleMode::MatchAny, [&update]);

    let result = cloudstor::apply::apply(
        &cloud_with(efs),
        &planned(),
        ApplyOptions::default(),
        Progress::lines(),
    )
    .await;
    let Err(ApplyError::Failed { failures, .. }) = result else {
        panic!("expected a failure, got {result:?}")
    };
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].contains(
            "filesystem.data: UpdateFileSystem failed: TooManyRequests: You have reached"
        ),
        "{failures:?}"
    );
    assert!(
        failures[0].contains("2026-11-24T10:00:00Z"),
        "the retry-after time is shown"
    );
    assert_eq!(
        update.num_calls(),
        1,
        "not retried for an hour like terraform-provider-aws #14927"
    );
}
