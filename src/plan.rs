//! The diff between what the spec wants and what AWS has, and how it is shown and saved.
//!
//! A [`Plan`] holds typed before/after resources, so [`crate::apply`] can run it without
//! re-planning; saved to a file it also carries the spec and a fingerprint of what refresh saw,
//! which lets apply refuse it once the cloud has changed.

mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bootstrap::{
    all_known, launch_template_user_data, planned_node_filesystems, render_script,
};
use crate::cloud::{Observed, OwnershipError, OwnershipProblem};
use crate::model::{
    Address, AppliedRecord, Desired, LaunchTemplate, RESOURCE_TAG, Resource, SecurityGroup, Source,
};
use crate::spec::Spec;

pub use render::{colorize, render_error_json, render_json, render_text};

use crate::cloud::{Cloud, CloudError, check_network};

/// Refreshes the stack, runs the plan-time network checks, and diffs.
pub async fn plan(
    cloud: &Cloud,
    spec: &Spec,
    destroy: bool,
) -> Result<(Plan, Observed), CloudError> {
    let observed = cloud
        .refresh(spec)
        .await
        .map_err(|error| cloud.explain(error))?;
    if !destroy {
        check_network(spec, &observed)?;
    }
    let plan = Plan::new(spec, &observed, destroy)?;
    Ok((plan, observed))
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    Create,
    Update,
    /// Destroy, then create the replacement (Terraform's `-/+`).
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Create => "  +",
            Self::Update => "  ~",
            Self::Replace => "-/+",
            Self::Delete => "  -",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    pub before: Option<Resource>,
    pub after: Option<Resource>,
    /// Attributes whose change forces the replacement.
    pub replace_paths: Vec<String>,
}

/// A file system whose cloudstor tags apply rewrites without touching its data: tags removed
/// by hand, or a new address given with `moved_from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retag {
    pub address: Address,
    /// The address it had, when `moved_from` renames it.
    pub moved_from: Option<Address>,
    pub id: String,
    /// (tag, its value now or `None` when missing, the value apply writes).
    pub tags: Vec<(String, Option<String>, String)>,
}

/// A change made outside cloudstor since its last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: Address,
    /// (attribute, as cloudstor applied it, as it is now); empty when the resource is gone.
    pub changes: Vec<(String, String, String)>,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub spec: Spec,
    /// Digest of what refresh saw; apply refuses a saved plan when it no longer matches.
    pub fingerprint: String,
    pub changes: Vec<ResourceChange>,
    pub drift: Vec<Drift>,
    /// Bytes stored per file system, for refusals that say what would be lost.
    pub sizes: BTreeMap<Address, i64>,
    /// The [`crate::model::APPLIED_TAG`] each file system gets once its changes are done.
    pub records: BTreeMap<Address, AppliedRecord>,
    /// Ids of everything refresh found, for steps that refer to resources that stay.
    pub ids: BTreeMap<Address, String>,
    /// Tag rewrites: restored ownership tags and moves.
    #[serde(default)]
    pub retags: Vec<Retag>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// File systems that only get a new address (`moved_from`).
    pub moved: usize,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

/// Problems with a saved plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write plan file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a cloudstor plan file ({source}); make one with `cloudstor plan --out {path}`"
    )]
    Format {
        path: String,
        source: serde_json::Error,
    },
}

/// The on-disk envelope: a marker and a version so other JSON is not mistaken for a plan.
#[derive(Serialize, Deserialize)]
struct PlanFile {
    cloudstor_plan: u32,
    plan: Plan,
}

const PLAN_FILE_VERSION: u32 = 1;

