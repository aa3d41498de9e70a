//! The comparison as a text table: both bills side by side, then the verdict, the crossover,
//! what differs beyond price, and every price used with its source.

use std::fmt::Write;

use super::compare::{Choice, Comparison};
use super::size::trim_number;
use super::{Bill, Layout, LineItem};

const COLUMN_GAP: &str = " │ ";
const WRAP_WIDTH: usize = 100;

/// Renders a comparison for a terminal.
pub fn render_table(comparison: &Comparison) -> String {
    let mut out = String::new();
    let scenario = &comparison.scenario;
    let tasks = match scenario.replicas {
        1 => "1 task".to_string(),
        n => format!("{n} tasks, {}", layout_words(comparison)),
    };
    let _ = writeln!(
        out,
        "EFS vs EBS in {}: {} per volume, {tasks}\n",
        scenario.region, scenario.size
    );
    out.push_str(&side_by_side(
        &bill_column(&comparison.efs),
        &bill_column(&comparison.ebs),
    ));
    out.push('\n');
    let _ = writeln!(out, "{}", verdict_line(comparison));
    let _ = writeln!(out, "{}\n", crossover_line(comparison));
    out.push_str(&notes_section(comparison));
    out.push_str(&prices_section(comparison));
    out
}

fn layout_words(comparison: &Comparison) -> &'static str {
    match comparison.scenario.layout {
        Layout::Shared => "sharing the data (EBS: one copy per node, see the EBS notes)",
        Layout::PerTask => "one volume each",
    }
}

