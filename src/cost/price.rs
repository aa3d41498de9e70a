use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cache;
use super::error::CostError;
use super::offer;

/// The bundled table: list prices per region with a source and a date for every figure.
const BUNDLED_PRICES: &str = include_str!("prices.toml");

/// One billed dimension: what AWS charges for, independent of region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dimension {
    #[serde(rename = "efs.standard")]
    EfsStandard,
    #[serde(rename = "efs.ia_elastic")]
    EfsIaElastic,
    #[serde(rename = "efs.ia_legacy")]
    EfsIaLegacy,
    #[serde(rename = "efs.archive")]
    EfsArchive,
    #[serde(rename = "efs.one_zone")]
    EfsOneZone,
    #[serde(rename = "efs.one_zone_ia")]
    EfsOneZoneIa,
    #[serde(rename = "efs.elastic_read")]
    EfsElasticRead,
    #[serde(rename = "efs.elastic_write")]
    EfsElasticWrite,
    #[serde(rename = "efs.ia_tiering")]
    EfsIaTiering,
    #[serde(rename = "efs.archive_tiering")]
    EfsArchiveTiering,
    #[serde(rename = "efs.provisioned_throughput")]
    EfsProvisionedThroughput,
    #[serde(rename = "efs.ia_read")]
    EfsIaRead,
    #[serde(rename = "efs.archive_read")]
    EfsArchiveRead,
    #[serde(rename = "efs.backup_warm")]
    EfsBackupWarm,
    #[serde(rename = "ebs.gp3.storage")]
    Gp3Storage,
    #[serde(rename = "ebs.gp3.iops")]
    Gp3Iops,
    #[serde(rename = "ebs.gp3.throughput")]
    Gp3Throughput,
    #[serde(rename = "ebs.gp2.storage")]
    Gp2Storage,
    #[serde(rename = "ebs.io1.storage")]
    Io1Storage,
    #[serde(rename = "ebs.io1.iops")]
    Io1Iops,
    #[serde(rename = "ebs.io2.storage")]
    Io2Storage,
    #[serde(rename = "ebs.io2.iops_tier1")]
    Io2IopsTier1,
    #[serde(rename = "ebs.io2.iops_tier2")]
    Io2IopsTier2,
    #[serde(rename = "ebs.io2.iops_tier3")]
    Io2IopsTier3,
    #[serde(rename = "ebs.st1.storage")]
    St1Storage,
    #[serde(rename = "ebs.sc1.storage")]
    Sc1Storage,
    #[serde(rename = "ebs.snapshot")]
    EbsSnapshot,
    #[serde(rename = "ec2.transfer_inter_az")]
    TransferInterAz,
}

impl Dimension {
    /// The key used in `prices.toml` and in JSON output. The serde names above are the one
    /// place each key is spelled, so it is read back from them.
    pub fn key(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// What the dimension bills, in words.
    pub fn describe(self) -> &'static str {
        use Dimension::*;
        match self {
            EfsStandard => "EFS Standard storage",
            EfsIaElastic => "EFS Infrequent Access storage (Elastic throughput)",
            EfsIaLegacy => "EFS Infrequent Access storage (Bursting/Provisioned)",
            EfsArchive => "EFS Archive storage",
            EfsOneZone => "EFS One Zone storage",
            EfsOneZoneIa => "EFS One Zone-IA storage",
            EfsElasticRead => "EFS Elastic throughput reads",
            EfsElasticWrite => "EFS Elastic throughput writes",
            EfsIaTiering => "EFS IA tiering (data moved into IA)",
            EfsArchiveTiering => "EFS Archive tiering (data moved into Archive)",
            EfsProvisionedThroughput => "EFS provisioned throughput",
            EfsIaRead => "EFS reads from Infrequent Access (on top of the read price)",
            EfsArchiveRead => "EFS reads from Archive (on top of the read price)",
            EfsBackupWarm => "AWS Backup warm storage for EFS",
            Gp3Storage => "EBS gp3 storage",
            Gp3Iops => "EBS gp3 IOPS above 3,000",
            Gp3Throughput => "EBS gp3 throughput above 125 MiB/s",
            Gp2Storage => "EBS gp2 storage",
            Io1Storage => "EBS io1 storage",
            Io1Iops => "EBS io1 provisioned IOPS",
            Io2Storage => "EBS io2 storage",
            Io2IopsTier1 => "EBS io2 IOPS up to 32,000",
            Io2IopsTier2 => "EBS io2 IOPS 32,001 to 64,000",
            Io2IopsTier3 => "EBS io2 IOPS above 64,000",
            St1Storage => "EBS st1 storage",
            Sc1Storage => "EBS sc1 storage",
            EbsSnapshot => "EBS snapshot storage (standard tier)",
            TransferInterAz => "EC2 data transfer between Availability Zones (each direction)",
        }
    }

