//! Both bills side by side: which is cheaper, by how much, where they cross, and why it matters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Bill;
use super::ebs::{ebs_bill, ebs_notes};
use super::efs::{efs_bill, efs_notes};
use super::error::CostError;
use super::price::{Price, PriceBook, RegionPrices};
use super::scenario::{Layout, Scenario};
use super::size::{Size, trim_number};

/// Sizes searched for crossovers: 1 GiB to 64 TiB per volume.
const CROSSOVER_RANGE_GIB: (f64, f64) = (1.0, 65_536.0);
/// Points of the log-spaced scan before each sign change is narrowed down by bisection.
const CROSSOVER_SCAN_POINTS: usize = 400;

/// An EFS vs EBS comparison for one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scenario: Scenario,
    pub efs: Bill,
    pub ebs: Bill,
    pub verdict: Verdict,
    /// Whole sizes per volume (GiB) from which the cheaper option changes, for these inputs.
    pub crossovers: Vec<Crossover>,
    pub notes: Notes,
    /// Every price used, by dimension key, with its source and date.
    pub prices: BTreeMap<String, Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    Efs,
    Ebs,
    /// Both cost the same.
    Neither,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub cheaper: Choice,
    /// USD per month saved by the cheaper option.
    pub saving: f64,
    /// The saving as a share of the dearer option's total, in percent.
    pub saving_percent: f64,
    /// False when EBS cannot serve the scenario at all (several tasks sharing one volume).
    pub ebs_can_serve: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossover {
    /// The first whole size per volume, in GiB, at which `cheaper_above` is cheaper.
    pub size_gib: f64,
    /// The option that is cheaper above this size.
    pub cheaper_above: Choice,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Notes {
    pub general: Vec<String>,
    pub efs: Vec<String>,
    pub ebs: Vec<String>,
}

/// Monthly totals at one size per volume.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub size_gib: f64,
    pub efs: f64,
    pub ebs: f64,
}

/// Prices both options for `scenario` and compares them.
pub fn compare(scenario: &Scenario, book: &PriceBook) -> Result<Comparison, CostError> {
    scenario.validate()?;
    let prices = book.region(&scenario.region)?;
    let efs = efs_bill(scenario, &prices)?;
    let ebs = ebs_bill(scenario, &prices)?;
    let verdict = verdict(scenario, &efs, &ebs);
    let crossovers = crossovers(scenario, &prices)?;
    let notes = Notes {
        general: general_notes(scenario),
        efs: efs_notes(scenario),
        ebs: ebs_notes(scenario),
    };
    let prices = prices_used(&prices, [&efs, &ebs])?;
    Ok(Comparison {
        scenario: scenario.clone(),
        efs,
        ebs,
        verdict,
        crossovers,
        notes,
        prices,
    })
}

/// Monthly totals of both options at each size per volume (for plots).
pub fn cost_curve(
    scenario: &Scenario,
    book: &PriceBook,
    sizes_gib: impl IntoIterator<Item = f64>,
) -> Result<Vec<CurvePoint>, CostError> {
    let prices = book.region(&scenario.region)?;
    sizes_gib
        .into_iter()
        .map(|size_gib| point(scenario, &prices, size_gib))
        .collect()
}

fn point(
    scenario: &Scenario,
    prices: &RegionPrices<'_>,
    size_gib: f64,
) -> Result<CurvePoint, CostError> {
    let resized = scenario.with_size(Size::from_gib(size_gib));
    Ok(CurvePoint {
        size_gib,
        efs: efs_bill(&resized, prices)?.total,
        ebs: ebs_bill(&resized, prices)?.total,
    })
}

fn verdict(scenario: &Scenario, efs: &Bill, ebs: &Bill) -> Verdict {
    let saving = (efs.total - ebs.total).abs();
    let cheaper = if saving < 0.005 {
        Choice::Neither
    } else if efs.total < ebs.total {
        Choice::Efs
    } else {
        Choice::Ebs
    };
    let dearer = efs.total.max(ebs.total);
    Verdict {
        cheaper,
        saving,
        saving_percent: if dearer > 0.0 {
            saving / dearer * 100.0
        } else {
            0.0
        },
        ebs_can_serve: !(scenario.layout == Layout::Shared && scenario.replicas > 1),
    }
}

/// Scans whole-GiB sizes on a log scale for changes of the cheaper option, then bisects each.
/// Whole GiB because EBS volumes come in whole GiB: between two whole sizes the EBS bill is a
/// step and the winner can flip back and forth, which is no use to anyone choosing a size.
fn crossovers(scenario: &Scenario, prices: &RegionPrices<'_>) -> Result<Vec<Crossover>, CostError> {
    let (low, high) = CROSSOVER_RANGE_GIB;
    let step = (high / low).powf(1.0 / (CROSSOVER_SCAN_POINTS - 1) as f64);
    let mut sizes: Vec<u64> = (0..CROSSOVER_SCAN_POINTS)
        .map(|index| (low * step.powi(index as i32)).round() as u64)
        .collect();
    sizes.dedup();
    let efs_dearer = |size_gib: u64| -> Result<bool, CostError> {
        let point = point(scenario, prices, size_gib as f64)?;
        Ok(point.efs > point.ebs)
    };
    let mut found = Vec::new();
    let mut previous = efs_dearer(sizes[0])?;
    for window in sizes.windows(2) {
        let current = efs_dearer(window[1])?;
        if current != previous {
            let size_gib = bisect(window[0], window[1], previous, &efs_dearer)? as f64;
            let cheaper_above = if current { Choice::Ebs } else { Choice::Efs };
            found.push(Crossover {
                size_gib,
                cheaper_above,
            });
        }
        previous = current;
    }
    Ok(found)
}

