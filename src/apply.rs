//! Running a plan: a dependency graph of AWS operations walked with bounded parallelism.
//!
//! Every step is safe to repeat: file systems are created with a CreationToken and tagged at
//! creation, so one that exists already with the stack's tags is adopted (one without them is
//! refused, see [`crate::cloud::OwnershipProblem`]), and an apply cut short by an error or
//! Ctrl-C is finished by running apply again.

mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;

use crate::bootstrap::{node_filesystems, render_script};
use crate::cloud::{Cloud, CloudError, NodeLaunchData};
use crate::model::{Address, AppliedRecord, Resource, Rule};
use crate::plan::{Action, Plan};

pub use progress::Progress;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How many AWS operations run at once (Terraform's default is 10 too).
    pub parallelism: usize,
    /// Permits destroying or replacing protected file systems.
    pub allow_data_loss: bool,
    /// Set by a signal handler: no new operation starts once it is true.
    pub interrupted: Arc<AtomicBool>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            allow_data_loss: false,
            interrupted: Arc::default(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("refusing to destroy data:\n{}\nRun again with --allow-data-loss if that is intended, or set protect = false for these file systems and apply that first.", .0.join("\n"))]
    Protected(Vec<String>),
    #[error(
        "the saved plan is stale: the stack changed since it was made; run `cloudstor plan` again"
    )]
    Stale,
    #[error("apply failed; {} completed, {} not attempted:\n{}\nFix the cause and run apply again: it picks up where this one stopped.", .completed, .skipped, .failures.join("\n"))]
    Failed {
        completed: usize,
        skipped: usize,
        failures: Vec<String>,
    },
    #[error(
        "apply interrupted; {completed} operations completed, {skipped} not started. Run apply again to finish."
    )]
    Interrupted { completed: usize, skipped: usize },
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// Refuses destroying or replacing file systems AWS marks protected (see [`Plan::refusals`]).
pub fn check_protection(plan: &Plan, allow_data_loss: bool) -> Result<(), ApplyError> {
    let refused = plan.refusals();
    if allow_data_loss || refused.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Protected(refused))
    }
}

