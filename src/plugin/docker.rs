//! Asks the local Docker engine which of this plugin's volumes its containers use now. The
//! mount journal ([`super::refcount`]) never hears the Unmount of a container removed while
//! the plugin was down, so that volume's count would never return to zero; reconciliation
//! corrects the journal with what the engine reports here.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where dockerd listens unless it was started with another `-H unix://…`.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

// HTTP/1.0 makes dockerd (Go's net/http) answer without chunked encoding and close the
// connection, so the reply is simply everything read until EOF.
const REQUEST: &[u8] = b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n";

/// Why the engine could not be asked; each message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot talk to the Docker engine at {}: {source}; is dockerd running, and may the \
         plugin open its socket? Reconciliation waits for it",
        socket.display()
    )]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the Docker engine answered {status} to GET /containers/json: {message}; \
         see dockerd's log (journalctl -u docker)"
    )]
    Status { status: u16, message: String },
    #[error(
        "unreadable reply from the Docker engine at {}: {reason}; is that dockerd's API socket?",
        socket.display()
    )]
    Reply { socket: PathBuf, reason: String },
}

// Only the fields reconciliation reads; dockerd omits `Name` and `Driver` for bind mounts.
#[derive(Deserialize)]
struct Container {
    #[serde(rename = "Mounts")]
    mounts: Option<Vec<MountPoint>>,
}

#[derive(Deserialize)]
struct MountPoint {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Name", default)]
    name: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// How many running (or paused/restarting) containers on this engine use each named volume.
///
/// Volumes are matched by name whatever driver Docker reports: a name is unique across every
/// driver of one engine, and a managed plugin's driver name is whatever it was installed as
/// (`cloudstor:latest`, `my/cloudstor:1.2`), which the plugin cannot know. `limit` bounds
/// each read and write.
pub fn volumes_in_use(
    socket: &Path,
    limit: Duration,
) -> Result<HashMap<String, usize>, DockerError> {
    let reply = exchange(socket, REQUEST, limit).map_err(|source| DockerError::Unreachable {
        socket: socket.to_path_buf(),
        source,
    })?;
    let reply_error = |reason: String| DockerError::Reply {
        socket: socket.to_path_buf(),
        reason,
    };
    let (status, body) = split_reply(&reply).ok_or_else(|| reply_error(snippet(&reply)))?;
    if status != 200 {
        return Err(DockerError::Status {
            status,
            message: error_message(body),
        });
    }
    let containers = parse(body).map_err(|e| reply_error(e.to_string()))?;
    Ok(count(&containers))
}

/// One HTTP/1.0 request on a Unix socket; the reply is everything read until EOF. Also how
/// `cloudstor volume release` reaches the plugin.
pub(super) fn exchange(socket: &Path, request: &[u8], limit: Duration) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    stream.write_all(request)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(reply)
}

/// The status code and the body, or `None` if `reply` is not an HTTP response.
pub(super) fn split_reply(reply: &[u8]) -> Option<(u16, &[u8])> {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&reply[..end]).ok()?;
    let status_line = head.lines().next()?;
    let mut words = status_line.split(' ');
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some((status, &reply[end + 4..]))
}

// Docker's errors are `{"message": …}`; anything else (a proxy's page) is shown as it is.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| snippet(body))
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty)".to_string(),
        None => text.to_string(),
    }
}

fn parse(body: &[u8]) -> serde_json::Result<Vec<Container>> {
    serde_json::from_slice(body)
}

