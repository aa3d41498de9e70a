//! `cloudstor cost --update-prices`: current prices from AWS's public Price List bulk API
//! (no credentials), stored in the price cache (`cache` module).
//!
//! For each offer (AmazonEFS, AmazonEC2) the offer's region index names the region's current
//! offer file; that file is streamed through the same reader and checks as `--offer-file`
//! (service code, family, usage type, unit, duplicate SKUs, Local Zones), so the large
//! AmazonEC2 file never sits in memory or on disk. Only when every offer has been read is the
//! cache file replaced: a failed update leaves the old prices in use.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::cache::{self, CachedOffer, CachedPrices};
use super::error::CostError;
use super::offer::{self, Offer};
use super::price::Price;

/// AWS's Price List bulk API: one global host, no credentials.
pub const PRICE_LIST_URL: &str = "https://pricing.us-east-1.amazonaws.com";

/// Names another server with the same layout; tests point it at a local one.
pub const PRICE_LIST_URL_ENV: &str = "CLOUDSTOR_PRICE_LIST_URL";

/// The offers that carry the estimator's prices: EFS, and EBS inside EC2.
const OFFER_CODES: [&str; 2] = ["AmazonEFS", "AmazonEC2"];

/// An unreachable host fails after this instead of the system's minutes-long TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Chunks of a download in flight between the network and the reader.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Fetches the current prices of `region` and stores them in the cache under `cache_dir`.
/// Returns what was stored and the cache file.
pub async fn update_prices(
    region: &str,
    cache_dir: &Path,
) -> Result<(CachedPrices, PathBuf), CostError> {
    fetch_and_store(region, cache_dir)
        .await
        .map_err(|problem| CostError::UpdateFailed {
            problem: Box::new(problem),
        })
}

async fn fetch_and_store(
    region: &str,
    cache_dir: &Path,
) -> Result<(CachedPrices, PathBuf), CostError> {
    let base_url = std::env::var(PRICE_LIST_URL_ENV).unwrap_or_else(|_| PRICE_LIST_URL.into());
    let base_url = base_url.trim_end_matches('/');
    let client = PriceList::new()?;
    let fetched_at = DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "an unknown time".to_string());
    let mut cached = CachedPrices {
        region: region.to_string(),
        fetched_at,
        offers: Vec::new(),
        prices: BTreeMap::new(),
    };
    for offer_code in OFFER_CODES {
        let index_url =
            format!("{base_url}/offers/v1.0/aws/{offer_code}/current/region_index.json");
        let offer_path = client
            .region_offer_path(&index_url, offer_code, region)
            .await?;
        let url = format!("{base_url}{offer_path}");
        let offer = client.offer(&url).await?;
        if offer.code != offer_code {
            return Err(CostError::PriceListWrongOffer {
                url,
                expected: offer_code,
                found: offer.code,
            });
        }
        cached.add(offer, url);
    }
    let path = cache::write(cache_dir, &cached)?;
    Ok((cached, path))
}

impl CachedPrices {
    /// Keeps the offer's prices for this region, citing the offer, its date and the fetch.
    fn add(&mut self, offer: Offer, url: String) {
        let publication_date = offer.publication_date.unwrap_or_else(|| "undated".into());
        let source = format!(
            "AWS Price List {} offer published {publication_date}, fetched {} (price cache)",
            offer.code, self.fetched_at
        );
        for found in offer.prices.into_iter().filter(|p| p.region == self.region) {
            let mut detail = found.price.detail;
            detail.push(format!("from {url}"));
            let price = Price {
                source: source.clone(),
                detail,
                ..found.price
            };
            self.prices.insert(found.dimension, price);
        }
        self.offers.push(CachedOffer {
            offer_code: offer.code,
            url,
            publication_date,
        });
    }
}

/// `region_index.json`: where each region's current offer file is.
#[derive(Deserialize)]
struct RegionIndex {
    regions: BTreeMap<String, RegionEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionEntry {
    /// A path on the same host, e.g. `/offers/v1.0/aws/AmazonEFS/20261001000000/eu-west-2/index.json`.
    current_version_url: String,
}

struct PriceList {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl PriceList {
    fn new() -> Result<Self, CostError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| CostError::PriceListHttp {
                url: PRICE_LIST_URL.to_string(),
                reason: format!("no CA certificates to check HTTPS with ({error})"),
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client })
    }

    /// The path of the region's current offer file, from the offer's region index.
    async fn region_offer_path(
        &self,
        index_url: &str,
        offer_code: &'static str,
        region: &str,
    ) -> Result<String, CostError> {
        let body = self.get(index_url).await?;
        let bytes = body
            .collect()
            .await
            .map_err(|error| http_error(index_url, error))?
            .to_bytes();
        let index: RegionIndex =
            serde_json::from_slice(&bytes).map_err(|error| CostError::PriceListIndex {
                url: index_url.to_string(),
                reason: error.to_string(),
            })?;
        let entry = index
            .regions
            .get(region)
            .ok_or_else(|| CostError::PriceListRegion {
                offer_code,
                region: region.to_string(),
                url: index_url.to_string(),
            })?;
        if !entry.current_version_url.starts_with('/') {
            return Err(CostError::PriceListIndex {
                url: index_url.to_string(),
                reason: format!(
                    "currentVersionUrl {:?} is not a path on the price list host",
                    entry.current_version_url
                ),
            });
        }
        Ok(entry.current_version_url.clone())
    }

    /// Reads an offer file as it downloads: the reader runs on a blocking thread and takes the
    /// body chunk by chunk, so memory holds a few chunks, not the file.
    async fn offer(&self, url: &str) -> Result<Offer, CostError> {
        let mut body = self.get(url).await?;
        let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let origin = PathBuf::from(url);
        let reading = tokio::task::spawn_blocking(move || {
            offer::read_offer(BufReader::new(ChunkReader::new(receiver)), &origin)
        });
        while let Some(frame) = body.frame().await {
            let chunk = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => Ok(data),
                    Err(_trailers) => continue,
                },
                Err(error) => Err(io::Error::other(error)),
            };
            let broken = chunk.is_err();
            // A closed channel means the reader stopped early (it found a problem).
            if chunks.send(chunk).await.is_err() || broken {
                break;
            }
        }
        drop(chunks);
        reading.await.map_err(|error| http_error(url, error))?
    }

    async fn get(&self, url: &str) -> Result<Incoming, CostError> {
        let uri = url.parse().map_err(|error| http_error(url, error))?;
        let response = self
            .client
            .get(uri)
            .await
            .map_err(|error| http_error(url, error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(CostError::PriceListHttp {
                url: url.to_string(),
                reason: format!("the server answered HTTP {status}"),
            });
        }
        Ok(response.into_body())
    }
}

/// The error with its causes: hyper's own message ("client error (Connect)") says little.
fn http_error(url: &str, error: impl std::error::Error) -> CostError {
    let mut reason = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        reason = format!("{reason}: {inner}");
        cause = inner.source();
    }
    CostError::PriceListHttp {
        url: url.to_string(),
        reason,
    }
}

/// A blocking `Read` over the chunks of a download.
struct ChunkReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let taken = self.current.split_to(buf.len().min(self.current.len()));
        buf[..taken.len()].copy_from_slice(&taken);
        Ok(taken.len())
    }
}