/// One AWS operation in the graph.
#[derive(Debug, Clone)]
enum Op {
    Create(Resource),
    Update {
        before: Resource,
        after: Resource,
    },
    Delete(Resource),
    Record(AppliedRecord),
    /// Writes cloudstor's own tags: restores lost ones, or moves the file system's address.
    Retag(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
struct Step {
    address: Address,
    op: Op,
    after: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done,
    Failed,
    Skipped,
}

/// Shared by the steps: ids learnt as resources are created.
struct Run {
    cloud: Cloud,
    stack: String,
    spec: crate::spec::Spec,
    ids: Mutex<BTreeMap<Address, String>>,
    options: ApplyOptions,
    slots: Semaphore,
    progress: Progress,
    failures: Mutex<Vec<String>>,
}

/// Executes `plan`. The caller has checked protection and, for a saved plan, freshness.
pub async fn apply(
    cloud: &Cloud,
    plan: &Plan,
    options: ApplyOptions,
    progress: Progress,
) -> Result<ApplyReport, ApplyError> {
    check_protection(plan, options.allow_data_loss)?;
    let steps = graph(plan);
    let run = Arc::new(Run {
        cloud: cloud.clone(),
        stack: plan.spec.stack.name.clone(),
        spec: plan.spec.clone(),
        ids: Mutex::new(plan.ids.clone()),
        slots: Semaphore::new(options.parallelism.max(1)),
        options,
        progress,
        failures: Mutex::default(),
    });
    let mut outcomes: Vec<Option<Shared<BoxFuture<'static, Outcome>>>> = vec![None; steps.len()];
    for index in topological(&steps) {
        let step = steps[index].clone();
        let waits = step
            .after
            .iter()
            .map(|&i| outcomes[i].clone().expect("dependencies come first"))
            .collect();
        let run = run.clone();
        outcomes[index] = Some(
            async move { run_step(run, step, waits).await }
                .boxed()
                .shared(),
        );
    }
    let results = futures::future::join_all(outcomes.into_iter().flatten()).await;
    summarise(plan, &steps, &results, &run)
}

fn summarise(
    plan: &Plan,
    steps: &[Step],
    results: &[Outcome],
    run: &Run,
) -> Result<ApplyReport, ApplyError> {
    let completed = results.iter().filter(|o| **o == Outcome::Done).count();
    let skipped = results.iter().filter(|o| **o == Outcome::Skipped).count();
    let failures = std::mem::take(&mut *run.failures.lock().expect("failures lock"));
    if !failures.is_empty() {
        return Err(ApplyError::Failed {
            completed,
            skipped,
            failures,
        });
    }
    if skipped > 0 {
        return Err(ApplyError::Interrupted { completed, skipped });
    }
    debug_assert_eq!(completed, steps.len());
    let summary = plan.summary();
    Ok(ApplyReport {
        added: summary.add,
        changed: summary.change,
        destroyed: summary.destroy,
    })
}

async fn run_step(
    run: Arc<Run>,
    step: Step,
    waits: Vec<Shared<BoxFuture<'static, Outcome>>>,
) -> Outcome {
    for wait in waits {
        if wait.await != Outcome::Done {
            return Outcome::Skipped;
        }
    }
    let _slot = run
        .slots
        .acquire()
        .await
        .expect("semaphore is never closed");
    if run.options.interrupted.load(Ordering::SeqCst) {
        return Outcome::Skipped;
    }
    let task = run.progress.start(&step.address, verb(&step.op));
    match execute(&run, &step).await {
        Ok(id) => {
            task.finish(id.as_deref());
            Outcome::Done
        }
        Err(error) => {
            task.fail(&error);
            run.failures
                .lock()
                .expect("failures lock")
                .push(format!("  - {error}"));
            Outcome::Failed
        }
    }
}

fn verb(op: &Op) -> progress::Verb {
    match op {
        Op::Create(_) => progress::Verb::Create,
        Op::Update { .. } | Op::Retag(_) => progress::Verb::Modify,
        Op::Delete(_) => progress::Verb::Destroy,
        Op::Record(_) => progress::Verb::Record,
    }
}

impl Run {
    fn id(&self, address: &Address) -> Result<String, CloudError> {
        self.ids
            .lock()
            .expect("ids lock")
            .get(address)
            .cloned()
            .ok_or_else(|| {
                CloudError::Network(format!("{address}: its id is unknown; run apply again"))
            })
    }

    /// The node bootstrap with the file systems and mount targets as they are now (some may be
    /// new this apply): read back from AWS, as the next plan will read them, so that plan
    /// renders the same script and shows no change.
    async fn node_script(&self) -> Result<String, CloudError> {
        let region = self.cloud.region().unwrap_or_default();
        let observed = self.cloud.refresh(&self.spec).await?;
        let filesystems = node_filesystems(&self.spec, &observed, &region)?;
        Ok(render_script(&self.spec, &filesystems)?)
    }

    fn node_launch<'a>(&'a self, script: &'a str) -> NodeLaunchData<'a> {
        NodeLaunchData {
            script,
            security_group_ids: &self.spec.network.node_security_group_ids,
        }
    }

    fn learn(&self, address: &Address, id: &str) {
        self.ids
            .lock()
            .expect("ids lock")
            .insert(address.clone(), id.to_owned());
    }
}

/// Runs one step; returns the id of what it created.
async fn execute(run: &Run, step: &Step) -> Result<Option<String>, CloudError> {
    let cloud = &run.cloud;
    let address = &step.address;
    match &step.op {
        Op::Create(resource) => {
            let id = match resource {
                Resource::SecurityGroup(sg) => cloud.create_security_group(&run.stack, sg).await?,
                Resource::FileSystem(fs) => {
                    let Address::FileSystem(name) = address else {
                        unreachable!("file system address")
                    };
                    cloud.create_filesystem(&run.stack, name, fs).await?
                }
                Resource::MountTarget(mt) => {
                    let filesystem = run.id(&Address::FileSystem(mt.filesystem.clone()))?;
                    let group = run.id(&Address::SecurityGroup)?;
                    cloud
                        .create_mount_target(address, &filesystem, &mt.subnet_id, &group)
                        .await?
                }
                Resource::LaunchTemplate(lt) => {
                    let script = run.node_script().await?;
                    cloud
                        .create_launch_template(&run.stack, &lt.name, &run.node_launch(&script))
                        .await?
                }
            };
            run.learn(address, &id);
            Ok(Some(id))
        }
        Op::Update { before, after } => {
            update(run, address, before, after).await?;
            Ok(None)
        }
        Op::Delete(resource) => {
            let id = resource.id().expect("observed resources have ids");
            match resource {
                Resource::SecurityGroup(_) => cloud.delete_security_group(id).await?,
                Resource::FileSystem(_) => cloud.delete_filesystem(address, id).await?,
                Resource::MountTarget(_) => cloud.delete_mount_target(address, id).await?,
                Resource::LaunchTemplate(_) => cloud.delete_launch_template(id).await?,
            }
            Ok(None)
        }
        Op::Record(record) => {
            let id = run.id(address)?;
            cloud.record_applied(address, &id, record).await?;
            Ok(None)
        }
        Op::Retag(tags) => {
            let id = run.id(address)?;
            cloud.retag_filesystem(address, &id, tags).await?;
            Ok(None)
        }
    }
}

async fn update(
    run: &Run,
    address: &Address,
    before: &Resource,
    after: &Resource,
) -> Result<(), CloudError> {
    let cloud = &run.cloud;
    let id = run.id(address)?;
    match (before, after) {
        (Resource::SecurityGroup(old), Resource::SecurityGroup(new)) => {
            let unwanted = |now: &BTreeSet<Rule>, wanted: &BTreeSet<Rule>| {
                now.difference(wanted).cloned().collect::<BTreeSet<_>>()
            };
            let other_ingress = unwanted(&old.other_ingress, &new.other_ingress);
            let egress = unwanted(&old.egress, &new.egress);
            cloud.revoke_rules(&id, &other_ingress, &egress).await?;
            let add = new.ingress.difference(&old.ingress).cloned().collect();
            let remove = old.ingress.difference(&new.ingress).cloned().collect();
            cloud.update_ingress(&id, &add, &remove, &new.ingress).await
        }
        (Resource::FileSystem(old), Resource::FileSystem(new)) => {
            if (old.throughput_mode, old.provisioned_throughput_mibps)
                != (new.throughput_mode, new.provisioned_throughput_mibps)
            {
                cloud.update_throughput(address, &id, new).await?;
            }
            if old.lifecycle != new.lifecycle {
                cloud.put_lifecycle(address, &id, &new.lifecycle).await?;
            }
            if old.backup != new.backup {
                cloud.put_backup(address, &id, new.backup).await?;
            }
            if (&old.tags, old.protect) != (&new.tags, new.protect) {
                cloud.update_filesystem_tags(address, &id, old, new).await?;
            }
            Ok(())
        }
        (Resource::LaunchTemplate(_), Resource::LaunchTemplate(_)) => {
            let script = run.node_script().await?;
            let version = cloud
                .update_launch_template(&id, &run.node_launch(&script))
                .await?;
            tracing::info!(version, "launch template version is the default now");
            Ok(())
        }
        (Resource::MountTarget(_), Resource::MountTarget(_)) => {
            let group = run.id(&Address::SecurityGroup)?;
            cloud.set_mount_target_group(address, &id, &group).await
        }
        _ => unreachable!("an update keeps the resource's kind"),
    }
}

/// Turns the plan's changes into steps with their dependencies.
///
/// Creates wait for what they need (a mount target for its file system and the security
/// group); deletions wait for what depends on them (a file system for its mount targets).
/// A replaced file system is deleted before its replacement is created, since the new one
/// reuses the CreationToken; a replaced security group is created first, so mount targets
/// can move to it before the old one goes. A mount target moving within its AZ is deleted
/// first, and new mount targets wait for their file system's in-place update.
fn graph(plan: &Plan) -> Vec<Step> {
    let mut steps = Vec::new();
    for change in &plan.changes {
        let address = change.address.clone();
        let (before, after) = (change.before.clone(), change.after.clone());
        let replacing_group = change.action == Action::Replace && address == Address::SecurityGroup;
        if let (Some(before), true) = (
            &before,
            matches!(change.action, Action::Delete | Action::Replace) && !replacing_group,
        ) {
            steps.push(Step {
                address: address.clone(),
                op: Op::Delete(before.clone()),
                after: Vec::new(),
            });
        }
        match (change.action, before, after) {
            (Action::Create | Action::Replace, _, Some(after)) => {
                steps.push(Step {
                    address: address.clone(),
                    op: Op::Create(after),
                    after: Vec::new(),
                });
            }
            (Action::Update, Some(before), Some(after)) => {
                steps.push(Step {
                    address: address.clone(),
                    op: Op::Update { before, after },
                    after: Vec::new(),
                });
            }
            _ => {}
        }
        if let (true, Some(before)) = (replacing_group, &change.before) {
            steps.push(Step {
                address,
                op: Op::Delete(before.clone()),
                after: Vec::new(),
            });
        }
    }
    for retag in &plan.retags {
        let tags = retag
            .tags
            .iter()
            .map(|(tag, _, value)| (tag.clone(), value.clone()));
        steps.push(Step {
            address: retag.address.clone(),
            op: Op::Retag(tags.collect()),
            after: Vec::new(),
        });
    }
    for (address, record) in &plan.records {
        steps.push(Step {
            address: address.clone(),
            op: Op::Record(record.clone()),
            after: Vec::new(),
        });
    }
    let dependencies: Vec<Vec<usize>> = (0..steps.len()).map(|i| depends_on(&steps, i)).collect();
    for (step, after) in steps.iter_mut().zip(dependencies) {
        step.after = after;
    }
    steps
}

fn filesystem_of(address: &Address) -> Option<&str> {
    match address {
        Address::FileSystem(name)
        | Address::MountTarget {
            filesystem: name, ..
        } => Some(name),
        Address::SecurityGroup | Address::LaunchTemplate => None,
    }
}

/// Whether step `a` must finish before step `b` starts.
fn must_precede(a: &Step, b: &Step) -> bool {
    let same = a.address == b.address;
    let same_fs = filesystem_of(&a.address).is_some()
        && filesystem_of(&a.address) == filesystem_of(&b.address);
    let a_is_group = a.address == Address::SecurityGroup;
    let a_is_target = matches!(a.address, Address::MountTarget { .. });
    let a_is_filesystem = matches!(a.address, Address::FileSystem(_));
    match (&a.op, &b.op, &b.address) {
        (Op::Record(_), _, _) => false,
        (_, Op::Record(_), _) => same_fs,
        // EFS allows one mount target per file system and AZ: moving one to another subnet
        // of its AZ must wait until the old one is gone, or AWS answers MountTargetConflict.
        (Op::Delete(_), Op::Create(_), _) => {
            same || (a_is_target && same_fs && share_zone(&a.op, &b.op))
        }
        (Op::Create(_), Op::Create(_), Address::MountTarget { .. }) => {
            a_is_group || (same_fs && a_is_filesystem)
        }
        // CreateMountTarget needs the file system `available`, and a throughput change leaves
        // it `updating` until the update step has waited it out.
        (Op::Update { .. }, Op::Create(_), Address::MountTarget { .. }) => {
            same_fs && a_is_filesystem
        }
        (Op::Create(_), Op::Update { .. }, Address::MountTarget { .. }) => a_is_group,
        // The node script carries the file systems' ids and their mount targets' addresses.
        (Op::Create(_), Op::Create(_) | Op::Update { .. }, Address::LaunchTemplate) => {
            a_is_filesystem || a_is_target
        }
        (Op::Delete(_), Op::Delete(_), Address::FileSystem(_)) => a_is_target && same_fs,
        (Op::Delete(_) | Op::Update { .. }, Op::Delete(_), Address::SecurityGroup) => a_is_target,
        _ => false,
    }
}

/// Whether two mount-target operations may be in one Availability Zone; a zone refresh could
/// not read counts as shared, since waiting costs less than a MountTargetConflict.
fn share_zone(a: &Op, b: &Op) -> bool {
    let zone = |op: &Op| match op {
        Op::Create(Resource::MountTarget(mt)) | Op::Delete(Resource::MountTarget(mt)) => {
            mt.availability_zone.clone()
        }
        _ => None,
    };
    match (zone(a), zone(b)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn depends_on(steps: &[Step], index: usize) -> Vec<usize> {
    (0..steps.len())
        .filter(|&i| i != index && must_precede(&steps[i], &steps[index]))
        .collect()
}

/// Orders steps so each comes after everything it waits for (the rules above form no cycle).
fn topological(steps: &[Step]) -> Vec<usize> {
    let mut placed = vec![false; steps.len()];
    let mut order = Vec::with_capacity(steps.len());
    while order.len() < steps.len() {
        let before = order.len();
        for (i, step) in steps.iter().enumerate() {
            if !placed[i] && step.after.iter().all(|&d| placed[d]) {
                placed[i] = true;
                order.push(i);
            }
        }
        assert!(order.len() > before, "apply graph has a cycle");
    }
    order
}