impl Plan {
    /// Diffs the spec against what refresh found; `destroy` plans the removal of everything.
    /// Fails when it is unclear which file systems are the stack's (see
    /// [`crate::cloud::OwnershipProblem`]), or when the node bootstrap cannot be rendered or
    /// exceeds the 16 KB of user data.
    pub fn new(spec: &Spec, observed: &Observed, destroy: bool) -> Result<Plan, CloudError> {
        let fingerprint = observed.fingerprint();
        let (observed, moves) = if destroy {
            (observed.clone(), Vec::new())
        } else {
            moved(spec, observed)
        };
        let mut desired = Desired::from_spec(spec, &observed.subnet_zones);
        if let Some(template) = desired_launch_template(spec, &observed)? {
            desired.resources.insert(Address::LaunchTemplate, template);
        }
        if destroy {
            desired.resources.clear();
        }
        check_ownership(&desired, &observed)?;
        let changes = order(diff(&desired, &observed), &spec.network.subnet_ids);
        Ok(Plan {
            spec: spec.clone(),
            fingerprint,
            records: records(&desired, &observed),
            ids: observed
                .resources
                .iter()
                .filter_map(|(address, r)| Some((address.clone(), r.id()?.to_owned())))
                .collect(),
            changes,
            drift: drift(&observed),
            sizes: observed.sizes.clone(),
            retags: retags(moves, &desired, &observed),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.retags.is_empty()
    }

    /// What apply refuses without `--allow-data-loss`, one line per file system: destroying
    /// or replacing one that AWS marks protected. Protection comes from AWS (the
    /// [`crate::model::PROTECT_TAG`] refresh read), never from the spec, so a spec that turns
    /// it off and forces a replacement in one edit is refused: switching protection off
    /// takes an apply of its own.
    pub fn refusals(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter_map(|change| {
                let Some(Resource::FileSystem(fs)) = &change.before else {
                    return None;
                };
                let verb = match change.action {
                    Action::Replace => "replaced",
                    Action::Delete => "destroyed",
                    Action::Create | Action::Update => return None,
                };
                let id = fs.id.as_deref().unwrap_or("?");
                let bytes = self.sizes.get(&change.address).copied().unwrap_or(0);
                fs.protect.then(|| {
                    format!(
                        "  - {} ({id}) is protected and would be {verb}; it holds {}",
                        change.address,
                        human_bytes(bytes)
                    )
                })
            })
            .collect()
    }

    /// Whether `address` has a change beyond a tag rewrite.
    pub fn has_change(&self, address: &Address) -> bool {
        self.changes.iter().any(|c| &c.address == address)
    }

    /// Counts resources, as Terraform does: a file system that gets its tags back and changes
    /// otherwise is one change.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for retag in &self.retags {
            if retag.moved_from.is_some() {
                summary.moved += 1;
            } else if !self.has_change(&retag.address) {
                summary.change += 1;
            }
        }
        for change in &self.changes {
            match change.action {
                Action::Create => summary.add += 1,
                Action::Update => summary.change += 1,
                Action::Replace => {
                    summary.add += 1;
                    summary.destroy += 1;
                }
                Action::Delete => summary.destroy += 1,
            }
        }
        summary
    }

    pub fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        let file = PlanFile {
            cloudstor_plan: PLAN_FILE_VERSION,
            plan: self.clone(),
        };
        let text = serde_json::to_string_pretty(&file).expect("plans serialise");
        std::fs::write(path, text).map_err(|source| PlanFileError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: PlanFile =
            serde_json::from_str(&text).map_err(|source| PlanFileError::Format {
                path: path.display().to_string(),
                source,
            })?;
        Ok(file.plan)
    }
}

