//! Reader for AWS Price List bulk offer files (JSON), the `AmazonEFS` and `AmazonEC2` offers,
//! whole or region-specific (`.../offers/v1.0/aws/<OfferCode>/current/<region>/index.json`).
//!
//! A product is matched to a [`Dimension`] by its usage type with the region prefix removed
//! (`EU-TimedStorage-ByteHrs` → `TimedStorage-ByteHrs`; us-east-1 often has no prefix) and, for
//! data access, its `accessType`. Products the estimator does not use are skipped.
//!
//! A file cannot pass off other prices as these: the offer code, each used product's service
//! code and family and each used price's unit must be the ones AWS publishes for that usage
//! type, prices must be finite and not negative, and two SKUs pricing the same dimension in the
//! same region must agree. Local Zone, Outposts and Wavelength products are not the region's.
//!
//! The file is streamed: products are read one at a time and only those used are kept, then
//! only their terms are read, so memory does not grow with the file (the all-region AmazonEC2
//! file is several GB). AWS lists `products` before `terms`; a file that does not is refused.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::error::CostError;
use super::price::{Dimension, Price};

/// A price found in an offer file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OfferPrice {
    pub region: String,
    pub dimension: Dimension,
    pub price: Price,
}

/// The offers that carry prices the estimator uses.
const OFFER_CODES: [&str; 2] = ["AmazonEFS", "AmazonEC2"];

/// The only location type whose prices are the region's own.
const REGION_LOCATION_TYPE: &str = "AWS Region";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    #[serde(default)]
    product_family: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
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

/// A product whose price the estimator uses, kept until its terms are read.
struct UsedProduct {
    region: String,
    dimension: Dimension,
}

/// What the streaming visit collects. A problem that is not JSON syntax is kept here as a
/// typed error, and the visit is stopped with a placeholder serde error.
struct Reading<'p> {
    path: &'p Path,
    offer_code: Option<String>,
    publication_date: Option<String>,
    products: Option<HashMap<String, UsedProduct>>,
    prices: Vec<(String, OfferPrice)>,
    problem: Option<CostError>,
}

/// What an offer file holds that the estimator uses.
#[cfg_attr(
    not(feature = "aws"),
    expect(
        dead_code,
        reason = "code and date are read by --update-prices (aws feature)"
    )
)]
pub(crate) struct Offer {
    /// e.g. "AmazonEFS".
    pub code: String,
    /// The offer's `publicationDate`, when it has one.
    pub publication_date: Option<String>,
    pub prices: Vec<OfferPrice>,
}

