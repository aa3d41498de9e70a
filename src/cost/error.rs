use std::path::PathBuf;

use super::price::Dimension;

/// Everything that stops an estimate. Each message says what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("invalid size {input:?}: {reason}")]
    InvalidSize { input: String, reason: String },

    #[error("invalid share {input:?}: expected a percentage from 0% to 100%, e.g. 50%")]
    InvalidShare { input: String },

    #[error(
        "no prices known for region {region:?}: the bundled table covers {known}; for another \
         region pass its AWS offer files with --offer-file (AmazonEFS and AmazonEC2, from \
         https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<OfferCode>/current/{region}/index.json)"
    )]
    UnknownRegion { region: String, known: String },

    #[error(
        "no known price for {} ({}, per {}) in {region}: the bundled table has no confirmed \
         figure and none of the offer files given has one; supply the AWS offer file with \
         --offer-file (https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{}/current/{region}/index.json)",
        dimension.describe(), dimension.key(), dimension.unit(), dimension.offer_code()
    )]
    MissingPrice {
        region: String,
        dimension: Dimension,
    },

    #[error(
        "--standard-share {standard}% + --archive-share {archive}% is more than 100%: lower one \
         of them (the data in neither is in Infrequent Access; without --standard-share, \
         Standard holds all that is not in Archive)"
    )]
    SharesExceedWhole { standard: f64, archive: f64 },

    #[error("EFS Archive needs a Regional file system with Elastic throughput (not {context})")]
    ArchiveNotAvailable { context: &'static str },

    #[error("--throughput-mode provisioned needs --provisioned-mibps (1 to 3414 MiB/s)")]
    ProvisionedThroughputMissing,

    #[error("--provisioned-mibps only applies with --throughput-mode provisioned")]
    ProvisionedThroughputUnused,

    #[error("provisioned throughput must be between 1 and 3414 MiB/s, got {0}")]
    ProvisionedThroughputOutOfRange(f64),

    #[error("{0} volumes need --iops (the provisioned IOPS are billed)")]
    IopsRequired(&'static str),

    #[error("{volume_type} volumes have nothing to provision with --{flag}; drop it")]
    NotAdjustable {
        volume_type: &'static str,
        flag: &'static str,
    },

    #[error("{volume_type} volumes take {min} to {max} {what} (--{flag}), got {given}")]
    OutOfRange {
        volume_type: &'static str,
        what: &'static str,
        flag: &'static str,
        min: u32,
        max: u32,
        given: u32,
    },

    #[error(
        "--read-gb, --write-gb, --ia-read-gb and --archive-read-gb take a finite number of GB, \
         zero or more, got {0}"
    )]
    InvalidTransfer(f64),

    #[error("--avg-file-size must be a finite size greater than zero, e.g. 64KiB, got {0} KiB")]
    InvalidFileSize(f64),

    #[error(
        "{volume_type} volumes hold at most {max_gib} GiB, got {gib} GiB: split the data over \
         several volumes{larger_types}"
    )]
    VolumeTooLarge {
        volume_type: &'static str,
        max_gib: u64,
        gib: u64,
        /// ", or pick gp3 or io2 …" when a larger type exists.
        larger_types: &'static str,
    },

    #[error(
        "{volume_type} volumes take at most {per_gib} IOPS per GiB, so {iops} IOPS need a volume \
         of at least {min_gib} GiB, got {gib} GiB: lower --iops or raise --size"
    )]
    TooManyIopsForSize {
        volume_type: &'static str,
        per_gib: u32,
        iops: u32,
        min_gib: u64,
        gib: u64,
    },

    #[error(
        "gp3 throughput is at most 0.25 MiB/s per IOPS, so {mibps} MiB/s needs --iops {min_iops} \
         or more, got {iops} IOPS"
    )]
    ThroughputAboveIopsRatio {
        mibps: u32,
        iops: u32,
        min_iops: u32,
    },

    #[error(
        "file system {filesystem:?} has no {key} in the spec, so none of its data moves to \
         {class}; set {key} or give a share of 0%"
    )]
    ShareWithoutTransition {
        filesystem: String,
        class: &'static str,
        key: &'static str,
    },

    #[error("--replicas must be at least 1")]
    NoReplicas,

    #[error("cannot read offer file {}: {source}", path.display())]
    OfferFileRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("offer file {} is not an AWS Price List JSON offer file: {source}", path.display())]
    OfferFileFormat {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(
        "offer file {} holds no EFS or EBS price this estimator uses (expected the AmazonEFS or \
         AmazonEC2 bulk JSON format)",
        path.display()
    )]
    OfferFileEmpty { path: PathBuf },

    #[error(
        "offer file {} is the {found} offer, not AmazonEFS or AmazonEC2: download \
         https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEFS/current/<region>/index.json \
         (or AmazonEC2 for EBS)",
        path.display()
    )]
    OfferWrongService { path: PathBuf, found: String },

    #[error(
        "offer file {}: SKU {sku} has {mismatch}, as AWS publishes it; the file is not a genuine \
         AWS offer file",
        path.display()
    )]
    OfferProductMismatch {
        path: PathBuf,
        sku: String,
        /// e.g. `usage type TimedStorage-ByteHrs but servicecode "AmazonS3", not "AmazonEFS"`.
        mismatch: String,
    },

    #[error(
        "offer file {}: SKUs {skus} both price {} in {region}; remove one, or pass a \
         region-specific offer file",
        path.display(), dimension.key()
    )]
    DuplicateSku {
        path: PathBuf,
        region: String,
        dimension: Dimension,
        /// Both SKUs with their prices: `A ($0.3) and B ($0.2)`.
        skus: String,
    },

    #[error(
        "offer file {}: SKU {sku} has price {usd:?} USD, which no AWS price is; the file is not \
         a genuine AWS offer file",
        path.display()
    )]
    OfferInvalidPrice {
        path: PathBuf,
        sku: String,
        usd: String,
    },

    #[error(
        "offer file {} lists its terms before its products; AWS's files list products first, \
         which lets them be read without holding the whole file",
        path.display()
    )]
    OfferTermsFirst { path: PathBuf },

    #[error(
        "cannot read the cached prices {}: {source}; run `cloudstor cost --update-prices` again, \
         or delete the file to use the bundled prices",
        path.display()
    )]
    CacheRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the cached prices {} are damaged ({source}); run `cloudstor cost --update-prices` \
         again, or delete the file to use the bundled prices",
        path.display()
    )]
    CacheFormat {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(
        "the cached prices {} hold prices for {found}, not for the region the file is named \
         after; run `cloudstor cost --update-prices` again, or delete the file",
        path.display()
    )]
    CacheRegion { path: PathBuf, found: String },

    #[error("cannot write the price cache {}: {source}", path.display())]
    CacheWrite {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no cache directory for the prices: set XDG_CACHE_HOME (an absolute path) or HOME")]
    NoCacheDir,

    #[error("cannot fetch {url}: {reason}")]
    PriceListHttp { url: String, reason: String },

    #[error("{url} is not an AWS Price List region index: {reason}")]
    PriceListIndex { url: String, reason: String },

    #[error(
        "AWS's price list has no {offer_code} prices for region {region:?} ({url} does not list \
         it); check the region code"
    )]
    PriceListRegion {
        offer_code: &'static str,
        region: String,
        url: String,
    },

    #[error("{url} should hold the {expected} offer but holds {found}")]
    PriceListWrongOffer {
        url: String,
        expected: &'static str,
        found: String,
    },

    #[error(
        "{problem}\n--update-prices changed nothing: the prices in use (cached or bundled) stay as \
         they were; retry later, check the network, or unset CLOUDSTOR_PRICE_LIST_URL if it \
         points elsewhere"
    )]
    // Not a `source`: the message already includes it, and `{:#}` would print it twice.
    UpdateFailed { problem: Box<CostError> },

    #[error("the bundled price table is broken: {0}")]
    BundledPrices(#[from] toml::de::Error),

    #[error("cannot draw the plot: {0}")]
    Plot(String),
}
