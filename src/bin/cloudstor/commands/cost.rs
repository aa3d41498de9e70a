//! `cloudstor cost`: what the same data costs per month on EFS and on EBS, line by line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use aws_config::meta::region::RegionProviderChain;
use cloudstor::cost::{
    self, EbsConfig, EfsConfig, Layout, PriceBook, Scenario, Share, Size, ThroughputMode,
    VolumeType,
};

/// Compare the monthly cost of EFS and EBS for the same data, with every formula shown.
#[derive(clap::Args)]
pub struct Args {
    /// Data per volume: a number and GB, GiB, TB or TiB (AWS bills per GiB), e.g. 100GB.
    #[arg(long)]
    size: Size,
    /// AWS region [default: from the AWS config chain, else us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Share of the data in EFS Standard; the rest is in Infrequent Access (or Archive).
    #[arg(long, default_value = "100%")]
    standard_share: Share,
    /// Share of the data in EFS Archive (Regional, Elastic throughput only).
    #[arg(long, default_value = "0%")]
    archive_share: Share,
    /// EFS throughput mode.
    #[arg(long, value_enum, default_value_t = ThroughputMode::Elastic)]
    throughput_mode: ThroughputMode,
    /// EFS provisioned throughput in MiB/s (with --throughput-mode provisioned).
    #[arg(long)]
    provisioned_mibps: Option<f64>,
    /// GB read per month, all tasks together (billed with Elastic throughput).
    #[arg(long, default_value_t = 0.0)]
    read_gb: f64,
    /// GB written per month, all tasks together (billed with Elastic throughput).
    #[arg(long, default_value_t = 0.0)]
    write_gb: f64,
    /// EFS One Zone storage classes instead of Regional.
    #[arg(long)]
    one_zone: bool,
    /// EBS volume type.
    #[arg(long, value_enum, default_value_t = VolumeType::Gp3)]
    ebs_type: VolumeType,
    /// EBS provisioned IOPS (gp3: total, 3,000 included; required for io1/io2).
    #[arg(long)]
    iops: Option<u32>,
    /// EBS gp3 throughput in MiB/s (total, 125 included).
    #[arg(long)]
    ebs_throughput: Option<u32>,
    /// Swarm tasks (replicas) using the storage.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    replicas: u32,
    /// One volume per task (N EBS volumes, or N directories on one EFS file system) instead
    /// of one volume shared by all tasks.
    #[arg(long)]
    per_task: bool,
    /// AWS Price List bulk offer file (AmazonEFS or AmazonEC2 JSON) whose prices replace the
    /// bundled ones; repeatable.
    #[arg(long = "offer-file", value_name = "PATH")]
    offer_files: Vec<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    /// Also draw cost against size for both options, crossover marked, to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    let book = price_book(&args.offer_files)?;
    let region = match &args.region {
        Some(region) => region.clone(),
        None => default_region().await,
    };
    let comparison = cost::compare(&args.scenario(region), &book)?;
    if let Some(path) = &args.plot {
        write_plot(path, &comparison, &book)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", cost::render_table(&comparison));
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    fn scenario(&self, region: String) -> Scenario {
        Scenario {
            region,
            size: self.size,
            replicas: self.replicas,
            layout: if self.per_task {
                Layout::PerTask
            } else {
                Layout::Shared
            },
            efs: EfsConfig {
                throughput_mode: self.throughput_mode,
                provisioned_mibps: self.provisioned_mibps,
                one_zone: self.one_zone,
                standard_share: self.standard_share,
                archive_share: self.archive_share,
                read_gb: self.read_gb,
                write_gb: self.write_gb,
            },
            ebs: EbsConfig {
                volume_type: self.ebs_type,
                iops: self.iops,
                throughput_mibps: self.ebs_throughput,
            },
        }
    }
}

fn price_book(offer_files: &[PathBuf]) -> anyhow::Result<PriceBook> {
    let mut book = PriceBook::bundled()?;
    for path in offer_files {
        book.add_offer_file(path)?;
    }
    Ok(book)
}

/// The region of the standard AWS chain (env, profile, instance metadata), else us-east-1.
async fn default_region() -> String {
    RegionProviderChain::default_provider()
        .or_else("us-east-1")
        .region()
        .await
        .map_or_else(|| "us-east-1".to_string(), |region| region.to_string())
}

fn write_plot(path: &Path, comparison: &cost::Comparison, book: &PriceBook) -> anyhow::Result<()> {
    let svg = cost::render_svg(comparison, book)?;
    std::fs::write(path, svg)
        .with_context(|| format!("cannot write the plot to {}", path.display()))
}
