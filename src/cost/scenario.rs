use serde::Serialize;

use super::ebs::{VolumeType, check_volume_limits};
use crate::spec::ThroughputMode;

use super::efs::describe_mode;
use super::error::CostError;
use super::size::{Share, Size};

/// Everything an estimate depends on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub region: String,
    /// Data per volume (per task with [`Layout::PerTask`], in total with [`Layout::Shared`]).
    #[serde(rename = "size_gib")]
    pub size: Size,
    /// Swarm tasks (replicas) that use the volume.
    pub replicas: u32,
    pub layout: Layout,
    pub efs: EfsConfig,
    pub ebs: EbsConfig,
}

/// How replicas use storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// All tasks read and write the same data: one EFS file system, or with EBS one volume
    /// per task holding a copy, kept in step across AZs.
    Shared,
    /// One volume per task: N EBS volumes, or one EFS file system holding N directories.
    PerTask,
}

/// The EFS file system's settings that change the bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EfsConfig {
    pub throughput_mode: ThroughputMode,
    pub provisioned_mibps: Option<f64>,
    /// One Zone storage classes instead of Regional (multi-AZ) ones.
    pub one_zone: bool,
    /// Share of the data in Standard; the rest is in Infrequent Access unless in Archive.
    pub standard_share: Share,
    pub archive_share: Share,
    /// GB read per month (all tasks together).
    pub read_gb: f64,
    /// GB written per month (all tasks together).
    pub write_gb: f64,
    /// Of `read_gb`, GB read from Infrequent Access per month (billed on top of the read).
    pub ia_read_gb: f64,
    /// Of `read_gb`, GB read from Archive per month (billed on top of the read).
    pub archive_read_gb: f64,
    /// Average file size in KiB; below 128 KiB, IA and Archive bill each file as 128 KiB.
    pub avg_file_kib: Option<f64>,
    /// AWS Backup of the file system (`backup = true` in the spec).
    pub backup: bool,
}

impl Default for EfsConfig {
    fn default() -> Self {
        Self {
            throughput_mode: ThroughputMode::Elastic,
            provisioned_mibps: None,
            one_zone: false,
            standard_share: Share::ALL,
            archive_share: Share::NONE,
            read_gb: 0.0,
            write_gb: 0.0,
            ia_read_gb: 0.0,
            archive_read_gb: 0.0,
            avg_file_kib: None,
            backup: false,
        }
    }
}

/// The EBS volume's settings that change the bill.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EbsConfig {
    pub volume_type: VolumeType,
    /// Provisioned IOPS (gp3: total including the free 3,000; io1/io2: required).
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3 only, total including the free 125).
    pub throughput_mibps: Option<u32>,
}

impl Scenario {
    /// Checks the combinations AWS would reject or that cannot be priced, before any estimate.
    pub fn validate(&self) -> Result<(), CostError> {
        if self.replicas == 0 {
            return Err(CostError::NoReplicas);
        }
        self.efs.validate()?;
        self.ebs.validate()?;
        check_volume_limits(self)
    }

    /// How many EBS volumes hold the data: one per task, whether each has its own data or all
    /// share it (then each volume holds a copy, on a node that may run the task).
    pub fn ebs_volumes(&self) -> u32 {
        self.replicas
    }

    /// True when several tasks share data that EBS can only hold as one copy per node.
    pub fn ebs_replicated(&self) -> bool {
        self.layout == Layout::Shared && self.replicas > 1
    }

    /// How many copies of `size` EFS stores: one per task, or one shared copy.
    pub fn copies(&self) -> u32 {
        match self.layout {
            Layout::Shared => 1,
            Layout::PerTask => self.replicas,
        }
    }

    /// 1 task, shared, default EFS and EBS settings: the base of the unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(region: &str, gib: f64) -> Self {
        Self {
            region: region.to_string(),
            size: Size::from_gib(gib),
            replicas: 1,
            layout: Layout::Shared,
            efs: EfsConfig::default(),
            ebs: EbsConfig::default(),
        }
    }

    /// The same scenario with another size per volume (for crossovers and plots).
    pub fn with_size(&self, size: Size) -> Self {
        Self {
            size,
            ..self.clone()
        }
    }
}

impl EfsConfig {
    fn validate(&self) -> Result<(), CostError> {
        let (standard, archive) = (self.standard_share, self.archive_share);
        if standard.fraction() + archive.fraction() > 1.0 + 1e-9 {
            return Err(CostError::SharesExceedWhole {
                standard: standard.percent(),
                archive: archive.percent(),
            });
        }
        if archive.fraction() > 0.0 {
            if self.one_zone {
                return Err(CostError::ArchiveNotAvailable {
                    context: "One Zone",
                });
            }
            if self.throughput_mode != ThroughputMode::Elastic {
                return Err(CostError::ArchiveNotAvailable {
                    context: describe_mode(self.throughput_mode),
                });
            }
        }
        let transfers = [
            self.read_gb,
            self.write_gb,
            self.ia_read_gb,
            self.archive_read_gb,
        ];
        for transfer in transfers {
            // Rejects NaN and infinity too: neither is an amount of data.
            if !transfer.is_finite() || transfer < 0.0 {
                return Err(CostError::InvalidTransfer(transfer));
            }
        }
        if let Some(kib) = self
            .avg_file_kib
            .filter(|kib| !kib.is_finite() || *kib <= 0.0)
        {
            return Err(CostError::InvalidFileSize(kib));
        }
        self.validate_provisioned()
    }

