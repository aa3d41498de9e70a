//! Deploying and deleting the stack: change sets, stack events, rollbacks.
//!
//! A deployment is two steps so the caller can show the change set and ask before anything
//! changes: [`Stacks::prepare`] checks the network, builds the template and creates a change
//! set; [`Stacks::execute`] runs it and follows the stack's events until it settles, or
//! [`Stacks::discard`] throws it away.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, StackStatus};
use serde_json::Value;

use super::CfnError;
use super::changes::ChangeSetView;
use super::template::{self, TemplateOptions};
use crate::cloud::{Cloud, Observed, check_network};
use crate::model::{Address, Resource};
use crate::spec::Spec;

/// The CloudFormation client and how patiently it waits.
#[derive(Clone)]
pub struct Stacks {
    cfn: Client,
    cloud: Cloud,
    poll_interval: Duration,
    deadline: Duration,
}

/// A change set waiting for a decision.
#[derive(Debug, Clone)]
pub struct PreparedChangeSet {
    pub stack: String,
    pub stack_id: String,
    pub change_set_id: String,
    /// The stack does not exist yet: discarding also removes the placeholder CloudFormation
    /// keeps for it (status REVIEW_IN_PROGRESS).
    pub creates_stack: bool,
    pub view: ChangeSetView,
    /// File systems (by spec name) whose `cloudstor:protect` tag in AWS is true.
    pub protected: BTreeSet<String>,
}

/// One line of a stack's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl std::fmt::Display for StackEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.logical_id, self.resource_type, self.status
        )?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// A resource of the stack with its AWS id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
}

#[derive(Debug, Clone)]
pub struct DeployOutcome {
    pub stack: String,
    pub status: String,
    pub resources: Vec<StackResource>,
    /// The node launch template after the deployment, when the stack has one.
    pub launch_template: Option<LaunchTemplateVersion>,
}

/// The node launch template's latest version, which cloudstor makes the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateVersion {
    pub id: String,
    pub version: i64,
    /// Whether cloudstor moved the default to it (CloudFormation had left an older one).
    pub default_moved: bool,
}

/// A file system of the stack that no stack holds any more: removed from the stack (or the
/// stack deleted) while `DeletionPolicy: Retain` kept it, with its data, in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFileSystem {
    pub id: String,
    /// Its `cloudstor:resource` tag (`filesystem.shared`).
    pub address: String,
}

/// What a person reads about file systems kept outside the stack (still there, still billed).
pub struct KeptOutside<'a>(pub &'a [KeptFileSystem]);

impl std::fmt::Display for KeptOutside<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "Kept outside the stack by DeletionPolicy: Retain (their data is kept, and still billed; delete them in EFS when no longer needed):"
        )?;
        for fs in self.0 {
            writeln!(f, "  {} {}", fs.address, fs.id)?;
        }
        Ok(())
    }
}

impl DeployOutcome {
    /// File system ids by logical id.
    pub fn filesystems(&self) -> impl Iterator<Item = &StackResource> {
        self.resources
            .iter()
            .filter(|r| r.resource_type == "AWS::EFS::FileSystem")
    }
}

/// What a person reads after a deployment: the status and the file system ids.
impl std::fmt::Display for DeployOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Stack {}: {}", self.stack, self.status)?;
        for fs in self.filesystems() {
            writeln!(f, "  {} = {}", fs.logical_id, fs.physical_id)?;
        }
        if let Some(template) = &self.launch_template {
            let moved = if template.default_moved {
                " (made the default by cloudstor)"
            } else {
                ""
            };
            writeln!(
                f,
                "  {} = {}, default version {}{moved}",
                template::LAUNCH_TEMPLATE_ID,
                template.id,
                template.version
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct DeleteOutcome {
    pub stack: String,
    /// Resources with `DeletionPolicy: Retain` that CloudFormation left in place.
    pub retained: Vec<StackResource>,
}

/// What a person reads after a deletion, naming what is still there (and still billed).
impl std::fmt::Display for DeleteOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Stack {} deleted.", self.stack)?;
        if self.retained.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "Left in place by DeletionPolicy: Retain (their data is kept, and still billed):"
        )?;
        for resource in &self.retained {
            writeln!(
                f,
                "  {} {} ({})",
                resource.resource_type, resource.physical_id, resource.logical_id
            )?;
        }
        Ok(())
    }
}

