//! Ordering that only real AWS enforces (moto accepts both orders), tested against the AWS
//! SDK's own response mocking (aws-smithy-mocks). Each mock answers as AWS does when the
//! order is wrong: MountTargetConflict while the AZ still has a mount target, and
//! IncorrectFileSystemLifeCycleState while the file system is `updating`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_efs::Client;
use aws_sdk_efs::error::ErrorMetadata;
use aws_sdk_efs::operation::create_mount_target::{
    CreateMountTargetError, CreateMountTargetOutput,
};
use aws_sdk_efs::operation::delete_mount_target::DeleteMountTargetOutput;
use aws_sdk_efs::operation::describe_file_systems::DescribeFileSystemsOutput;
use aws_sdk_efs::operation::describe_mount_targets::{
    DescribeMountTargetsError, DescribeMountTargetsOutput,
};
use aws_sdk_efs::operation::tag_resource::TagResourceOutput;
use aws_sdk_efs::operation::update_file_system::UpdateFileSystemOutput;
use aws_sdk_efs::types::error::{
    IncorrectFileSystemLifeCycleState, MountTargetConflict, MountTargetNotFound,
};
use aws_sdk_efs::types::{
    FileSystemDescription, LifeCycleState, MountTargetDescription, PerformanceMode,
};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use cloudstor::apply::{ApplyOptions, Progress};
use cloudstor::cloud::{Cloud, Observed, Waits};
use cloudstor::model::{Address, Desired, Resource};
use cloudstor::plan::{Action, Plan};
use cloudstor::spec::{Spec, ThroughputMode};

const ZONE: &str = "us-east-1a";

fn spec(subnet: &str, throughput: &str) -> Spec {
    let text = format!(
        "[stack]\nname = \"mocked\"\n\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"{subnet}\"]\nnode_security_group_ids = [\"sg-nodes\"]\n\n[filesystems.data]\n{throughput}\n"
    );
    Spec::parse(Path::new("mocked.toml"), &text).unwrap()
}

/// What refresh would see after an apply of `earlier`: everything in place, with ids.
fn observed(earlier: &Spec, zones: &[(&str, &str)]) -> Observed {
    let zones = zones
        .iter()
        .map(|(s, z)| (s.to_string(), z.to_string()))
        .collect();
    let mut resources = Desired::from_spec(earlier, &zones).resources;
    for resource in resources.values_mut() {
        match resource {
            Resource::FileSystem(fs) => fs.id = Some("fs-1".into()),
            Resource::SecurityGroup(sg) => sg.id = Some("sg-stack".into()),
            Resource::MountTarget(mt) => {
                mt.id = Some("fsmt-old".into());
                mt.filesystem_id = Some("fs-1".into());
                mt.security_groups = Some(["sg-stack".to_string()].into());
            }
            Resource::LaunchTemplate(_) => unreachable!("the spec has no [nodes]"),
        }
    }
    Observed {
        resources,
        ..Observed::default()
    }
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

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(code).build()
}

fn mount_target(id: &str, subnet: &str, state: LifeCycleState) -> MountTargetDescription {
    MountTargetDescription::builder()
        .mount_target_id(id)
        .file_system_id("fs-1")
        .subnet_id(subnet)
        .availability_zone_name(ZONE)
        .life_cycle_state(state)
        .build()
        .unwrap()
}

fn created(subnet: &str) -> CreateMountTargetOutput {
    CreateMountTargetOutput::builder()
        .mount_target_id("fsmt-new")
        .file_system_id("fs-1")
        .subnet_id(subnet)
        .availability_zone_name(ZONE)
        .life_cycle_state(LifeCycleState::Available)
        .build()
        .unwrap()
}

fn filesystem(state: LifeCycleState) -> DescribeFileSystemsOutput {
    let fs = FileSystemDescription::builder()
        .owner_id("1")
        .creation_token("cloudstor:mocked:data")
        .file_system_id("fs-1")
        .creation_time(aws_smithy_types::DateTime::from_secs(0))
        .life_cycle_state(state)
        .number_of_mount_targets(1)
        .performance_mode(PerformanceMode::GeneralPurpose)
        .set_tags(Some(Vec::new()))
        .build()
        .unwrap();
    DescribeFileSystemsOutput::builder()
        .file_systems(fs)
        .build()
}

type Log = Arc<Mutex<Vec<&'static str>>>;

fn seen(log: &Log, event: &str) -> bool {
    log.lock().unwrap().contains(&event)
}

