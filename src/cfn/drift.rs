//! Drift: resources of the stack changed outside CloudFormation, found with CloudFormation's
//! own drift detection (`DetectStackDrift`), and shown before the change set, as `cloudstor
//! plan` shows what changed outside cloudstor. Where detection is not available (an endpoint
//! without it, missing permissions, a failed detection), the plan says so plainly.

use std::fmt::Write;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};

/// What drift detection found for a stack that already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackDrift {
    InSync,
    Drifted(Vec<DriftedResource>),
    /// Why drift could not be checked.
    NotChecked(String),
}

/// A resource whose live configuration differs from the template, or that was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftedResource {
    pub logical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// Property paths that differ (`/ThroughputMode`).
    pub properties: Vec<String>,
}

/// Runs drift detection on `stack` and waits for it, polling every `interval` up to `deadline`.
pub async fn detect(
    client: &Client,
    stack: &str,
    interval: Duration,
    deadline: Duration,
) -> StackDrift {
    match try_detect(client, stack, interval, deadline).await {
        Ok(drift) => drift,
        Err(reason) => StackDrift::NotChecked(reason),
    }
}

async fn try_detect(
    client: &Client,
    stack: &str,
    interval: Duration,
    deadline: Duration,
) -> Result<StackDrift, String> {
    let started = client
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| reason("DetectStackDrift", &e))?;
    let detection = started
        .stack_drift_detection_id()
        .unwrap_or_default()
        .to_owned();
    let begun = tokio::time::Instant::now();
    loop {
        let status = client
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&detection)
            .send()
            .await
            .map_err(|e| reason("DescribeStackDriftDetectionStatus", &e))?;
        match status.detection_status() {
            Some(StackDriftDetectionStatus::DetectionInProgress) if begun.elapsed() < deadline => {
                tokio::time::sleep(interval).await;
            }
            Some(StackDriftDetectionStatus::DetectionInProgress) => {
                return Err(format!("drift detection still running after {deadline:?}"));
            }
            Some(StackDriftDetectionStatus::DetectionFailed) => {
                let why = status
                    .detection_status_reason()
                    .unwrap_or("no reason given");
                return Err(format!("drift detection failed: {why}"));
            }
            _ => break,
        }
    }
    let drifted = drifted_resources(client, stack).await?;
    Ok(if drifted.is_empty() {
        StackDrift::InSync
    } else {
        StackDrift::Drifted(drifted)
    })
}

async fn drifted_resources(client: &Client, stack: &str) -> Result<Vec<DriftedResource>, String> {
    let mut drifted = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| reason("DescribeStackResourceDrifts", &e))?;
        drifted.extend(page.stack_resource_drifts().iter().map(|d| {
            DriftedResource {
                logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: d.resource_type().unwrap_or_default().to_owned(),
                status: d
                    .stack_resource_drift_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                properties: d
                    .property_differences()
                    .iter()
                    .filter_map(|p| p.property_path().map(str::to_owned))
                    .collect(),
            }
        }));
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(drifted);
        }
    }
}

fn reason(operation: &str, error: &impl ProvideErrorMetadata) -> String {
    let detail = error
        .message()
        .or(error.code())
        .unwrap_or("no answer the SDK could read");
    format!("{operation} failed: {detail}")
}

/// The drift as plan text; empty when the stack is in sync.
pub fn render(drift: &StackDrift) -> String {
    let mut out = String::new();
    match drift {
        StackDrift::InSync => {}
        StackDrift::Drifted(resources) => {
            out.push_str("Note: Objects have changed outside CloudFormation (drift detection):\n");
            for resource in resources {
                let _ = write!(
                    out,
                    "  {} ({}): {}",
                    resource.logical_id, resource.resource_type, resource.status
                );
                if !resource.properties.is_empty() {
                    let _ = write!(out, " {}", resource.properties.join(", "));
                }
                out.push('\n');
            }
            out.push_str(
                "The change set below was made from the template, not from what is live.\n\n",
            );
        }
        StackDrift::NotChecked(why) => {
            let _ = writeln!(
                out,
                "Note: drift could not be checked ({why}); changes made outside CloudFormation are not shown.\n"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_names_each_resource_and_property() {
        let drift = StackDrift::Drifted(vec![DriftedResource {
            logical_id: "FileSystemShared".into(),
            resource_type: "AWS::EFS::FileSystem".into(),
            status: "MODIFIED".into(),
            properties: vec!["/ThroughputMode".into()],
        }]);
        assert_eq!(
            render(&drift),
            "Note: Objects have changed outside CloudFormation (drift detection):\n  FileSystemShared (AWS::EFS::FileSystem): MODIFIED /ThroughputMode\nThe change set below was made from the template, not from what is live.\n\n"
        );
        assert_eq!(render(&StackDrift::InSync), "");
        assert!(
            render(&StackDrift::NotChecked("x".into()))
                .starts_with("Note: drift could not be checked (x)")
        );
    }
}
