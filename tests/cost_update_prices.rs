//! `cloudstor cost --update-prices` end to end: the real binary fetches from a real local HTTP
//! server that serves files in AWS's Price List layout (`tests/fixtures/cost-price-list`).
//!
//! The server's first path segment picks a variant of the price list: `good`, or one whose
//! files differ from `good` in one way (`wrong-offer`, `not-json`); files a variant lacks come
//! from `good`. `unavailable` answers 503 to everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

const SYDNEY: &str = "ap-southeast-2";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cost-price-list")
}

async fn serve_fixture(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some((variant, rest)) = path.split_once('/') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if variant == "unavailable" {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    for candidate in [
        fixtures().join(variant).join(rest),
        fixtures().join("good").join(rest),
    ] {
        if let Ok(bytes) = tokio::fs::read(&candidate).await {
            return bytes.into_response();
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

/// Starts the price list server on a free port; returns its base URL.
fn price_list_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(serve_fixture);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{address}")
}

/// Runs `cloudstor cost LINE` with its cache under `cache_home` and the price list at `url`.
fn cloudstor(line: &str, cache_home: &Path, url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .arg("cost")
        .args(line.split_whitespace())
        .env("XDG_CACHE_HOME", cache_home)
        .env("CLOUDSTOR_PRICE_LIST_URL", url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent/cloudstor-test-config")
        .output()
        .expect("run cloudstor")
}

fn succeeds(output: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8(output.stdout.clone()).unwrap(), stderr)
}

fn fails(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn estimate(cache_home: &Path, url: &str, extra: &str) -> Value {
    let line = format!("--json --size 100GB --region {SYDNEY} {extra}");
    let (stdout, _) = succeeds(&cloudstor(&line, cache_home, url));
    serde_json::from_str(&stdout).unwrap()
}

fn close(value: &Value, expected: f64) -> bool {
    (value.as_f64().unwrap() - expected).abs() < 1e-9
}

#[test]
fn updated_prices_are_cached_and_used_over_the_bundled_ones() {
    let server = price_list_server();
    let good = format!("{server}/good");
    let home = tempfile::tempdir().unwrap();
    let before = estimate(home.path(), &good, "");
    let bundled = before["prices"]["efs.standard"]["source"].as_str().unwrap();
    assert!(bundled.starts_with("S22, S10"), "{bundled}");

    let (stdout, stderr) = succeeds(&cloudstor(
        &format!("--update-prices --region {SYDNEY}"),
        home.path(),
        &good,
    ));
    assert!(stdout.is_empty(), "{stdout}");
    // EFS Standard, gp3 storage, IOPS and throughput; the $0 SKU and m5.large are skipped.
    assert!(
        stderr.contains("Cached 4 prices for ap-southeast-2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AmazonEFS published 2017-07-21T19:52:42Z"),
        "{stderr}"
    );
    let cache_file = home.path().join("cloudstor/prices-ap-southeast-2.json");
    assert!(
        stderr.contains(&cache_file.display().to_string()),
        "{stderr}"
    );
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache_file).unwrap()).unwrap();
    assert_eq!(cached["offers"].as_array().unwrap().len(), 2);

    let after = estimate(home.path(), &good, "");
    let efs = &after["prices"]["efs.standard"];
    let source = efs["source"].as_str().unwrap();
    assert!(
        source.starts_with(
            "AWS Price List AmazonEFS offer published 2017-07-21T19:52:42Z, fetched 20"
        ),
        "{source}"
    );
    assert!(source.ends_with("(price cache)"), "{source}");
    assert_eq!(efs["date"], "2017-06-01T00:00:00Z");
    // 100 GiB × $0.36 (EFS Standard) and 100 GiB × $0.096 (gp3), as in the served files.
    assert!(close(&after["efs"]["total"], 36.0), "{}", after["efs"]);
    assert!(close(&after["ebs"]["total"], 9.6), "{}", after["ebs"]);
    // gp3 throughput is published per GiBps-month: $49.152 / 1024 per MiB/s-month.
    let throughput = &cached["prices"]["ebs.gp3.throughput"]["usd"];
    assert!(close(throughput, 0.048), "{throughput}");
    // A price the cache does not hold (gp2 here) still comes from the bundled table.
    let gp2 = estimate(home.path(), &good, "--ebs-type gp2");
    let gp2_source = gp2["prices"]["ebs.gp2.storage"]["source"].as_str().unwrap();
    assert!(gp2_source.starts_with("S8"), "{gp2_source}");

    // --offer-file wins over the cache.
    let offer =
        fixtures().join("good/offers/v1.0/aws/AmazonEC2/20240718135337/ap-southeast-2/index.json");
    let with_offer = estimate(
        home.path(),
        &good,
        &format!("--offer-file {}", offer.display()),
    );
    let gp3 = with_offer["prices"]["ebs.gp3.storage"]["source"]
        .as_str()
        .unwrap();
    assert!(gp3.starts_with("offer file "), "{gp3}");
    let efs = with_offer["prices"]["efs.standard"]["source"]
        .as_str()
        .unwrap();
    assert!(efs.ends_with("(price cache)"), "{efs}");
}

#[test]
fn a_failed_update_says_what_to_do_and_leaves_the_old_cache() {
    let server = price_list_server();
    let home = tempfile::tempdir().unwrap();
    let update = format!("--update-prices --region {SYDNEY}");
    succeeds(&cloudstor(&update, home.path(), &format!("{server}/good")));
    let cache_dir = home.path().join("cloudstor");
    let cache_file = cache_dir.join("prices-ap-southeast-2.json");
    let old = std::fs::read(&cache_file).unwrap();

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let cases = [
        (
            format!("{server}/unavailable"),
            "the server answered HTTP 503",
        ),
        (closed_port, "cannot fetch http://127.0.0.1:"),
        (
            format!("{server}/not-json"),
            "is not an AWS Price List JSON offer file",
        ),
        (
            format!("{server}/wrong-offer"),
            "is the AmazonS3 offer, not AmazonEFS or AmazonEC2",
        ),
    ];
    for (url, expected) in cases {
        let stderr = fails(&cloudstor(&update, home.path(), &url));
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(
            stderr.contains("--update-prices changed nothing"),
            "{url}: {stderr}"
        );
        assert_eq!(std::fs::read(&cache_file).unwrap(), old, "{url}");
    }
    let files: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().collect();
    assert_eq!(files.len(), 1, "no temporary file is left behind");

    let stderr = fails(&cloudstor(
        "--update-prices --region eu-west-3",
        home.path(),
        &format!("{server}/good"),
    ));
    assert!(
        stderr.contains("AWS's price list has no AmazonEFS prices for region \"eu-west-3\""),
        "{stderr}"
    );
}

#[test]
fn a_damaged_cache_is_named_with_the_way_out() {
    let home = tempfile::tempdir().unwrap();
    let cache_dir = home.path().join("cloudstor");
    std::fs::create_dir_all(&cache_dir).unwrap();
    std::fs::write(cache_dir.join("prices-ap-southeast-2.json"), "{\"region\"").unwrap();
    let stderr = fails(&cloudstor(
        &format!("--size 100GB --region {SYDNEY}"),
        home.path(),
        "http://127.0.0.1:9",
    ));
    assert!(
        stderr.contains("prices-ap-southeast-2.json are damaged"),
        "{stderr}"
    );
    assert!(
        stderr.contains("delete the file to use the bundled prices"),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_update() {
    let home = tempfile::tempdir().unwrap();
    let (stdout, _) = succeeds(&cloudstor("--help", home.path(), "http://127.0.0.1:9"));
    assert!(stdout.contains("--update-prices"), "{stdout}");
    assert!(stdout.contains("~/.cache/cloudstor"), "{stdout}");
}
