//! The EBS bill: provisioned storage, IOPS and throughput for one volume per copy of the data.

use serde::Serialize;

use super::error::CostError;
use super::price::{Dimension, RegionPrices};
use super::scenario::{EbsConfig, Scenario};
use super::{Bill, LineItem};

/// io2 IOPS are priced in tiers: up to 32,000, up to 64,000, above.
const IO2_TIER_LIMITS: [u32; 2] = [32_000, 64_000];

/// EBS volume types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// General purpose SSD with 3,000 IOPS and 125 MiB/s included.
    #[default]
    Gp3,
    /// Previous-generation general purpose SSD.
    Gp2,
    /// Provisioned IOPS SSD, flat IOPS price.
    Io1,
    /// Provisioned IOPS SSD, IOPS priced in tiers.
    Io2,
    /// Throughput-optimised HDD.
    St1,
    /// Cold HDD.
    Sc1,
}

impl VolumeType {
    const GP3_INCLUDED_IOPS: u32 = 3_000;
    const GP3_INCLUDED_MIBPS: u32 = 125;

    pub fn name(self) -> &'static str {
        match self {
            VolumeType::Gp3 => "gp3",
            VolumeType::Gp2 => "gp2",
            VolumeType::Io1 => "io1",
            VolumeType::Io2 => "io2",
            VolumeType::St1 => "st1",
            VolumeType::Sc1 => "sc1",
        }
    }

    /// Provisioned IOPS AWS accepts, for the types that have them. gp3 from its 3,000 included
    /// to the current EC2 API limit; io1 and io2 (Nitro) as documented (pricing.md §5.2).
    pub(crate) fn iops_range(self) -> Option<(u32, u32)> {
        match self {
            VolumeType::Gp3 => Some((Self::GP3_INCLUDED_IOPS, 80_000)),
            VolumeType::Io1 => Some((100, 64_000)),
            VolumeType::Io2 => Some((100, 256_000)),
            VolumeType::Gp2 | VolumeType::St1 | VolumeType::Sc1 => None,
        }
    }

    /// Provisioned throughput AWS accepts: gp3 only, from its 125 MiB/s included.
    pub(crate) fn throughput_mibps_range(self) -> Option<(u32, u32)> {
        match self {
            VolumeType::Gp3 => Some((Self::GP3_INCLUDED_MIBPS, 2_000)),
            _ => None,
        }
    }

    /// The most IOPS a volume may have per GiB of its size (EBS volume types page, §5.2).
    fn max_iops_per_gib(self) -> Option<u32> {
        match self {
            VolumeType::Gp3 => Some(500),
            VolumeType::Io1 => Some(50),
            VolumeType::Io2 => Some(1_000),
            VolumeType::Gp2 | VolumeType::St1 | VolumeType::Sc1 => None,
        }
    }

    /// The smallest volume AWS creates of this type, in GiB.
    fn minimum_gib(self) -> u64 {
        match self {
            VolumeType::Gp3 | VolumeType::Gp2 => 1,
            VolumeType::Io1 | VolumeType::Io2 => 4,
            VolumeType::St1 | VolumeType::Sc1 => 125,
        }
    }

    /// The largest volume AWS creates of this type, in GiB: 64 TiB for gp3 (since late 2025)
    /// and io2 Block Express, 16 TiB for the others (§5.2).
    pub(crate) fn maximum_gib(self) -> u64 {
        match self {
            VolumeType::Gp3 | VolumeType::Io2 => 65_536,
            VolumeType::Gp2 | VolumeType::Io1 | VolumeType::St1 | VolumeType::Sc1 => 16_384,
        }
    }

    fn storage_dimension(self) -> Dimension {
        match self {
            VolumeType::Gp3 => Dimension::Gp3Storage,
            VolumeType::Gp2 => Dimension::Gp2Storage,
            VolumeType::Io1 => Dimension::Io1Storage,
            VolumeType::Io2 => Dimension::Io2Storage,
            VolumeType::St1 => Dimension::St1Storage,
            VolumeType::Sc1 => Dimension::Sc1Storage,
        }
    }
}

/// gp3 throughput may be at most this many MiB/s per provisioned IOPS (§5.2).
const GP3_MAX_MIBPS_PER_IOPS: f64 = 0.25;