pub(crate) fn read_offer_file(path: &Path) -> Result<Vec<OfferPrice>, CostError> {
    let file = File::open(path).map_err(|source| CostError::OfferFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(read_offer(BufReader::new(file), path)?.prices)
}

/// Reads an offer from any reader (a file, or a download as it arrives). `origin` names it in
/// prices and errors: a path, or the URL it came from.
pub(crate) fn read_offer(reader: impl Read, origin: &Path) -> Result<Offer, CostError> {
    let reading = RefCell::new(Reading {
        path: origin,
        offer_code: None,
        publication_date: None,
        products: None,
        prices: Vec::new(),
        problem: None,
    });
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let parsed = OfferSeed(&reading)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    let reading = reading.into_inner();
    if let Some(problem) = reading.problem {
        return Err(problem);
    }
    parsed.map_err(|source| CostError::OfferFileFormat {
        path: origin.to_path_buf(),
        source,
    })?;
    let prices = without_duplicates(origin, reading.prices)?;
    if prices.is_empty() {
        return Err(CostError::OfferFileEmpty {
            path: origin.to_path_buf(),
        });
    }
    Ok(Offer {
        code: reading.offer_code.unwrap_or_default(),
        publication_date: reading.publication_date,
        prices,
    })
}

/// One price per region and dimension: SKUs that agree collapse, SKUs that differ are refused.
fn without_duplicates(
    path: &Path,
    prices: Vec<(String, OfferPrice)>,
) -> Result<Vec<OfferPrice>, CostError> {
    let mut kept: BTreeMap<(String, Dimension), (String, OfferPrice)> = BTreeMap::new();
    for (sku, found) in prices {
        let key = (found.region.clone(), found.dimension);
        match kept.get(&key) {
            Some((first_sku, first)) if first.price.usd != found.price.usd => {
                return Err(CostError::DuplicateSku {
                    path: path.to_path_buf(),
                    region: found.region,
                    dimension: found.dimension,
                    skus: format!(
                        "{first_sku} (${}) and {sku} (${})",
                        first.price.usd, found.price.usd
                    ),
                });
            }
            Some(_) => {}
            None => {
                kept.insert(key, (sku, found));
            }
        }
    }
    Ok(kept.into_values().map(|(_, found)| found).collect())
}

impl Reading<'_> {
    /// Keeps `problem` and returns the error that stops the visit.
    fn stop<E: serde::de::Error>(&mut self, problem: CostError) -> E {
        let message = problem.to_string();
        self.problem = Some(problem);
        E::custom(message)
    }

    fn source(&self) -> String {
        format!(
            "offer file {} ({}, published {})",
            self.path.display(),
            self.offer_code.as_deref().unwrap_or("unknown offer"),
            self.publication_date.as_deref().unwrap_or("undated"),
        )
    }

    fn check_offer_code(&self) -> Result<(), CostError> {
        match self.offer_code.as_deref() {
            Some(code) if OFFER_CODES.contains(&code) => Ok(()),
            found => Err(CostError::OfferWrongService {
                path: self.path.to_path_buf(),
                found: found.unwrap_or("unnamed").to_string(),
            }),
        }
    }

    /// The product, if the estimator uses its price, after checking it is what it claims.
    fn used_product(&self, sku: &str, product: &Product) -> Result<Option<UsedProduct>, CostError> {
        let attributes = &product.attributes;
        let Some(usage_type) = attributes.get("usagetype") else {
            return Ok(None);
        };
        let Some(dimension) = dimension_of(attributes) else {
            return Ok(None);
        };
        let location_type = attributes.get("locationType").map(String::as_str);
        if location_type.is_some_and(|kind| kind != REGION_LOCATION_TYPE) {
            return Ok(None);
        }
        let Some(region) = region_of(attributes) else {
            return Ok(None);
        };
        let expected_service = dimension.offer_code();
        let service = attributes.get("servicecode").map_or("", String::as_str);
        let checks = [
            (
                "offerCode",
                self.offer_code.as_deref().unwrap_or(""),
                expected_service,
            ),
            ("servicecode", service, expected_service),
            (
                "productFamily",
                &product.product_family,
                product_family(dimension),
            ),
        ];
        for (field, found, expected) in checks {
            if found != expected {
                return Err(self.mismatch(sku, usage_type, field, found, expected));
            }
        }
        Ok(Some(UsedProduct { region, dimension }))
    }

    fn mismatch(
        &self,
        sku: &str,
        usage_type: &str,
        field: &'static str,
        found: &str,
        expected: &str,
    ) -> CostError {
        CostError::OfferProductMismatch {
            path: self.path.to_path_buf(),
            sku: sku.to_string(),
            mismatch: format!("usage type {usage_type} but {field} {found:?}, not {expected:?}"),
        }
    }

    /// Prices a used product from its OnDemand terms.
    fn priced(
        &self,
        sku: &str,
        terms: &BTreeMap<String, Term>,
    ) -> Result<Option<OfferPrice>, CostError> {
        let Some(product) = self
            .products
            .as_ref()
            .and_then(|products| products.get(sku))
        else {
            return Ok(None);
        };
        let Some((rate, date)) = first_tier(terms) else {
            return Ok(None);
        };
        let Some(text) = rate.price_per_unit.get("USD") else {
            return Ok(None);
        };
        let expected_units = units(product.dimension);
        if !expected_units
            .iter()
            .any(|unit| unit.eq_ignore_ascii_case(&rate.unit))
        {
            let usage = product.dimension.key();
            return Err(self.mismatch(sku, &usage, "unit", &rate.unit, expected_units[0]));
        }
        let usd = text
            .parse::<f64>()
            .ok()
            .filter(|usd| usd.is_finite() && *usd >= 0.0)
            .ok_or_else(|| CostError::OfferInvalidPrice {
                path: self.path.to_path_buf(),
                sku: sku.to_string(),
                usd: text.clone(),
            })?;
        // gp3 throughput is published per GiBps-month; the estimator bills per MiB/s-month.
        let usd = if rate.unit.starts_with("GiBps") {
            usd / 1024.0
        } else {
            usd
        };
        Ok(Some(OfferPrice {
            region: product.region.clone(),
            dimension: product.dimension,
            price: Price {
                usd,
                source: self.source(),
                date: date.unwrap_or_else(|| "undated".to_string()),
                detail: vec![format!("SKU {sku}")],
            },
        }))
    }
}