const SUCCESS: [&str; 4] = [
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "DELETE_COMPLETE",
    "IMPORT_COMPLETE",
];

/// CloudFormation's answer when a template equals what the stack already has.
const NO_CHANGES: [&str; 2] = ["didn't contain changes", "No updates are to be performed"];

fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

impl Stacks {
    /// Clients from the standard AWS chain; `AWS_ENDPOINT_URL` redirects them.
    pub async fn from_env(region: Option<String>) -> Stacks {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        Stacks::from_sdk_config(&loader.load().await)
    }

    pub fn from_sdk_config(config: &SdkConfig) -> Stacks {
        Stacks::new(Client::new(config), Cloud::from_sdk_config(config))
    }

    /// From ready-made clients, so tests can mock CloudFormation's responses.
    pub fn new(cfn: Client, cloud: Cloud) -> Stacks {
        Stacks {
            cfn,
            cloud,
            poll_interval: Duration::from_secs(5),
            deadline: Duration::from_secs(60 * 60),
        }
    }

    pub fn with_polling(mut self, interval: Duration, deadline: Duration) -> Stacks {
        self.poll_interval = interval;
        self.deadline = deadline;
        self
    }

    /// Checks the spec's network, builds its template and creates a change set for it.
    /// Nothing in the stack changes until [`Stacks::execute`].
    pub async fn prepare(
        &self,
        spec: &Spec,
        options: TemplateOptions,
    ) -> Result<PreparedChangeSet, CfnError> {
        let observed = self.cloud.refresh(spec).await?;
        check_network(spec, &observed)?;
        let template = template::build(spec, &observed.subnet_zones, options)?;
        let stack = spec.stack.name.clone();
        let creates_stack = match self.status(&stack).await? {
            None => true,
            Some((_, status)) if status == StackStatus::ReviewInProgress.as_str() => true,
            Some((_, status)) if is_settled(&status) && !is_broken(&status) => false,
            Some((_, status)) => {
                let hint = if is_settled(&status) {
                    "delete it with `cloudstor destroy --engine cloudformation`, then apply again"
                } else {
                    "wait for the operation in progress to finish, then apply again"
                };
                return Err(CfnError::NotUpdatable {
                    stack,
                    status,
                    hint,
                });
            }
        };
        let (change_set_type, deployed) = if creates_stack {
            (ChangeSetType::Create, Value::Null)
        } else {
            (ChangeSetType::Update, self.deployed_template(&stack).await?)
        };
        let created = self
            .cfn
            .create_change_set()
            .stack_name(&stack)
            .change_set_name(change_set_name())
            .change_set_type(change_set_type)
            .template_body(template.to_string())
            .description(format!("cloudstor {}", env!("CARGO_PKG_VERSION")))
            .send()
            .await
            .map_err(aws_error(&stack, "CreateChangeSet"))?;
        let prepared = PreparedChangeSet {
            stack_id: created.stack_id().unwrap_or_default().to_owned(),
            change_set_id: created.id().unwrap_or_default().to_owned(),
            stack,
            creates_stack,
            view: ChangeSetView::default(),
            protected: protected_in_aws(&observed),
        };
        let mut view = self.wait_for_change_set(&prepared).await?;
        view.reconcile(&deployed, &template);
        if !creates_stack {
            let drift = super::drift::detect(
                &self.cfn,
                &prepared.stack,
                self.poll_interval,
                self.deadline,
            );
            view.drift = Some(drift.await);
        }
        Ok(PreparedChangeSet { view, ..prepared })
    }

    /// Throws the change set away (and the placeholder of a stack that was never created).
    pub async fn discard(&self, prepared: &PreparedChangeSet) -> Result<(), CfnError> {
        self.cfn
            .delete_change_set()
            .change_set_name(&prepared.change_set_id)
            .send()
            .await
            .map_err(aws_error(&prepared.stack, "DeleteChangeSet"))?;
        if prepared.creates_stack {
            self.cfn
                .delete_stack()
                .stack_name(&prepared.stack_id)
                .send()
                .await
                .map_err(aws_error(&prepared.stack, "DeleteStack"))?;
        }
        Ok(())
    }

