//! Every AWS call cloudstor makes, through the AWS SDK for Rust.
//!
//! [`Cloud::refresh`] reads what exists for a stack (found by tags, there is no state file);
//! the write operations in [`filesystems`] and [`network`] each perform one planned action and
//! wait for it to settle. Errors name the resource, the operation and the AWS error code.

mod filesystems;
mod network;
mod ownership;
mod refresh;
mod templates;

use std::future::Future;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_sdk_efs::error::ProvideErrorMetadata;

pub use ownership::{OwnershipError, OwnershipProblem, TokenHolder};
pub use refresh::{Observed, check_network};
pub use templates::NodeLaunchData;

/// The two AWS clients and how long to wait for resources to settle.
#[derive(Clone)]
pub struct Cloud {
    efs: aws_sdk_efs::Client,
    ec2: aws_sdk_ec2::Client,
    waits: Waits,
}

/// Deadlines for lifecycle waits. AWS's own figures: file systems settle within minutes,
/// mount targets can take over ten (terraform-provider-aws raised its timeout to 30 minutes).
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub filesystem: Duration,
    pub mount_target: Duration,
    /// How long a DependencyViolation or FileSystemInUse is retried before giving up.
    pub dependency: Duration,
    pub max_poll_interval: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            filesystem: Duration::from_secs(10 * 60),
            mount_target: Duration::from_secs(30 * 60),
            dependency: Duration::from_secs(5 * 60),
            max_poll_interval: Duration::from_secs(10),
        }
    }
}

/// A failed AWS call or wait, with what a user needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("{resource}: {operation} failed: {}{message}", code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Aws {
        resource: String,
        operation: &'static str,
        /// The AWS error code; `None` when no answer came back (network, timeout).
        code: Option<String>,
        message: String,
    },
    #[error(
        "{resource}: still {state} after {waited:?}; check it in the AWS console, then run apply again"
    )]
    Timeout {
        resource: String,
        state: String,
        waited: Duration,
    },
    #[error("{0}")]
    Network(String),
    #[error(
        "{region} is not an AWS region cloudstor knows, and no AWS endpoint answered there ({cause}); check stack.region, --region or AWS_REGION"
    )]
    UnknownRegion {
        region: String,
        cause: Box<CloudError>,
    },
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error("launch_template.nodes: cannot render the node bootstrap")]
    Bootstrap(#[from] crate::bootstrap::BootstrapError),
    #[error("launch_template.nodes: user data too large")]
    UserData(#[from] crate::bootstrap::UserDataTooLarge),
}

impl CloudError {
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Attaches the resource and operation to an SDK error.
fn aws_error<E: ProvideErrorMetadata + std::error::Error>(
    resource: impl ToString,
    operation: &'static str,
) -> impl FnOnce(E) -> CloudError {
    move |error| CloudError::Aws {
        resource: resource.to_string(),
        operation,
        code: error.code().map(str::to_owned),
        message: error
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| causes(&error)),
    }
}

/// "dispatch failure: connection refused", without the debug dump the SDK's own display adds.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

impl Cloud {
    /// Clients from the standard AWS chain (env, profile, SSO, instance metadata);
    /// `AWS_ENDPOINT_URL` redirects both clients, e.g. to a local emulator.
    pub async fn from_env(region: Option<String>) -> Cloud {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(6));
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        Cloud::from_sdk_config(&loader.load().await)
    }

    pub fn from_sdk_config(config: &SdkConfig) -> Cloud {
        Cloud::new(
            aws_sdk_efs::Client::new(config),
            aws_sdk_ec2::Client::new(config),
        )
    }

    /// From ready-made clients, so tests and benchmarks can add SDK interceptors.
    pub fn new(efs: aws_sdk_efs::Client, ec2: aws_sdk_ec2::Client) -> Cloud {
        Cloud {
            efs,
            ec2,
            waits: Waits::default(),
        }
    }

    pub fn with_waits(mut self, waits: Waits) -> Cloud {
        self.waits = waits;
        self
    }

    pub fn region(&self) -> Option<String> {
        self.efs.config().region().map(ToString::to_string)
    }
}

/// The regions of the aws, aws-cn and aws-us-gov partitions (2025). Only used to explain a
/// call that got no AWS answer, so a region newer than this list still works.
const KNOWN_REGIONS: [&str; 39] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

impl Cloud {
    /// A call that got no AWS answer (no error code: the endpoint's name did not resolve, or
    /// what answered was not AWS) under a region nobody has heard of is the region's fault;
    /// say so instead of "dns error" or "error parsing XML".
    pub fn explain(&self, error: CloudError) -> CloudError {
        match (&error, self.region()) {
            (CloudError::Aws { code: None, .. }, Some(region))
                if !KNOWN_REGIONS.contains(&region.as_str()) =>
            {
                CloudError::UnknownRegion {
                    region,
                    cause: Box::new(error),
                }
            }
            _ => error,
        }
    }
}

/// Polls `check` until it yields a value, backing off from 0.5 s up to the poll ceiling.
/// `check` returns `Ok(None)` with the current state while still waiting.
async fn wait_until<T, F, Fut>(
    resource: &str,
    deadline: Duration,
    max_interval: Duration,
    mut check: F,
) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, CloudError>>,
{
    let started = tokio::time::Instant::now();
    let mut interval = Duration::from_millis(500);
    loop {
        let state = match check().await? {
            Ok(done) => return Ok(done),
            Err(state) => state,
        };
        if started.elapsed() >= deadline {
            return Err(CloudError::Timeout {
                resource: resource.to_owned(),
                state,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(max_interval);
    }
}

/// Retries `call` while AWS answers with one of `codes` (eventual consistency: a security
/// group still referenced by a departing ENI, a file system whose mount targets are going).
async fn retry_while<T, F, Fut>(
    codes: &[&str],
    deadline: Duration,
    max_interval: Duration,
    mut call: F,
) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    let started = tokio::time::Instant::now();
    let mut interval = Duration::from_millis(500);
    loop {
        match call().await {
            Err(error)
                if error.code().is_some_and(|code| codes.contains(&code))
                    && started.elapsed() < deadline =>
            {
                tracing::debug!(%error, "retrying");
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(max_interval);
            }
            result => return result,
        }
    }
}