/// The first-tier rate of a product's OnDemand terms, and the term's date.
fn first_tier(terms: &BTreeMap<String, Term>) -> Option<(&RateDimension, Option<String>)> {
    terms.values().find_map(|term| {
        let rate = term
            .price_dimensions
            .values()
            .find(|rate| rate.begin_range.as_deref().is_none_or(|begin| begin == "0"))?;
        Some((rate, term.effective_date.clone()))
    })
}

/// The product family AWS files each dimension's product under (pricing.md §3.3).
fn product_family(dimension: Dimension) -> &'static str {
    use Dimension::*;
    match dimension {
        EfsProvisionedThroughput | Gp3Throughput => "Provisioned Throughput",
        Gp3Iops | Io1Iops | Io2IopsTier1 | Io2IopsTier2 | Io2IopsTier3 => "System Operation",
        EbsSnapshot => "Storage Snapshot",
        TransferInterAz => "Data Transfer",
        // AWS Backup prices live in the AWSBackup offer, which this reader does not take.
        _ => "Storage",
    }
}

/// The units AWS publishes each dimension's price in; the first is the usual spelling.
fn units(dimension: Dimension) -> &'static [&'static str] {
    use Dimension::*;
    match dimension {
        EfsElasticRead | EfsElasticWrite | EfsIaTiering | EfsArchiveTiering | EfsIaRead
        | EfsArchiveRead | TransferInterAz => &["GB"],
        EfsProvisionedThroughput => &["MiBps-Mo"],
        Gp3Throughput => &["GiBps-mo"],
        Gp3Iops | Io1Iops | Io2IopsTier1 | Io2IopsTier2 | Io2IopsTier3 => &["IOPS-Mo"],
        // io2 storage is published per "GB-month", the other volumes per "GB-Mo".
        _ => &["GB-Mo", "GB-month"],
    }
}

/// The whole file: a map whose `products` and `terms` are visited entry by entry.
struct OfferSeed<'r, 'p>(&'r RefCell<Reading<'p>>);