    /// Executes the change set and reports each new stack event to `on_event` until the stack
    /// settles. A rollback is an error naming the resource that failed and why.
    pub async fn execute(
        &self,
        prepared: &PreparedChangeSet,
        on_event: &mut dyn FnMut(&StackEvent),
    ) -> Result<DeployOutcome, CfnError> {
        let stack = &prepared.stack;
        let mut seen = self.event_ids(&prepared.stack_id, stack).await?;
        self.cfn
            .execute_change_set()
            .change_set_name(&prepared.change_set_id)
            .send()
            .await
            .map_err(aws_error(stack, "ExecuteChangeSet"))?;
        let status = self
            .follow(&prepared.stack_id, stack, &mut seen, on_event)
            .await?;
        let resources = self.resources(stack).await?;
        let launch_template = self.default_to_latest(&resources).await?;
        Ok(DeployOutcome {
            stack: stack.clone(),
            status,
            resources,
            launch_template,
        })
    }

    /// CloudFormation adds a launch template version on each update but leaves the default
    /// where it was, so an auto scaling group on `$Default` would go on launching nodes with
    /// the old script: the latest version is made the default.
    async fn default_to_latest(
        &self,
        resources: &[StackResource],
    ) -> Result<Option<LaunchTemplateVersion>, CfnError> {
        let Some(template) = resources
            .iter()
            .find(|r| r.logical_id == template::LAUNCH_TEMPLATE_ID)
        else {
            return Ok(None);
        };
        let id = template.physical_id.clone();
        let (version, default_moved) = self.cloud.default_to_latest_version(&id).await?;
        Ok(Some(LaunchTemplateVersion {
            id,
            version,
            default_moved,
        }))
    }

    /// The stack's file systems that no stack holds: tagged with the stack in EFS but not
    /// among the stack's resources (all of them once the stack is gone).
    pub async fn kept_outside(&self, stack: &str) -> Result<Vec<KeptFileSystem>, CfnError> {
        let held: BTreeSet<String> = match self.status(stack).await? {
            Some(_) => self
                .resources(stack)
                .await?
                .into_iter()
                .map(|r| r.physical_id)
                .collect(),
            None => BTreeSet::new(),
        };
        Ok(self
            .cloud
            .tagged_filesystems(stack)
            .await?
            .into_iter()
            .filter(|(id, _)| !held.contains(id))
            .map(|(id, address)| KeptFileSystem { id, address })
            .collect())
    }

    /// Deletes the stack, following its events; file systems kept by `DeletionPolicy: Retain`
    /// are listed in the outcome so the user knows their data is still there.
    pub async fn delete(
        &self,
        stack: &str,
        on_event: &mut dyn FnMut(&StackEvent),
    ) -> Result<DeleteOutcome, CfnError> {
        let Some((stack_id, _)) = self.status(stack).await? else {
            return Err(CfnError::NoSuchStack {
                stack: stack.to_owned(),
            });
        };
        let retained_ids = self.retained_logical_ids(stack).await?;
        let retained = self
            .resources(stack)
            .await?
            .into_iter()
            .filter(|r| retained_ids.contains(&r.logical_id))
            .collect();
        let mut seen = self.event_ids(&stack_id, stack).await?;
        self.cfn
            .delete_stack()
            .stack_name(&stack_id)
            .send()
            .await
            .map_err(aws_error(stack, "DeleteStack"))?;
        self.follow(&stack_id, stack, &mut seen, on_event).await?;
        Ok(DeleteOutcome {
            stack: stack.to_owned(),
            retained,
        })
    }

