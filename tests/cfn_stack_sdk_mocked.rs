//! CloudFormation behaviour moto does not have, against the SDK's own response mocking
//! (aws-smithy-mocks): change sets that replace resources (moto reports no `Replacement` nor
//! property details), resource events and rollbacks (moto fails ExecuteChangeSet outright
//! instead), and stacks left in ROLLBACK_COMPLETE. Only CloudFormation is mocked; the network
//! checks run against a real moto server.

mod common;

use std::path::Path;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeSetType, DifferenceType, PropertyDifference,
    Replacement, RequiresRecreation, ResourceAttribute, ResourceChange, ResourceChangeDetail,
    ResourceStatus, ResourceTargetDefinition, Stack, StackDriftDetectionStatus, StackEvent,
    StackResourceDrift, StackResourceDriftStatus, StackStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use cloudstor::cfn::{CfnError, PreparedChangeSet, Stacks, TemplateOptions, render_change_set};
use cloudstor::cloud::Cloud;
use cloudstor::spec::Spec;

const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/1";

fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("demo")
                .stack_id(STACK_ID)
                .stack_status(status)
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .build(),
        )
        .build()
}

fn event(id: &str, logical: &str, kind: &str, status: ResourceStatus, reason: &str) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(STACK_ID)
        .stack_name("demo")
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(aws_smithy_types::DateTime::from_secs(0))
        .build()
}

fn events(list: Vec<StackEvent>) -> DescribeStackEventsOutput {
    DescribeStackEventsOutput::builder()
        .set_stack_events(Some(list))
        .build()
}

const STACK: &str = "AWS::CloudFormation::Stack";
const TARGET: &str = "AWS::EFS::MountTarget";
const BAD_SUBNET: &str =
    "The subnet ID 'subnet-0deadbeef' does not exist (Service: Efs, Status Code: 404)";

/// Newest first, as CloudFormation lists them.
fn rollback_history() -> Vec<StackEvent> {
    vec![
        event("e6", "demo", STACK, ResourceStatus::RollbackComplete, ""),
        event(
            "e5",
            "MountTargetSharedSubnetB",
            TARGET,
            ResourceStatus::DeleteComplete,
            "",
        ),
        event(
            "e4",
            "MountTargetSharedSubnetB",
            TARGET,
            ResourceStatus::CreateFailed,
            "Resource creation cancelled",
        ),
        event(
            "e3",
            "MountTargetSharedSubnetA",
            TARGET,
            ResourceStatus::CreateFailed,
            BAD_SUBNET,
        ),
        event(
            "e2",
            "demo",
            STACK,
            ResourceStatus::RollbackInProgress,
            "The following resource(s) failed to create: [MountTargetSharedSubnetA]",
        ),
        event(
            "e1",
            "demo",
            STACK,
            ResourceStatus::CreateInProgress,
            "User Initiated",
        ),
        event(
            "e0",
            "demo",
            STACK,
            ResourceStatus::from("REVIEW_IN_PROGRESS"),
            "User Initiated",
        ),
    ]
}

/// A Cloud whose clients are never called (execute only talks to CloudFormation).
fn unused_cloud() -> Cloud {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Cloud::from_sdk_config(&config)
}

fn fast(stacks: Stacks) -> Stacks {
    stacks.with_polling(Duration::from_millis(5), Duration::from_secs(10))
}

#[tokio::test]
async fn rollback_is_reported_with_the_failing_resource_and_reason_sdk_mocked() {
    let describe_events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            events(vec![event(
                "e0",
                "demo",
                STACK,
                ResourceStatus::from("REVIEW_IN_PROGRESS"),
                "User Initiated",
            )])
        })
        .output(|| events(rollback_history().split_off(4)))
        .output(|| events(rollback_history()))
        .repeatedly()
        .build();
    let describe_stacks = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::CreateInProgress))
        .output(|| stack(StackStatus::RollbackComplete))
        .repeatedly()
        .build();
    let execute = mock!(Client::execute_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs-1"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe_events, &describe_stacks, &execute]
    );
    let stacks = fast(Stacks::new(cfn, unused_cloud()));
    let prepared = PreparedChangeSet {
        stack: "demo".into(),
        stack_id: STACK_ID.into(),
        change_set_id: "cs-1".into(),
        creates_stack: true,
        view: Default::default(),
        protected: Default::default(),
    };

    let mut seen = Vec::new();
    let result = stacks
        .execute(&prepared, &mut |e| {
            seen.push(format!("{} {}", e.logical_id, e.status))
        })
        .await;
    let Err(error @ CfnError::StackFailed { .. }) = result else {
        panic!("expected a failed stack, got {result:?}")
    };
    assert_eq!(
        error.to_string(),
        format!(
            "stack demo ended in ROLLBACK_COMPLETE: MountTargetSharedSubnetA (AWS::EFS::MountTarget) failed: {BAD_SUBNET}"
        )
    );
    assert_eq!(execute.num_calls(), 1);
    assert_eq!(
        seen,
        [
            "demo CREATE_IN_PROGRESS",
            "demo ROLLBACK_IN_PROGRESS",
            "MountTargetSharedSubnetA CREATE_FAILED",
            "MountTargetSharedSubnetB CREATE_FAILED",
            "MountTargetSharedSubnetB DELETE_COMPLETE",
            "demo ROLLBACK_COMPLETE",
        ],
        "each event once, oldest first, none from before the execution"
    );
}

