//! Both bills side by side: which is cheaper, by how much, where they cross, and why it matters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Bill;
use super::ebs::{ebs_bill, ebs_notes, valid_volume_gib};
use super::efs::{efs_bill, efs_notes};
use super::error::CostError;
use super::price::{Price, PriceBook, RegionPrices};
use super::scenario::Scenario;
use super::size::{Size, UNITS_NOTE};

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
    pub crossovers: Crossovers,
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossover {
    /// The first whole size per volume, in GiB, at which `cheaper_above` is cheaper.
    pub size_gib: f64,
    /// The option that is cheaper above this size.
    pub cheaper_above: Choice,
}

/// Where the cheaper option changes over the sizes searched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossovers {
    pub points: Vec<Crossover>,
    /// True when both options cost the same (within half a cent) at every size searched:
    /// the same cost per GiB, so no size changes the answer.
    pub same_cost_everywhere: bool,
    /// The smallest and largest size per volume searched, in GiB.
    pub scanned_gib: (f64, f64),
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
    let verdict = verdict(&efs, &ebs);
    let crossovers = crossovers(scenario, &prices)?;
    let notes = Notes {
        general: general_notes(),
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

fn verdict(efs: &Bill, ebs: &Bill) -> Verdict {
    let saving = (efs.total - ebs.total).abs();
    let cheaper = cheaper_of(efs.total, ebs.total);
    let dearer = efs.total.max(ebs.total);
    Verdict {
        cheaper,
        saving,
        saving_percent: if dearer > 0.0 {
            saving / dearer * 100.0
        } else {
            0.0
        },
    }
}

/// Below this difference (half a cent a month) the two options cost the same.
const SAME_COST_USD: f64 = 0.005;

/// The cheaper option, or neither when the totals are within [`SAME_COST_USD`].
fn cheaper_of(efs: f64, ebs: f64) -> Choice {
    if (efs - ebs).abs() < SAME_COST_USD {
        Choice::Neither
    } else if efs < ebs {
        Choice::Efs
    } else {
        Choice::Ebs
    }
}

/// The whole sizes per volume the crossover search visits: AWS's range for the volume as
/// configured (type minimum and maximum, IOPS per GiB), within 1 GiB to 64 TiB.
pub(crate) fn scan_range_gib(scenario: &Scenario) -> (u64, u64) {
    let (low, high) = CROSSOVER_RANGE_GIB;
    let (smallest, largest) = valid_volume_gib(&scenario.ebs);
    (smallest.max(low as u64), largest.min(high as u64))
}

/// Scans whole-GiB sizes on a log scale for changes of the cheaper option, then bisects each.
/// Whole GiB because EBS volumes come in whole GiB: between two whole sizes the EBS bill is a
/// step and the winner can flip back and forth, which is no use to anyone choosing a size.
/// Sizes where both cost the same (within half a cent) are no change: equal prices per GiB
/// give no crossover, and [`Crossovers::same_cost_everywhere`] says so.
fn crossovers(scenario: &Scenario, prices: &RegionPrices<'_>) -> Result<Crossovers, CostError> {
    let (low, high) = scan_range_gib(scenario);
    let step = (high as f64 / low as f64).powf(1.0 / (CROSSOVER_SCAN_POINTS - 1) as f64);
    let mut sizes: Vec<u64> = (0..CROSSOVER_SCAN_POINTS)
        .map(|index| ((low as f64 * step.powi(index as i32)).round() as u64).clamp(low, high))
        .collect();
    sizes.dedup();
    let cheaper_at = |size_gib: u64| -> Result<Choice, CostError> {
        let point = point(scenario, prices, size_gib as f64)?;
        Ok(cheaper_of(point.efs, point.ebs))
    };
    let mut found = Vec::new();
    let mut decided: Option<(u64, Choice)> = None;
    let mut same_cost_everywhere = true;
    for size in sizes {
        let choice = cheaper_at(size)?;
        if choice == Choice::Neither {
            continue;
        }
        same_cost_everywhere = false;
        match decided {
            Some((previous_size, previous)) if previous != choice => {
                let size_gib = bisect(previous_size, size, previous, &cheaper_at)? as f64;
                found.push(Crossover {
                    size_gib,
                    cheaper_above: choice,
                });
            }
            _ => {}
        }
        decided = Some((size, choice));
    }
    Ok(Crossovers {
        points: found,
        same_cost_everywhere,
        scanned_gib: (low as f64, high as f64),
    })
}

/// The first whole size in `(low, high]` where the cheaper option is no longer `at_low`.
fn bisect(
    mut low: u64,
    mut high: u64,
    at_low: Choice,
    cheaper_at: &impl Fn(u64) -> Result<Choice, CostError>,
) -> Result<u64, CostError> {
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if cheaper_at(middle)? == at_low {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(high)
}

fn general_notes() -> Vec<String> {
    let mut notes = vec![UNITS_NOTE.to_string()];
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
    use crate::cost::scenario::{EbsConfig, EfsConfig, Layout};
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
        assert!(comparison.crossovers.points.is_empty());
        assert!(!comparison.crossovers.same_cost_everywhere);
        assert_eq!(comparison.prices["efs.standard"].usd, 0.30);
    }

    /// With most data in Archive, EFS costs less per GiB than gp3 but its Elastic traffic is a
    /// fixed cost: EBS wins small, EFS wins large. Where they cross follows from the prices:
    /// EFS = 0.2 × 0.30 g + 0.8 × 0.008 g + 30 × 0.03 + 10 × 0.06 + 8 × 0.03 (into Archive)
    ///     + 8 × 0.01 (into IA on the way) = 0.0664 g + 1.82
    /// EBS = 0.08 × g for whole g, so they meet at 1.82 / (0.08 − 0.0664) ≈ 133.8: from 134 GiB
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
        assert_eq!(comparison.crossovers.points.len(), 1);
        let crossover = &comparison.crossovers.points[0];
        assert_eq!(crossover.cheaper_above, Choice::Efs);
        assert_eq!(crossover.size_gib, 134.0);
    }

    /// Shared data on EBS is priced as one copy per node, the layout said in the notes; the
    /// crossover search prices the same layout, so verdict and crossover agree.
    #[test]
    fn shared_replicas_price_one_ebs_copy_per_node() {
        let mut scenario = scenario(100.0);
        scenario.replicas = 3;
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert!(
            comparison
                .notes
                .ebs
                .iter()
                .any(|note| note.contains("layout priced for 3 tasks sharing data"))
        );
        // 3 × 100 GiB × $0.08 + a 100 GiB snapshot × $0.05 against 100 GiB of EFS at $0.30.
        assert!((comparison.ebs.total - 29.0).abs() < 1e-9);
        assert_eq!(comparison.verdict.cheaper, Choice::Ebs);
        assert!(comparison.crossovers.points.is_empty());
        scenario.layout = Layout::PerTask;
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
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
        // The search starts where 20,000 io2 IOPS are allowed: 1,000 per GiB, so 20 GiB.
        assert_eq!(comparison.crossovers.scanned_gib, (20.0, 65_536.0));
        // Each reported crossover really is a change of the cheaper option.
        for crossover in &comparison.crossovers.points {
            let below = cost_curve(&scenario, &book, [crossover.size_gib - 1.0]).unwrap()[0];
            let above = cost_curve(&scenario, &book, [crossover.size_gib]).unwrap()[0];
            assert_ne!(below.efs > below.ebs, above.efs > above.ebs);
        }
    }

    #[test]
    fn gb_is_explained_once_as_aws_binary_gb() {
        let mut scenario = scenario(1.0);
        scenario.size = "100GB".parse().unwrap();
        let comparison = compare(&scenario, &PriceBook::bundled().unwrap()).unwrap();
        assert!(comparison.notes.general[0].starts_with("GB and TB are AWS's: 1 GB = 2^30"));
        assert_eq!(comparison.ebs.lines[0].quantity, 100.0);
    }

    /// gp3 priced like EFS Standard (an offer file can do that): the same cost per GiB at every
    /// whole size, which is no crossover at all.
    #[test]
    fn equal_prices_per_gib_are_the_same_cost_not_crossovers() {
        let mut book = PriceBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gp3.json");
        std::fs::write(&path, crate::cost::offer::tests::gp3_at(0.30)).unwrap();
        book.add_offer_file(&path).unwrap();
        let comparison = compare(&scenario(100.0), &book).unwrap();
        assert_eq!(comparison.verdict.cheaper, Choice::Neither);
        assert!(
            comparison.crossovers.points.is_empty(),
            "{:?}",
            comparison.crossovers
        );
        assert!(comparison.crossovers.same_cost_everywhere);
    }
}
