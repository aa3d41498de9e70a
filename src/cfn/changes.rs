//! A change set as a person reads it, in the style of `cloudstor plan`.
//!
//! CloudFormation's change set is its plan: `Add`, `Modify` (with `Replacement` True,
//! Conditional or False) and `Remove`, and for each modification the properties that changed
//! and whether they force a new resource (`RequiresRecreation`).

use std::fmt::Write;

use aws_sdk_cloudformation::types::{
    Change, ChangeAction, Replacement as SdkReplacement, RequiresRecreation, ResourceChange,
    ResourceChangeDetail,
};
use serde_json::Value;

use super::drift::{self, StackDrift};
use super::replacement;
use super::template::LAUNCH_TEMPLATE_ID;
use crate::bootstrap::RUNNING_NODES_KEEP_USER_DATA;
use crate::model::RESOURCE_TAG;

/// Whether a modification makes CloudFormation build a new resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    Never,
    /// Depends on a value CloudFormation only knows while it executes.
    Conditional,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Add,
    Modify(Replacement),
    Remove,
    /// Removed from the stack but kept in AWS by `DeletionPolicy: Retain`.
    Release,
}

/// One property a modification touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyChange {
    pub name: String,
    pub forces: Replacement,
}

/// One resource in a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChangeView {
    pub kind: ChangeKind,
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    pub properties: Vec<PropertyChange>,
}

/// A whole change set: what CloudFormation will do when it is executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSetView {
    pub changes: Vec<ResourceChangeView>,
    /// What happens beyond the change set itself (the launch template's default version,
    /// nodes that keep their old script), shown after the summary.
    pub notes: Vec<String>,
    /// Drift of the deployed stack, shown first; `None` for a stack not created yet.
    pub drift: Option<StackDrift>,
}

impl ChangeSetView {
    pub fn from_sdk(changes: &[Change]) -> ChangeSetView {
        ChangeSetView {
            changes: changes
                .iter()
                .filter_map(Change::resource_change)
                .filter_map(resource_change)
                .collect(),
            notes: Vec::new(),
            drift: None,
        }
    }

    /// Completes the change set with what cloudstor knows from the deployed and the new
    /// template: modifications of properties that force a replacement are replacements
    /// whatever the change set's flag says, and removals of retained resources keep them.
    pub fn reconcile(&mut self, deployed: &Value, proposed: &Value) {
        for change in &mut self.changes {
            match change.kind {
                ChangeKind::Modify(_) => mark_known_replacement(change, deployed, proposed),
                ChangeKind::Remove if replacement::is_retained(deployed, &change.logical_id) => {
                    change.kind = ChangeKind::Release;
                }
                _ => {}
            }
        }
        self.notes = moved_filesystem_notes(self, deployed, proposed);
        self.notes.extend(launch_template_notes(self, proposed));
    }

