//! Showing a plan: Terraform-style text for people, JSON for machines.

use std::fmt::Write;

use serde_json::{Map, Value, json};

use super::{Action, Drift, Plan, ResourceChange, Retag};
use crate::model::{Address, Attribute, RESOURCE_TAG, Resource};
use crate::spec::SpecError;

const RULE: &str = "─────────────────────────────────────────────────────────────────────────────";

/// The plan as a person reads it, ending with the `Plan: ...` summary or "No changes".
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("No changes. Your infrastructure matches the configuration.\n");
        return out;
    }
    if !plan.drift.is_empty() {
        render_drift(&mut out, &plan.drift);
    }
    render_legend(&mut out, plan);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str("cloudstor will perform the following actions:\n");
    for retag in &plan.retags {
        out.push('\n');
        render_retag(&mut out, retag);
    }
    for change in &plan.changes {
        out.push('\n');
        render_change(&mut out, change);
    }
    let summary = plan.summary();
    let moved = if summary.moved > 0 {
        format!("{} to move, ", summary.moved)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\nPlan: {moved}{} to add, {} to change, {} to destroy.",
        summary.add, summary.change, summary.destroy
    );
    render_launch_template_notes(&mut out, plan);
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        out.push_str("\nApply will refuse these changes without --allow-data-loss:\n");
        for line in refusals {
            let _ = writeln!(out, "{line}");
        }
        out.push_str(
            "Keep the data by undoing these changes in the spec; to let it go, set protect = false for these file systems and apply that on its own first, or pass --allow-data-loss.\n",
        );
    }
    out
}

/// What a new launch template (version) holds besides the script, and that nodes already
/// running keep the script they booted with.
fn render_launch_template_notes(out: &mut String, plan: &Plan) {
    let Some(change) = plan
        .changes
        .iter()
        .find(|c| c.address == Address::LaunchTemplate && c.action != Action::Delete)
    else {
        return;
    };
    let groups = &plan.spec.network.node_security_group_ids;
    let _ = writeln!(
        out,
        "Note: {}: instance metadata HttpTokens = required, node security groups {}.",
        change.address,
        groups.join(", ")
    );
    if change.action == Action::Update {
        let _ = writeln!(
            out,
            "Note: {}",
            crate::bootstrap::RUNNING_NODES_KEEP_USER_DATA
        );
    }
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Text from [`render_text`] coloured as Terraform colours a plan on a terminal: `+` green,
/// `~` yellow, `-` red, `# forces replacement` red, the `Plan:` summary bold.
pub fn colorize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        out.push_str(indent);
        let sign = [("-/+", ""), ("+ ", GREEN), ("~ ", YELLOW), ("- ", RED)]
            .into_iter()
            .find(|(sign, _)| body.starts_with(sign));
        let rest = match sign {
            Some(("-/+", _)) => {
                out.push_str(&format!("{RED}-{RESET}/{GREEN}+{RESET}"));
                &body[3..]
            }
            Some((sign, colour)) => {
                out.push_str(&format!("{colour}{}{RESET}", &sign[..1]));
                &body[1..]
            }
            None if body.starts_with("Plan:") => {
                let (text, end) = body.split_at(body.trim_end().len());
                out.push_str(&format!("{BOLD}{text}{RESET}{end}"));
                continue;
            }
            None => body,
        };
        match rest.split_once(FORCES) {
            Some((before, after)) => {
                out.push_str(&format!("{before}{RED}{FORCES}{RESET}{after}"));
            }
            None => out.push_str(rest),
        }
    }
    out
}

const FORCES: &str = "# forces replacement";

fn render_drift(out: &mut String, drift: &[Drift]) {
    out.push_str("Note: Objects have changed outside cloudstor\n\n");
    out.push_str(
        "cloudstor detected the following changes made outside cloudstor since its last apply:\n",
    );
    for item in drift {
        if item.deleted {
            let _ = writeln!(out, "\n  # {} has been deleted", item.address);
            let _ = writeln!(out, "  - {}", item.address);
            continue;
        }
        let _ = writeln!(out, "\n  # {} has changed", item.address);
        let _ = writeln!(out, "  ~ {} {{", item.address);
        let width = item
            .changes
            .iter()
            .map(|(name, _, _)| name.len())
            .max()
            .unwrap_or(0);
        for (name, was, is) in &item.changes {
            let _ = writeln!(out, "      ~ {name:width$} = {was:?} -> {is:?}");
        }
        out.push_str("    }\n");
    }
    out.push_str(
        "\nUnless you have made equivalent changes to the spec, the plan below undoes them.\n",
    );
    let _ = writeln!(out, "\n{RULE}\n");
}