/// Two file systems claiming one address stop any plan, destroy included: which one to keep
/// is the user's call. A file system the plan would create whose CreationToken is already
/// taken is named too, since CreateFileSystem would fail or, worse, hand over a stranger.
fn check_ownership(desired: &Desired, observed: &Observed) -> Result<(), OwnershipError> {
    let mut problems: Vec<OwnershipProblem> = observed
        .claimants
        .iter()
        .map(|(address, claimants)| OwnershipProblem::Claimed {
            address: address.clone(),
            claimants: claimants.clone(),
        })
        .collect();
    for (address, resource) in &desired.resources {
        let Resource::FileSystem(fs) = resource else {
            continue;
        };
        if observed.resources.contains_key(address) {
            continue;
        }
        let Some(holder) = observed.tokens.get(&fs.creation_token) else {
            continue;
        };
        let (address, id, token) = (
            address.clone(),
            holder.id.clone(),
            fs.creation_token.clone(),
        );
        problems.push(match &holder.address {
            None => OwnershipProblem::Foreign { address, id, token },
            Some(holder) => OwnershipProblem::TokenTaken {
                address,
                id,
                token,
                holder: holder.clone(),
            },
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OwnershipError(problems))
    }
}

/// What refresh saw with each `moved_from` carried out: the file system found at its old
/// address, and its mount targets, move to the new one, together with what is known about
/// them. A move applies only while the old address exists and the new one does not, so it is
/// done once and a spec may keep `moved_from` afterwards.
fn moved(spec: &Spec, observed: &Observed) -> (Observed, Vec<Retag>) {
    let mut observed = observed.clone();
    let mut moves = Vec::new();
    for (name, fs) in &spec.filesystems {
        let Some(from) = &fs.moved_from else {
            continue;
        };
        let (old, new) = (
            Address::FileSystem(from.clone()),
            Address::FileSystem(name.clone()),
        );
        if observed.resources.contains_key(&new) {
            continue;
        }
        let Some(id) = observed
            .resources
            .get(&old)
            .and_then(|r| Some(r.id()?.to_owned()))
        else {
            continue;
        };
        let rename = |address: &Address| match address {
            Address::FileSystem(n) if n == from => Some(new.clone()),
            Address::MountTarget { filesystem, subnet } if filesystem == from => {
                Some(Address::MountTarget {
                    filesystem: name.clone(),
                    subnet: subnet.clone(),
                })
            }
            _ => None,
        };
        let renamed: Vec<(Address, Address)> = observed
            .resources
            .keys()
            .filter_map(|address| Some((address.clone(), rename(address)?)))
            .collect();
        for (before, after) in renamed {
            let mut resource = observed.resources.remove(&before).expect("listed above");
            if let Resource::MountTarget(target) = &mut resource {
                target.filesystem = name.clone();
            }
            observed.resources.insert(after, resource);
        }
        if let Some(record) = observed.applied.remove(&old) {
            observed.applied.insert(new.clone(), record);
        }
        if let Some(size) = observed.sizes.remove(&old) {
            observed.sizes.insert(new.clone(), size);
        }
        if let Some(lost) = observed.lost_tags.remove(&old) {
            let kept = lost.into_iter().filter(|(tag, _)| tag != RESOURCE_TAG);
            observed.lost_tags.insert(new.clone(), kept.collect());
        }
        moves.push(Retag {
            address: new.clone(),
            moved_from: Some(old.clone()),
            id,
            tags: vec![(
                RESOURCE_TAG.to_owned(),
                Some(old.to_string()),
                new.to_string(),
            )],
        });
    }
    (observed, moves)
}

/// The moves, and ownership tags to write back on file systems the spec keeps (on a moved
/// one, in the same step as its move).
fn retags(mut retags: Vec<Retag>, desired: &Desired, observed: &Observed) -> Vec<Retag> {
    for (address, lost) in &observed.lost_tags {
        let restore = lost
            .iter()
            .map(|(tag, value)| (tag.clone(), None, value.clone()));
        if let Some(retag) = retags.iter_mut().find(|r| &r.address == address) {
            retag.tags.extend(restore);
            continue;
        }
        let id = observed.resources.get(address).and_then(Resource::id);
        if let (Some(id), true) = (id, desired.resources.contains_key(address)) {
            retags.push(Retag {
                address: address.clone(),
                moved_from: None,
                id: id.to_owned(),
                tags: restore.collect(),
            });
        }
    }
    retags
}

/// The launch template `[nodes]` asks for, its user data rendered with the file system ids
/// refresh found; `None` (known after apply) while any of them is still to be created.
fn desired_launch_template(
    spec: &Spec,
    observed: &Observed,
) -> Result<Option<Resource>, CloudError> {
    let Some(nodes) = &spec.nodes else {
        return Ok(None);
    };
    let region = observed
        .region
        .clone()
        .or_else(|| spec.stack.region.clone())
        .unwrap_or_default();
    let filesystems = planned_node_filesystems(spec, observed, &region);
    let script = render_script(spec, &filesystems)?;
    launch_template_user_data(&script)?;
    let known = all_known(&filesystems);
    Ok(Some(Resource::LaunchTemplate(LaunchTemplate {
        id: None,
        name: nodes.launch_template_name.clone(),
        user_data: known.then_some(script),
    })))
}

/// Fills in what the desired side can already know from AWS: ids of resources that stay, and
/// values AWS chose that the spec leaves open (the default KMS key).
fn resolve(
    desired: &Desired,
    observed: &Observed,
    replaced: &BTreeSet<Address>,
) -> BTreeMap<Address, Resource> {
    let known_id = |address: &Address| {
        if replaced.contains(address) {
            return None;
        }
        observed
            .resources
            .get(address)
            .and_then(|r| r.id().map(str::to_owned))
    };
    let group = known_id(&Address::SecurityGroup);
    desired
        .resources
        .iter()
        .map(|(address, resource)| {
            let mut resource = resource.clone();
            match (&mut resource, observed.resources.get(address)) {
                (Resource::LaunchTemplate(lt), _)
                    if replaced.iter().any(|a| matches!(a, Address::FileSystem(_))) =>
                {
                    lt.user_data = None;
                }
                (Resource::MountTarget(mt), _) => {
                    mt.security_groups = group.clone().map(|id| BTreeSet::from([id]));
                    mt.filesystem_id = known_id(&Address::FileSystem(mt.filesystem.clone()));
                }
                (Resource::FileSystem(fs), Some(Resource::FileSystem(actual))) => {
                    // The CreationToken is fixed when a file system is made: one that was
                    // moved or imported keeps the token it has, only a replacement gets the
                    // spec's.
                    if !replaced.contains(address) {
                        fs.creation_token = actual.creation_token.clone();
                    }
                    if fs.kms_key_id.is_none() && fs.encrypted {
                        fs.kms_key_id = actual.kms_key_id.clone();
                    }
                }
                _ => {}
            }
            (address.clone(), resource)
        })
        .collect()
}

/// Attributes that differ, ignoring ids (AWS assigns them).
fn changed_attributes(desired: &Resource, actual: &Resource) -> Vec<&'static str> {
    let actual: BTreeMap<_, _> = actual.attributes().into_iter().collect();
    desired
        .attributes()
        .into_iter()
        .filter(|(name, value)| *name != "id" && actual.get(name) != Some(value))
        .map(|(name, _)| name)
        .collect()
}