/// One bill as aligned rows: `item  quantity unit × price = cost`, a rule and the total.
fn bill_column(bill: &Bill) -> Vec<String> {
    let cells: Vec<[String; 5]> = bill.lines.iter().map(line_cells).collect();
    let widths: [usize; 5] = std::array::from_fn(|i| {
        cells
            .iter()
            .map(|row| row[i].chars().count())
            .max()
            .unwrap_or(0)
    });
    let mut rows = vec![bill.title.clone()];
    rows.extend(cells.iter().map(|[item, quantity, unit, price, cost]| {
        format!(
            "{item:<w0$}  {quantity:>w1$} {unit:<w2$} × {price:<w3$} = {cost:>w4$}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        )
    }));
    let width = rows
        .iter()
        .map(|row| row.chars().count())
        .max()
        .unwrap_or(0);
    let total = format!("{} /month", dollars(bill.total));
    rows.push("─".repeat(width));
    rows.push(format!(
        "{:<w$}{total}",
        "Total",
        w = width.saturating_sub(total.chars().count()).max(6)
    ));
    rows
}

fn line_cells(line: &LineItem) -> [String; 5] {
    [
        line.item.clone(),
        quantity(line.quantity),
        line.unit.to_string(),
        unit_price(line.unit_price),
        dollars(line.cost),
    ]
}

/// Two columns next to each other; the shorter one is padded with blank rows above its total.
fn side_by_side(left: &[String], right: &[String]) -> String {
    let height = left.len().max(right.len());
    let (left, right) = (pad_rows(left, height), pad_rows(right, height));
    let width = left
        .iter()
        .map(|row| row.chars().count())
        .max()
        .unwrap_or(0);
    left.iter()
        .zip(&right)
        .map(|(l, r)| format!("{l:<width$}{COLUMN_GAP}{r}").trim_end().to_string() + "\n")
        .collect()
}

/// Keeps the rule and total as the last two rows so both totals line up.
fn pad_rows(rows: &[String], height: usize) -> Vec<String> {
    let split = rows.len().saturating_sub(2);
    let mut padded = rows[..split].to_vec();
    padded.resize(height - (rows.len() - split), String::new());
    padded.extend_from_slice(&rows[split..]);
    padded
}

fn verdict_line(comparison: &Comparison) -> String {
    let verdict = &comparison.verdict;
    let difference = format!("{} a month", dollars(verdict.saving));
    match verdict.cheaper {
        Choice::Neither => "Both cost the same.".to_string(),
        cheaper => format!(
            "Cheaper: {}, by {difference} ({:.0}% less than {}).",
            name(cheaper),
            verdict.saving_percent,
            name(other(cheaper))
        ),
    }
}

fn crossover_line(comparison: &Comparison) -> String {
    let crossovers = &comparison.crossovers;
    let (low, high) = crossovers.scanned_gib;
    let range = format!(
        "between {} GiB and {} GiB per volume",
        thousands(low as u64),
        thousands(high as u64)
    );
    if crossovers.same_cost_everywhere {
        return format!(
            "Crossover: none; EFS and EBS cost the same per GiB at every size {range}."
        );
    }
    if crossovers.points.is_empty() {
        let cheaper = match comparison.verdict.cheaper {
            Choice::Neither => "neither option".to_string(),
            choice => name(choice).to_string(),
        };
        return format!(
            "Crossover: none {range} for these inputs; {cheaper} is cheaper at every size."
        );
    }
    let points: Vec<String> = crossovers
        .points
        .iter()
        .map(|crossover| {
            let above = crossover.cheaper_above;
            format!(
                "at {} GiB per volume ({} cheaper below, {} above)",
                trim_number(crossover.size_gib),
                name(other(above)),
                name(above)
            )
        })
        .collect();
    format!("Crossover: {}.", points.join("; "))
}

fn notes_section(comparison: &Comparison) -> String {
    let notes = &comparison.notes;
    let mut out = String::from("Beyond price\n");
    for (label, list) in [
        ("", &notes.general),
        ("EFS", &notes.efs),
        ("EBS", &notes.ebs),
    ] {
        for note in list {
            out.push_str(&wrap(&format!("  {label:<3}"), "     ", note));
        }
    }
    out.push('\n');
    out
}

fn prices_section(comparison: &Comparison) -> String {
    let mut out = format!("Prices ({})\n", comparison.scenario.region);
    let width = comparison.prices.keys().map(String::len).max().unwrap_or(0);
    let mut details: Vec<&str> = Vec::new();
    for (key, price) in &comparison.prices {
        let _ = writeln!(
            out,
            "  {key:<width$}  {:<9} {}, {}",
            unit_price(price.usd),
            price.source,
            price.date
        );
        details.extend(price.detail.iter().map(String::as_str));
    }
    details.sort_unstable();
    details.dedup();
    for detail in details {
        out.push_str(&wrap("   ", "        ", detail));
    }
    out
}

/// Wraps `text` at word boundaries, the first line after `prefix`, later ones after `indent`.
fn wrap(prefix: &str, indent: &str, text: &str) -> String {
    let mut out = String::new();
    let mut line = prefix.to_string();
    let mut words_on_line = 0;
    for word in text.split_whitespace() {
        if words_on_line > 0 && line.chars().count() + 1 + word.chars().count() > WRAP_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
            words_on_line = 0;
        }
        line.push(' ');
        line.push_str(word);
        words_on_line += 1;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn name(choice: Choice) -> &'static str {
    match choice {
        Choice::Efs => "EFS",
        Choice::Ebs => "EBS",
        Choice::Neither => "neither",
    }
}

fn other(choice: Choice) -> Choice {
    match choice {
        Choice::Efs => Choice::Ebs,
        Choice::Ebs => Choice::Efs,
        Choice::Neither => Choice::Neither,
    }
}

/// Whole quantities with thousands separators, others with two decimals.
fn quantity(value: f64) -> String {
    if value.fract() == 0.0 {
        thousands(value as u64)
    } else {
        format!("{value:.2}")
    }
}

/// At least two decimals, more when the price has them (0.005, 0.03185).
fn unit_price(usd: f64) -> String {
    let text = format!("{usd:.6}");
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed.split('.').nth(1).map_or(0, str::len).max(2);
    format!("${usd:.decimals$}")
}

fn dollars(usd: f64) -> String {
    let cents = (usd * 100.0).round() as u64;
    format!("${}.{:02}", thousands(cents / 100), cents % 100)
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_quantities_read_like_a_bill() {
        assert_eq!(dollars(1234.567), "$1,234.57");
        assert_eq!(dollars(8.8), "$8.80");
        assert_eq!(unit_price(0.3), "$0.30");
        assert_eq!(unit_price(0.03185), "$0.03185");
        assert_eq!(unit_price(6.0), "$6.00");
        assert_eq!(quantity(3000.0), "3,000");
        assert_eq!(quantity(93.1322), "93.13");
    }

    #[test]
    fn long_notes_wrap_under_their_label() {
        let text = "word ".repeat(40);
        let wrapped = wrap("  EFS", "     ", &text);
        assert!(wrapped.lines().count() > 1);
        assert!(
            wrapped
                .lines()
                .all(|line| line.chars().count() <= WRAP_WIDTH)
        );
        assert!(wrapped.lines().nth(1).unwrap().starts_with("      word"));
    }
}
