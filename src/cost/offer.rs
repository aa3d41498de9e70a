//! Reader for AWS Price List bulk offer files (JSON), the `AmazonEFS` and `AmazonEC2` offers,
//! whole or region-specific (`.../offers/v1.0/aws/<OfferCode>/current/<region>/index.json`).
//!
//! A product is matched to a [`Dimension`] by its usage type with the region prefix removed
//! (`EU-TimedStorage-ByteHrs` → `TimedStorage-ByteHrs`; us-east-1 often has no prefix) and, for
//! data access, its `accessType`. Products the estimator does not use are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::CostError;
use super::price::{Dimension, Price};

/// A price found in an offer file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OfferPrice {
    pub region: String,
    pub dimension: Dimension,
    pub price: Price,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferFile {
    offer_code: Option<String>,
    publication_date: Option<String>,
    products: BTreeMap<String, Product>,
    terms: Terms,
}

#[derive(Deserialize)]
struct Product {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: BTreeMap<String, BTreeMap<String, Term>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Term {
    effective_date: Option<String>,
    price_dimensions: BTreeMap<String, RateDimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateDimension {
    unit: String,
    price_per_unit: BTreeMap<String, String>,
    #[serde(alias = "startingRange")]
    begin_range: Option<String>,
}

pub(crate) fn read_offer_file(path: &Path) -> Result<Vec<OfferPrice>, CostError> {
    let text = std::fs::read_to_string(path).map_err(|source| CostError::OfferFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let offer: OfferFile =
        serde_json::from_str(&text).map_err(|source| CostError::OfferFileFormat {
            path: path.to_path_buf(),
            source,
        })?;
    let prices = prices_in(&offer, path);
    if prices.is_empty() {
        return Err(CostError::OfferFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(prices)
}

fn prices_in(offer: &OfferFile, path: &Path) -> Vec<OfferPrice> {
    let source = format!(
        "offer file {} ({}, published {})",
        path.display(),
        offer.offer_code.as_deref().unwrap_or("unknown offer"),
        offer.publication_date.as_deref().unwrap_or("undated"),
    );
    offer
        .products
        .iter()
        .filter_map(|(sku, product)| {
            let dimension = dimension_of(&product.attributes)?;
            let region = region_of(&product.attributes)?;
            let (usd, date) = on_demand_price(offer.terms.on_demand.get(sku)?)?;
            let price = Price {
                usd,
                source: source.clone(),
                date: date.unwrap_or_else(|| "undated".to_string()),
                detail: vec![format!("SKU {sku}")],
            };
            Some(OfferPrice {
                region,
                dimension,
                price,
            })
        })
        .collect()
}

/// The first-tier USD price of a product, converted to the estimator's unit, and its date.
fn on_demand_price(terms: &BTreeMap<String, Term>) -> Option<(f64, Option<String>)> {
    terms.values().find_map(|term| {
        let rate = term
            .price_dimensions
            .values()
            .find(|rate| rate.begin_range.as_deref().is_none_or(|begin| begin == "0"))?;
        let usd: f64 = rate.price_per_unit.get("USD")?.parse().ok()?;
        // gp3 throughput is published per GiBps-month; the estimator bills per MiB/s-month.
        let usd = if rate.unit.starts_with("GiBps") {
            usd / 1024.0
        } else {
            usd
        };
        Some((usd, term.effective_date.clone()))
    })
}

fn dimension_of(attributes: &BTreeMap<String, String>) -> Option<Dimension> {
    use Dimension::*;
    let usage_type = without_region_prefix(attributes.get("usagetype")?);
    let access = attributes.get("accessType").map(String::as_str);
    let dimension = match (usage_type, access) {
        ("TimedStorage-ByteHrs", _) => EfsStandard,
        ("TimedStorage-Z-ByteHrs", _) => EfsOneZone,
        ("IATimedStorage-ByteHrs", _) => EfsIaLegacy,
        ("IATimedStorage-ET-ByteHrs", _) => EfsIaElastic,
        ("IATimedStorage-Z-ByteHrs", _) => EfsOneZoneIa,
        ("ArchiveTimedStorage-ByteHrs", _) => EfsArchive,
        ("ETDataAccess-Bytes", Some("Read")) => EfsElasticRead,
        ("ETDataAccess-Bytes", Some("Write")) => EfsElasticWrite,
        // Data moved into IA or Archive is billed as a write to that class.
        ("IADataAccess-Bytes", Some("Write")) => EfsIaTiering,
        ("ArchiveDataAccess-Bytes", Some("Write")) => EfsArchiveTiering,
        ("ProvisionedTP-MiBpsHrs", _) => EfsProvisionedThroughput,
        ("EBS:VolumeUsage.gp3", _) => Gp3Storage,
        ("EBS:VolumeP-IOPS.gp3", _) => Gp3Iops,
        ("EBS:VolumeP-Throughput.gp3", _) => Gp3Throughput,
        ("EBS:VolumeUsage.gp2", _) => Gp2Storage,
        ("EBS:VolumeUsage.piops", _) => Io1Storage,
        ("EBS:VolumeP-IOPS.piops", _) => Io1Iops,
        ("EBS:VolumeUsage.io2", _) => Io2Storage,
        ("EBS:VolumeP-IOPS.io2", _) => Io2IopsTier1,
        ("EBS:VolumeP-IOPS.io2.tier2", _) => Io2IopsTier2,
        ("EBS:VolumeP-IOPS.io2.tier3", _) => Io2IopsTier3,
        ("EBS:VolumeUsage.st1", _) => St1Storage,
        ("EBS:VolumeUsage.sc1", _) => Sc1Storage,
        _ => return None,
    };
    Some(dimension)
}

/// `EU-TimedStorage-ByteHrs` → `TimedStorage-ByteHrs`; the prefix is an all-caps region code.
fn without_region_prefix(usage_type: &str) -> &str {
    match usage_type.split_once('-') {
        Some((prefix, rest))
            if prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
        {
            rest
        }
        _ => usage_type,
    }
}

/// Older offer files name the region only by its location.
const LOCATIONS: [(&str, &str); 6] = [
    ("US East (N. Virginia)", "us-east-1"),
    ("US West (Oregon)", "us-west-2"),
    ("EU (Ireland)", "eu-west-1"),
    ("EU (Frankfurt)", "eu-central-1"),
    ("Asia Pacific (Singapore)", "ap-southeast-1"),
    ("Asia Pacific (Tokyo)", "ap-northeast-1"),
];

fn region_of(attributes: &BTreeMap<String, String>) -> Option<String> {
    if let Some(code) = attributes.get("regionCode") {
        return Some(code.clone());
    }
    let location = attributes.get("location")?;
    LOCATIONS
        .iter()
        .find(|(name, _)| name == location)
        .map(|(_, code)| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Vec<OfferPrice> {
        let offer: OfferFile = serde_json::from_str(json).unwrap();
        prices_in(&offer, Path::new("test.json"))
    }

    fn product(sku: &str, attributes: &str, unit: &str, usd: &str) -> (String, String) {
        let product = format!(r#""{sku}": {{"sku": "{sku}", "attributes": {{{attributes}}}}}"#);
        let term = format!(
            r#""{sku}": {{"{sku}.JRTCKXETXF": {{"effectiveDate": "2026-03-01T00:00:00Z",
                "priceDimensions": {{"{sku}.JRTCKXETXF.6YS6EN2CT7": {{"unit": "{unit}",
                "beginRange": "0", "endRange": "Inf", "pricePerUnit": {{"USD": "{usd}"}}}}}}}}}}"#
        );
        (product, term)
    }

    fn offer(entries: &[(String, String)]) -> String {
        let products: Vec<_> = entries.iter().map(|(p, _)| p.as_str()).collect();
        let terms: Vec<_> = entries.iter().map(|(_, t)| t.as_str()).collect();
        format!(
            r#"{{"offerCode": "AmazonEFS", "publicationDate": "2026-10-01T00:00:00Z",
                "products": {{{}}}, "terms": {{"OnDemand": {{{}}}}}}}"#,
            products.join(","),
            terms.join(",")
        )
    }