    /// The stack's id and status, or `None` when there is no such stack.
    async fn status(&self, stack: &str) -> Result<Option<(String, String)>, CfnError> {
        let described = self.cfn.describe_stacks().stack_name(stack).send().await;
        let output = match described {
            Ok(output) => output,
            Err(error)
                if error
                    .message()
                    .is_some_and(|m| m.contains("does not exist")) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(aws_error(stack, "DescribeStacks")(error)),
        };
        Ok(output.stacks().first().map(|s| {
            (
                s.stack_id().unwrap_or_default().to_owned(),
                s.stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        }))
    }

    async fn wait_for_change_set(
        &self,
        prepared: &PreparedChangeSet,
    ) -> Result<ChangeSetView, CfnError> {
        let started = tokio::time::Instant::now();
        loop {
            let described = self.describe_change_set(prepared).await?;
            match described {
                (Some(ChangeSetStatus::CreateComplete), _, changes) => return Ok(changes),
                (Some(ChangeSetStatus::Failed), reason, _)
                    if NO_CHANGES.iter().any(|text| reason.contains(text)) =>
                {
                    return Ok(ChangeSetView::default());
                }
                (Some(ChangeSetStatus::Failed), reason, _) => {
                    return Err(CfnError::ChangeSetFailed {
                        stack: prepared.stack.clone(),
                        change_set: prepared.change_set_id.clone(),
                        reason,
                    });
                }
                (status, _, _) if started.elapsed() > self.deadline => {
                    return Err(CfnError::Timeout {
                        stack: prepared.stack.clone(),
                        status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        waited: started.elapsed(),
                    });
                }
                _ => tokio::time::sleep(self.poll_interval).await,
            }
        }
    }

    /// Status, status reason and every change (the list is paginated).
    async fn describe_change_set(
        &self,
        prepared: &PreparedChangeSet,
    ) -> Result<(Option<ChangeSetStatus>, String, ChangeSetView), CfnError> {
        let mut changes = Vec::new();
        let mut next_token = None;
        loop {
            let page = self
                .cfn
                .describe_change_set()
                .change_set_name(&prepared.change_set_id)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(aws_error(&prepared.stack, "DescribeChangeSet"))?;
            changes.extend_from_slice(page.changes());
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                let reason = page.status_reason().unwrap_or_default().to_owned();
                return Ok((
                    page.status().cloned(),
                    reason,
                    ChangeSetView::from_sdk(&changes),
                ));
            }
        }
    }

