//! This node's Availability Zone when the config does not name one: asked once of EC2
//! instance metadata (IMDSv2) and remembered. CSI's NodeGetInfo reports it as the node's
//! topology, and the mounter picks that zone's mount target IP when an EFS DNS name does not
//! resolve.
//!
//! Off EC2 nothing answers at 169.254.169.254, so the whole question has a one-second limit
//! and is asked only when a zone is needed, never at start-up. As in the AWS SDKs,
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` points it elsewhere and
//! `AWS_EC2_METADATA_DISABLED=true` turns it off.
//!
//! Two requests to a link-local address need no HTTP client crate: none is in the plugin's
//! dependency tree (hyper is there for serving only), so they are plain HTTP/1.1 over a
//! TCP stream, read until the server closes it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::docker::split_reply;

pub const ENDPOINT_VAR: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
pub const DISABLED_VAR: &str = "AWS_EC2_METADATA_DISABLED";
const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// For both requests together: long enough for IMDS (answers in milliseconds), short
/// enough that a node off EC2 barely notices.
const LIMIT: Duration = Duration::from_secs(1);
/// The token serves the one GET that follows it.
const TOKEN_TTL_SECS: u32 = 60;
const ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";

#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    #[error(
        "{ENDPOINT_VAR}={endpoint:?} is not http://HOST[:PORT]; set it to the instance \
         metadata service's address (e.g. http://169.254.169.254) or unset it"
    )]
    Endpoint { endpoint: String },
    #[error("instance metadata at {endpoint} did not answer within {} s", LIMIT.as_secs())]
    Timeout { endpoint: String },
    #[error("cannot reach instance metadata at {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("instance metadata at {endpoint} answered {status} to {request}")]
    Status {
        endpoint: String,
        request: &'static str,
        status: u16,
    },
    #[error("instance metadata at {endpoint} sent an unreadable reply to {request}")]
    Reply {
        endpoint: String,
        request: &'static str,
    },
}

/// Where the zone may be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Disabled,
    /// `host:port` of an IMDS endpoint.
    Endpoint(String),
}

impl Source {
    /// From the AWS SDKs' environment variables; an endpoint that is not `http://HOST[:PORT]`
    /// is refused rather than silently replaced.
    pub fn from_env() -> Result<Self, ImdsError> {
        let disabled = std::env::var(DISABLED_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if disabled {
            return Ok(Self::Disabled);
        }
        let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
        Self::endpoint(&endpoint)
    }

    /// `http://HOST[:PORT][/]` as `HOST:PORT`; IPv6 hosts stay in brackets.
    pub fn endpoint(url: &str) -> Result<Self, ImdsError> {
        let refused = || ImdsError::Endpoint {
            endpoint: url.to_string(),
        };
        let authority = url
            .strip_prefix("http://")
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|rest| !rest.is_empty() && !rest.contains(['/', '@', '?', '#', ' ']))
            .ok_or_else(refused)?;
        let has_port = match authority.rsplit_once(']') {
            Some((_, after)) => after.starts_with(':'),
            None => authority.contains(':'),
        };
        Ok(Self::Endpoint(if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        }))
    }
}

/// This node's zone: the configured one, else the answer of instance metadata, asked the
/// first time it is needed. A failed question is remembered too (with a warning saying
/// how to set the zone), so a node off EC2 waits once, not at every call.
#[derive(Debug)]
pub struct NodeZone {
    configured: Option<String>,
    source: Source,
    asked: OnceCell<Option<String>>,
}

impl NodeZone {
    pub fn new(configured: Option<String>, source: Source) -> Self {
        Self {
            configured,
            source,
            asked: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Option<&str> {
        if let Some(zone) = &self.configured {
            return Some(zone);
        }
        self.asked.get_or_init(|| self.ask()).await.as_deref()
    }

    async fn ask(&self) -> Option<String> {
        let Source::Endpoint(endpoint) = &self.source else {
            return None;
        };
        match availability_zone(endpoint).await {
            Ok(zone) => {
                info!(%zone, "Availability Zone from instance metadata");
                Some(zone)
            }
            Err(err) => {
                warn!(error = %err, "this node has no Availability Zone; set availability_zone in the plugin config (AVAILABILITY_ZONE on the managed plugin)");
                None
            }
        }
    }
}

/// The IMDSv2 handshake: a session token from a PUT, then the zone from a GET that shows it.
pub async fn availability_zone(endpoint: &str) -> Result<String, ImdsError> {
    let asked = async {
        let put = format!(
            "PUT /latest/api/token HTTP/1.1\r\nHost: {endpoint}\r\n\
             X-aws-ec2-metadata-token-ttl-seconds: {TOKEN_TTL_SECS}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let token = answer(endpoint, "PUT /latest/api/token", &put).await?;
        let get = format!(
            "GET {ZONE_PATH} HTTP/1.1\r\nHost: {endpoint}\r\n\
             X-aws-ec2-metadata-token: {token}\r\nConnection: close\r\n\r\n"
        );
        answer(endpoint, "GET availability-zone", &get).await
    };
    tokio::time::timeout(LIMIT, asked)
        .await
        .map_err(|_| ImdsError::Timeout {
            endpoint: endpoint.to_string(),
        })?
}

/// The body of a 200 reply: one token or zone name, which must be a single printable word
/// (anything else would be a proxy's page, or a header injection into the next request).
async fn answer(endpoint: &str, request: &'static str, text: &str) -> Result<String, ImdsError> {
    let reply = exchange(endpoint, text)
        .await
        .map_err(|source| ImdsError::Unreachable {
            endpoint: endpoint.to_string(),
            source,
        })?;
    let unreadable = || ImdsError::Reply {
        endpoint: endpoint.to_string(),
        request,
    };
    let (status, body) = split_reply(&reply).ok_or_else(unreadable)?;
    if status != 200 {
        return Err(ImdsError::Status {
            endpoint: endpoint.to_string(),
            request,
            status,
        });
    }
    let word = std::str::from_utf8(body).map_err(|_| unreadable())?.trim();
    let printable = !word.is_empty() && word.bytes().all(|b| b.is_ascii_graphic());
    printable.then(|| word.to_string()).ok_or_else(unreadable)
}

async fn exchange(endpoint: &str, request: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(endpoint).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_host_and_port() {
        let endpoint = |url| Source::endpoint(url).unwrap();
        let host = |s: &str| Source::Endpoint(s.to_string());
        assert_eq!(
            endpoint("http://169.254.169.254"),
            host("169.254.169.254:80")
        );
        assert_eq!(endpoint("http://127.0.0.1:8111/"), host("127.0.0.1:8111"));
        assert_eq!(
            endpoint("http://[fd00:ec2::254]"),
            host("[fd00:ec2::254]:80")
        );
        assert_eq!(endpoint("http://[::1]:9"), host("[::1]:9"));
        for bad in [
            "https://169.254.169.254",
            "169.254.169.254",
            "http://",
            "http://a/b",
        ] {
            let err = Source::endpoint(bad).unwrap_err().to_string();
            assert!(err.contains(ENDPOINT_VAR), "{err}");
        }
    }

    #[tokio::test]
    async fn a_configured_zone_is_never_asked_for() {
        let zone = NodeZone::new(Some("us-east-1a".into()), Source::Endpoint("x:1".into()));
        assert_eq!(zone.get().await, Some("us-east-1a"));
        let disabled = NodeZone::new(None, Source::Disabled);
        assert_eq!(disabled.get().await, None);
    }
}