const FILESYSTEMS: &str =
    "[filesystems.shared]\nperformance_mode = \"maxIO\"\nthroughput_mode = \"bursting\"\n";

fn detail(name: &str, recreation: RequiresRecreation) -> ResourceChangeDetail {
    ResourceChangeDetail::builder()
        .target(
            ResourceTargetDefinition::builder()
                .attribute(ResourceAttribute::Properties)
                .name(name)
                .requires_recreation(recreation)
                .build(),
        )
        .build()
}

fn modify(
    logical: &str,
    kind: &str,
    replacement: Replacement,
    details: Vec<ResourceChangeDetail>,
) -> Change {
    Change::builder()
        .resource_change(
            ResourceChange::builder()
                .action(ChangeAction::Modify)
                .logical_resource_id(logical)
                .physical_resource_id(format!("{logical}-id"))
                .resource_type(kind)
                .replacement(replacement)
                .set_details(Some(details))
                .build(),
        )
        .build()
}

/// A deployed template with nothing cloudstor's own replacement knowledge could match, so
/// only the change set speaks.
fn deployed_template() -> aws_smithy_mocks::Rule {
    mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body("{\"Resources\": {}}")
            .build()
    })
}

/// Drift detection that runs once "in progress", then finds `FileSystemShared`'s throughput
/// mode changed by hand.
fn drift_rules(status: StackDriftDetectionStatus) -> Vec<aws_smithy_mocks::Rule> {
    let detect = mock!(Client::detect_stack_drift).then_output(|| {
        DetectStackDriftOutput::builder()
            .stack_drift_detection_id("d-1")
            .build()
    });
    let progress = mock!(Client::describe_stack_drift_detection_status)
        .match_requests(|r| r.stack_drift_detection_id() == Some("d-1"))
        .sequence()
        .output(|| drift_status(StackDriftDetectionStatus::DetectionInProgress))
        .output(move || drift_status(status.clone()))
        .build();
    let drifts = mock!(Client::describe_stack_resource_drifts).then_output(|| {
        DescribeStackResourceDriftsOutput::builder()
            .stack_resource_drifts(
                StackResourceDrift::builder()
                    .stack_id(STACK_ID)
                    .logical_resource_id("FileSystemShared")
                    .resource_type("AWS::EFS::FileSystem")
                    .stack_resource_drift_status(StackResourceDriftStatus::Modified)
                    .property_differences(
                        PropertyDifference::builder()
                            .property_path("/ThroughputMode")
                            .expected_value("elastic")
                            .actual_value("bursting")
                            .difference_type(DifferenceType::NotEqual)
                            .build(),
                    )
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    });
    vec![detect, progress, drifts]
}

fn drift_status(status: StackDriftDetectionStatus) -> DescribeStackDriftDetectionStatusOutput {
    DescribeStackDriftDetectionStatusOutput::builder()
        .stack_id(STACK_ID)
        .stack_drift_detection_id("d-1")
        .detection_status(status)
        .detection_status_reason("CloudFormation is not allowed to read AWS::EFS::FileSystem")
        .timestamp(aws_smithy_types::DateTime::from_secs(0))
        .build()
}

struct Moto {
    _server: common::Moto,
    cloud: Cloud,
    spec: Spec,
}

async fn moto_network() -> Moto {
    let server = common::Moto::start();
    let config = server.sdk_config().await;
    let network = common::network(&config).await;
    let text = network.spec("demo", 1, FILESYSTEMS);
    Moto {
        _server: server,
        cloud: Cloud::from_sdk_config(&config),
        spec: Spec::parse(Path::new("cloudstor.toml"), &text).unwrap(),
    }
}

#[tokio::test]
async fn replacement_is_shown_with_the_property_that_forces_it_sdk_mocked() {
    let moto = moto_network().await;
    let describe_stacks =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&ChangeSetType::Update)
                && r.template_body().is_some_and(|t| t.contains("\"maxIO\""))
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id("cs-2")
                .stack_id(STACK_ID)
                .build()
        });
    let describe = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(modify(
                "FileSystemShared",
                "AWS::EFS::FileSystem",
                Replacement::True,
                vec![
                    detail("PerformanceMode", RequiresRecreation::Always),
                    detail("ThroughputMode", RequiresRecreation::Never),
                ],
            ))
            .changes(modify(
                "MountTargetSharedSubnetA",
                TARGET,
                Replacement::Conditional,
                vec![detail("FileSystemId", RequiresRecreation::Always)],
            ))
            .build()
    });
    let drift = drift_rules(StackDriftDetectionStatus::DetectionComplete);
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe_stacks,
            &create,
            &describe,
            &deployed_template(),
            &drift[0],
            &drift[1],
            &drift[2]
        ]
    );
    let stacks = fast(Stacks::new(cfn, moto.cloud.clone()));

    let prepared = stacks
        .prepare(&moto.spec, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create.num_calls(), 1, "one change set, of type UPDATE");
    assert_eq!(
        drift[1].num_calls(),
        2,
        "waited for drift detection to finish"
    );
    insta::assert_snapshot!(render_change_set("demo", &prepared.view), @r"
    Note: Objects have changed outside CloudFormation (drift detection):
      FileSystemShared (AWS::EFS::FileSystem): MODIFIED /ThroughputMode
    The change set below was made from the template, not from what is live.

    Resource actions are indicated with the following symbols:
    -/+ destroy and then create replacement

    CloudFormation will perform the following actions on stack demo:

      # FileSystemShared (AWS::EFS::FileSystem) [id=FileSystemShared-id] must be replaced
    -/+ FileSystemShared
          ~ PerformanceMode # forces replacement
          ~ ThroughputMode

      # MountTargetSharedSubnetA (AWS::EFS::MountTarget) [id=MountTargetSharedSubnetA-id] may be replaced
    -/+ MountTargetSharedSubnetA
          ~ FileSystemId # forces replacement

    Change set: 2 to add, 0 to change, 2 to destroy.
    ");
}