/// The symbols the plan uses; none when it only moves addresses, which takes no symbol.
fn render_legend(out: &mut String, plan: &Plan) {
    let legend = [
        (Action::Create, "create"),
        (Action::Update, "update in-place"),
        (Action::Replace, "destroy and then create replacement"),
        (Action::Delete, "destroy"),
    ];
    let restores = plan.retags.iter().any(|r| r.moved_from.is_none());
    let used: Vec<_> = legend
        .into_iter()
        .filter(|(action, _)| {
            plan.changes.iter().any(|c| c.action == *action)
                || (*action == Action::Update && restores)
        })
        .collect();
    if used.is_empty() {
        return;
    }
    out.push_str("Resource actions are indicated with the following symbols:\n");
    for (action, text) in used {
        let _ = writeln!(out, "{} {text}", action.symbol());
    }
}

fn render_change(out: &mut String, change: &ResourceChange) {
    let comment = match change.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
    };
    let _ = writeln!(out, "  # {} {comment}", change.address);
    let _ = writeln!(out, "{} {} {{", change.action.symbol(), change.address);
    let lines = match (&change.before, &change.after) {
        (None, Some(after)) => whole(after, "+"),
        (Some(before), None) => whole(before, "-"),
        (Some(before), Some(after)) => changed(before, after, &change.replace_paths),
        (None, None) => Vec::new(),
    };
    let width = lines.iter().map(|l| l.1.len()).max().unwrap_or(0);
    for (sign, name, value) in lines {
        if name.is_empty() {
            let _ = writeln!(out, "        {value}");
        } else {
            let _ = writeln!(out, "      {sign} {name:width$} = {value}");
        }
    }
    out.push_str("    }\n");
}

/// A tag rewrite: a move reads `old -> new` (no data touched), a restore as an in-place update.
fn render_retag(out: &mut String, retag: &Retag) {
    match &retag.moved_from {
        Some(from) => {
            let _ = writeln!(out, "  # {from} has moved to {}", retag.address);
            let _ = writeln!(out, "    {from} -> {} {{", retag.address);
        }
        None => {
            let _ = writeln!(
                out,
                "  # {} will get its cloudstor tags back",
                retag.address
            );
            let _ = writeln!(out, "{} {} {{", Action::Update.symbol(), retag.address);
        }
    }
    let names: Vec<String> = retag
        .tags
        .iter()
        .map(|(tag, _, _)| format!("tags[{tag:?}]"))
        .collect();
    let width = names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("id".len());
    let _ = writeln!(out, "        {:width$} = {:?}", "id", retag.id);
    for (name, (_, now, new)) in names.iter().zip(&retag.tags) {
        let now = now
            .as_deref()
            .map_or("none".to_owned(), |v| format!("{v:?}"));
        let _ = writeln!(out, "      ~ {name:width$} = {now} -> {new:?}");
    }
    if retag.moved_from.is_some() {
        out.push_str("        # no data touched; its mount targets move with it\n");
    }
    out.push_str("    }\n");
}

