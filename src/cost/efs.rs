//! The EFS bill: storage per class, Elastic data access, tiering, provisioned throughput.

use crate::spec::ThroughputMode;

use super::error::CostError;
use super::price::{Dimension, RegionPrices};
use super::scenario::{EfsConfig, Scenario};
use super::size::trim_number;
use super::{Bill, LineItem};

/// Throughput Standard storage earns, in MiB/s per GiB: AWS's "50 KiB/s per GiB", applied as
/// AWS's own worked example does (100 GB → 5 MB/s baseline, so 100 MB/s provisioned bills 95).
const BASELINE_MIBPS_PER_GIB: f64 = 0.05;
/// Every file system gets at least this much metered throughput (AWS, 2020-06-30).
const MIN_BASELINE_MIBPS: f64 = 1.0;
/// With credits, Bursting reaches 100 MiB/s per TiB of Standard, and at least 100 MiB/s.
const BURST_MIBPS_PER_TIB: f64 = 100.0;
/// IA and Archive bill every file as at least 128 KiB (EFS billing page, §1.1).
const MIN_BILLED_FILE_KIB: f64 = 128.0;

/// How the mode reads in titles and errors.
pub(crate) fn describe_mode(mode: ThroughputMode) -> &'static str {
    match mode {
        ThroughputMode::Elastic => "Elastic throughput",
        ThroughputMode::Bursting => "Bursting throughput",
        ThroughputMode::Provisioned => "Provisioned throughput",
    }
}

/// Stored GiB by storage class.
struct StorageSplit {
    standard: f64,
    infrequent: f64,
    archive: f64,
}

impl StorageSplit {
    fn of(stored_gib: f64, efs: &EfsConfig) -> Self {
        let standard = stored_gib * efs.standard_share.fraction();
        let archive = stored_gib * efs.archive_share.fraction();
        Self {
            standard,
            archive,
            infrequent: (stored_gib - standard - archive).max(0.0),
        }
    }
}

/// The monthly EFS bill: one file system holding every copy of the data.
pub(crate) fn efs_bill(scenario: &Scenario, prices: &RegionPrices<'_>) -> Result<Bill, CostError> {
    let efs = &scenario.efs;
    let stored_gib = scenario.size.gib() * f64::from(scenario.copies());
    let split = StorageSplit::of(stored_gib, efs);
    let candidates = [
        storage_lines(efs, &split).to_vec(),
        small_file_lines(efs, &split),
        access_lines(efs),
        throughput_line(efs, split.standard),
        backup_line(efs, stored_gib),
    ];
    let lines = candidates
        .into_iter()
        .flatten()
        .filter(|(_, _, quantity)| *quantity > 0.0)
        .map(|(item, dimension, quantity)| LineItem::priced(item, dimension, quantity, prices))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Bill::new(title(efs), lines))
}