    /// The unit one price applies to.
    pub fn unit(self) -> &'static str {
        use Dimension::*;
        match self {
            EfsElasticRead | EfsElasticWrite | EfsIaTiering | EfsArchiveTiering | EfsIaRead
            | EfsArchiveRead | TransferInterAz => "GB",
            EfsProvisionedThroughput | Gp3Throughput => "MiBps-mo",
            Gp3Iops | Io1Iops | Io2IopsTier1 | Io2IopsTier2 | Io2IopsTier3 => "IOPS-mo",
            _ => "GiB-mo",
        }
    }

    /// The AWS Price List offer that carries this dimension (EBS lives in AmazonEC2).
    pub fn offer_code(self) -> &'static str {
        if self == Dimension::EfsBackupWarm {
            "AWSBackup"
        } else if self.key().starts_with("efs.") {
            "AmazonEFS"
        } else {
            "AmazonEC2"
        }
    }
}

/// A list price and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// USD per [`Dimension::unit`].
    pub usd: f64,
    /// A short citation, e.g. "S8 (confidence A)" or "offer file PATH".
    pub source: String,
    /// The date of the source ("undated" when it shows none).
    pub date: String,
    /// The full titles of the sources cited.
    pub detail: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundledTable {
    sources: BTreeMap<String, String>,
    regions: BTreeMap<String, BTreeMap<Dimension, BundledPrice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundledPrice {
    usd: f64,
    source: String,
    date: String,
    confidence: String,
}

/// Prices by region and dimension: the bundled table, overridden by any offer files read.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    regions: BTreeMap<String, BTreeMap<Dimension, Price>>,
}

impl PriceBook {
    /// The table bundled with cloudstor (`src/cost/prices.toml`).
    pub fn bundled() -> Result<Self, CostError> {
        let table: BundledTable = toml::from_str(BUNDLED_PRICES)?;
        let mut book = Self::default();
        for (region, prices) in table.regions {
            for (dimension, entry) in prices {
                let price = Price {
                    usd: entry.usd,
                    source: format!("{} (confidence {})", entry.source, entry.confidence),
                    date: entry.date,
                    detail: cited_sources(&entry.source, &table.sources),
                };
                book.insert(&region, dimension, price);
            }
        }
        Ok(book)
    }

    /// Reads an AWS Price List bulk offer file (AmazonEFS or AmazonEC2, JSON) and lets its
    /// prices replace the bundled ones. Returns how many prices it supplied.
    pub fn add_offer_file(&mut self, path: &Path) -> Result<usize, CostError> {
        let prices = offer::read_offer_file(path)?;
        let count = prices.len();
        for found in prices {
            self.insert(&found.region, found.dimension, found.price);
        }
        Ok(count)
    }

    /// Lets the prices `--update-prices` cached for `region` replace the bundled ones. Returns
    /// what the cache holds, or `None` when nothing is cached for the region.
    pub fn add_cached(
        &mut self,
        cache_dir: &Path,
        region: &str,
    ) -> Result<Option<cache::CachedPrices>, CostError> {
        let Some(cached) = cache::read(cache_dir, region)? else {
            return Ok(None);
        };
        for (dimension, price) in &cached.prices {
            self.insert(region, *dimension, price.clone());
        }
        Ok(Some(cached))
    }

