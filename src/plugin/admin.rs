//! What `cloudstor volume release` asks of the plugin running on this node. It goes through
//! the plugin rather than editing the mount journal, which the running plugin owns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::docker::{exchange, split_reply};
use super::protocol::ReleaseResponse;

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
    let body = serde_json::json!({ "Name": volume, "ID": id }).to_string();
    let request = format!(
        "POST /Cloudstor.Release HTTP/1.0\r\nHost: plugin\r\nContent-Length: {}\r\n\r\n{body}",
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
    let answer: ReleaseResponse = serde_json::from_slice(body).map_err(|_| unreadable())?;
    if answer.err.is_empty() {
        Ok(answer.released)
    } else {
        Err(AdminError::Refused(answer.err))
    }
}