    /// Resources the change set lets go of and AWS keeps.
    pub fn released(&self) -> impl Iterator<Item = &ResourceChangeView> {
        self.changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Release)
    }

    /// Whether the resource may be replaced (certainly or depending on values CloudFormation
    /// resolves while it executes).
    pub fn replaces(&self, logical_id: &str) -> bool {
        self.changes.iter().any(|c| {
            c.logical_id == logical_id
                && matches!(c.kind, ChangeKind::Modify(r) if r != Replacement::Never)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// (add, change, destroy), counting a replacement as one add and one destroy, as `plan` does.
    pub fn summary(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for change in &self.changes {
            match change.kind {
                ChangeKind::Add => counts.0 += 1,
                ChangeKind::Modify(Replacement::Never) => counts.1 += 1,
                ChangeKind::Modify(_) => {
                    counts.0 += 1;
                    counts.2 += 1;
                }
                ChangeKind::Remove => counts.2 += 1,
                ChangeKind::Release => {}
            }
        }
        counts
    }
}

fn mark_known_replacement(change: &mut ResourceChangeView, deployed: &Value, proposed: &Value) {
    let forcing = replacement::replacing_properties(deployed, proposed, &change.logical_id);
    if forcing.is_empty() {
        return;
    }
    change.kind = ChangeKind::Modify(Replacement::Always);
    for name in forcing {
        match change.properties.iter_mut().find(|p| p.name == name) {
            Some(property) => property.forces = Replacement::Always,
            None => change.properties.push(PropertyChange {
                name,
                forces: Replacement::Always,
            }),
        }
    }
}

/// A file system renamed with `moved_from` keeps its logical id, so the change set shows only
/// an in-place update of it; the note says which rename that update is.
fn moved_filesystem_notes(view: &ChangeSetView, deployed: &Value, proposed: &Value) -> Vec<String> {
    let address = |template: &Value, logical_id: &str| {
        let tags = template["Resources"][logical_id]["Properties"]["FileSystemTags"].as_array()?;
        let tag = tags.iter().find(|tag| tag["Key"] == RESOURCE_TAG)?;
        tag["Value"].as_str().map(str::to_owned)
    };
    view.changes
        .iter()
        .filter(|change| change.kind == ChangeKind::Modify(Replacement::Never))
        .filter_map(|change| {
            let from = address(deployed, &change.logical_id)?;
            let to = address(proposed, &change.logical_id)?;
            (from != to).then(|| {
                format!(
                    "{from} has moved to {to} (moved_from): {} stays the same file system, with its data; only its tags change. Keep moved_from in the spec: without it the logical id would follow the new name.",
                    change.logical_id
                )
            })
        })
        .collect()
}

/// CloudFormation never moves a launch template's default version, and running instances
/// never re-read their user data: both are said when the node launch template changes.
fn launch_template_notes(view: &ChangeSetView, proposed: &Value) -> Vec<String> {
    let Some(change) = view
        .changes
        .iter()
        .find(|c| c.logical_id == LAUNCH_TEMPLATE_ID)
    else {
        return Vec::new();
    };
    let data = &proposed["Resources"][LAUNCH_TEMPLATE_ID]["Properties"]["LaunchTemplateData"];
    let mut notes = vec![launch_template_settings(data)];
    if matches!(change.kind, ChangeKind::Modify(_)) {
        notes.push(format!(
            "{LAUNCH_TEMPLATE_ID} gets a new version; cloudstor makes it the default version once the change set has executed, so new nodes run the new script."
        ));
        notes.push(RUNNING_NODES_KEEP_USER_DATA.to_owned());
    }
    notes
}

fn launch_template_settings(data: &Value) -> String {
    let tokens = data["MetadataOptions"]["HttpTokens"]
        .as_str()
        .unwrap_or("optional");
    let groups: Vec<&str> = data["SecurityGroupIds"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{LAUNCH_TEMPLATE_ID}: instance metadata HttpTokens = {tokens}, node security groups {}.",
        if groups.is_empty() {
            "none".to_owned()
        } else {
            groups.join(", ")
        }
    )
}

fn resource_change(change: &ResourceChange) -> Option<ResourceChangeView> {
    let kind = match change.action()? {
        ChangeAction::Add => ChangeKind::Add,
        ChangeAction::Remove => ChangeKind::Remove,
        _ => ChangeKind::Modify(replacement(change.replacement())),
    };
    Some(ResourceChangeView {
        kind,
        logical_id: change.logical_resource_id()?.to_owned(),
        resource_type: change.resource_type().unwrap_or_default().to_owned(),
        physical_id: change.physical_resource_id().map(str::to_owned),
        properties: change
            .details()
            .iter()
            .filter_map(property_change)
            .collect(),
    })
}

/// A property by name, or for changes to tags or metadata the attribute that changed.
fn property_change(detail: &ResourceChangeDetail) -> Option<PropertyChange> {
    let target = detail.target()?;
    let name = target.name().or(target.attribute().map(|a| a.as_str()))?;
    Some(PropertyChange {
        name: name.to_owned(),
        forces: recreation(target.requires_recreation()),
    })
}

fn replacement(value: Option<&SdkReplacement>) -> Replacement {
    match value {
        Some(SdkReplacement::True) => Replacement::Always,
        Some(SdkReplacement::Conditional) => Replacement::Conditional,
        _ => Replacement::Never,
    }
}

fn recreation(value: Option<&RequiresRecreation>) -> Replacement {
    match value {
        Some(RequiresRecreation::Always) => Replacement::Always,
        Some(RequiresRecreation::Conditionally) => Replacement::Conditional,
        _ => Replacement::Never,
    }
}

impl ChangeKind {
    fn symbol(self) -> &'static str {
        match self {
            Self::Add => "  +",
            Self::Modify(Replacement::Never) => "  ~",
            Self::Modify(_) => "-/+",
            Self::Remove => "  -",
            Self::Release => "  <",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Self::Add => "  + create",
            Self::Modify(Replacement::Never) => "  ~ update in-place",
            Self::Modify(_) => "-/+ destroy and then create replacement",
            Self::Remove => "  - destroy",
            Self::Release => "  < remove from the stack and keep (DeletionPolicy: Retain)",
        }
    }

    fn comment(self) -> &'static str {
        match self {
            Self::Add => "will be created",
            Self::Modify(Replacement::Never) => "will be updated in-place",
            Self::Modify(Replacement::Conditional) => "may be replaced",
            Self::Modify(Replacement::Always) => "must be replaced",
            Self::Remove => "will be destroyed",
            Self::Release => "will be removed from the stack and kept",
        }
    }
}

