//! Provisioner figures against moto with 100 ms added to every AWS call.
//!
//! `cargo bench --profile dev --bench provisioner` (the figures are dominated by the added
//! latency; an optimised AWS SDK takes long to build on small machines) prints, per stack size (file systems × subnets): the
//! median wall time of `apply` from nothing and of `plan` on the converged stack, the AWS calls
//! one plan makes, and the peak resident memory of the `cloudstor plan` binary on the
//! largest stack. The latency is injected by an HTTP connector wrapper here in the benchmark
//! (the SDK's own extension point), never in the product.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use cloudstor::apply::{ApplyOptions, Progress};
use cloudstor::cloud::Cloud;
use cloudstor::spec::Spec;
use common::{Moto, Network, network};

const LATENCY: Duration = Duration::from_millis(100);
const SIZES: [(usize, usize); 4] = [(1, 3), (5, 3), (10, 6), (20, 6)];
const PLAN_RUNS: usize = 7;
const APPLY_RUNS: usize = 3;

/// Delays every request by [`LATENCY`] before handing it to the real HTTP client.
#[derive(Debug, Clone)]
struct Delayed(SharedHttpClient);

#[derive(Debug)]
struct DelayedConnector(SharedHttpConnector);

impl HttpClient for Delayed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(DelayedConnector(
            self.0.http_connector(settings, components),
        ))
    }
}

impl HttpConnector for DelayedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.0.clone();
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(LATENCY).await;
            inner.call(request).await
        })
    }
}

/// Counts AWS operations (not HTTP attempts) across both clients.
#[derive(Debug, Clone, Default)]
struct CountCalls(Arc<AtomicUsize>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn slow_cloud(moto: &Moto, calls: &CountCalls) -> Cloud {
    let config = moto.sdk_config().await;
    let http = SharedHttpClient::new(Delayed(aws_smithy_http_client::Builder::new().build_http()));
    let efs = aws_sdk_efs::config::Builder::from(&config)
        .http_client(http.clone())
        .interceptor(calls.clone())
        .build();
    let ec2 = aws_sdk_ec2::config::Builder::from(&config)
        .http_client(http)
        .interceptor(calls.clone())
        .build();
    Cloud::new(
        aws_sdk_efs::Client::from_conf(efs),
        aws_sdk_ec2::Client::from_conf(ec2),
    )
}

fn spec_for(network: &Network, stack: &str, filesystems: usize, subnets: usize) -> Spec {
    let tables: String = (0..filesystems)
        .map(|i| format!("[filesystems.fs{i:02}]\nprotect = false\n\n"))
        .collect();
    Spec::parse(
        "bench.toml".as_ref(),
        &network.spec(stack, subnets, &tables),
    )
    .expect("bench spec")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn apply_from_nothing(cloud: &Cloud, spec: &Spec) -> Duration {
    let (plan, _) = cloudstor::plan::plan(cloud, spec, false)
        .await
        .expect("plan");
    let started = Instant::now();
    cloudstor::apply::apply(cloud, &plan, ApplyOptions::default(), Progress::quiet())
        .await
        .expect("apply");
    started.elapsed()
}

async fn destroy(cloud: &Cloud, spec: &Spec) {
    let (plan, _) = cloudstor::plan::plan(cloud, spec, true)
        .await
        .expect("destroy plan");
    cloudstor::apply::apply(cloud, &plan, ApplyOptions::default(), Progress::quiet())
        .await
        .expect("destroy");
}

/// Peak RSS in KiB of the `cloudstor plan` binary (of the profile the bench runs in) on the converged stack.
fn plan_peak_rss_kib(moto: &Moto, spec_text: &str) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_spec(dir.path(), "bench.toml", spec_text);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstor"))
        .args(["plan", "--detailed-exitcode", "-f"])
        .arg(&path)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run the cloudstor binary");
    assert_eq!(
        status.code(),
        Some(0),
        "the converged stack plans with no changes"
    );
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss
}

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let calls = CountCalls::default();
    let cloud = slow_cloud(&moto, &calls).await;
    println!(
        "latency added to every AWS call: {LATENCY:?}; medians of {APPLY_RUNS} applies and {PLAN_RUNS} plans\n"
    );
    println!(
        "| file systems × subnets | resources | apply from nothing | plan, converged | AWS calls per plan |"
    );
    println!("|---|---|---|---|---|");
    for (filesystems, subnets) in SIZES {
        let stack = format!("bench{filesystems}x{subnets}");
        let spec = spec_for(&network, &stack, filesystems, subnets);
        let mut applies = Vec::new();
        for run in 0..APPLY_RUNS {
            applies.push(apply_from_nothing(&cloud, &spec).await);
            if run + 1 < APPLY_RUNS {
                destroy(&cloud, &spec).await;
            }
        }
        let mut plans = Vec::new();
        let mut per_plan = 0;
        for _ in 0..PLAN_RUNS {
            let before = calls.0.load(Ordering::SeqCst);
            let started = Instant::now();
            let (plan, _) = cloudstor::plan::plan(&cloud, &spec, false)
                .await
                .expect("plan");
            plans.push(started.elapsed());
            per_plan = calls.0.load(Ordering::SeqCst) - before;
            assert!(plan.is_empty(), "converged stack plans no changes");
        }
        let resources = 1 + filesystems * (1 + subnets);
        println!(
            "| {filesystems} × {subnets} | {resources} | {:.2} s | {:.2} s | {per_plan} |",
            median(applies).as_secs_f64(),
            median(plans).as_secs_f64()
        );
        if (filesystems, subnets) == SIZES[SIZES.len() - 1] {
            let tables: String = (0..filesystems)
                .map(|i| format!("[filesystems.fs{i:02}]\nprotect = false\n\n"))
                .collect();
            let rss = plan_peak_rss_kib(&moto, &network.spec(&stack, subnets, &tables));
            println!(
                "\npeak RSS of the `cloudstor plan` binary (no added latency) on {filesystems} × {subnets}: {:.1} MiB",
                rss as f64 / 1024.0
            );
        }
        destroy(&cloud, &spec).await;
    }
}