fn diff(desired: &Desired, observed: &Observed) -> Vec<ResourceChange> {
    // Replacement cascades (a new file system needs new mount targets), so resolve until stable.
    let mut replaced = BTreeSet::new();
    loop {
        let resolved = resolve(desired, observed, &replaced);
        let changes = diff_resolved(&resolved, observed);
        let now: BTreeSet<_> = changes
            .iter()
            .filter(|c| c.action == Action::Replace)
            .map(|c| c.address.clone())
            .collect();
        if now == replaced {
            return changes;
        }
        replaced = now;
    }
}

fn diff_resolved(
    desired: &BTreeMap<Address, Resource>,
    observed: &Observed,
) -> Vec<ResourceChange> {
    let mut changes = Vec::new();
    for (address, after) in desired {
        let Some(before) = observed.resources.get(address) else {
            changes.push(change(
                address,
                Action::Create,
                None,
                Some(after),
                Vec::new(),
            ));
            continue;
        };
        let changed = changed_attributes(after, before);
        if changed.is_empty() {
            continue;
        }
        let forcing: Vec<String> = changed
            .iter()
            .filter(|name| after.forces_replacement(name))
            .map(|name| name.to_string())
            .collect();
        let action = if forcing.is_empty() {
            Action::Update
        } else {
            Action::Replace
        };
        changes.push(change(address, action, Some(before), Some(after), forcing));
    }
    for (address, before) in &observed.resources {
        if !desired.contains_key(address) {
            changes.push(change(
                address,
                Action::Delete,
                Some(before),
                None,
                Vec::new(),
            ));
        }
    }
    changes
}

