//! `cloudstor cost`: what the same data costs per month on EFS and on EBS, line by line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use cloudstor::cost::{
    self, Comparison, EbsConfig, EfsConfig, Layout, PriceBook, Scenario, Share, Size, VolumeType,
};
use cloudstor::spec::{Spec, ThroughputMode};

/// Compare the monthly cost of EFS and EBS for the same data, with every formula shown.
#[derive(clap::Args)]
pub struct Args {
    /// Data per volume: a number and GB or TB, as AWS means them (1 GB = 2^30 bytes = 1 GiB;
    /// GiB and TiB are accepted too), e.g. 100GB.
    // Hyphen values reach the parser, so "-5GB" is refused as a size, not taken for a flag.
    #[arg(
        long,
        allow_hyphen_values = true,
        required_unless_present = "update_prices"
    )]
    size: Option<Size>,
    /// AWS region, any case [default: AWS_REGION, else the profile's region, else us-east-1].
    #[arg(long, value_parser = region_name)]
    region: Option<String>,
    /// Share of the data in EFS Standard; the rest is in Infrequent Access (or Archive)
    /// [default: all the data not in --archive-share].
    #[arg(long)]
    standard_share: Option<Share>,
    /// Share of the data in EFS Archive (Regional, Elastic throughput only).
    #[arg(long, default_value = "0%")]
    archive_share: Share,
    /// EFS throughput mode.
    #[arg(long, default_value = "elastic", value_parser = throughput_modes())]
    throughput_mode: ThroughputMode,
    /// EFS provisioned throughput in MiB/s (with --throughput-mode provisioned).
    #[arg(long, allow_negative_numbers = true)]
    provisioned_mibps: Option<f64>,
    /// GB read per month, all tasks together (billed with Elastic throughput).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    read_gb: f64,
    /// GB written per month, all tasks together (billed with Elastic throughput).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    write_gb: f64,
    /// Of --read-gb, GB read from Infrequent Access per month (a surcharge per GB).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    ia_read_gb: f64,
    /// Of --read-gb, GB read from Archive per month (a surcharge per GB).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    archive_read_gb: f64,
    /// Average file size, e.g. 32KiB: IA and Archive bill each file as at least 128 KiB.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = file_size_kib)]
    avg_file_size: Option<f64>,
    /// Back the file system up with AWS Backup (warm storage); `backup = true` in a spec.
    #[arg(long)]
    backup: bool,
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
    /// Fetch the region's current EFS and EBS prices from AWS's public Price List (no
    /// credentials; the AmazonEFS and AmazonEC2 offers, streamed) into the price cache,
    /// $XDG_CACHE_HOME/cloudstor or ~/.cache/cloudstor. Later estimates for the region use the
    /// cache over the bundled table (offer files given with --offer-file win over both) and
    /// show each price's offer date and fetch date. A failed update changes nothing. With
    /// --size, the estimate follows with the new prices.
    #[arg(long)]
    update_prices: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    /// Also draw cost against size for both options, crossover marked, to this SVG file
    /// (with -f: one file per file system, FILE-<name>.svg); other extensions are refused.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Estimate the file systems of this spec: their throughput mode, provisioned throughput,
    /// One Zone placement and transitions replace the EFS flags; its region is the default.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "SPEC",
        conflicts_with_all = ["throughput_mode", "provisioned_mibps", "one_zone"]
    )]
    spec: Option<PathBuf>,
}

/// A comparison and, with -f, the name of the file system it is for.
type Named = (Option<String>, Comparison);

pub async fn exec(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.plot {
        check_plot_path(path)?;
    }
    let spec = args.spec.as_deref().map(Spec::load).transpose()?;
    let region = region(&args, spec.as_ref()).await?;
    if args.update_prices {
        update_prices(&region).await?;
    }
    let Some(size) = args.size else {
        return Ok(ExitCode::SUCCESS);
    };
    let book = price_book(&args.offer_files, &region)?;
    let comparisons = scenarios(&args, spec.as_ref(), size, region)?
        .into_iter()
        .map(|(name, scenario)| Ok((name, cost::compare(&scenario, &book)?)))
        .collect::<anyhow::Result<Vec<Named>>>()?;
    if let Some(path) = &args.plot {
        write_plots(path, &comparisons, &book)?;
    }
    print!("{}", render(&comparisons, args.json)?);
    Ok(ExitCode::SUCCESS)
}

/// The flag's region, else the spec's, else the AWS chain's.
async fn region(args: &Args, spec: Option<&Spec>) -> anyhow::Result<String> {
    let spec_region = spec.and_then(|spec| spec.stack.region.clone());
    let region = match args.region.clone().or(spec_region) {
        Some(region) => region,
        None => default_region().await,
    };
    region_name(&region).map_err(anyhow::Error::msg)
}

/// The flags' scenario, or with -f one per file system of the spec.
fn scenarios(
    args: &Args,
    spec: Option<&Spec>,
    size: Size,
    region: String,
) -> anyhow::Result<Vec<(Option<String>, Scenario)>> {
    let base = args.scenario(size, region);
    let Some(spec) = spec else {
        return Ok(vec![(None, base)]);
    };
    Ok(cost::scenarios_from_spec(spec, &base)?
        .into_iter()
        .map(|(name, scenario)| (Some(name), scenario))
        .collect())
}