    /// The prices of one region; an error when nothing at all is known for it.
    pub fn region<'a>(&'a self, region: &'a str) -> Result<RegionPrices<'a>, CostError> {
        let prices = self
            .regions
            .get(region)
            .ok_or_else(|| CostError::UnknownRegion {
                region: region.to_string(),
                known: self.regions.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        Ok(RegionPrices { region, prices })
    }

    fn insert(&mut self, region: &str, dimension: Dimension, price: Price) {
        self.regions
            .entry(region.to_string())
            .or_default()
            .insert(dimension, price);
    }
}

/// Expands "S3, S4" into the full titles of the sources cited.
fn cited_sources(cited: &str, sources: &BTreeMap<String, String>) -> Vec<String> {
    sources
        .iter()
        .filter(|(key, _)| cited.split([',', ' ']).any(|word| word == key.as_str()))
        .map(|(key, title)| format!("{key} = {title}"))
        .collect()
}

/// The prices known for one region.
#[derive(Debug, Clone, Copy)]
pub struct RegionPrices<'a> {
    region: &'a str,
    prices: &'a BTreeMap<Dimension, Price>,
}

impl<'a> RegionPrices<'a> {
    /// The price of one dimension, or an error naming it and how to supply it.
    pub fn get(&self, dimension: Dimension) -> Result<&'a Price, CostError> {
        self.prices
            .get(&dimension)
            .ok_or_else(|| CostError::MissingPrice {
                region: self.region.to_string(),
                dimension,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET_REGIONS: [&str; 5] = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
    ];

    #[test]
    fn bundled_table_covers_the_target_regions_for_ebs_and_efs_standard() {
        let book = PriceBook::bundled().unwrap();
        for region in TARGET_REGIONS {
            let prices = book.region(region).unwrap();
            for dimension in [
                Dimension::EfsStandard,
                Dimension::Gp3Storage,
                Dimension::Gp3Iops,
                Dimension::Gp3Throughput,
                Dimension::Gp2Storage,
                Dimension::Io2IopsTier3,
                Dimension::Sc1Storage,
            ] {
                assert!(prices.get(dimension).is_ok(), "{region} {dimension:?}");
            }
        }
    }

    #[test]
    fn every_bundled_figure_cites_a_known_source_and_a_date() {
        let table: BundledTable = toml::from_str(BUNDLED_PRICES).unwrap();
        for (region, prices) in &table.regions {
            for (dimension, entry) in prices {
                let expanded = cited_sources(&entry.source, &table.sources);
                assert!(
                    !expanded.is_empty(),
                    "{region} {dimension:?} cites no known source"
                );
                assert!(!entry.date.is_empty());
                assert!(["A", "B", "C"].contains(&entry.confidence.as_str()));
                assert!(entry.usd > 0.0);
            }
        }
    }

    #[test]
    fn unconfirmed_prices_are_missing_not_guessed() {
        let book = PriceBook::bundled().unwrap();
        let error = book
            .region("ap-south-2")
            .unwrap()
            .get(Dimension::EfsOneZone)
            .unwrap_err()
            .to_string();
        assert!(error.contains("EFS One Zone storage"), "{error}");
        assert!(error.contains("--offer-file"), "{error}");
        assert!(
            error.contains("AmazonEFS/current/ap-south-2/index.json"),
            "{error}"
        );
    }

    #[test]
    fn unknown_region_lists_the_known_ones() {
        let book = PriceBook::bundled().unwrap();
        let error = book.region("mars-north-1").unwrap_err().to_string();
        assert!(error.contains("\"mars-north-1\""), "{error}");
        assert!(error.contains("eu-central-1"), "{error}");
        assert!(error.contains("--offer-file"), "{error}");
    }

    /// S8 names regions by location; every public commercial region in it is bundled for EBS.
    #[test]
    fn every_commercial_region_in_the_ebs_source_has_ebs_prices() {
        let book = PriceBook::bundled().unwrap();
        assert_eq!(book.regions.len(), 29);
        for region in book.regions.keys() {
            let prices = book.region(region).unwrap();
            for dimension in [
                Dimension::Gp3Storage,
                Dimension::Gp3Iops,
                Dimension::Gp3Throughput,
                Dimension::Gp2Storage,
                Dimension::St1Storage,
                Dimension::Sc1Storage,
                Dimension::EbsSnapshot,
            ] {
                assert!(prices.get(dimension).is_ok(), "{region} {dimension:?}");
            }
        }
        // Stockholm: $42.8032 per GiBps-month in S8 is $0.0418 per MiB/s-month.
        let stockholm = book.region("eu-north-1").unwrap();
        assert!((stockholm.get(Dimension::Gp3Throughput).unwrap().usd - 0.0418).abs() < 1e-12);
        // S8 has no io2 rows for São Paulo: left out, not guessed.
        let sao_paulo = book.region("sa-east-1").unwrap();
        assert!(sao_paulo.get(Dimension::Io2Storage).is_err());
    }

    /// S22 names regions by location too; every bundled region has its Regional EFS classes,
    /// Elastic traffic and provisioned throughput from it.
    #[test]
    fn every_bundled_region_has_efs_prices_from_the_efs_source() {
        let book = PriceBook::bundled().unwrap();
        for region in book.regions.keys() {
            let prices = book.region(region).unwrap();
            for dimension in [
                Dimension::EfsStandard,
                Dimension::EfsIaElastic,
                Dimension::EfsIaLegacy,
                Dimension::EfsArchive,
                Dimension::EfsElasticRead,
                Dimension::EfsElasticWrite,
                Dimension::EfsIaTiering,
                Dimension::EfsArchiveTiering,
                Dimension::EfsProvisionedThroughput,
                Dimension::EfsIaRead,
                Dimension::EfsArchiveRead,
            ] {
                let price = prices.get(dimension);
                assert!(price.is_ok(), "{region} {dimension:?}");
                assert!(
                    price.unwrap().source.contains("S22"),
                    "{region} {dimension:?}"
                );
            }
        }
        // S22 for London, IA (Elastic) $0.02 and One Zone $0.176; no One Zone in Zurich.
        let london = book.region("eu-west-2").unwrap();
        assert!((london.get(Dimension::EfsIaElastic).unwrap().usd - 0.02).abs() < 1e-12);
        assert!((london.get(Dimension::EfsOneZone).unwrap().usd - 0.176).abs() < 1e-12);
        let zurich = book.region("eu-central-2").unwrap();
        assert!(zurich.get(Dimension::EfsOneZone).is_err());
    }

    #[test]
    fn dimension_keys_match_the_table() {
        assert_eq!(Dimension::Gp3Iops.key(), "ebs.gp3.iops");
        assert_eq!(Dimension::EfsStandard.offer_code(), "AmazonEFS");
        assert_eq!(Dimension::Io2IopsTier2.offer_code(), "AmazonEC2");
    }
}