fn change(
    address: &Address,
    action: Action,
    before: Option<&Resource>,
    after: Option<&Resource>,
    replace_paths: Vec<String>,
) -> ResourceChange {
    ResourceChange {
        address: address.clone(),
        action,
        before: before.cloned(),
        after: after.cloned(),
        replace_paths,
    }
}

/// Dependency order for reading: what is created first comes first, deletions last and in
/// reverse (mount targets before their file system and the security group). Mount targets
/// follow the spec's subnet order, which is how the user thinks of them.
fn order(mut changes: Vec<ResourceChange>, subnets: &[String]) -> Vec<ResourceChange> {
    let key = |change: &ResourceChange| {
        let position = |subnet: &String| {
            subnets
                .iter()
                .position(|s| s == subnet)
                .unwrap_or(usize::MAX)
        };
        match &change.address {
            Address::SecurityGroup => (0, String::new(), 0, String::new()),
            Address::FileSystem(name) => (1, name.clone(), 0, String::new()),
            Address::MountTarget { filesystem, subnet } => {
                (2, filesystem.clone(), position(subnet), subnet.clone())
            }
            Address::LaunchTemplate => (3, String::new(), 0, String::new()),
        }
    };
    changes.sort_by(|a, b| {
        let deleting = |c: &ResourceChange| c.action == Action::Delete;
        deleting(a).cmp(&deleting(b)).then_with(|| {
            if deleting(a) {
                key(b).cmp(&key(a))
            } else {
                key(a).cmp(&key(b))
            }
        })
    });
    changes
}

/// The record each desired file system should carry after apply, where it differs from its tag.
fn records(desired: &Desired, observed: &Observed) -> BTreeMap<Address, AppliedRecord> {
    let mut subnets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for address in desired.resources.keys() {
        if let Address::MountTarget { filesystem, subnet } = address {
            subnets
                .entry(filesystem)
                .or_default()
                .insert(subnet.clone());
        }
    }
    desired
        .resources
        .iter()
        .filter_map(|(address, resource)| {
            let (Address::FileSystem(name), Resource::FileSystem(fs)) = (address, resource) else {
                return None;
            };
            let record = AppliedRecord::of(fs, subnets.remove(name.as_str()).unwrap_or_default());
            (observed.applied.get(address) != Some(&record)).then(|| (address.clone(), record))
        })
        .collect()
}