impl<'de> DeserializeSeed<'de> for OfferSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OfferSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AWS Price List offer file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "offerCode" => self.0.borrow_mut().offer_code = Some(map.next_value()?),
                "publicationDate" => {
                    self.0.borrow_mut().publication_date = Some(map.next_value()?);
                }
                "products" => {
                    let mut reading = self.0.borrow_mut();
                    if let Err(problem) = reading.check_offer_code() {
                        return Err(reading.stop(problem));
                    }
                    drop(reading);
                    let products = map.next_value_seed(ProductsSeed(self.0))?;
                    self.0.borrow_mut().products = Some(products);
                }
                "terms" => {
                    let mut reading = self.0.borrow_mut();
                    if reading.products.is_none() {
                        let problem = CostError::OfferTermsFirst {
                            path: reading.path.to_path_buf(),
                        };
                        return Err(reading.stop(problem));
                    }
                    drop(reading);
                    map.next_value_seed(TermsSeed(self.0))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `products`: each product read, checked, and kept only if its price is used.
struct ProductsSeed<'r, 'p>(&'r RefCell<Reading<'p>>);

impl<'de> DeserializeSeed<'de> for ProductsSeed<'_, '_> {
    type Value = HashMap<String, UsedProduct>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProductsSeed<'_, '_> {
    type Value = HashMap<String, UsedProduct>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of products by SKU")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut used = HashMap::new();
        while let Some(sku) = map.next_key::<String>()? {
            let product: Product = map.next_value()?;
            let checked = self.0.borrow().used_product(&sku, &product);
            match checked {
                Ok(Some(found)) => {
                    used.insert(sku, found);
                }
                Ok(None) => {}
                Err(problem) => return Err(self.0.borrow_mut().stop(problem)),
            }
        }
        Ok(used)
    }
}

/// `terms`: only `OnDemand`, and in it only the SKUs of used products.
struct TermsSeed<'r, 'p>(&'r RefCell<Reading<'p>>);

impl<'de> DeserializeSeed<'de> for TermsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TermsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the terms of an offer file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(kind) = map.next_key::<String>()? {
            if kind == "OnDemand" {
                map.next_value_seed(OnDemandSeed(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct OnDemandSeed<'r, 'p>(&'r RefCell<Reading<'p>>);

impl<'de> DeserializeSeed<'de> for OnDemandSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OnDemandSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("OnDemand terms by SKU")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(sku) = map.next_key::<String>()? {
            let used = self
                .0
                .borrow()
                .products
                .as_ref()
                .is_some_and(|products| products.contains_key(&sku));
            if !used {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let terms: BTreeMap<String, Term> = map.next_value()?;
            let priced = self.0.borrow().priced(&sku, &terms);
            match priced {
                Ok(Some(found)) => self.0.borrow_mut().prices.push((sku, found)),
                Ok(None) => {}
                Err(problem) => return Err(self.0.borrow_mut().stop(problem)),
            }
        }
        Ok(())
    }
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
        ("IADataAccess-Bytes", Some("Read")) => EfsIaRead,
        ("ArchiveDataAccess-Bytes", Some("Read")) => EfsArchiveRead,
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
        ("EBS:SnapshotUsage", _) => EbsSnapshot,
        ("DataTransfer-Regional-Bytes", _) => TransferInterAz,
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
pub(crate) mod tests {
    use super::*;

    /// A us-east-1 AmazonEC2 offer file with one product: gp3 storage at `usd` per GB-month.
    pub(crate) fn gp3_at(usd: f64) -> String {
        offer_of(
            "AmazonEC2",
            &[product(
                "GP3",
                "Storage",
                r#""servicecode": "AmazonEC2", "usagetype": "EBS:VolumeUsage.gp3", "regionCode": "us-east-1""#,
                "GB-Mo",
                &format!("{usd:.10}"),
            )],
        )
    }

    fn read(json: &str) -> Result<Vec<OfferPrice>, CostError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offer.json");
        std::fs::write(&path, json).unwrap();
        read_offer_file(&path)
    }

    fn product(
        sku: &str,
        family: &str,
        attributes: &str,
        unit: &str,
        usd: &str,
    ) -> (String, String) {
        let product = format!(
            r#""{sku}": {{"sku": "{sku}", "productFamily": "{family}", "attributes": {{{attributes}}}}}"#
        );
        let term = format!(
            r#""{sku}": {{"{sku}.JRTCKXETXF": {{"effectiveDate": "2026-03-01T00:00:00Z",
                "priceDimensions": {{"{sku}.JRTCKXETXF.6YS6EN2CT7": {{"unit": "{unit}",
                "beginRange": "0", "endRange": "Inf", "pricePerUnit": {{"USD": "{usd}"}}}}}}}}}}"#
        );
        (product, term)
    }

    /// An EFS product in us-east-1 (or the region given in `extra` attributes).
    fn efs(sku: &str, usage_type: &str, extra: &str, unit: &str, usd: &str) -> (String, String) {
        let attributes =
            format!(r#""servicecode": "AmazonEFS", "usagetype": "{usage_type}"{extra}"#);
        let family = if usage_type.contains("TP-") {
            "Provisioned Throughput"
        } else {
            "Storage"
        };
        product(sku, family, &attributes, unit, usd)
    }

    fn offer_of(code: &str, entries: &[(String, String)]) -> String {
        let products: Vec<_> = entries.iter().map(|(p, _)| p.as_str()).collect();
        let terms: Vec<_> = entries.iter().map(|(_, t)| t.as_str()).collect();
        format!(
            r#"{{"offerCode": "{code}", "publicationDate": "2026-10-01T00:00:00Z",
                "products": {{{}}}, "terms": {{"OnDemand": {{{}}}}}}}"#,
            products.join(","),
            terms.join(",")
        )
    }

    fn offer(entries: &[(String, String)]) -> String {
        offer_of("AmazonEFS", entries)
    }

    const USE1: &str = r#", "regionCode": "us-east-1""#;

    #[test]
    fn usage_types_map_with_or_without_region_prefix() {
        let json = offer(&[
            efs(
                "A",
                "EU-TimedStorage-ByteHrs",
                r#", "regionCode": "eu-west-1""#,
                "GB-Mo",
                "0.3300000000",
            ),
            efs(
                "B",
                "ETDataAccess-Bytes",
                r#", "accessType": "Write", "location": "US East (N. Virginia)""#,
                "GB",
                "0.0600000000",
            ),
            efs("C", "IncludedTP-MiBpsHrs", USE1, "MiBps-Mo", "0.0000000000"),
        ]);
        let prices = read(&json).unwrap();
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
        let json = offer_of(
            "AmazonEC2",
            &[product(
                "T",
                "Provisioned Throughput",
                r#""servicecode": "AmazonEC2", "usagetype": "EBS:VolumeP-Throughput.gp3", "regionCode": "us-east-1""#,
                "GiBps-mo",
                "40.9600000000",
            )],
        );
        let prices = read(&json).unwrap();
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
        let error = read(&offer(&[])).unwrap_err().to_string();
        assert!(error.contains("holds no EFS or EBS price"), "{error}");
        let error = read("{not json").unwrap_err().to_string();
        assert!(
            error.contains("not an AWS Price List JSON offer file"),
            "{error}"
        );
    }

    /// S3's storage SKUs have the same usage type as EFS Standard.
    #[test]
    fn another_service_cannot_pass_for_efs() {
        let s3_product = product(
            "S3",
            "Storage",
            r#""servicecode": "AmazonS3", "usagetype": "TimedStorage-ByteHrs", "regionCode": "us-east-1""#,
            "GB-Mo",
            "0.0230000000",
        );
        let error = read(&offer_of("AmazonS3", std::slice::from_ref(&s3_product)))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is the AmazonS3 offer, not AmazonEFS or AmazonEC2"),
            "{error}"
        );
        let error = read(&offer(&[s3_product])).unwrap_err().to_string();
        assert!(
            error.contains(
                "SKU S3 has usage type TimedStorage-ByteHrs but servicecode \"AmazonS3\""
            ),
            "{error}"
        );
    }

    #[test]
    fn family_and_unit_must_be_the_ones_aws_publishes() {
        let wrong_family = product(
            "F",
            "Compute Instance",
            r#""servicecode": "AmazonEFS", "usagetype": "TimedStorage-ByteHrs", "regionCode": "us-east-1""#,
            "GB-Mo",
            "0.30",
        );
        let error = read(&offer(&[wrong_family])).unwrap_err().to_string();
        assert!(
            error.contains("productFamily \"Compute Instance\", not \"Storage\""),
            "{error}"
        );
        let wrong_unit = efs("U", "TimedStorage-ByteHrs", USE1, "Hrs", "0.30");
        let error = read(&offer(&[wrong_unit])).unwrap_err().to_string();
        assert!(error.contains("unit \"Hrs\", not \"GB-Mo\""), "{error}");
        let ebs_in_efs_offer = efs("E", "EBS:VolumeUsage.gp3", USE1, "GB-Mo", "0.08");
        let error = read(&offer(&[ebs_in_efs_offer])).unwrap_err().to_string();
        assert!(
            error.contains("offerCode \"AmazonEFS\", not \"AmazonEC2\""),
            "{error}"
        );
    }

    #[test]
    fn negative_or_non_numeric_prices_are_refused() {
        for usd in ["-0.30", "NaN", "free"] {
            let json = offer(&[efs("N", "TimedStorage-ByteHrs", USE1, "GB-Mo", usd)]);
            let error = read(&json).unwrap_err().to_string();
            assert!(
                error.contains(&format!("SKU N has price \"{usd}\" USD")),
                "{error}"
            );
        }
    }

    #[test]
    fn two_skus_for_one_price_must_agree() {
        let json = offer(&[
            efs("FIRST", "TimedStorage-ByteHrs", USE1, "GB-Mo", "0.30"),
            efs("SECOND", "USE1-TimedStorage-ByteHrs", USE1, "GB-Mo", "0.33"),
        ]);
        let error = read(&json).unwrap_err().to_string();
        assert!(
            error.contains(
                "SKUs FIRST ($0.3) and SECOND ($0.33) both price efs.standard in us-east-1"
            ),
            "{error}"
        );
        let agreeing = offer(&[
            efs("FIRST", "TimedStorage-ByteHrs", USE1, "GB-Mo", "0.30"),
            efs(
                "SECOND",
                "USE1-TimedStorage-ByteHrs",
                USE1,
                "GB-Mo",
                "0.3000000000",
            ),
        ]);
        assert_eq!(read(&agreeing).unwrap().len(), 1);
    }

    #[test]
    fn local_zones_and_outposts_are_not_the_region() {
        let json = offer(&[
            efs(
                "REGION",
                "TimedStorage-ByteHrs",
                r#", "regionCode": "us-east-1", "locationType": "AWS Region""#,
                "GB-Mo",
                "0.30",
            ),
            efs(
                "LZ",
                "TimedStorage-ByteHrs",
                r#", "regionCode": "us-east-1", "locationType": "AWS Local Zone""#,
                "GB-Mo",
                "0.36",
            ),
            efs(
                "OUTPOST",
                "TimedStorage-ByteHrs",
                r#", "regionCode": "us-east-1", "locationType": "AWS Outposts""#,
                "GB-Mo",
                "0.50",
            ),
        ]);
        let prices = read(&json).unwrap();
        assert_eq!(prices.len(), 1);
        assert_eq!(prices[0].price.usd, 0.30);
    }

    #[test]
    fn terms_before_products_are_refused() {
        let json = r#"{"offerCode": "AmazonEFS", "terms": {"OnDemand": {}}, "products": {}}"#;
        let error = read(json).unwrap_err().to_string();
        assert!(
            error.contains("lists its terms before its products"),
            "{error}"
        );
    }
}