#[tokio::test]
async fn change_set_failure_is_reported_with_its_reason_sdk_mocked() {
    let moto = moto_network().await;
    let describe_stacks =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set).then_output(|| {
        CreateChangeSetOutput::builder()
            .id("cs-3")
            .stack_id(STACK_ID)
            .build()
    });
    let describe = mock!(Client::describe_change_set)
        .sequence()
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateInProgress)
                .build()
        })
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::Failed)
                .status_reason("Template format error: Unresolved resource dependencies [Nope]")
                .build()
        })
        .build();
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe_stacks, &create, &describe, &deployed_template()]
    );
    let stacks = fast(Stacks::new(cfn, moto.cloud.clone()));
    let error = stacks
        .prepare(&moto.spec, TemplateOptions::default())
        .await
        .expect_err("the change set failed");
    assert_eq!(
        error.to_string(),
        "stack demo: change set cs-3 failed: Template format error: Unresolved resource dependencies [Nope]"
    );
    assert_eq!(
        describe.num_calls(),
        2,
        "waited while the change set was being created"
    );
}

#[tokio::test]
async fn a_rolled_back_stack_is_refused_before_any_change_sdk_mocked() {
    let moto = moto_network().await;
    let describe_stacks =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::RollbackComplete));
    let create = mock!(Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().id("never").build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe_stacks, &create]
    );
    let stacks = fast(Stacks::new(cfn, moto.cloud.clone()));
    let error = stacks
        .prepare(&moto.spec, TemplateOptions::default())
        .await
        .expect_err("a stack in ROLLBACK_COMPLETE cannot take a change set");
    assert!(
        error.to_string().contains(
            "stack demo is in ROLLBACK_COMPLETE and cannot be updated; delete it with `cloudstor destroy --engine cloudformation`"
        ),
        "{error}"
    );
    assert_eq!(create.num_calls(), 0, "no change set was created");
}

#[tokio::test]
async fn a_failed_drift_detection_is_said_plainly_sdk_mocked() {
    let moto = moto_network().await;
    let describe_stacks =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set).then_output(|| {
        CreateChangeSetOutput::builder()
            .id("cs-4")
            .stack_id(STACK_ID)
            .build()
    });
    let describe = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes.")
            .build()
    });
    let drift = drift_rules(StackDriftDetectionStatus::DetectionFailed);
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe_stacks,
            &create,
            &describe,
            &deployed_template(),
            &drift[0],
            &drift[1],
            &drift[2]
        ]
    );
    let stacks = fast(Stacks::new(cfn, moto.cloud.clone()));
    let prepared = stacks
        .prepare(&moto.spec, TemplateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        render_change_set("demo", &prepared.view),
        "Note: drift could not be checked (drift detection failed: CloudFormation is not allowed to read AWS::EFS::FileSystem); changes made outside CloudFormation are not shown.\n\nNo changes. Stack demo matches the configuration.\n"
    );
    assert_eq!(
        drift[2].num_calls(),
        0,
        "no resource drifts read after a failure"
    );
}