/// Fetches the region's prices into the cache and says what was stored (on stderr, so the
/// estimate that may follow stays clean on stdout).
async fn update_prices(region: &str) -> anyhow::Result<()> {
    let cache_dir = cost::cache_dir().ok_or(cost::CostError::NoCacheDir)?;
    let (cached, path) = cost::update_prices(region, &cache_dir).await?;
    let offers = cached
        .offers
        .iter()
        .map(|offer| format!("{} published {}", offer.offer_code, offer.publication_date))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "Cached {} prices for {region} from the AWS Price List ({offers}; fetched {}) in {}",
        cached.prices.len(),
        cached.fetched_at,
        path.display()
    );
    Ok(())
}

impl Args {
    fn scenario(&self, size: Size, region: String) -> Scenario {
        Scenario {
            region,
            size,
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
                standard_share: self.standard_share.unwrap_or_else(|| {
                    Share::from_fraction(1.0 - self.archive_share.fraction()).unwrap_or(Share::NONE)
                }),
                archive_share: self.archive_share,
                read_gb: self.read_gb,
                write_gb: self.write_gb,
                ia_read_gb: self.ia_read_gb,
                archive_read_gb: self.archive_read_gb,
                avg_file_kib: self.avg_file_size,
                backup: self.backup,
            },
            ebs: EbsConfig {
                volume_type: self.ebs_type,
                iops: self.iops,
                throughput_mibps: self.ebs_throughput,
            },
        }
    }
}

/// The spec's throughput modes, spelled as in `cloudstor.toml`.
fn throughput_modes() -> impl TypedValueParser<Value = ThroughputMode> {
    let modes = [
        ThroughputMode::Elastic,
        ThroughputMode::Bursting,
        ThroughputMode::Provisioned,
    ];
    PossibleValuesParser::new(modes.map(ThroughputMode::as_str)).map(move |name| {
        modes
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .unwrap_or_default()
    })
}

/// Bundled prices, replaced by the region's cached ones, replaced by any offer files given.
fn price_book(offer_files: &[PathBuf], region: &str) -> anyhow::Result<PriceBook> {
    let mut book = PriceBook::bundled()?;
    if let Some(cache_dir) = cost::cache_dir() {
        book.add_cached(&cache_dir, region)?;
    }
    for path in offer_files {
        book.add_offer_file(path)?;
    }
    Ok(book)
}

/// AWS_REGION (or AWS_DEFAULT_REGION), else the profile's region, else us-east-1. Not the
/// instance metadata service: an estimate needs no AWS call, and off EC2 the lookup only
/// waits and warns.
async fn default_region() -> String {
    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .or_else("us-east-1")
        .region()
        .await
        .map_or_else(|| "us-east-1".to_string(), |region| region.to_string())
}

/// A file size in KiB, from KiB, KB, MiB or MB (AWS's binary units) or bytes.
fn file_size_kib(input: &str) -> Result<f64, String> {
    let trimmed = input.trim();
    let unit_start = trimmed
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .len();
    let (number, unit) = trimmed.split_at(unit_start);
    let kib_per_unit = match unit.to_ascii_lowercase().as_str() {
        "b" => 1.0 / 1024.0,
        "kb" | "kib" => 1.0,
        "mb" | "mib" => 1024.0,
        _ => return Err("expected a number and KiB, KB, MiB, MB or B, e.g. 32KiB".to_string()),
    };
    number
        .trim()
        .parse::<f64>()
        .map(|amount| amount * kib_per_unit)
        .map_err(|_| "expected a number and a unit, e.g. 32KiB".to_string())
}

/// Region codes are lower case ("eu-west-1"); any case is accepted.
fn region_name(input: &str) -> Result<String, String> {
    let region = input.trim().to_ascii_lowercase();
    let well_formed = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if well_formed {
        Ok(region)
    } else {
        Err(format!(
            "{input:?} is not an AWS region code; write it like eu-west-1"
        ))
    }
}

fn render(comparisons: &[Named], json: bool) -> anyhow::Result<String> {
    if json {
        let value = match comparisons {
            [(None, comparison)] => serde_json::to_value(comparison)?,
            named => serde_json::to_value(
                named
                    .iter()
                    .map(|(name, comparison)| (name.clone().unwrap_or_default(), comparison))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )?,
        };
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    Ok(comparisons
        .iter()
        .map(|(name, comparison)| match name {
            Some(name) => format!("filesystem.{name}\n{}", cost::render_table(comparison)),
            None => cost::render_table(comparison),
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The plot is SVG: a name ending in anything else (e.g. .png) would hold SVG bytes under a
/// misleading name, so it is refused before anything is computed.
fn check_plot_path(path: &Path) -> anyhow::Result<()> {
    let extension = path
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("svg") => Ok(()),
        _ => anyhow::bail!(
            "--plot writes SVG, so the file name must end in .svg (got {}); convert it \
             afterwards if you need another format, e.g. rsvg-convert -o plot.png plot.svg",
            path.display()
        ),
    }
}

/// One SVG per comparison: `path` itself, or `<stem>-<name>.svg` per file system of a spec.
fn write_plots(path: &Path, comparisons: &[Named], book: &PriceBook) -> anyhow::Result<()> {
    for (name, comparison) in comparisons {
        let target = match name {
            Some(name) => {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                path.with_file_name(format!("{stem}-{name}.svg"))
            }
            None => path.to_path_buf(),
        };
        let svg = cost::render_svg(comparison, book)?;
        std::fs::write(&target, svg)
            .with_context(|| format!("cannot write the plot to {}", target.display()))?;
    }
    Ok(())
}
