//! AWS Price List offer files (the bulk JSON format) feed the estimator through the library.

use std::path::PathBuf;

use cloudstor::cost::{CostError, Dimension, PriceBook};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/offers")
        .join(name)
}

/// Tokyo's EFS offer file replaces the bundled Tokyo EFS prices (S12) with its own, which
/// differ from us-east-1 by different ratios (storage ×1.2, Elastic reads ×1.33).
#[test]
fn an_efs_offer_file_replaces_a_regions_prices_and_cites_itself() {
    let mut book = PriceBook::bundled().unwrap();
    let bundled = book.region("ap-northeast-1").unwrap();
    assert!(
        bundled
            .get(Dimension::EfsStandard)
            .unwrap()
            .source
            .starts_with("S22, S12")
    );
    assert!(matches!(
        book.region("ap-southeast-5"),
        Err(CostError::UnknownRegion { .. })
    ));
    let supplied = book
        .add_offer_file(&fixture("AmazonEFS-ap-northeast-1.json"))
        .unwrap();
    assert_eq!(supplied, 4, "the $0 included-throughput SKU is skipped");
    let tokyo = book.region("ap-northeast-1").unwrap();
    let usd = |dimension| tokyo.get(dimension).unwrap().usd;
    assert_eq!(usd(Dimension::EfsStandard), 0.36);
    assert_eq!(usd(Dimension::EfsElasticRead), 0.04);
    assert_eq!(usd(Dimension::EfsElasticWrite), 0.07);
    assert_eq!(usd(Dimension::EfsProvisionedThroughput), 7.2);
    let standard = tokyo.get(Dimension::EfsStandard).unwrap();
    assert!(standard.source.contains("AmazonEFS-ap-northeast-1.json"));
    assert_eq!(standard.date, "2026-09-17T00:00:00Z");
}

#[test]
fn an_ec2_offer_file_supplies_ebs_prices_and_skips_compute() {
    let mut book = PriceBook::bundled().unwrap();
    let supplied = book
        .add_offer_file(&fixture("AmazonEC2-us-east-1-ebs.json"))
        .unwrap();
    assert_eq!(
        supplied, 7,
        "gp3 ×3 and io2 ×4; the m5.large instance is not a price we use"
    );
    let prices = book.region("us-east-1").unwrap();
    assert_eq!(prices.get(Dimension::Io2IopsTier3).unwrap().usd, 0.03185);
    assert!((prices.get(Dimension::Gp3Throughput).unwrap().usd - 0.04).abs() < 1e-12);
    // Bundled figures the file does not carry stay in place.
    assert!(
        prices
            .get(Dimension::EfsStandard)
            .unwrap()
            .source
            .starts_with("S22, S3")
    );
}

#[test]
fn a_missing_offer_file_is_a_clear_error() {
    let mut book = PriceBook::bundled().unwrap();
    let error = book
        .add_offer_file(&fixture("AmazonEFS-nowhere.json"))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("cannot read offer file"), "{error}");
    assert!(error.contains("AmazonEFS-nowhere.json"), "{error}");
}

/// An AmazonS3 offer file names S3 Standard storage `TimedStorage-ByteHrs`, like EFS Standard:
/// it must not become EFS's price ("EFS cheaper by 71%").
#[test]
fn an_s3_offer_file_is_refused() {
    let mut book = PriceBook::bundled().unwrap();
    let error = book
        .add_offer_file(&fixture("AmazonS3-us-east-1.json"))
        .unwrap_err();
    assert!(
        matches!(&error, CostError::OfferWrongService { found, .. } if found == "AmazonS3"),
        "{error}"
    );
    assert!(error.to_string().contains("not AmazonEFS or AmazonEC2"));
    let standard = book
        .region("us-east-1")
        .unwrap()
        .get(Dimension::EfsStandard)
        .unwrap();
    assert_eq!(standard.usd, 0.30, "the bundled price stays");
}

#[test]
fn two_skus_pricing_one_dimension_differently_are_refused_by_name() {
    let mut book = PriceBook::bundled().unwrap();
    let error = book
        .add_offer_file(&fixture("AmazonEFS-us-east-1-duplicate-sku.json"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("SKUs EFSSTDFIRST00001 ($0.3) and EFSSTDSECOND0001 ($0.2) both price efs.standard in us-east-1"),
        "{error}"
    );
}