/// The first whole size in `(low, high]` where `efs_dearer` is no longer `at_low`.
fn bisect(
    mut low: u64,
    mut high: u64,
    at_low: bool,
    efs_dearer: &impl Fn(u64) -> Result<bool, CostError>,
) -> Result<u64, CostError> {
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if efs_dearer(middle)? == at_low {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(high)
}

fn general_notes(scenario: &Scenario) -> Vec<String> {
    let mut notes = Vec::new();
    if scenario.size.is_decimal() {
        notes.push(format!(
            "{} = {} GiB: AWS bills storage per binary GB (2^30 bytes)",
            scenario.size,
            trim_number(scenario.size.gib())
        ));
    }
    notes.push(
        "monthly list prices in USD, before free tier, taxes, backups and data transfer; EBS \
         bills per second (AWS examples use a 30-day month), EFS per GB-hour over the hours of \
         the month"
            .to_string(),
    );
    notes
}

fn prices_used(
    prices: &RegionPrices<'_>,
    bills: [&Bill; 2],
) -> Result<BTreeMap<String, Price>, CostError> {
    bills
        .iter()
        .flat_map(|bill| &bill.lines)
        .map(|line| Ok((line.dimension.key(), prices.get(line.dimension)?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::ebs::VolumeType;
    use crate::cost::scenario::{EbsConfig, EfsConfig};
    use crate::cost::size::Share;
    use crate::spec::ThroughputMode;

    fn scenario(gib: f64) -> Scenario {
        Scenario::for_test("us-east-1", gib)
    }

    #[test]
    fn plain_gp3_beats_efs_standard_at_every_size() {
        let comparison = compare(&scenario(100.0), &PriceBook::bundled().unwrap()).unwrap();
        assert_eq!(comparison.verdict.cheaper, Choice::Ebs);
        assert!((comparison.verdict.saving - 22.0).abs() < 1e-9);
        assert!((comparison.verdict.saving_percent - 22.0 / 30.0 * 100.0).abs() < 1e-9);
        assert!(comparison.crossovers.is_empty());
        assert_eq!(comparison.prices["efs.standard"].usd, 0.30);
    }

    /// With most data in Archive, EFS costs less per GiB than gp3 but its Elastic traffic is a
    /// fixed cost: EBS wins small, EFS wins large. Where they cross follows from the prices:
    /// EFS = 0.2 × 0.30 g + 0.8 × 0.008 g + 30 × 0.03 + 10 × 0.06 + 8 × 0.03 = 0.0664 g + 1.74
    /// EBS = 0.08 × g for whole g, so they meet at 1.74 / (0.08 − 0.0664) ≈ 127.9: from 128 GiB
    /// EFS is cheaper.
    #[test]
    fn archive_heavy_efs_crosses_gp3_where_the_prices_say() {
        let mut scenario = scenario(1000.0);
        scenario.efs = EfsConfig {
            standard_share: Share::from_fraction(0.2).unwrap(),
            archive_share: Share::from_fraction(0.8).unwrap(),
            read_gb: 30.0,
            write_gb: 10.0,
            ..EfsConfig::default()
        };
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert_eq!(comparison.verdict.cheaper, Choice::Efs);
        assert_eq!(comparison.crossovers.len(), 1);
        let crossover = &comparison.crossovers[0];
        assert_eq!(crossover.cheaper_above, Choice::Efs);
        assert_eq!(crossover.size_gib, 128.0);
    }

    #[test]
    fn shared_replicas_cannot_use_ebs() {
        let mut scenario = scenario(100.0);
        scenario.replicas = 3;
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert!(!comparison.verdict.ebs_can_serve);
        assert!(
            comparison
                .notes
                .ebs
                .iter()
                .any(|note| note.contains("cannot be shared"))
        );
        scenario.layout = Layout::PerTask;
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert!(comparison.verdict.ebs_can_serve);
        assert!((comparison.efs.total - 90.0).abs() < 1e-9);
        assert!((comparison.ebs.total - 24.0).abs() < 1e-9);
    }

    #[test]
    fn every_reported_crossover_is_a_real_change_of_the_cheaper_option() {
        let mut scenario = scenario(100.0);
        scenario.efs.throughput_mode = ThroughputMode::Provisioned;
        scenario.efs.provisioned_mibps = Some(100.0);
        scenario.ebs = EbsConfig {
            volume_type: VolumeType::Io2,
            iops: Some(20_000),
            throughput_mibps: None,
        };
        let book = PriceBook::bundled().unwrap();
        let comparison = compare(&scenario, &book).unwrap();
        // Each reported crossover really is a change of the cheaper option.
        for crossover in &comparison.crossovers {
            let below = cost_curve(&scenario, &book, [crossover.size_gib - 1.0]).unwrap()[0];
            let above = cost_curve(&scenario, &book, [crossover.size_gib]).unwrap()[0];
            assert_ne!(below.efs > below.ebs, above.efs > above.ebs);
        }
    }

    #[test]
    fn decimal_sizes_are_explained() {
        let mut scenario = scenario(1.0);
        scenario.size = "100GB".parse().unwrap();
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert!(comparison.notes.general[0].starts_with("100 GB = 93.13 GiB"));
        assert_eq!(comparison.ebs.lines[0].quantity, 94.0);
    }
}