    /// Polls until the stack settles, passing on events it has not seen; returns the status.
    async fn follow(
        &self,
        stack_id: &str,
        stack: &str,
        seen: &mut BTreeSet<String>,
        on_event: &mut dyn FnMut(&StackEvent),
    ) -> Result<String, CfnError> {
        let started = tokio::time::Instant::now();
        let mut failures = Vec::new();
        loop {
            let (_, status) =
                self.status(stack_id)
                    .await?
                    .ok_or_else(|| CfnError::NoSuchStack {
                        stack: stack.to_owned(),
                    })?;
            for event in self.new_events(stack_id, stack, seen).await? {
                if event.status.ends_with("_FAILED") {
                    failures.push(event.clone());
                }
                on_event(&event);
            }
            if is_settled(&status) {
                if SUCCESS.contains(&status.as_str()) {
                    return Ok(status);
                }
                return Err(CfnError::StackFailed {
                    stack: stack.to_owned(),
                    status,
                    failure: first_resource_failure(stack, failures).map(Box::new),
                });
            }
            if started.elapsed() > self.deadline {
                return Err(CfnError::Timeout {
                    stack: stack.to_owned(),
                    status,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    async fn event_ids(&self, stack_id: &str, stack: &str) -> Result<BTreeSet<String>, CfnError> {
        let mut seen = BTreeSet::new();
        self.new_events(stack_id, stack, &mut seen).await?;
        Ok(seen)
    }

    /// Events not in `seen`, oldest first. CloudFormation lists newest first, so reading
    /// stops at the first page that holds an event already seen.
    async fn new_events(
        &self,
        stack_id: &str,
        stack: &str,
        seen: &mut BTreeSet<String>,
    ) -> Result<Vec<StackEvent>, CfnError> {
        let mut fresh = Vec::new();
        let mut next_token = None;
        loop {
            let page = self
                .cfn
                .describe_stack_events()
                .stack_name(stack_id)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(aws_error(stack, "DescribeStackEvents"))?;
            let mut reached_seen = false;
            for event in page.stack_events() {
                let id = event.event_id().unwrap_or_default().to_owned();
                if !seen.insert(id) {
                    reached_seen = true;
                    continue;
                }
                fresh.push(StackEvent {
                    logical_id: event.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: event.resource_type().unwrap_or_default().to_owned(),
                    status: event
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: event
                        .resource_status_reason()
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            next_token = page.next_token().map(str::to_owned);
            if reached_seen || next_token.is_none() {
                fresh.reverse();
                return Ok(fresh);
            }
        }
    }

    async fn resources(&self, stack: &str) -> Result<Vec<StackResource>, CfnError> {
        let mut resources = Vec::new();
        let mut next_token = None;
        loop {
            let page = self
                .cfn
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(aws_error(stack, "ListStackResources"))?;
            resources.extend(
                page.stack_resource_summaries()
                    .iter()
                    .map(|r| StackResource {
                        logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                        physical_id: r.physical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    }),
            );
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(resources);
            }
        }
    }

    /// The template the stack runs (JSON or YAML; YAML parses both).
    async fn deployed_template(&self, stack: &str) -> Result<Value, CfnError> {
        let output = self
            .cfn
            .get_template()
            .stack_name(stack)
            .send()
            .await
            .map_err(aws_error(stack, "GetTemplate"))?;
        Ok(serde_norway::from_str(output.template_body().unwrap_or_default()).unwrap_or_default())
    }

    /// Logical ids whose `DeletionPolicy` keeps them when the stack goes.
    async fn retained_logical_ids(&self, stack: &str) -> Result<BTreeSet<String>, CfnError> {
        let template = self.deployed_template(stack).await?;
        let resources = template["Resources"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Ok(resources
            .into_iter()
            .filter(|(_, r)| {
                r["DeletionPolicy"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("Retain"))
            })
            .map(|(id, _)| id)
            .collect())
    }
}

/// Stacks that failed to create or delete cannot take a change set until they are deleted.
/// Protection as AWS records it, which a spec that sets `protect = false` does not lift.
fn protected_in_aws(observed: &Observed) -> BTreeSet<String> {
    observed
        .resources
        .iter()
        .filter_map(|(address, resource)| match (address, resource) {
            (Address::FileSystem(name), Resource::FileSystem(fs)) if fs.protect => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

fn is_broken(status: &str) -> bool {
    status == "ROLLBACK_COMPLETE" || status.ends_with("_FAILED")
}

/// The first resource (not the stack itself) that failed, which is what started the rollback;
/// CloudFormation marks the resources it gave up on afterwards as "Resource creation cancelled".
fn first_resource_failure(stack: &str, failures: Vec<StackEvent>) -> Option<StackEvent> {
    let is_resource =
        |e: &StackEvent| e.resource_type != "AWS::CloudFormation::Stack" && e.logical_id != stack;
    let cancelled = |e: &StackEvent| e.reason.contains("cancelled");
    failures
        .iter()
        .find(|e| is_resource(e) && !cancelled(e))
        .or_else(|| failures.iter().find(|e| is_resource(e)))
        .or_else(|| failures.first())
        .cloned()
}

/// A change set name CloudFormation accepts and a person can place in time.
fn change_set_name() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("cloudstor-{seconds}")
}

/// Attaches the stack and operation to an SDK error. When the answer could not be parsed
/// (an endpoint speaking another protocol), the raw body is the best explanation there is.
fn aws_error<E, R>(stack: &str, operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> CfnError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + RawBody,
{
    let stack = stack.to_owned();
    move |error| {
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        let body = error.raw_response().and_then(RawBody::text);
        CfnError::Aws {
            stack,
            operation,
            code: code.unwrap_or_else(|| "Unknown".into()),
            message: message.or(body).unwrap_or_else(|| {
                aws_smithy_types::error::display::DisplayErrorContext(&error).to_string()
            }),
        }
    }
}

/// The body of a raw HTTP response, as text.
trait RawBody {
    fn text(&self) -> Option<String>;
}

impl RawBody for aws_smithy_runtime_api::http::Response {
    fn text(&self) -> Option<String> {
        let bytes = self.body().bytes()?;
        Some(String::from_utf8_lossy(bytes).trim().to_owned()).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, status: &str, reason: &str) -> StackEvent {
        StackEvent {
            logical_id: id.into(),
            resource_type: kind.into(),
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn the_failure_that_started_a_rollback_is_reported() {
        let failures = vec![
            event(
                "MountTargetA",
                "AWS::EFS::MountTarget",
                "CREATE_FAILED",
                "subnet not found",
            ),
            event(
                "MountTargetB",
                "AWS::EFS::MountTarget",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            event("demo", "AWS::CloudFormation::Stack", "ROLLBACK_FAILED", "x"),
        ];
        let failure = first_resource_failure("demo", failures).unwrap();
        assert_eq!(failure.logical_id, "MountTargetA");
    }

    #[test]
    fn settled_statuses() {
        assert!(is_settled("ROLLBACK_COMPLETE"));
        assert!(!is_settled("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(is_broken("ROLLBACK_COMPLETE") && is_broken("DELETE_FAILED"));
        assert!(!is_broken("UPDATE_ROLLBACK_COMPLETE"));
    }
}