/// The change set as text, ending with the `Change set: ...` summary or "No changes".
pub fn render_change_set(stack: &str, view: &ChangeSetView) -> String {
    let mut out = view.drift.as_ref().map(drift::render).unwrap_or_default();
    if view.is_empty() {
        let _ = writeln!(out, "No changes. Stack {stack} matches the configuration.");
        return out;
    }
    out.push_str("Resource actions are indicated with the following symbols:\n");
    for kind in LEGEND_ORDER {
        if view.changes.iter().any(|c| legend_kind(c.kind) == kind) {
            let _ = writeln!(out, "{}", kind.legend());
        }
    }
    let _ = writeln!(
        out,
        "\nCloudFormation will perform the following actions on stack {stack}:"
    );
    for change in &view.changes {
        render_resource(&mut out, change);
    }
    let (add, change, destroy) = view.summary();
    let kept = match view.released().count() {
        0 => String::new(),
        kept => format!(", {kept} to keep outside the stack"),
    };
    let _ = writeln!(
        out,
        "\nChange set: {add} to add, {change} to change, {destroy} to destroy{kept}."
    );
    for note in &view.notes {
        let _ = writeln!(out, "Note: {note}");
    }
    out
}

/// Terraform's order: create, update, replace, destroy; then what only leaves the stack.
const LEGEND_ORDER: [ChangeKind; 5] = [
    ChangeKind::Add,
    ChangeKind::Modify(Replacement::Never),
    ChangeKind::Modify(Replacement::Always),
    ChangeKind::Remove,
    ChangeKind::Release,
];

/// Conditional and certain replacements share one legend line.
fn legend_kind(kind: ChangeKind) -> ChangeKind {
    match kind {
        ChangeKind::Modify(Replacement::Conditional) => ChangeKind::Modify(Replacement::Always),
        other => other,
    }
}

