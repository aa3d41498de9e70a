//! What `cloudstor volume release` and `reconcile` ask of the plugin running on this node.
//! They go through the plugin rather than editing the mount journal, which it owns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::docker::{exchange, split_reply};
use super::protocol::{ReconcileResponse, ReleaseResponse, ReleasedMounts};

/// The plugin answers within Docker's 30 s budget; this waits a little longer.
const REPLY_LIMIT: Duration = Duration::from_secs(35);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot reach the plugin on {}: {source}; is cloudstor-plugin running on this node? \
         (`systemctl status cloudstor-plugin`)",
        socket.display()
    )]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the plugin refused: {0}")]
    Refused(String),
    #[error("unreadable reply from the plugin on {}", socket.display())]
    Reply { socket: PathBuf },
}

/// Releases one mount ID of `volume` on this node, or all of them; returns how many.
pub fn release(socket: &Path, volume: &str, id: Option<&str>) -> Result<usize, AdminError> {
    let body = json!({ "Name": volume, "ID": id });
    let answer: ReleaseResponse = call(socket, "/Cloudstor.Release", &body)?;
    Ok(answer.released)
}

/// Has the plugin ask Docker now and release mounts no running container uses.
pub fn reconcile(socket: &Path) -> Result<Vec<ReleasedMounts>, AdminError> {
    let answer: ReconcileResponse = call(socket, "/Cloudstor.Reconcile", &json!({}))?;
    Ok(answer.released)
}

#[derive(Deserialize)]
struct ErrField {
    #[serde(rename = "Err", default)]
    err: String,
}

fn call<T: DeserializeOwned>(socket: &Path, endpoint: &str, body: &Value) -> Result<T, AdminError> {
    let body = body.to_string();
    let request = format!(
        "POST {endpoint} HTTP/1.0\r\nHost: plugin\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let reply = exchange(socket, request.as_bytes(), REPLY_LIMIT).map_err(|source| {
        AdminError::Unreachable {
            socket: socket.to_path_buf(),
            source,
        }
    })?;
    let unreadable = || AdminError::Reply {
        socket: socket.to_path_buf(),
    };
    let (_, body) = split_reply(&reply).ok_or_else(unreadable)?;
    let refused: ErrField = serde_json::from_slice(body).map_err(|_| unreadable())?;
    if !refused.err.is_empty() {
        return Err(AdminError::Refused(refused.err));
    }
    serde_json::from_slice(body).map_err(|_| unreadable())
}
