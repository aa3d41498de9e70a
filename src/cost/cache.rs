//! The prices `cloudstor cost --update-prices` fetched from AWS's Price List: one small JSON
//! file per region (the extracted prices, never the offer files themselves) under the user's
//! cache directory, `$XDG_CACHE_HOME/cloudstor` or `~/.cache/cloudstor`.
//!
//! An estimate prefers these prices to the bundled table; offer files given with
//! `--offer-file` win over both. Files are replaced atomically (a temporary file renamed over
//! the old one), so an interrupted update leaves the previous prices in place.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CostError;
use super::price::{Dimension, Price};

/// What one update stored for a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedPrices {
    pub region: String,
    /// When the prices were fetched (UTC, RFC 3339).
    pub fetched_at: String,
    /// The offers they came from.
    pub offers: Vec<CachedOffer>,
    pub prices: BTreeMap<Dimension, Price>,
}

/// One AWS offer file read during an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedOffer {
    /// "AmazonEFS" or "AmazonEC2".
    pub offer_code: String,
    pub url: String,
    /// The offer's `publicationDate` ("undated" when it has none).
    pub publication_date: String,
}

/// `$XDG_CACHE_HOME/cloudstor`, else `$HOME/.cache/cloudstor`; `None` when neither is set.
/// A relative `XDG_CACHE_HOME` is ignored, as the XDG spec asks.
pub fn cache_dir() -> Option<PathBuf> {
    let from_env = |name| std::env::var_os(name).map(PathBuf::from);
    from_env("XDG_CACHE_HOME")
        .filter(|dir| dir.is_absolute())
        .or_else(|| from_env("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("cloudstor"))
}

/// The cache file of one region.
pub fn cache_file(cache_dir: &Path, region: &str) -> PathBuf {
    cache_dir.join(format!("prices-{region}.json"))
}

/// The cached prices of a region, if an update stored any.
pub(crate) fn read(cache_dir: &Path, region: &str) -> Result<Option<CachedPrices>, CostError> {
    let path = cache_file(cache_dir, region);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CostError::CacheRead { path, source }),
    };
    let cached: CachedPrices =
        serde_json::from_str(&text).map_err(|source| CostError::CacheFormat {
            path: path.clone(),
            source,
        })?;
    if cached.region != region {
        return Err(CostError::CacheRegion {
            path,
            found: cached.region,
        });
    }
    Ok(Some(cached))
}

/// Stores a region's prices, replacing the old file only once the new one is complete.
#[cfg_attr(
    not(feature = "aws"),
    expect(
        dead_code,
        reason = "only --update-prices writes, and it needs the aws feature"
    )
)]
pub(crate) fn write(cache_dir: &Path, cached: &CachedPrices) -> Result<PathBuf, CostError> {
    let path = cache_file(cache_dir, &cached.region);
    let write_error = |source| CostError::CacheWrite {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(cache_dir).map_err(write_error)?;
    let json = serde_json::to_string_pretty(cached).expect("prices serialize to JSON");
    // The temporary file is in the same directory so the rename cannot cross file systems.
    let temporary = cache_dir.join(format!(
        ".prices-{}.json.{}.tmp",
        cached.region,
        std::process::id()
    ));
    let written = fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(json.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, &path));
    if let Err(source) = written {
        let _ = fs::remove_file(&temporary);
        return Err(write_error(source));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(region: &str, usd: f64) -> CachedPrices {
        let price = Price {
            usd,
            source: "AWS Price List".to_string(),
            date: "2026-10-01".to_string(),
            detail: vec![],
        };
        CachedPrices {
            region: region.to_string(),
            fetched_at: "2026-11-30T22:00:00Z".to_string(),
            offers: vec![],
            prices: BTreeMap::from([(Dimension::EfsStandard, price)]),
        }
    }

    #[test]
    fn written_prices_read_back_and_replace_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), "eu-west-2").unwrap(), None);
        write(dir.path(), &sample("eu-west-2", 0.33)).unwrap();
        write(dir.path(), &sample("eu-west-2", 0.36)).unwrap();
        let cached = read(dir.path(), "eu-west-2").unwrap().unwrap();
        assert_eq!(cached.prices[&Dimension::EfsStandard].usd, 0.36);
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_damaged_or_misplaced_cache_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_file(dir.path(), "eu-west-2");
        fs::write(&path, "{\"region\": ").unwrap();
        let error = read(dir.path(), "eu-west-2").unwrap_err().to_string();
        assert!(error.contains("--update-prices"), "{error}");
        let other = serde_json::to_string(&sample("sa-east-1", 0.45)).unwrap();
        fs::write(&path, other).unwrap();
        let error = read(dir.path(), "eu-west-2").unwrap_err().to_string();
        assert!(error.contains("hold prices for sa-east-1"), "{error}");
    }
}