fn render_resource(out: &mut String, change: &ResourceChangeView) {
    let id = change
        .physical_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .map(|id| format!(" [id={id}]"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n  # {} ({}){id} {}",
        change.logical_id,
        change.resource_type,
        change.kind.comment()
    );
    let _ = writeln!(out, "{} {}", change.kind.symbol(), change.logical_id);
    let mut properties = change.properties.clone();
    properties.dedup_by(|a, b| a.name == b.name);
    for property in properties {
        let note = match property.forces {
            Replacement::Always => " # forces replacement",
            Replacement::Conditional => " # may force replacement",
            Replacement::Never => "",
        };
        let _ = writeln!(out, "      ~ {}{note}", property.name);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use aws_sdk_cloudformation::types::{ResourceAttribute, ResourceTargetDefinition};

    use super::*;

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

    fn change(
        action: ChangeAction,
        id: &str,
        replace: Option<SdkReplacement>,
        details: Vec<ResourceChangeDetail>,
    ) -> Change {
        Change::builder()
            .resource_change(
                ResourceChange::builder()
                    .action(action)
                    .logical_resource_id(id)
                    .resource_type("AWS::EFS::FileSystem")
                    .set_replacement(replace)
                    .set_details(Some(details))
                    .build(),
            )
            .build()
    }

    #[test]
    fn replacement_names_the_property_that_forces_it() {
        let changes = [
            change(
                ChangeAction::Modify,
                "FileSystemShared",
                Some(SdkReplacement::True),
                vec![
                    detail("PerformanceMode", RequiresRecreation::Always),
                    detail("ThroughputMode", RequiresRecreation::Never),
                ],
            ),
            change(ChangeAction::Add, "FileSystemFast", None, vec![]),
            change(ChangeAction::Remove, "FileSystemOld", None, vec![]),
        ];
        let view = ChangeSetView::from_sdk(&changes);
        let text = render_change_set("demo", &view);
        assert!(text.contains("-/+ FileSystemShared\n      ~ PerformanceMode # forces replacement\n      ~ ThroughputMode\n"), "{text}");
        assert!(
            text.contains(
                "  # FileSystemFast (AWS::EFS::FileSystem) will be created\n  + FileSystemFast"
            ),
            "{text}"
        );
        assert!(text.contains("  - FileSystemOld"), "{text}");
        assert!(
            text.starts_with("Resource actions are indicated with the following symbols:\n  + create\n-/+ destroy and then create replacement\n  - destroy\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Change set: 2 to add, 0 to change, 2 to destroy.\n"),
            "{text}"
        );
    }

    #[test]
    fn only_protected_file_systems_block_a_replacement() {
        let spec = crate::spec::Spec::parse(
            std::path::Path::new("c.toml"),
            "[stack]\nname = \"d\"\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\"]\nnode_security_group_ids = [\"sg-1\"]\n[filesystems.shared]\n[filesystems.scratch]\nprotect = false\n",
        )
        .unwrap();
        let replace = |id| {
            change(
                ChangeAction::Modify,
                id,
                Some(SdkReplacement::True),
                vec![detail("PerformanceMode", RequiresRecreation::Always)],
            )
        };
        let none = BTreeSet::new();
        let scratch = ChangeSetView::from_sdk(&[replace("FileSystemScratch")]);
        assert!(crate::cfn::check_protection(&spec, &scratch, &none, false).is_ok());
        let protected_in_aws = BTreeSet::from(["scratch".to_string()]);
        let error = crate::cfn::check_protection(&spec, &scratch, &protected_in_aws, false)
            .expect_err("protect = false in the spec does not lift AWS's protection");
        assert!(
            error
                .to_string()
                .contains("protected file systems filesystem.scratch"),
            "{error}"
        );
        let shared = ChangeSetView::from_sdk(&[replace("FileSystemShared")]);
        let error = crate::cfn::check_protection(&spec, &shared, &none, false).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("protected file systems filesystem.shared"),
            "{error}"
        );
        assert!(crate::cfn::check_protection(&spec, &shared, &none, true).is_ok());

        // Renamed with moved_from, `scratch` keeps its logical id and AWS's protection.
        let moved = crate::spec::Spec::parse(
            std::path::Path::new("c.toml"),
            "[stack]\nname = \"d\"\n[network]\nvpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\"]\nnode_security_group_ids = [\"sg-1\"]\n[filesystems.data]\nmoved_from = \"scratch\"\nprotect = false\n",
        )
        .unwrap();
        let error = crate::cfn::check_protection(&moved, &scratch, &protected_in_aws, false)
            .expect_err("the old name's protection in AWS still holds");
        assert!(
            error
                .to_string()
                .contains("protected file systems filesystem.data"),
            "{error}"
        );
    }

    #[test]
    fn in_place_update_is_a_tilde() {
        let changes = [change(
            ChangeAction::Modify,
            "FileSystemShared",
            Some(SdkReplacement::False),
            vec![detail("ThroughputMode", RequiresRecreation::Never)],
        )];
        let text = render_change_set("demo", &ChangeSetView::from_sdk(&changes));
        assert!(text.contains("  ~ update in-place\n"), "{text}");
        assert!(
            text.contains("  ~ FileSystemShared\n      ~ ThroughputMode\n"),
            "{text}"
        );
    }

    #[test]
    fn a_moved_file_system_is_named_in_a_note() {
        let template = |address: &str| {
            serde_json::json!({"Resources": {"FileSystemShared": {"Properties": {
                "FileSystemTags": [{"Key": RESOURCE_TAG, "Value": address}],
            }}}})
        };
        let changes = [change(
            ChangeAction::Modify,
            "FileSystemShared",
            Some(SdkReplacement::False),
            vec![],
        )];
        let mut view = ChangeSetView::from_sdk(&changes);
        view.reconcile(&template("filesystem.shared"), &template("filesystem.data"));
        let text = render_change_set("demo", &view);
        assert!(
            text.contains("Note: filesystem.shared has moved to filesystem.data (moved_from): FileSystemShared stays the same file system"),
            "{text}"
        );
        let mut unmoved = ChangeSetView::from_sdk(&changes);
        unmoved.reconcile(
            &template("filesystem.shared"),
            &template("filesystem.shared"),
        );
        assert!(unmoved.notes.is_empty(), "{:?}", unmoved.notes);
    }

    #[test]
    fn empty_change_set_says_no_changes() {
        let text = render_change_set("demo", &ChangeSetView::default());
        assert_eq!(text, "No changes. Stack demo matches the configuration.\n");
    }
}