/// Compares what cloudstor last applied (kept in tags) with what AWS reports now.
fn drift(observed: &Observed) -> Vec<Drift> {
    let mut drifts = Vec::new();
    for (address, applied) in &observed.applied {
        let Some(Resource::FileSystem(fs)) = observed.resources.get(address) else {
            continue;
        };
        let Address::FileSystem(name) = address else {
            continue;
        };
        let now = AppliedRecord::of(fs, applied.subnets.clone());
        let changes = record_changes(applied, &now);
        if !changes.is_empty() {
            drifts.push(Drift {
                address: address.clone(),
                changes,
                deleted: false,
            });
        }
        for subnet in &applied.subnets {
            let target = Address::MountTarget {
                filesystem: name.clone(),
                subnet: subnet.clone(),
            };
            if !observed.resources.contains_key(&target) {
                drifts.push(Drift {
                    address: target,
                    changes: Vec::new(),
                    deleted: true,
                });
            }
        }
    }
    if let Some(Resource::SecurityGroup(group)) = observed.resources.get(&Address::SecurityGroup) {
        let changes = group_drift(group, observed.applied_ingress.as_ref());
        if !changes.is_empty() {
            drifts.push(Drift {
                address: Address::SecurityGroup,
                changes,
                deleted: false,
            });
        }
        drifts.extend(mount_target_drift(observed, group));
    }
    for (address, lost) in &observed.lost_tags {
        let changes = lost
            .iter()
            .map(|(tag, value)| (format!("tags[{tag:?}]"), value.clone(), "none".into()));
        match drifts.iter_mut().find(|d| &d.address == address) {
            Some(drift) => drift.changes.extend(changes),
            None => drifts.push(Drift {
                address: address.clone(),
                changes: changes.collect(),
                deleted: false,
            }),
        }
    }
    drifts
}

fn listed<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Ingress that differs from what cloudstor applied, and every rule cloudstor never makes.
fn group_drift(
    group: &SecurityGroup,
    applied: Option<&BTreeSet<Source>>,
) -> Vec<(String, String, String)> {
    let mut changes = Vec::new();
    if let Some(applied) = applied
        && applied != &group.ingress
    {
        changes.push((
            "ingress_tcp_2049".into(),
            listed(applied),
            listed(&group.ingress),
        ));
    }
    for (name, rules) in [
        ("ingress_other", &group.other_ingress),
        ("egress", &group.egress),
    ] {
        if !rules.is_empty() {
            changes.push((name.into(), "none".into(), listed(rules)));
        }
    }
    changes
}

/// Mount targets carry the stack's group alone; any other set was made outside cloudstor.
fn mount_target_drift<'a>(
    observed: &'a Observed,
    group: &'a SecurityGroup,
) -> impl Iterator<Item = Drift> + 'a {
    let expected: Option<BTreeSet<String>> = group.id.clone().map(|id| BTreeSet::from([id]));
    observed
        .resources
        .iter()
        .filter_map(move |(address, resource)| {
            let Resource::MountTarget(target) = resource else {
                return None;
            };
            let (Some(expected), Some(now)) = (&expected, &target.security_groups) else {
                return None;
            };
            (expected != now).then(|| Drift {
                address: address.clone(),
                changes: vec![("security_groups".into(), listed(expected), listed(now))],
                deleted: false,
            })
        })
}