fn count(containers: &[Container]) -> HashMap<String, usize> {
    let mut in_use = HashMap::new();
    for container in containers {
        // A container may mount one volume at several paths; it still holds it once.
        let ours: HashSet<&str> = container
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.kind == "volume")
            .map(|m| m.name.as_str())
            .collect();
        for name in ours {
            *in_use.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    in_use
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;

    /// Trimmed from dockerd 20.10's reply: a paused container, one mounting our volume
    /// twice, bind and tmpfs mounts, other drivers, and `"Mounts": null`.
    const REPLY: &str = r#"[
      {"Id": "a1", "Names": ["/web"], "State": "running", "Mounts": [
        {"Type": "volume", "Name": "data", "Source": "", "Destination": "/a",
         "Driver": "cloudstor:latest", "Mode": "z", "RW": true, "Propagation": ""},
        {"Type": "volume", "Name": "data", "Source": "", "Destination": "/b",
         "Driver": "cloudstor:latest", "Mode": "z", "RW": true, "Propagation": ""},
        {"Type": "volume", "Name": "logs", "Source": "", "Destination": "/logs",
         "Driver": "cloudstor:latest", "Mode": "z", "RW": true, "Propagation": ""},
        {"Type": "bind", "Source": "/etc/hosts", "Destination": "/h", "Mode": "",
         "RW": false, "Propagation": "rprivate"}
      ]},
      {"Id": "b2", "Names": ["/worker"], "State": "paused", "Mounts": [
        {"Type": "volume", "Name": "data", "Source": "", "Destination": "/d",
         "Driver": "cloudstor:latest", "Mode": "z", "RW": true, "Propagation": ""},
        {"Type": "volume", "Name": "cache", "Source": "/var/lib/docker/volumes/cache/_data",
         "Destination": "/c", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""},
        {"Type": "tmpfs", "Source": "", "Destination": "/tmp", "Mode": "", "RW": true,
         "Propagation": ""}
      ]},
      {"Id": "c3", "Names": ["/other"], "State": "restarting", "Mounts": [
        {"Type": "volume", "Name": "data", "Source": "", "Destination": "/d",
         "Driver": "cloudstor", "Mode": "z", "RW": true, "Propagation": ""}
      ]},
      {"Id": "d4", "Names": ["/bare"], "State": "running", "Mounts": null}
    ]"#;

    fn counts(pairs: &[(&str, usize)]) -> HashMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn counts_each_container_once_per_volume_whatever_its_driver() {
        let containers = parse(REPLY.as_bytes()).unwrap();
        assert_eq!(
            count(&containers),
            counts(&[("data", 3), ("logs", 1), ("cache", 1)])
        );
    }

    /// Serves one connection with `reply` and hands back the request it read.
    fn fake_engine(reply: &'static str) -> (tempfile::TempDir, PathBuf, mpsc::Receiver<String>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let (sent, received) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "client closed before the end of its headers");
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(reply.as_bytes()).unwrap();
            sent.send(String::from_utf8(request).unwrap()).unwrap();
        });
        (dir, socket, received)
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[test]
    fn sends_an_http_1_0_get_and_counts_the_reply() {
        let (_dir, socket, request) = fake_engine(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n\
             [{\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"v\",\"Driver\":\"cs\"}]}]",
        );
        let in_use = volumes_in_use(&socket, LIMIT).unwrap();
        assert_eq!(in_use, counts(&[("v", 1)]));
        let request = request.recv().unwrap();
        assert_eq!(
            request.lines().next(),
            Some("GET /containers/json HTTP/1.0")
        );
    }

    #[test]
    fn an_error_status_carries_the_engines_message() {
        let (_dir, socket, _) = fake_engine(
            "HTTP/1.0 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n\
             {\"message\":\"boom\"}",
        );
        let err = volumes_in_use(&socket, LIMIT).unwrap_err();
        assert!(
            matches!(&err, DockerError::Status { status: 500, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn a_reply_that_is_not_http_or_not_json_is_unreadable() {
        for reply in ["SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.0 200 OK\r\n\r\n<html>"] {
            let (_dir, socket, _) = fake_engine(reply);
            let err = volumes_in_use(&socket, LIMIT).unwrap_err();
            assert!(matches!(err, DockerError::Reply { .. }), "{reply}: {err:?}");
        }
    }

    #[test]
    fn a_missing_socket_is_unreachable_and_says_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let err = volumes_in_use(&socket, LIMIT).unwrap_err();
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&*socket.to_string_lossy()), "{message}");
        assert!(message.contains("is dockerd running"), "{message}");
    }
}