#[tokio::test]
async fn moving_a_mount_target_within_its_zone_deletes_first_sdk_mocked() {
    let plan = Plan::new(
        &spec("subnet-a2", ""),
        &observed(&spec("subnet-a1", ""), &[("subnet-a1", ZONE)]),
        false,
    )
    .unwrap();
    let actions: Vec<_> = plan.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Create, Action::Delete], "{plan:?}");

    let log: Log = Arc::default();
    let delete = mock!(Client::delete_mount_target).then_compute_output({
        let log = log.clone();
        move |_| {
            log.lock().unwrap().push("delete");
            DeleteMountTargetOutput::builder().build()
        }
    });
    // AWS takes a while to release the old mount target: `deleting` first, then gone.
    let describe = mock!(Client::describe_mount_targets)
        .match_requests(|r| r.mount_target_id() == Some("fsmt-old"))
        .then_compute_response({
            let log = log.clone();
            move |_| {
                if seen(&log, "deleting") {
                    log.lock().unwrap().push("gone");
                    MockResponse::Error(DescribeMountTargetsError::MountTargetNotFound(
                        MountTargetNotFound::builder()
                            .error_code("MountTargetNotFound")
                            .meta(meta("MountTargetNotFound"))
                            .build()
                            .unwrap(),
                    ))
                } else {
                    log.lock().unwrap().push("deleting");
                    MockResponse::Output(
                        DescribeMountTargetsOutput::builder()
                            .mount_targets(mount_target(
                                "fsmt-old",
                                "subnet-a1",
                                LifeCycleState::Deleting,
                            ))
                            .build(),
                    )
                }
            }
        });
    let create = mock!(Client::create_mount_target)
        .match_requests(|r| r.subnet_id() == Some("subnet-a2"))
        .then_compute_response({
            let log = log.clone();
            move |_| {
                if seen(&log, "gone") {
                    log.lock().unwrap().push("create");
                    MockResponse::Output(created("subnet-a2"))
                } else {
                    MockResponse::Error(CreateMountTargetError::MountTargetConflict(
                        MountTargetConflict::builder()
                            .error_code("MountTargetConflict")
                            .meta(meta("MountTargetConflict"))
                            .build()
                            .unwrap(),
                    ))
                }
            }
        });
    // Where the conflict would send apply looking for a mount target to adopt: the AZ's
    // only one is the old target in subnet-a1, so there is none to adopt.
    let by_filesystem = mock!(Client::describe_mount_targets)
        .match_requests(|r| r.file_system_id() == Some("fs-1"))
        .then_output(|| {
            DescribeMountTargetsOutput::builder()
                .mount_targets(mount_target(
                    "fsmt-old",
                    "subnet-a1",
                    LifeCycleState::Deleting,
                ))
                .build()
        });
    let record = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let efs = mock_client!(
        aws_sdk_efs,
        RuleMode::MatchAny,
        [&delete, &describe, &create, &by_filesystem, &record]
    );

    let report = cloudstor::apply::apply(
        &cloud_with(efs),
        &plan,
        ApplyOptions::default(),
        Progress::lines(),
    )
    .await
    .expect("the move applies");
    assert_eq!((report.added, report.destroyed), (1, 1));
    assert_eq!(
        *log.lock().unwrap(),
        ["delete", "deleting", "gone", "create"],
        "the old mount target is gone before the new one is created"
    );
}

#[tokio::test]
async fn throughput_change_finishes_before_a_new_mount_target_sdk_mocked() {
    // The file system exists without its mount target (an earlier apply stopped early).
    let mut before = observed(&spec("subnet-a1", ""), &[]);
    before
        .resources
        .retain(|address, _| !matches!(address, Address::MountTarget { .. }));
    before.subnet_zones = [("subnet-a1".to_string(), ZONE.to_string())].into();
    let plan = Plan::new(
        &spec("subnet-a1", "throughput_mode = \"bursting\""),
        &before,
        false,
    )
    .unwrap();
    let actions: Vec<_> = plan.changes.iter().map(|c| c.action).collect();
    assert!(actions.contains(&Action::Update), "{plan:?}");
    assert!(actions.contains(&Action::Create), "{plan:?}");
    assert_eq!(
        plan.changes
            .iter()
            .find(|c| c.action == Action::Update)
            .and_then(|c| match &c.after {
                Some(Resource::FileSystem(fs)) => Some(fs.throughput_mode),
                _ => None,
            }),
        Some(ThroughputMode::Bursting)
    );

    let log: Log = Arc::default();
    let update = mock!(Client::update_file_system).then_compute_output({
        let log = log.clone();
        move |_| {
            log.lock().unwrap().push("update");
            UpdateFileSystemOutput::builder()
                .owner_id("1")
                .creation_token("cloudstor:mocked:data")
                .file_system_id("fs-1")
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .life_cycle_state(LifeCycleState::Updating)
                .number_of_mount_targets(0)
                .performance_mode(PerformanceMode::GeneralPurpose)
                .set_tags(Some(Vec::new()))
                .build()
                .unwrap()
        }
    });
    // `updating` on the first look, `available` after.
    let describe = mock!(Client::describe_file_systems).then_compute_output({
        let log = log.clone();
        move |_| {
            if seen(&log, "updating") {
                log.lock().unwrap().push("available");
                filesystem(LifeCycleState::Available)
            } else {
                log.lock().unwrap().push("updating");
                filesystem(LifeCycleState::Updating)
            }
        }
    });
    let create = mock!(Client::create_mount_target).then_compute_response({
        let log = log.clone();
        move |_| {
            if seen(&log, "available") {
                log.lock().unwrap().push("create");
                MockResponse::Output(created("subnet-a1"))
            } else {
                MockResponse::Error(CreateMountTargetError::IncorrectFileSystemLifeCycleState(
                    IncorrectFileSystemLifeCycleState::builder()
                        .error_code("IncorrectFileSystemLifeCycleState")
                        .meta(meta("IncorrectFileSystemLifeCycleState"))
                        .build()
                        .unwrap(),
                ))
            }
        }
    });
    let record = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let efs = mock_client!(
        aws_sdk_efs,
        RuleMode::MatchAny,
        [&update, &describe, &create, &record]
    );

    cloudstor::apply::apply(
        &cloud_with(efs),
        &plan,
        ApplyOptions::default(),
        Progress::lines(),
    )
    .await
    .expect("both changes apply");
    assert_eq!(
        *log.lock().unwrap(),
        ["update", "updating", "available", "create"],
        "the mount target is created once the file system is available again"
    );
}
