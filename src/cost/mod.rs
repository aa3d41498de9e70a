//! EFS vs EBS monthly cost estimator.
//!
//! The pieces, in the order data flows through them:
//!
//! - [`Size`] and [`Share`]: the user's quantities, parsed strictly (GB, GiB, TB, TiB; percentages).
//! - [`PriceBook`]: list prices per region and [`Dimension`], from the bundled, sourced table
//!   (`prices.toml`), the price cache `cloudstor cost --update-prices` fills from AWS's Price
//!   List (`cache` and `update` modules) and AWS Price List offer files (`offer` module).
//! - [`Scenario`] → [`Comparison`]: the bill as AWS computes it, line by line, for one EFS file
//!   system and the EBS volumes that would hold the same data, with the cheaper option, the
//!   crossover sizes and the differences that are not about price.
//! - [`scenarios_from_spec`]: one scenario per file system of a `cloudstor.toml`.
//! - [`render_table`] and [`render_svg`]: text and SVG views of a comparison.
//!
//! The formulas and their sources are explained in `docs/cost-model.md`.

mod cache;
mod compare;
mod ebs;
mod efs;
mod error;
mod from_spec;
mod offer;
mod plot;
mod price;
mod render;
mod scenario;
mod size;
#[cfg(feature = "aws")]
mod update;

pub use cache::{CachedOffer, CachedPrices, cache_dir, cache_file};
pub use compare::{
    Choice, Comparison, Crossover, Crossovers, CurvePoint, Verdict, compare, cost_curve,
};
pub use ebs::VolumeType;
pub use error::CostError;
pub use from_spec::scenarios_from_spec;
pub use plot::render_svg;
pub use price::{Dimension, Price, PriceBook, RegionPrices};
pub use render::render_table;
pub use scenario::{EbsConfig, EfsConfig, Layout, Scenario};
pub use size::{Share, Size};
#[cfg(feature = "aws")]
pub use update::{PRICE_LIST_URL, PRICE_LIST_URL_ENV, update_prices};

/// One line of a bill: `quantity × unit_price = cost`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineItem {
    /// What is billed, e.g. "Standard storage".
    pub item: String,
    /// The price dimension the unit price comes from.
    pub dimension: Dimension,
    pub quantity: f64,
    /// Unit of `quantity`, e.g. "GiB-mo" (what AWS calls "GB-Mo": its GB is binary).
    pub unit: &'static str,
    /// USD per `unit`.
    pub unit_price: f64,
    /// USD per month.
    pub cost: f64,
}

impl LineItem {
    fn priced(
        item: impl Into<String>,
        dimension: Dimension,
        quantity: f64,
        prices: &RegionPrices<'_>,
    ) -> Result<Self, CostError> {
        let unit_price = prices.get(dimension)?.usd;
        Ok(Self {
            item: item.into(),
            dimension,
            quantity,
            unit: dimension.unit(),
            unit_price,
            cost: quantity * unit_price,
        })
    }
}

/// The monthly bill of one option (EFS or EBS).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bill {
    /// e.g. "EFS Regional, Elastic throughput" or "EBS gp3, 1 × 100 GiB".
    pub title: String,
    pub lines: Vec<LineItem>,
    /// USD per month.
    pub total: f64,
}

impl Bill {
    fn new(title: String, lines: Vec<LineItem>) -> Self {
        let total = lines.iter().map(|line| line.cost).sum();
        Self {
            title,
            lines,
            total,
        }
    }
}