type Candidate = (&'static str, Dimension, f64);

fn storage_lines(efs: &EfsConfig, split: &StorageSplit) -> [Candidate; 3] {
    let (standard, infrequent) = match (efs.one_zone, efs.throughput_mode) {
        (true, _) => (Dimension::EfsOneZone, Dimension::EfsOneZoneIa),
        (false, ThroughputMode::Elastic) => (Dimension::EfsStandard, Dimension::EfsIaElastic),
        (false, _) => (Dimension::EfsStandard, Dimension::EfsIaLegacy),
    };
    [
        ("Standard storage", standard, split.standard),
        ("IA storage", infrequent, split.infrequent),
        ("Archive storage", Dimension::EfsArchive, split.archive),
    ]
}

/// Files smaller than 128 KiB are billed as 128 KiB in IA and Archive: with an average file
/// size `a` below that, each GiB there bills `128 / a` GiB; the surplus is its own line.
fn small_file_lines(efs: &EfsConfig, split: &StorageSplit) -> Vec<Candidate> {
    let Some(kib) = efs.avg_file_kib.filter(|kib| *kib < MIN_BILLED_FILE_KIB) else {
        return Vec::new();
    };
    let surplus = MIN_BILLED_FILE_KIB / kib - 1.0;
    let [_, infrequent, archive] = storage_lines(efs, split);
    vec![
        (
            "IA small files (128 KiB minimum)",
            infrequent.1,
            split.infrequent * surplus,
        ),
        (
            "Archive small files (128 KiB minimum)",
            archive.1,
            split.archive * surplus,
        ),
    ]
}

/// Elastic bills every GB moved; in every mode, data moved into IA or Archive is billed, and
/// data reaching Archive was moved into IA first, so it pays both steps. Reads from IA and
/// Archive pay a surcharge per GB on top of the read. Assumption (stated in the output): data
/// written each month ages in the same proportions as the stored data.
fn access_lines(efs: &EfsConfig) -> Vec<Candidate> {
    let archive = efs.archive_share.fraction();
    let infrequent = (1.0 - efs.standard_share.fraction() - archive).max(0.0);
    let mut lines = Vec::new();
    if efs.throughput_mode == ThroughputMode::Elastic {
        lines.push(("Elastic reads", Dimension::EfsElasticRead, efs.read_gb));
        lines.push(("Elastic writes", Dimension::EfsElasticWrite, efs.write_gb));
    }
    lines.push(("Reads from IA", Dimension::EfsIaRead, efs.ia_read_gb));
    lines.push((
        "Reads from Archive",
        Dimension::EfsArchiveRead,
        efs.archive_read_gb,
    ));
    lines.push((
        "Tiering into IA",
        Dimension::EfsIaTiering,
        efs.write_gb * (infrequent + archive),
    ));
    lines.push((
        "Tiering into Archive",
        Dimension::EfsArchiveTiering,
        efs.write_gb * archive,
    ));
    lines
}

/// Provisioned throughput is billed only above the baseline that Standard storage earns.
fn throughput_line(efs: &EfsConfig, standard_gib: f64) -> Vec<Candidate> {
    match (efs.throughput_mode, efs.provisioned_mibps) {
        (ThroughputMode::Provisioned, Some(provisioned)) => {
            let billed = (provisioned - standard_gib * BASELINE_MIBPS_PER_GIB).max(0.0);
            vec![(
                "Provisioned throughput",
                Dimension::EfsProvisionedThroughput,
                billed,
            )]
        }
        _ => Vec::new(),
    }
}

/// AWS Backup keeps a full copy of the stored data in warm storage (later backups add only
/// what changed, which is not modelled).
fn backup_line(efs: &EfsConfig, stored_gib: f64) -> Vec<Candidate> {
    if efs.backup {
        vec![(
            "Backup (AWS Backup, warm)",
            Dimension::EfsBackupWarm,
            stored_gib,
        )]
    } else {
        Vec::new()
    }
}

fn title(efs: &EfsConfig) -> String {
    let placement = if efs.one_zone { "One Zone" } else { "Regional" };
    let mode = describe_mode(efs.throughput_mode);
    match efs.provisioned_mibps {
        Some(mibps) => format!("EFS {placement}, {mode} {} MiB/s", trim_number(mibps)),
        None => format!("EFS {placement}, {mode}"),
    }
}

/// What differs beyond price, and the assumptions behind the EFS figures.
pub(crate) fn efs_notes(scenario: &Scenario) -> Vec<String> {
    let efs = &scenario.efs;
    let stored_gib = scenario.size.gib() * f64::from(scenario.copies());
    let standard_gib = StorageSplit::of(stored_gib, efs).standard;
    let mut notes = vec![
        placement_note(scenario),
        "billed on the bytes actually stored (metered), not on a provisioned size".to_string(),
    ];
    notes.push(throughput_note(efs, standard_gib));
    if efs.throughput_mode != ThroughputMode::Bursting {
        notes.push(bursting_note("Bursting instead", standard_gib));
    }
    if efs.standard_share.fraction() < 1.0 {
        notes.push(
            "assumed: data written each month moves into IA/Archive in the shares given, data \
             bound for Archive through IA (both tiering charges); reads are from Standard unless \
             given with --ia-read-gb/--archive-read-gb; IA and Archive bill at least 128 KiB per \
             file (priced with --avg-file-size), Archive at least 90 days"
                .to_string(),
        );
    }
    notes
}

fn placement_note(scenario: &Scenario) -> String {
    let tasks = match scenario.replicas {
        1 => "the task finds its data".to_string(),
        n => format!("all {n} tasks find their data"),
    };
    if scenario.efs.one_zone {
        format!(
            "One Zone: stored in a single Availability Zone (less durable); {tasks} on any node, \
             from other AZs with cross-AZ data charges"
        )
    } else {
        format!(
            "Regional: mount targets in every Availability Zone, so {tasks} on any node in any \
             AZ, at the same time"
        )
    }
}

fn throughput_note(efs: &EfsConfig, standard_gib: f64) -> String {
    let earned = standard_gib * BASELINE_MIBPS_PER_GIB;
    match (efs.throughput_mode, efs.provisioned_mibps) {
        (ThroughputMode::Elastic, _) if efs.read_gb == 0.0 && efs.write_gb == 0.0 => {
            "Elastic throughput bills every GB read and written on top of storage; none given \
             (add --read-gb and --write-gb for the monthly traffic)"
                .to_string()
        }
        (ThroughputMode::Elastic, _) => {
            "Elastic throughput: scales on demand, every GB read and written is billed".to_string()
        }
        (ThroughputMode::Provisioned, Some(provisioned)) if earned >= provisioned => format!(
            "Standard storage earns {} MiB/s, more than the {} MiB/s provisioned: no throughput \
             is billed and the file system runs at its Bursting rate",
            trim_number(earned),
            trim_number(provisioned)
        ),
        (ThroughputMode::Provisioned, Some(provisioned)) => format!(
            "Provisioned {} MiB/s; Standard storage earns {} MiB/s (5 MiB/s per 100 GiB, as \
             AWS counts it), so {} MiB/s is billed; reads and writes are free",
            trim_number(provisioned),
            trim_number(earned),
            trim_number(provisioned - earned)
        ),
        _ => bursting_note("Bursting", standard_gib),
    }
}

/// What Bursting gives at this size: the free alternative to Elastic and Provisioned.
fn bursting_note(label: &str, standard_gib: f64) -> String {
    let baseline = (standard_gib * BASELINE_MIBPS_PER_GIB).max(MIN_BASELINE_MIBPS);
    let burst = (standard_gib / 1024.0 * BURST_MIBPS_PER_TIB).max(BURST_MIBPS_PER_TIB);
    // AWS's example: 100 GiB earns 5 MiB/s × 86,400 s of credit a day = 72 min at 100 MiB/s.
    let burst_time = if standard_gib >= 1024.0 {
        "half of the time".to_string()
    } else {
        format!("about {:.0} min a day", baseline * 86_400.0 / burst / 60.0)
    };
    format!(
        "{label}: baseline {} MiB/s for this size (5 MiB/s per 100 GiB of Standard, at least 1 \
         MiB/s; reads count one third), bursts to {} MiB/s for {burst_time} on credits; reads \
         and writes are free",
        trim_number(baseline),
        trim_number(burst)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::price::PriceBook;
    use crate::cost::size::Share;

    fn scenario(gib: f64, efs: EfsConfig) -> Scenario {
        Scenario {
            efs,
            ..Scenario::for_test("us-east-1", gib)
        }
    }

    fn bill(scenario: &Scenario) -> Bill {
        let book = PriceBook::bundled().unwrap();
        efs_bill(scenario, &book.region(&scenario.region).unwrap()).unwrap()
    }

    fn line<'a>(bill: &'a Bill, item: &str) -> &'a LineItem {
        bill.lines.iter().find(|line| line.item == item).unwrap()
    }

    /// AWS EFS FAQ: 100 GB Standard earns 5 MB/s; 100 MB/s provisioned bills 95 MB/s-month
    /// at $6.00 = $570.
    #[test]
    fn provisioned_throughput_matches_the_aws_faq_example() {
        let efs = EfsConfig {
            throughput_mode: ThroughputMode::Provisioned,
            provisioned_mibps: Some(100.0),
            ..EfsConfig::default()
        };
        let bill = bill(&scenario(100.0, efs));
        let throughput = line(&bill, "Provisioned throughput");
        assert!((throughput.quantity - 95.0).abs() < 1e-9);
        assert_eq!(throughput.unit_price, 6.0);
        assert!((throughput.cost - 570.0).abs() < 1e-9);
        assert!((line(&bill, "Standard storage").cost - 30.0).abs() < 1e-9);
        assert!((bill.total - 600.0).abs() < 1e-9);
    }

    #[test]
    fn provisioned_below_the_earned_baseline_bills_no_throughput() {
        let efs = EfsConfig {
            throughput_mode: ThroughputMode::Provisioned,
            provisioned_mibps: Some(10.0),
            ..EfsConfig::default()
        };
        let scenario = scenario(1024.0, efs);
        let bill = bill(&scenario);
        assert!(
            bill.lines
                .iter()
                .all(|line| line.item != "Provisioned throughput")
        );
        let notes = efs_notes(&scenario);
        assert!(notes[2].contains("no throughput is billed"), "{notes:?}");
        assert!(
            notes[3].starts_with("Bursting instead: baseline 51.2 MiB/s"),
            "{notes:?}"
        );
    }

    #[test]
    fn elastic_bills_reads_writes_and_ia_at_its_elastic_price() {
        let efs = EfsConfig {
            standard_share: Share::from_fraction(0.5).unwrap(),
            read_gb: 100.0,
            write_gb: 10.0,
            ..EfsConfig::default()
        };
        let bill = bill(&scenario(100.0, efs));
        assert_eq!(line(&bill, "IA storage").unit_price, 0.016);
        assert!((line(&bill, "Elastic reads").cost - 3.0).abs() < 1e-9);
        assert!((line(&bill, "Elastic writes").cost - 0.6).abs() < 1e-9);
        // Half of the 10 GB written ages into IA at $0.01/GB.
        assert!((line(&bill, "Tiering into IA").cost - 0.05).abs() < 1e-9);
        assert!((bill.total - (15.0 + 0.8 + 3.0 + 0.6 + 0.05)).abs() < 1e-9);
    }

    #[test]
    fn bursting_uses_the_legacy_ia_price_and_bills_no_io() {
        let efs = EfsConfig {
            throughput_mode: ThroughputMode::Bursting,
            standard_share: Share::from_fraction(0.5).unwrap(),
            read_gb: 100.0,
            ..EfsConfig::default()
        };
        let scenario = scenario(100.0, efs);
        let bill = bill(&scenario);
        assert_eq!(line(&bill, "IA storage").unit_price, 0.025);
        assert!(bill.lines.iter().all(|line| line.item != "Elastic reads"));
        // 50 GiB of Standard earns 2.5 MiB/s: 216,000 MiB of credit a day = 36 min at 100 MiB/s.
        let note = &efs_notes(&scenario)[2];
        assert!(note.contains("baseline 2.5 MiB/s"), "{note}");
        assert!(note.contains("about 36 min a day"), "{note}");
    }

    #[test]
    fn one_zone_and_archive_use_their_own_classes() {
        let one_zone = EfsConfig {
            one_zone: true,
            ..EfsConfig::default()
        };
        assert_eq!(
            line(&bill(&scenario(100.0, one_zone)), "Standard storage").unit_price,
            0.16
        );
        let archive = EfsConfig {
            standard_share: Share::from_fraction(0.2).unwrap(),
            archive_share: Share::from_fraction(0.8).unwrap(),
            ..EfsConfig::default()
        };
        let bill = bill(&scenario(1000.0, archive));
        assert!((line(&bill, "Archive storage").cost - 6.4).abs() < 1e-9);
        assert!(bill.lines.iter().all(|line| line.item != "IA storage"));
    }

    /// us-east-1: 10 GB written a month, 20% ending in IA and 50% in Archive: 7 GB move into
    /// IA ($0.07, Archive's share on its way too) and 5 GB on into Archive ($0.15); 4 GB read
    /// from IA ($0.04) and 2 GB from Archive ($0.06) on top of the reads.
    #[test]
    fn ia_and_archive_bill_reads_and_both_tiering_steps() {
        let efs = EfsConfig {
            standard_share: Share::from_fraction(0.3).unwrap(),
            archive_share: Share::from_fraction(0.5).unwrap(),
            read_gb: 10.0,
            write_gb: 10.0,
            ia_read_gb: 4.0,
            archive_read_gb: 2.0,
            ..EfsConfig::default()
        };
        let bill = bill(&scenario(100.0, efs));
        assert!((line(&bill, "Tiering into IA").cost - 0.07).abs() < 1e-9);
        assert!((line(&bill, "Tiering into Archive").cost - 0.15).abs() < 1e-9);
        assert!((line(&bill, "Reads from IA").cost - 0.04).abs() < 1e-9);
        assert!((line(&bill, "Reads from Archive").cost - 0.06).abs() < 1e-9);
    }

    /// 32 KiB files bill as 128 KiB in IA: 50 GiB of them bill 200 GiB, so 150 GiB extra at
    /// the IA price ($0.016): $2.40. Backup keeps a warm copy of all 100 GiB at $0.05: $5.00.
    #[test]
    fn small_files_and_backups_are_billed() {
        let efs = EfsConfig {
            standard_share: Share::from_fraction(0.5).unwrap(),
            avg_file_kib: Some(32.0),
            backup: true,
            ..EfsConfig::default()
        };
        let bill = bill(&scenario(100.0, efs));
        let small = line(&bill, "IA small files (128 KiB minimum)");
        assert!((small.quantity - 150.0).abs() < 1e-9);
        assert!((small.cost - 2.40).abs() < 1e-9);
        assert!((line(&bill, "Backup (AWS Backup, warm)").cost - 5.0).abs() < 1e-9);
    }

    #[test]
    fn an_unknown_price_that_is_needed_is_an_error() {
        let efs = EfsConfig {
            one_zone: true,
            ..EfsConfig::default()
        };
        let mut scenario = scenario(100.0, efs);
        scenario.region = "ap-south-2".to_string();
        let book = PriceBook::bundled().unwrap();
        let error = efs_bill(&scenario, &book.region("ap-south-2").unwrap()).unwrap_err();
        assert!(matches!(
            error,
            CostError::MissingPrice {
                dimension: Dimension::EfsOneZone,
                ..
            }
        ));
    }
}