    #[test]
    fn usage_types_map_with_or_without_region_prefix() {
        let json = offer(&[
            product(
                "A",
                r#""usagetype": "EU-TimedStorage-ByteHrs", "regionCode": "eu-west-1""#,
                "GB-Mo",
                "0.3300000000",
            ),
            product(
                "B",
                r#""usagetype": "ETDataAccess-Bytes", "accessType": "Write", "location": "US East (N. Virginia)""#,
                "GB",
                "0.0600000000",
            ),
            product(
                "C",
                r#""usagetype": "IncludedTP-MiBpsHrs", "regionCode": "us-east-1""#,
                "MiBps-Mo",
                "0.0000000000",
            ),
        ]);
        let prices = parse(&json);
        assert_eq!(
            prices.len(),
            2,
            "the $0 included-throughput SKU is not a price we use"
        );
        assert_eq!(prices[0].region, "eu-west-1");
        assert_eq!(prices[0].dimension, Dimension::EfsStandard);
        assert_eq!(prices[0].price.usd, 0.33);
        assert_eq!(prices[0].price.date, "2026-03-01T00:00:00Z");
        assert_eq!(prices[1].region, "us-east-1");
        assert_eq!(prices[1].dimension, Dimension::EfsElasticWrite);
    }

    #[test]
    fn gp3_throughput_is_converted_from_gibps_to_mibps() {
        let json = offer(&[product(
            "T",
            r#""usagetype": "EBS:VolumeP-Throughput.gp3", "regionCode": "us-east-1""#,
            "GiBps-mo",
            "40.9600000000",
        )]);
        let prices = parse(&json);
        assert_eq!(prices[0].dimension, Dimension::Gp3Throughput);
        assert!((prices[0].price.usd - 0.04).abs() < 1e-12);
    }

    #[test]
    fn region_prefix_is_only_stripped_when_it_is_a_code() {
        assert_eq!(
            without_region_prefix("USE1-TimedStorage-ByteHrs"),
            "TimedStorage-ByteHrs"
        );
        assert_eq!(
            without_region_prefix("TimedStorage-ByteHrs"),
            "TimedStorage-ByteHrs"
        );
        assert_eq!(
            without_region_prefix("EBS:VolumeP-IOPS.gp3"),
            "EBS:VolumeP-IOPS.gp3"
        );
        assert_eq!(
            without_region_prefix("EUC1-EBS:VolumeUsage.gp3"),
            "EBS:VolumeUsage.gp3"
        );
    }

    #[test]
    fn a_file_without_usable_prices_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.json");
        std::fs::write(&path, offer(&[])).unwrap();
        let error = read_offer_file(&path).unwrap_err().to_string();
        assert!(error.contains("holds no EFS or EBS price"), "{error}");

        std::fs::write(&path, "{not json").unwrap();
        let error = read_offer_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("not an AWS Price List JSON offer file"),
            "{error}"
        );
    }
}