/// Volumes are created in whole GiB, at least the type's minimum, and billed on that size.
pub(crate) fn volume_gib(scenario: &Scenario) -> u64 {
    let needed = scenario.size.gib().ceil() as u64;
    needed.max(scenario.ebs.volume_type.minimum_gib())
}

/// The volume sizes (whole GiB) that can carry the provisioned IOPS, within the type's limits.
pub(crate) fn valid_volume_gib(ebs: &EbsConfig) -> (u64, u64) {
    let volume_type = ebs.volume_type;
    let smallest_for_iops = match (ebs.iops, volume_type.max_iops_per_gib()) {
        // gp3's included 3,000 IOPS come with every size.
        (Some(iops), Some(per_gib))
            if iops > VolumeType::GP3_INCLUDED_IOPS || volume_type != VolumeType::Gp3 =>
        {
            u64::from(iops.div_ceil(per_gib))
        }
        _ => 1,
    };
    (
        smallest_for_iops.max(volume_type.minimum_gib()),
        volume_type.maximum_gib(),
    )
}

/// Checks the volume `scenario` needs against its type's size, IOPS-per-GiB and
/// throughput-per-IOPS limits, naming the limit broken.
pub(crate) fn check_volume_limits(scenario: &Scenario) -> Result<(), CostError> {
    let ebs = &scenario.ebs;
    let volume_type = ebs.volume_type;
    let gib = volume_gib(scenario);
    if gib > volume_type.maximum_gib() {
        return Err(CostError::VolumeTooLarge {
            volume_type: volume_type.name(),
            max_gib: volume_type.maximum_gib(),
            gib,
            larger_types: if volume_type.maximum_gib() < VolumeType::Gp3.maximum_gib() {
                ", or pick gp3 or io2 (up to 65536 GiB)"
            } else {
                ""
            },
        });
    }
    let (smallest, _) = valid_volume_gib(ebs);
    match (ebs.iops, volume_type.max_iops_per_gib()) {
        (Some(iops), Some(per_gib)) if gib < smallest => Err(CostError::TooManyIopsForSize {
            volume_type: volume_type.name(),
            per_gib,
            iops,
            min_gib: smallest,
            gib,
        }),
        _ => check_gp3_throughput_ratio(ebs),
    }
}

fn check_gp3_throughput_ratio(ebs: &EbsConfig) -> Result<(), CostError> {
    let (Some(mibps), VolumeType::Gp3) = (ebs.throughput_mibps, ebs.volume_type) else {
        return Ok(());
    };
    let iops = ebs.iops.unwrap_or(VolumeType::GP3_INCLUDED_IOPS);
    if f64::from(mibps) > f64::from(iops) * GP3_MAX_MIBPS_PER_IOPS {
        return Err(CostError::ThroughputAboveIopsRatio {
            mibps,
            iops,
            min_iops: (f64::from(mibps) / GP3_MAX_MIBPS_PER_IOPS).ceil() as u32,
        });
    }
    Ok(())
}

/// The monthly EBS bill: one volume per task. When the tasks share data, each volume holds a
/// copy: writes are copied to the other volumes across AZs, and a snapshot holds the data to
/// create a volume in an AZ that has none.
pub(crate) fn ebs_bill(scenario: &Scenario, prices: &RegionPrices<'_>) -> Result<Bill, CostError> {
    let volumes = scenario.ebs_volumes();
    let volume_gib = volume_gib(scenario);
    let volume_type = scenario.ebs.volume_type;
    let mut per_volume = vec![(
        "Storage",
        volume_type.storage_dimension(),
        volume_gib as f64,
    )];
    per_volume.extend(performance_lines(scenario));
    let mut lines: Vec<(&str, Dimension, f64)> = per_volume
        .into_iter()
        .map(|(item, dimension, quantity)| (item, dimension, quantity * f64::from(volumes)))
        .collect();
    if scenario.ebs_replicated() {
        lines.extend(replication_lines(scenario));
    }
    let lines = lines
        .into_iter()
        .filter(|(_, _, quantity)| *quantity > 0.0)
        .map(|(item, dimension, quantity)| LineItem::priced(item, dimension, quantity, prices))
        .collect::<Result<Vec<_>, _>>()?;
    let plural = if volumes > 1 { "volumes" } else { "volume" };
    let copies = if scenario.ebs_replicated() {
        ", one copy per node"
    } else {
        ""
    };
    let title = format!(
        "EBS {}, {volumes} × {volume_gib} GiB {plural}{copies}",
        volume_type.name()
    );
    Ok(Bill::new(title, lines))
}