type Line = (&'static str, String, String);

/// Every attribute with a value, for resources that appear or disappear as a whole.
fn whole(resource: &Resource, sign: &'static str) -> Vec<Line> {
    resource
        .attributes()
        .into_iter()
        .filter(|(_, value)| value.as_ref() != Some(&Value::Null))
        .map(|(name, value)| (sign, name.to_owned(), show(&value)))
        .collect()
}

/// Changed attributes as `old -> new`, the id for orientation, and a count of the rest.
fn changed(before: &Resource, after: &Resource, forcing: &[String]) -> Vec<Line> {
    let old: std::collections::BTreeMap<&str, Option<Value>> =
        before.attributes().into_iter().collect();
    let replacing = !forcing.is_empty();
    let mut lines = Vec::new();
    let mut hidden = 0;
    for (name, new) in after.attributes() {
        let was = old.get(name).cloned().flatten();
        if name == "id" {
            let line = if replacing {
                (
                    "~",
                    name.to_owned(),
                    format!("{} -> (known after apply)", show(&was)),
                )
            } else {
                (" ", name.to_owned(), show(&was))
            };
            lines.push(line);
        } else if was != new {
            let mark = if forcing.iter().any(|f| f == name) {
                format!(" {FORCES}")
            } else {
                String::new()
            };
            let value = match (&was, &new) {
                (Some(old), Some(new)) if is_collection(old) && is_collection(new) => {
                    format!("{}{mark}", collection_diff(old, new))
                }
                (Some(Value::String(old)), Some(Value::String(new)))
                    if is_script(old) || is_script(new) =>
                {
                    script_diff(old, new)
                }
                _ => format!("{} -> {}{mark}", show(&was), show(&new)),
            };
            lines.push(("~", name.to_owned(), value));
        } else {
            hidden += 1;
        }
    }
    if hidden > 0 {
        let plural = if hidden == 1 { "" } else { "s" };
        lines.push((
            " ",
            String::new(),
            format!("# ({hidden} unchanged attribute{plural} hidden)"),
        ));
    }
    lines
}

fn is_script(text: &str) -> bool {
    text.contains('\n')
}

/// A long multi-line value (the node bootstrap) as a unified diff with context.
fn script_diff(old: &str, new: &str) -> String {
    let diff = crate::bootstrap::user_data_diff(old, new);
    let body: Vec<String> = diff
        .lines()
        .map(|line| format!("          {line}"))
        .collect();
    format!("<<EOT\n{}\n        EOT", body.join("\n"))
}

fn is_collection(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

/// One line per map entry or list item, so a change reads as a diff of lines.
fn collection_lines(value: &Value) -> String {
    let lines: Vec<String> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k} = {v}")).collect(),
        Value::Array(items) => items.iter().map(Value::to_string).collect(),
        other => vec![other.to_string()],
    };
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// A changed map or list as Terraform shows it: the unchanged entries plain, the rest `+`/`-`.
fn collection_diff(old: &Value, new: &Value) -> String {
    let (open, close) = if new.is_object() {
        ("{", "}")
    } else {
        ("[", "]")
    };
    let (old_text, new_text) = (collection_lines(old), collection_lines(new));
    let diff = similar::TextDiff::from_lines(&old_text, &new_text);
    let mut out = String::from(open);
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        let _ = write!(out, "\n          {sign} {}", change.value().trim_end());
    }
    let _ = write!(out, "\n        {close}");
    out
}

fn show(value: &Option<Value>) -> String {
    match value {
        None => "(known after apply)".into(),
        Some(Value::String(text)) if is_script(text) => {
            let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..6]);
            format!("(script, {} lines, sha256 {digest}…)", text.lines().count())
        }
        Some(Value::Object(map)) if map.is_empty() => "{}".into(),
        Some(Value::Object(map)) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", pairs.join(", "))
        }
        Some(Value::Array(items)) => {
            let items: Vec<String> = items.iter().map(|v| v.to_string()).collect();
            format!("[{}]", items.join(", "))
        }
        Some(other) => other.to_string(),
    }
}

/// The machine-readable plan, shaped like `terraform show -json` of a saved plan where the
/// parts apply (see docs/plan-json.md), so OPA/conftest policies and jq filters written for
/// Terraform plans read it unchanged.
pub fn render_json(plan: &Plan) -> Value {
    let summary = plan.summary();
    json!({
        "format_version": JSON_FORMAT_VERSION,
        "cloudstor_version": env!("CARGO_PKG_VERSION"),
        "stack": plan.spec.stack.name,
        "fingerprint": plan.fingerprint,
        "resource_drift": plan.drift.iter().map(drift_json).collect::<Vec<_>>(),
        "resource_changes": resource_changes_json(plan),
        "summary": {
            "move": summary.moved,
            "add": summary.add,
            "change": summary.change,
            "destroy": summary.destroy,
        },
        "applyable": !plan.is_empty(),
        "complete": true,
        "errored": false,
    })
}

