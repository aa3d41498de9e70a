//! An apply cut short by failing AWS calls (injected with an SDK interceptor) or by a real
//! SIGINT to the binary is finished by a second apply, which creates nothing twice. Against
//! moto.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use cloudstor::apply::{ApplyError, ApplyOptions, Progress};
use cloudstor::cloud::Cloud;
use cloudstor::spec::Spec;
use common::{Moto, filesystems_and_mount_targets, network, write_spec};

/// Fails calls of one operation, either before they reach AWS or after AWS carried them out
/// (the response is lost, as when a process dies mid-call).
#[derive(Debug)]
struct FailCalls {
    operation: &'static str,
    after_transmit: bool,
    /// Let this many calls through before failing the rest.
    allow: usize,
    seen: AtomicUsize,
}

impl FailCalls {
    fn trips(&self, cfg: &ConfigBag) -> bool {
        let matches = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation);
        matches && self.seen.fetch_add(1, Ordering::SeqCst) >= self.allow
    }
}

impl Intercept for FailCalls {
    fn name(&self) -> &'static str {
        "FailCalls"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.after_transmit && self.trips(cfg) {
            return Err(format!("injected failure before {}", self.operation).into());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.after_transmit && self.trips(cfg) {
            return Err(format!("injected lost response of {}", self.operation).into());
        }
        Ok(())
    }
}

const FILESYSTEMS: &str =
    "[filesystems.shared]\ntransition_to_ia = \"30d\"\n\n[filesystems.scratch]\nprotect = false\n";

async fn cloud(moto: &Moto, fault: Option<FailCalls>) -> Cloud {
    let config = moto.sdk_config().await;
    let mut efs = aws_sdk_efs::config::Builder::from(&config);
    if let Some(fault) = fault {
        efs = efs.interceptor(fault);
    }
    Cloud::new(
        aws_sdk_efs::Client::from_conf(efs.build()),
        aws_sdk_ec2::Client::new(&config),
    )
}

async fn apply(cloud: &Cloud, spec: &Spec) -> Result<cloudstor::apply::ApplyReport, ApplyError> {
    let (plan, _) = cloudstor::plan::plan(cloud, spec, false).await?;
    cloudstor::apply::apply(cloud, &plan, ApplyOptions::default(), Progress::lines()).await
}

/// Everything the stack should hold, counted through the API: file systems per creation token
/// and mount targets per file system.
async fn census(moto: &Moto) -> Vec<(String, usize)> {
    let config = moto.sdk_config().await;
    let mut found: Vec<(String, usize)> = filesystems_and_mount_targets(&config)
        .await
        .into_iter()
        .map(|(fs, targets)| (fs.creation_token().to_owned(), targets.len()))
        .collect();
    found.sort();
    found
}

async fn interrupted_then_resumed(fault: FailCalls) {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let spec = Spec::parse("t.toml".as_ref(), &network.spec("resume", 3, FILESYSTEMS)).unwrap();
    let operation = fault.operation;

    let failed = apply(&cloud(&moto, Some(fault)).await, &spec).await;
    assert!(
        matches!(&failed, Err(ApplyError::Failed { failures, .. }) if failures.iter().any(|f| f.contains(operation))),
        "the injected failure surfaces: {failed:?}"
    );

    let healthy = cloud(&moto, None).await;
    apply(&healthy, &spec)
        .await
        .expect("the second apply finishes the job");
    let expected = vec![
        ("cloudstor:resume:scratch".to_owned(), 3),
        ("cloudstor:resume:shared".to_owned(), 3),
    ];
    assert_eq!(census(&moto).await, expected, "nothing was created twice");
    let (plan, _) = cloudstor::plan::plan(&healthy, &spec, false).await.unwrap();
    assert!(
        plan.is_empty(),
        "re-plan shows no changes: {:?}",
        plan.changes
    );
}

#[tokio::test]
async fn failing_mount_target_creation_is_finished_by_the_next_apply() {
    interrupted_then_resumed(FailCalls {
        operation: "CreateMountTarget",
        after_transmit: false,
        allow: 2,
        seen: AtomicUsize::new(0),
    })
    .await;
}

#[tokio::test]
async fn lost_create_file_system_response_is_adopted_by_creation_token() {
    interrupted_then_resumed(FailCalls {
        operation: "CreateFileSystem",
        after_transmit: true,
        allow: 0,
        seen: AtomicUsize::new(0),
    })
    .await;
}

#[tokio::test]
async fn lost_mount_target_response_is_adopted_not_duplicated() {
    interrupted_then_resumed(FailCalls {
        operation: "CreateMountTarget",
        after_transmit: true,
        allow: 1,
        seen: AtomicUsize::new(0),
    })
    .await;
}

#[tokio::test]
async fn interrupt_flag_stops_new_operations_and_a_rerun_converges() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let spec = Spec::parse("t.toml".as_ref(), &network.spec("ctrlc", 3, FILESYSTEMS)).unwrap();
    let cloud = cloud(&moto, None).await;
    let (plan, _) = cloudstor::plan::plan(&cloud, &spec, false).await.unwrap();
    let options = ApplyOptions {
        interrupted: Arc::new(true.into()),
        ..ApplyOptions::default()
    };
    let interrupted = cloudstor::apply::apply(&cloud, &plan, options, Progress::lines()).await;
    assert!(
        matches!(
            interrupted,
            Err(ApplyError::Interrupted { completed: 0, .. })
        ),
        "{interrupted:?}"
    );
    assert!(
        census(&moto).await.is_empty(),
        "nothing started after the interrupt"
    );
    apply(&cloud, &spec).await.unwrap();
    assert_eq!(census(&moto).await.len(), 2);
}

/// Ctrl-C for real: SIGINT to `cloudstor apply` as soon as its first resource is created. It
/// finishes what is running, starts nothing more, says so and exits 1; the second apply
/// creates the rest and nothing twice.
#[tokio::test]
async fn sigint_to_the_binary_mid_apply_then_a_rerun_converges() {
    let moto = Moto::start();
    let network = network(&moto.sdk_config().await).await;
    let filesystems: String = (0..8)
        .map(|i| format!("[filesystems.fs{i}]\nprotect = false\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "s.toml",
        &network.spec("sigint", 3, &filesystems),
    );
    let spec = spec.to_str().unwrap();
    let args = ["apply", "-f", spec, "--auto-approve", "--parallelism", "1"];
    let mut child = moto
        .cloudstor_command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Creation complete") {
        let read = stdout.read_line(&mut seen).unwrap();
        assert!(read > 0, "apply ended before creating anything: {seen}");
    }
    // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
    let sent = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(sent, 0);
    stdout.read_to_string(&mut seen).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}\n{stderr}");
    assert!(stderr.contains("apply interrupted"), "{stderr}");
    let partial = census(&moto).await;
    let mount_targets: usize = partial.iter().map(|(_, targets)| targets).sum();
    assert!(
        partial.len() < 8 || mount_targets < 24,
        "the interrupt stopped the apply early: {partial:?}"
    );

    let rerun = moto.cloudstor(&args);
    assert!(rerun.status.success(), "{rerun:?}");
    let converged = census(&moto).await;
    assert_eq!(
        converged.len(),
        8,
        "one file system per name: {converged:?}"
    );
    assert!(
        converged.iter().all(|(_, targets)| *targets == 3),
        "{converged:?}"
    );
}