/// Keeping N copies in step: every GB written leaves its AZ once for each other copy and
/// enters that copy's AZ (AWS bills both directions); one snapshot of the data.
fn replication_lines(scenario: &Scenario) -> Vec<(&'static str, Dimension, f64)> {
    let other_copies = f64::from(scenario.ebs_volumes() - 1);
    vec![
        (
            "Writes copied to other AZs (out + in)",
            Dimension::TransferInterAz,
            scenario.efs.write_gb * other_copies * 2.0,
        ),
        (
            "Snapshot of the data",
            Dimension::EbsSnapshot,
            scenario.size.gib(),
        ),
    ]
}

/// IOPS and throughput billed per volume: gp3 above what it includes, io1 flat, io2 in tiers.
fn performance_lines(scenario: &Scenario) -> Vec<(&'static str, Dimension, f64)> {
    let ebs = &scenario.ebs;
    let iops = f64::from(ebs.iops.unwrap_or(0));
    match ebs.volume_type {
        VolumeType::Gp3 => {
            let included_iops = f64::from(VolumeType::GP3_INCLUDED_IOPS);
            let included_mibps = f64::from(VolumeType::GP3_INCLUDED_MIBPS);
            let mibps = f64::from(ebs.throughput_mibps.unwrap_or(0));
            vec![
                (
                    "IOPS above 3,000",
                    Dimension::Gp3Iops,
                    (iops - included_iops).max(0.0),
                ),
                (
                    "Throughput above 125 MiB/s",
                    Dimension::Gp3Throughput,
                    (mibps - included_mibps).max(0.0),
                ),
            ]
        }
        VolumeType::Io1 => vec![("Provisioned IOPS", Dimension::Io1Iops, iops)],
        VolumeType::Io2 => {
            let [first, second] = IO2_TIER_LIMITS.map(f64::from);
            vec![
                (
                    "IOPS up to 32,000",
                    Dimension::Io2IopsTier1,
                    iops.min(first),
                ),
                (
                    "IOPS 32,001-64,000",
                    Dimension::Io2IopsTier2,
                    (iops.min(second) - first).max(0.0),
                ),
                (
                    "IOPS above 64,000",
                    Dimension::Io2IopsTier3,
                    (iops - second).max(0.0),
                ),
            ]
        }
        VolumeType::Gp2 | VolumeType::St1 | VolumeType::Sc1 => Vec::new(),
    }
}

/// What differs beyond price, and the assumptions behind the EBS figures.
pub(crate) fn ebs_notes(scenario: &Scenario) -> Vec<String> {
    let volume_gib = volume_gib(scenario);
    let mut notes = vec![
        "one Availability Zone, attached to one node at a time: a task moved to another node \
         waits for detach and attach, and cannot follow its data to another AZ"
            .to_string(),
        format!("billed on the provisioned {volume_gib} GiB per volume, whether used or not"),
    ];
    if scenario.ebs_replicated() {
        notes.push(replicated_layout_note(scenario));
    }
    if let Some(note) = gp3_limit_note(scenario) {
        notes.push(note);
    }
    let minimum = scenario.ebs.volume_type.minimum_gib();
    if scenario.size.gib() < minimum as f64 {
        notes.push(format!(
            "{} volumes are at least {minimum} GiB, so that size is billed",
            scenario.ebs.volume_type.name()
        ));
    }
    notes
}

/// Exactly which EBS layout is priced for shared data, and what it leaves to the user.
fn replicated_layout_note(scenario: &Scenario) -> String {
    let volumes = scenario.ebs_volumes();
    format!(
        "layout priced for {volumes} tasks sharing data: one {} volume per node that may run a \
         task ({volumes}), each holding all the data; every GB written is copied to the other \
         {} volumes across AZs (--write-gb, billed leaving and entering an AZ); one snapshot \
         of the data, from which a volume is created when a task moves to an AZ without a \
         copy. EBS does not keep the copies in step: the replication (e.g. DRBD or the \
         application's own) is yours to run",
        scenario.ebs.volume_type.name(),
        volumes - 1
    )
}