/// One entry per address, as Terraform has: the tag rewrites first, in the text plan's order,
/// then the changes. A file system that is moved or gets its tags back *and* changes otherwise
/// is one entry, the change, carrying the move's `previous_address` and the restored tags.
fn resource_changes_json(plan: &Plan) -> Vec<Value> {
    let retag_of = |address: &Address| plan.retags.iter().find(|r| &r.address == address);
    let retags = plan.retags.iter().filter(|r| !plan.has_change(&r.address));
    let changes = plan.changes.iter().map(|change| {
        let mut entry = change_json(change);
        if let Some(retag) = retag_of(&change.address) {
            fold_retag(&mut entry, retag);
        }
        entry
    });
    retags.map(retag_json).chain(changes).collect()
}

/// Puts a tag rewrite into the change entry of the same file system: `previous_address` for a
/// move, and the ownership tags apply writes back as `ownership_tags` in `before` and `after`
/// (the change's own `tags` are the spec's).
fn fold_retag(entry: &mut Value, retag: &Retag) {
    let (before, after) = ownership_tags(retag);
    if let Some(from) = &retag.moved_from {
        entry["previous_address"] = json!(from.to_string());
    }
    if before == after {
        return;
    }
    for (side, tags) in [("before", before), ("after", after)] {
        if let Some(object) = entry["change"][side].as_object_mut() {
            object.insert("ownership_tags".into(), Value::Object(tags));
        }
    }
}

/// The ownership tags a rewrite changes, as they are and as apply writes them; the
/// `cloudstor:resource` tag of a move is left out, being the address itself.
fn ownership_tags(retag: &Retag) -> (Map<String, Value>, Map<String, Value>) {
    let moving = |tag: &str| retag.moved_from.is_some() && tag == RESOURCE_TAG;
    let tags = retag.tags.iter().filter(|(tag, _, _)| !moving(tag));
    let before = tags
        .clone()
        .filter_map(|(tag, now, _)| Some((tag.clone(), json!(now.as_ref()?))))
        .collect();
    let after = tags
        .map(|(tag, _, new)| (tag.clone(), json!(new)))
        .collect();
    (before, after)
}

/// Terraform's JSON plan format version this output follows.
const JSON_FORMAT_VERSION: &str = "1.2";

/// Who manages every resource, in the place Terraform names the provider.
const PROVIDER: &str = "cloudstor";

/// The fields Terraform gives every resource: `address` is `type.name`.
fn resource_json(address: &Address) -> Map<String, Value> {
    let address = address.to_string();
    let (kind, name) = address.split_once('.').unwrap_or((&address, ""));
    let mut map = Map::new();
    map.insert("address".into(), json!(address));
    map.insert("mode".into(), json!("managed"));
    map.insert("type".into(), json!(kind));
    map.insert("name".into(), json!(name));
    map.insert("provider_name".into(), json!(PROVIDER));
    map
}

fn change_json(change: &ResourceChange) -> Value {
    let actions: &[&str] = match change.action {
        Action::Create => &["create"],
        Action::Update => &["update"],
        Action::Replace => &["delete", "create"],
        Action::Delete => &["delete"],
    };
    let mut map = resource_json(&change.address);
    map.insert(
        "change".into(),
        json!({
            "actions": actions,
            "before": change.before.as_ref().map(|r| known(&r.attributes())),
            "after": change.after.as_ref().map(|r| known(&r.attributes())),
            "after_unknown": change.after.as_ref().map_or(json!({}), |r| unknown(&r.attributes())),
            "before_sensitive": false,
            "after_sensitive": false,
            "replace_paths": change.replace_paths.iter().map(|p| [p]).collect::<Vec<_>>(),
        }),
    );
    let reason = match change.action {
        Action::Replace => Some("replace_because_cannot_update"),
        Action::Delete => Some("delete_because_no_resource_config"),
        Action::Create | Action::Update => None,
    };
    if let Some(reason) = reason {
        map.insert("action_reason".into(), json!(reason));
    }
    Value::Object(map)
}

/// A tag rewrite as Terraform shows a moved resource: `previous_address` is the old address,
/// and a move alone is a `no-op`, since the data and every attribute stay. Restored ownership
/// tags make it an `update`. `before` and `after` hold the id and the tags apply writes, as
/// the text plan shows them; the `cloudstor:resource` tag of a move is left out, being the
/// address itself.
fn retag_json(retag: &Retag) -> Value {
    let (before, after) = ownership_tags(retag);
    let actions = if before == after {
        ["no-op"]
    } else {
        ["update"]
    };
    let mut map = resource_json(&retag.address);
    if let Some(from) = &retag.moved_from {
        map.insert("previous_address".into(), json!(from.to_string()));
    }
    map.insert(
        "change".into(),
        json!({
            "actions": actions,
            "before": {"id": retag.id, "tags": before},
            "after": {"id": retag.id, "tags": after},
            "after_unknown": {},
            "before_sensitive": false,
            "after_sensitive": false,
            "replace_paths": [],
        }),
    );
    Value::Object(map)
}

