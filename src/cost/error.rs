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
        "the storage shares add up to more than 100% (Standard {standard}% + Archive {archive}%)"
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

    #[error("--read-gb and --write-gb must be zero or more, got {0}")]
    NegativeTransfer(f64),

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

    #[error("the bundled price table is broken: {0}")]
    BundledPrices(#[from] toml::de::Error),

    #[error("cannot draw the plot: {0}")]
    Plot(String),
}
