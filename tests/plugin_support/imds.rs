//! A local EC2 instance metadata server that keeps IMDSv2's rules: a GET is answered only
//! with a token that a PUT to /latest/api/token (with a TTL header) handed out, else 401, as
//! on an instance that requires IMDSv2. Or a silent one, which accepts connections and never
//! answers, like a link-local address off EC2 that drops packets.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";

pub struct ImdsServer {
    /// `http://127.0.0.1:PORT`, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub endpoint: String,
    /// Each request as `METHOD PATH -> STATUS`, in order; a silent server logs `connect`.
    log: Arc<Mutex<Vec<String>>>,
}

impl ImdsServer {
    /// Answers `zone` to the availability-zone GET that shows a valid token.
    pub fn start(zone: &str) -> Self {
        let zone = zone.to_string();
        Self::serve(move |stream, log| answer(stream, &zone, log))
    }

    /// Accepts every connection and holds it open without a word.
    pub fn silent() -> Self {
        let held = Mutex::new(Vec::new());
        Self::serve(move |stream, log| {
            log.lock().unwrap().push("connect".into());
            held.lock().unwrap().push(stream);
        })
    }

    fn serve(handle: impl Fn(TcpStream, &Mutex<Vec<String>>) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let served = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                handle(stream, &served);
            }
        });
        Self { endpoint, log }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// One request per connection: the plugin sends `Connection: close`.
fn answer(stream: TcpStream, zone: &str, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let token = format!("token-for-{zone}");
    let (status, body) = match (method, path) {
        ("PUT", "/latest/api/token") => match header("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|ttl| ttl.parse::<u32>().ok())
        {
            Some(1..=21600) => (200, token.as_str()),
            _ => (400, "missing or invalid TTL"),
        },
        ("GET", ZONE_PATH) if header("x-aws-ec2-metadata-token") == Some(token.as_str()) => {
            (200, zone)
        }
        ("GET", _) => (401, "Unauthorized"),
        _ => (404, "Not Found"),
    };
    log.lock()
        .unwrap()
        .push(format!("{method} {path} -> {status}"));
    let reply = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(reply.as_bytes());
}

/// A raw request to the server, for a test to prove what it refuses; the status it answers.
pub fn status_of(endpoint: &str, request: &str) -> u16 {
    use std::io::Read;
    let mut stream = TcpStream::connect(endpoint.trim_start_matches("http://")).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply.split_whitespace().nth(1).unwrap().parse().unwrap()
}