/// A change made outside cloudstor: `before` holds the drifted attributes as cloudstor applied
/// them, `after` as they are now (Terraform has whole objects; cloudstor only records these).
fn drift_json(drift: &Drift) -> Value {
    let mut map = resource_json(&drift.address);
    let (actions, before, after) = if drift.deleted {
        (["delete"], json!({}), Value::Null)
    } else {
        let side = |pick: fn(&(String, String, String)) -> &String| {
            Value::Object(
                drift
                    .changes
                    .iter()
                    .map(|change| (change.0.clone(), json!(pick(change))))
                    .collect(),
            )
        };
        (["update"], side(|c| &c.1), side(|c| &c.2))
    };
    map.insert(
        "change".into(),
        json!({
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": {},
            "before_sensitive": false,
            "after_sensitive": false,
        }),
    );
    Value::Object(map)
}

/// An error as a document of diagnostics, shaped like `terraform validate -json`: with
/// `--json` a script parses stdout whether the command worked or not.
pub fn render_error_json(error: &(dyn std::error::Error + 'static)) -> Value {
    let mut diagnostic = Map::new();
    diagnostic.insert("severity".into(), json!("error"));
    match error.downcast_ref::<SpecError>() {
        Some(SpecError::Invalid {
            path,
            line,
            column,
            message,
            hint,
        }) => {
            diagnostic.insert("summary".into(), json!(message));
            diagnostic.insert("detail".into(), json!(hint.as_deref().unwrap_or_default()));
            let position = json!({"line": line, "column": column});
            diagnostic.insert(
                "range".into(),
                json!({"filename": path.display().to_string(), "start": position, "end": position}),
            );
        }
        _ => {
            let text = error.to_string();
            let (summary, detail) = text.split_once('\n').unwrap_or((&text, ""));
            diagnostic.insert("summary".into(), json!(summary));
            diagnostic.insert("detail".into(), json!(detail));
        }
    }
    json!({
        "format_version": "1.0",
        "valid": false,
        "error_count": 1,
        "warning_count": 0,
        "diagnostics": [diagnostic],
    })
}

fn known(attributes: &[Attribute]) -> Value {
    let map: Map<String, Value> = attributes
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.clone()?)))
        .collect();
    Value::Object(map)
}

fn unknown(attributes: &[Attribute]) -> Value {
    let map: Map<String, Value> = attributes
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| (name.to_string(), Value::Bool(true)))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_maps_show_entry_by_entry() {
        let old = json!({"team": "platform", "tier": "gold"});
        let new = json!({"owner": "sre", "team": "platform"});
        let expected = "{\n          + owner = \"sre\"\n            team = \"platform\"\n          - tier = \"gold\"\n        }";
        assert_eq!(collection_diff(&old, &new), expected);
    }

    #[test]
    fn colours_follow_terraform() {
        let plain = "  # filesystem.a must be replaced\n-/+ filesystem.a {\n      ~ performance_mode = \"a\" -> \"b\" # forces replacement\n      + id = 1\n      - id = 2\n    }\n\nPlan: 1 to add, 0 to change, 1 to destroy.\n";
        let expected = "  # filesystem.a must be replaced\n\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m filesystem.a {\n      \x1b[33m~\x1b[0m performance_mode = \"a\" -> \"b\" \x1b[31m# forces replacement\x1b[0m\n      \x1b[32m+\x1b[0m id = 1\n      \x1b[31m-\x1b[0m id = 2\n    }\n\n\x1b[1mPlan: 1 to add, 0 to change, 1 to destroy.\x1b[0m\n";
        assert_eq!(colorize(plain), expected);
    }

    #[test]
    fn changed_lists_show_item_by_item() {
        let diff = collection_diff(&json!(["sg-a", "sg-b"]), &json!(["sg-b"]));
        assert_eq!(
            diff,
            "[\n          - \"sg-a\"\n            \"sg-b\"\n        ]"
        );
    }
}