    fn validate_provisioned(&self) -> Result<(), CostError> {
        match (self.throughput_mode, self.provisioned_mibps) {
            (ThroughputMode::Provisioned, None) => Err(CostError::ProvisionedThroughputMissing),
            (ThroughputMode::Provisioned, Some(mibps)) if !(1.0..=3414.0).contains(&mibps) => {
                Err(CostError::ProvisionedThroughputOutOfRange(mibps))
            }
            (ThroughputMode::Provisioned, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(CostError::ProvisionedThroughputUnused),
        }
    }
}

impl EbsConfig {
    fn validate(&self) -> Result<(), CostError> {
        let volume_type = self.volume_type;
        if matches!(volume_type, VolumeType::Io1 | VolumeType::Io2) && self.iops.is_none() {
            return Err(CostError::IopsRequired(volume_type.name()));
        }
        check_range(
            volume_type,
            "IOPS",
            "iops",
            volume_type.iops_range(),
            self.iops,
        )?;
        check_range(
            volume_type,
            "MiB/s",
            "ebs-throughput",
            volume_type.throughput_mibps_range(),
            self.throughput_mibps,
        )
    }
}

/// A setting the volume type does not have, or a value outside what AWS accepts for it.
fn check_range(
    volume_type: VolumeType,
    what: &'static str,
    flag: &'static str,
    range: Option<(u32, u32)>,
    given: Option<u32>,
) -> Result<(), CostError> {
    match (range, given) {
        (_, None) => Ok(()),
        (None, Some(_)) => Err(CostError::NotAdjustable {
            volume_type: volume_type.name(),
            flag,
        }),
        (Some((min, max)), Some(given)) if given < min || given > max => {
            Err(CostError::OutOfRange {
                volume_type: volume_type.name(),
                what,
                flag,
                min,
                max,
                given,
            })
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario::for_test("us-east-1", 100.0)
    }

    #[test]
    fn the_defaults_are_valid() {
        scenario().validate().unwrap();
    }

    #[test]
    fn archive_needs_regional_elastic() {
        let mut s = scenario();
        s.efs.archive_share = Share::from_fraction(0.5).unwrap();
        s.efs.standard_share = Share::from_fraction(0.5).unwrap();
        s.validate().unwrap();
        s.efs.throughput_mode = ThroughputMode::Bursting;
        assert!(s.validate().unwrap_err().to_string().contains("Bursting"));
        s.efs.throughput_mode = ThroughputMode::Elastic;
        s.efs.one_zone = true;
        assert!(s.validate().unwrap_err().to_string().contains("One Zone"));
    }

    #[test]
    fn traffic_must_be_a_finite_amount() {
        let mut s = scenario();
        s.efs.read_gb = f64::INFINITY;
        let error = s.validate().unwrap_err().to_string();
        assert!(
            error.contains("finite number of GB, zero or more, got inf"),
            "{error}"
        );
    }

    #[test]
    fn shares_cannot_exceed_the_whole() {
        let mut s = scenario();
        s.efs.archive_share = Share::from_fraction(0.1).unwrap();
        assert!(matches!(
            s.validate(),
            Err(CostError::SharesExceedWhole { .. })
        ));
    }

    #[test]
    fn provisioned_throughput_goes_with_provisioned_mode() {
        let mut s = scenario();
        s.efs.throughput_mode = ThroughputMode::Provisioned;
        assert!(matches!(
            s.validate(),
            Err(CostError::ProvisionedThroughputMissing)
        ));
        s.efs.provisioned_mibps = Some(5000.0);
        assert!(matches!(
            s.validate(),
            Err(CostError::ProvisionedThroughputOutOfRange(_))
        ));
        s.efs.provisioned_mibps = Some(100.0);
        s.validate().unwrap();
        s.efs.throughput_mode = ThroughputMode::Elastic;
        assert!(matches!(
            s.validate(),
            Err(CostError::ProvisionedThroughputUnused)
        ));
    }

    #[test]
    fn ebs_options_must_fit_the_volume_type() {
        let mut s = scenario();
        s.ebs.iops = Some(2000);
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("3000 to 80000 IOPS")
        );
        s.ebs.iops = Some(100_000);
        assert!(matches!(s.validate(), Err(CostError::OutOfRange { .. })));
        s.ebs.volume_type = VolumeType::Gp2;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("gp2 volumes have nothing to provision with --iops")
        );
        s.ebs = EbsConfig {
            volume_type: VolumeType::Io2,
            iops: None,
            throughput_mibps: None,
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("io2 volumes need --iops")
        );
        s.ebs.iops = Some(10_000);
        s.ebs.throughput_mibps = Some(500);
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("nothing to provision with --ebs-throughput")
        );
    }
}