/// gp3's limits were raised late 2025 (16,000 → 80,000 IOPS, 1,000 → 2,000 MiB/s); say so
/// when a volume needs the new ones, since not every region may have them yet.
fn gp3_limit_note(scenario: &Scenario) -> Option<String> {
    let ebs = &scenario.ebs;
    let above_old_limits = ebs.iops.is_some_and(|iops| iops > 16_000)
        || ebs.throughput_mibps.is_some_and(|mibps| mibps > 1_000);
    (ebs.volume_type == VolumeType::Gp3 && above_old_limits).then(|| {
        "above gp3's long-standing limits (16,000 IOPS, 1,000 MiB/s): the higher ones (80,000 \
         IOPS, 2,000 MiB/s) are recent; check that your region offers them"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::price::PriceBook;

    fn scenario(region: &str, gib: f64, ebs: EbsConfig) -> Scenario {
        Scenario {
            ebs,
            ..Scenario::for_test(region, gib)
        }
    }

    fn bill(scenario: &Scenario) -> Bill {
        let book = PriceBook::bundled().unwrap();
        ebs_bill(scenario, &book.region(&scenario.region).unwrap()).unwrap()
    }

    /// AWS list price: 100 GB gp3 in eu-west-1 at $0.088/GB-month = $8.80 a month
    /// (not the $64.24 of the blog table that multiplied by 730 hours).
    #[test]
    fn gp3_in_eu_west_1_is_8_80_a_month() {
        let bill = bill(&scenario("eu-west-1", 100.0, EbsConfig::default()));
        assert_eq!(bill.lines.len(), 1);
        assert!((bill.total - 8.80).abs() < 1e-9, "{}", bill.total);
    }

    /// AWS EBS pricing example: 6,000 IOPS and 250 MiB/s on gp3 in us-east-1 add
    /// 3,000 × $0.005 = $15.00 and 125 × $0.04 = $5.00.
    #[test]
    fn gp3_extra_iops_and_throughput_match_the_aws_example() {
        let ebs = EbsConfig {
            volume_type: VolumeType::Gp3,
            iops: Some(6_000),
            throughput_mibps: Some(250),
        };
        let bill = bill(&scenario("us-east-1", 100.0, ebs));
        let costs: Vec<_> = bill
            .lines
            .iter()
            .map(|line| (line.item.as_str(), line.cost))
            .collect();
        assert_eq!(costs[0].0, "Storage");
        assert!((costs[0].1 - 8.0).abs() < 1e-9);
        assert_eq!(costs[1].0, "IOPS above 3,000");
        assert!((costs[1].1 - 15.0).abs() < 1e-9);
        assert_eq!(costs[2].0, "Throughput above 125 MiB/s");
        assert!((costs[2].1 - 5.0).abs() < 1e-9);
        assert!((bill.total - 28.0).abs() < 1e-9);
    }

    #[test]
    fn io2_iops_are_priced_in_tiers() {
        let ebs = EbsConfig {
            volume_type: VolumeType::Io2,
            iops: Some(80_000),
            throughput_mibps: None,
        };
        let bill = bill(&scenario("us-east-1", 100.0, ebs));
        let quantities: Vec<_> = bill.lines.iter().map(|line| line.quantity).collect();
        assert_eq!(quantities, [100.0, 32_000.0, 32_000.0, 16_000.0]);
        let expected = 12.5 + 32_000.0 * 0.065 + 32_000.0 * 0.0455 + 16_000.0 * 0.03185;
        assert!((bill.total - expected).abs() < 1e-6);
    }

    #[test]
    fn volumes_round_up_to_whole_gib_and_the_type_minimum() {
        let bill_gib = |gib, volume_type| {
            let ebs = EbsConfig {
                volume_type,
                ..EbsConfig::default()
            };
            bill(&scenario("us-east-1", gib, ebs)).lines[0].quantity
        };
        assert_eq!(bill_gib(93.13, VolumeType::Gp3), 94.0);
        assert_eq!(bill_gib(10.0, VolumeType::St1), 125.0);
    }

    #[test]
    fn per_task_volumes_multiply_every_line() {
        let ebs = EbsConfig {
            volume_type: VolumeType::Gp3,
            iops: Some(4_000),
            throughput_mibps: None,
        };
        let mut scenario = scenario("us-east-1", 10.0, ebs);
        scenario.replicas = 3;
        scenario.layout = crate::cost::scenario::Layout::PerTask;
        let bill = bill(&scenario);
        assert_eq!(bill.title, "EBS gp3, 3 × 10 GiB volumes");
        assert_eq!(bill.lines[0].quantity, 30.0);
        assert_eq!(bill.lines[1].quantity, 3_000.0);
    }

    /// 3 tasks sharing 50 GiB, 10 GB written a month, us-east-1: 3 × 50 GiB × $0.08 = $12.00,
    /// 10 GB × 2 other copies × 2 directions × $0.01 = $0.40, a 50 GiB snapshot × $0.05 = $2.50.
    #[test]
    fn shared_data_on_ebs_is_one_copy_per_node_kept_in_step() {
        let mut scenario = scenario("us-east-1", 50.0, EbsConfig::default());
        scenario.replicas = 3;
        scenario.efs.write_gb = 10.0;
        let bill = bill(&scenario);
        assert_eq!(bill.title, "EBS gp3, 3 × 50 GiB volumes, one copy per node");
        let lines: Vec<_> = bill
            .lines
            .iter()
            .map(|line| (line.item.as_str(), line.quantity, line.cost))
            .collect();
        assert_eq!(lines[0].0, "Storage");
        assert!((lines[0].2 - 12.0).abs() < 1e-9);
        assert_eq!(lines[1].0, "Writes copied to other AZs (out + in)");
        assert!((lines[1].1 - 40.0).abs() < 1e-9 && (lines[1].2 - 0.40).abs() < 1e-9);
        assert_eq!(lines[2].0, "Snapshot of the data");
        assert!((lines[2].2 - 2.50).abs() < 1e-9);
        assert!((bill.total - 14.90).abs() < 1e-9);
    }

    fn limit_error(
        gib: f64,
        volume_type: VolumeType,
        iops: Option<u32>,
        mibps: Option<u32>,
    ) -> String {
        let ebs = EbsConfig {
            volume_type,
            iops,
            throughput_mibps: mibps,
        };
        check_volume_limits(&scenario("us-east-1", gib, ebs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn impossible_volumes_are_refused_with_the_limit() {
        let io2 = limit_error(10.0, VolumeType::Io2, Some(256_000), None);
        assert!(io2.contains("at most 1000 IOPS per GiB"), "{io2}");
        assert!(io2.contains("at least 256 GiB"), "{io2}");
        let st1 = limit_error(20.0 * 1024.0, VolumeType::St1, None, None);
        assert!(st1.contains("st1 volumes hold at most 16384 GiB"), "{st1}");
        assert!(st1.contains("or pick gp3 or io2"), "{st1}");
        let too_big = limit_error(100_000.0, VolumeType::Gp3, None, None);
        assert!(
            too_big.contains("gp3 volumes hold at most 65536 GiB"),
            "{too_big}"
        );
        assert!(
            !too_big.contains("pick gp3"),
            "no larger type to offer: {too_big}"
        );
        let gp3 = limit_error(10.0, VolumeType::Gp3, None, Some(2_000));
        assert!(gp3.contains("0.25 MiB/s per IOPS"), "{gp3}");
        assert!(gp3.contains("--iops 8000"), "{gp3}");
        let gp3 = limit_error(10.0, VolumeType::Gp3, Some(8_000), Some(2_000));
        assert!(gp3.contains("at most 500 IOPS per GiB"), "{gp3}");
        assert!(gp3.contains("at least 16 GiB"), "{gp3}");
        let io1 = limit_error(100.0, VolumeType::Io1, Some(6_000), None);
        assert!(io1.contains("at most 50 IOPS per GiB"), "{io1}");
    }

    #[test]
    fn volumes_within_the_limits_pass() {
        let ebs = EbsConfig {
            volume_type: VolumeType::Gp3,
            iops: Some(8_000),
            throughput_mibps: Some(2_000),
        };
        check_volume_limits(&scenario("us-east-1", 16.0, ebs.clone())).unwrap();
        assert_eq!(valid_volume_gib(&ebs), (16, 65_536));
        let baseline = EbsConfig::default();
        check_volume_limits(&scenario("us-east-1", 1.0, baseline.clone())).unwrap();
        assert_eq!(valid_volume_gib(&baseline), (1, 65_536));
    }
}