/// One attribute of an [`AppliedRecord`], read as text for display.
type RecordField = (&'static str, fn(&AppliedRecord) -> String);

const RECORD_FIELDS: [RecordField; 6] = [
    ("throughput_mode", |r| {
        r.throughput_mode.map_or("", |m| m.as_str()).to_owned()
    }),
    ("provisioned_throughput_mibps", |r| {
        r.provisioned_throughput_mibps
            .map_or("null".into(), |m| m.to_string())
    }),
    ("transition_to_ia", |r| r.lifecycle.to_ia.to_string()),
    ("transition_to_archive", |r| {
        r.lifecycle.to_archive.to_string()
    }),
    ("transition_to_primary", |r| {
        r.lifecycle.to_primary.as_str().to_owned()
    }),
    ("backup", |r| r.backup.to_string()),
];

fn record_changes(applied: &AppliedRecord, now: &AppliedRecord) -> Vec<(String, String, String)> {
    RECORD_FIELDS
        .iter()
        .map(|(name, read)| (name.to_string(), read(applied), read(now)))
        .filter(|(_, was, is)| was != is)
        .collect()
}

fn human_bytes(bytes: i64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{FileSystem, Lifecycle, MountTarget, STACK_TAG};
    use crate::spec::{PerformanceMode, ThroughputMode};

    const MOVED: &str = "[stack]\nname = \"demo\"\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-a\"]\nnode_security_group_ids = [\"sg-nodes\"]\n[filesystems.new]\nmoved_from = \"old\"\n";

    /// The stack as an earlier apply left it under the old name, its stack tag since removed.
    fn observed() -> Observed {
        let spec = Spec::parse(Path::new("c.toml"), MOVED).unwrap();
        let zones = BTreeMap::from([("subnet-a".to_owned(), "us-east-1a".to_owned())]);
        let mut observed = Observed {
            subnet_zones: zones.clone(),
            ..Observed::default()
        };
        let desired = Desired::from_spec(&spec, &zones);
        let mut group = desired.resources[&Address::SecurityGroup].clone();
        if let Resource::SecurityGroup(sg) = &mut group {
            sg.id = Some("sg-1".into());
        }
        observed.resources.insert(Address::SecurityGroup, group);
        let fs = FileSystem {
            id: Some("fs-1".into()),
            creation_token: "cloudstor:demo:old".into(),
            performance_mode: PerformanceMode::GeneralPurpose,
            encrypted: true,
            kms_key_id: Some("arn:aws:kms:us-east-1:1:key/aws".into()),
            availability_zone: None,
            throughput_mode: ThroughputMode::Elastic,
            provisioned_throughput_mibps: None,
            lifecycle: Lifecycle::default(),
            backup: true,
            protect: true,
            tags: BTreeMap::new(),
        };
        let old = Address::FileSystem("old".into());
        observed
            .resources
            .insert(old.clone(), Resource::FileSystem(fs));
        let target = MountTarget {
            id: Some("fsmt-1".into()),
            filesystem: "old".into(),
            filesystem_id: Some("fs-1".into()),
            subnet_id: "subnet-a".into(),
            security_groups: Some(BTreeSet::from(["sg-1".to_owned()])),
            availability_zone: Some("us-east-1a".into()),
            ip_address: Some("10.0.1.5".into()),
        };
        let at = Address::MountTarget {
            filesystem: "old".into(),
            subnet: "subnet-a".into(),
        };
        observed.resources.insert(at, Resource::MountTarget(target));
        observed
            .lost_tags
            .insert(old, vec![(STACK_TAG.into(), "demo".into())]);
        observed
    }

    #[test]
    fn a_move_retags_once_and_changes_nothing_else() {
        let spec = Spec::parse(Path::new("c.toml"), MOVED).unwrap();
        let plan = Plan::new(&spec, &observed(), false).unwrap();
        let new = Address::FileSystem("new".into());
        assert_eq!(
            plan.retags,
            [Retag {
                address: new.clone(),
                moved_from: Some(Address::FileSystem("old".into())),
                id: "fs-1".into(),
                tags: vec![
                    (
                        RESOURCE_TAG.into(),
                        Some("filesystem.old".into()),
                        "filesystem.new".into()
                    ),
                    (STACK_TAG.into(), None, "demo".into()),
                ],
            }]
        );
        let changed: Vec<_> = plan.changes.iter().map(|c| &c.address).collect();
        assert!(changed.is_empty(), "{changed:?}");
        assert_eq!(plan.ids[&new], "fs-1");
        let summary = plan.summary();
        assert_eq!((summary.moved, summary.add, summary.destroy), (1, 0, 0));
    }

    #[test]
    fn destroy_ignores_moves_and_removes_the_old_address() {
        let spec = Spec::parse(Path::new("c.toml"), MOVED).unwrap();
        let plan = Plan::new(&spec, &observed(), true).unwrap();
        assert!(plan.retags.is_empty());
        assert!(
            plan.changes
                .iter()
                .any(|c| c.address == Address::FileSystem("old".into())
                    && c.action == Action::Delete)
        );
    }
}
