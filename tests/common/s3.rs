//! A real S3-compatible server on loopback for the delivery tests:
//! `s3s-fs` (installed by `.ci/run`, or named by `$S3S_FS`) with access
//! keys, so every request is signed and checked. A missing `s3s-fs` fails
//! the test: it is never skipped.
//!
//! s3s-fs checks `If-Match` / `If-None-Match` and then writes, with no lock
//! in between, so two simultaneous conditional writes can both pass; S3
//! decides them atomically. The tests therefore reach it through a proxy
//! that passes one request at a time (bytes unchanged, so signatures still
//! verify), which makes it decide conditional writes as S3 does. The proxy
//! also logs each request line (`GET /bucket/key`), the server-side record
//! of what a command fetched.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub const ACCESS_KEY: &str = "AKIALARDERTEST";
pub const SECRET_KEY: &str = "larder-test-secret-0123456789abcdef";
pub const BUCKET: &str = "larder";

/// A running `s3s-fs` serving a temporary directory, with one bucket.
pub struct S3Server {
    /// `http://127.0.0.1:PORT` of the proxy in front of it.
    pub endpoint: String,
    /// The directory it serves; bucket `BUCKET` is a folder in it.
    pub root: tempfile::TempDir,
    child: Child,
    log: RequestLog,
}

type RequestLog = Arc<Mutex<Vec<String>>>;

/// The `s3s-fs` binary: `$S3S_FS`, else the one on PATH.
fn binary() -> PathBuf {
    super::required_program(
        "S3S_FS",
        "s3s-fs",
        "run `cargo install s3s-fs --version 0.14.1 --features binary --locked`",
    )
}

impl S3Server {
    /// Starts `s3s-fs` on a free loopback port and waits until it answers.
    pub fn start() -> S3Server {
        S3Server::start_with(Fault::None)
    }

    /// The same, but responses over 1 MB reach the client slowly, and
    /// `slow` is told once a third of one has gone out.
    pub fn start_slow(slow: mpsc::Sender<()>) -> S3Server {
        S3Server::start_with(Fault::Slow(slow))
    }

    /// The same, but every upload of part `part` of a multipart upload is
    /// refused (400, not forwarded).
    pub fn start_failing_part(part: u32) -> S3Server {
        S3Server::start_with(Fault::FailPart(part))
    }

    /// The same, but each upload of a whole bundle (`PUT
    /// .../bundles/<sha256>.tar.gz`) is held once it has arrived in full:
    /// `arrived` is told, and it goes on to the server when `go` says so.
    pub fn start_holding_bundle_uploads(
        arrived: mpsc::Sender<()>,
        go: mpsc::Receiver<()>,
    ) -> S3Server {
        S3Server::start_with(Fault::pausing_bundle_uploads(
            PausePoint::Arrived,
            arrived,
            go,
        ))
    }

    /// The same, but each upload of a whole bundle stops being read after
    /// its first MiB: `stalled` is told, and the rest is read when `go`
    /// says so (or is dropped).
    pub fn start_stalling_bundle_uploads(
        stalled: mpsc::Sender<()>,
        go: mpsc::Receiver<()>,
    ) -> S3Server {
        S3Server::start_with(Fault::pausing_bundle_uploads(
            PausePoint::AfterFirstMib,
            stalled,
            go,
        ))
    }

    fn start_with(fault: Fault) -> S3Server {
        let root = tempfile::tempdir().expect("a directory for s3s-fs");
        std::fs::create_dir(root.path().join(BUCKET)).expect("create the bucket");
        let (ip, port) = super::own_loopback_port(83);
        let child = Command::new(binary())
            .args(["--host", &ip.to_string(), "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        let mut server = S3Server {
            endpoint: String::new(),
            root,
            child,
            log: RequestLog::default(),
        };
        super::wait_until_listening(
            &mut server.child,
            "s3s-fs",
            (ip, port),
            Duration::from_secs(20),
        );
        server.endpoint =
            one_request_at_a_time(SocketAddr::from((ip, port)), fault, Arc::clone(&server.log));
        server
    }

    /// The request lines (`METHOD /path?query`) received since the last
    /// call, in order; the log is emptied.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The file holding the object `key` of the bucket.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does besides relaying.
#[derive(Clone)]
enum Fault {
    None,
    /// Responses over 1 MB go out slowly; the sender is told once a third
    /// of one has.
    Slow(mpsc::Sender<()>),
    /// Uploads of this part number are refused.
    FailPart(u32),
    /// Uploads of whole bundles pause at `at` until `go` says so (or is
    /// dropped); `paused` is told first.
    PauseBundleUpload {
        at: PausePoint,
        paused: mpsc::Sender<()>,
        go: Arc<Mutex<mpsc::Receiver<()>>>,
    },
}

/// Where the proxy pauses an upload of a whole bundle.
#[derive(Clone, Copy, PartialEq)]
enum PausePoint {
    /// Once the first MiB of its body has been read.
    AfterFirstMib,
    /// Once all of it has been read, before it goes on to the server.
    Arrived,
}

impl Fault {
    fn pausing_bundle_uploads(
        at: PausePoint,
        paused: mpsc::Sender<()>,
        go: mpsc::Receiver<()>,
    ) -> Fault {
        Fault::PauseBundleUpload {
            at,
            paused,
            go: Arc::new(Mutex::new(go)),
        }
    }

    /// Pauses the request with start line `line` if it is the upload of a
    /// whole bundle and this fault pauses those at `point`.
    fn pause(&self, point: PausePoint, line: &str) {
        if let Fault::PauseBundleUpload { at, paused, go } = self
            && *at == point
            && is_bundle_upload(line)
        {
            let _ = paused.send(());
            let go = go.lock().unwrap_or_else(|e| e.into_inner());
            let _ = go.recv_timeout(Duration::from_secs(60));
        }
    }
}

/// `METHOD /path?query` of a request's start line.
fn request_line(start_line: &str) -> &str {
    start_line.trim_end().trim_end_matches(" HTTP/1.1")
}

/// Whether a request line is the upload of a whole bundle.
fn is_bundle_upload(line: &str) -> bool {
    let line = request_line(line);
    line.starts_with("PUT ") && line.contains("/bundles/") && line.ends_with(".tar.gz")
}

/// Starts a proxy to `upstream` that relays one request and its response
/// at a time, and returns its URL.
fn one_request_at_a_time(upstream: SocketAddr, fault: Fault, log: RequestLog) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
    let port = listener.local_addr().expect("the proxy's address").port();
    let gate = Arc::new(Mutex::new(()));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let gate = Arc::clone(&gate);
            let fault = fault.clone();
            let log = Arc::clone(&log);
            std::thread::spawn(move || relay(client, upstream, &gate, &fault, &log));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    gate: &Mutex<()>,
    fault: &Fault,
    log: &Mutex<Vec<String>>,
) -> io::Result<()> {
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let server = TcpStream::connect(upstream)?;
    let mut from_server = BufReader::new(server.try_clone()?);
    let mut to_server = server;
    loop {
        let midway = |line: &str| fault.pause(PausePoint::AfterFirstMib, line);
        let Some((request, method)) = read_message(&mut from_client, None, &midway)? else {
            return Ok(());
        };
        let line = request_line(
            String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or(""),
        )
        .to_string();
        if let Fault::FailPart(part) = fault
            && line.starts_with("PUT ")
            && line.contains(&format!("partNumber={part}"))
        {
            let body =
                "<Error><Code>InvalidPart</Code><Message>refused by the test</Message></Error>";
            log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            write!(
                to_client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        }
        fault.pause(PausePoint::Arrived, &line);
        log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        let response = {
            let _one_at_a_time = gate.lock().unwrap_or_else(|e| e.into_inner());
            to_server.write_all(&request)?;
            read_message(&mut from_server, Some(&method), &|_| {})?
        };
        let Some((response, _)) = response else {
            return Ok(());
        };
        match fault {
            Fault::Slow(notify) if response.len() > 1 << 20 => {
                for (i, piece) in response.chunks(64 * 1024).enumerate() {
                    if i * 64 * 1024 * 3 > response.len() {
                        let _ = notify.send(());
                    }
                    to_client.write_all(piece)?;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            _ => to_client.write_all(&response)?,
        }
    }
}

/// Reads one HTTP/1.1 message (a request when `request_method` is `None`,
/// else the response to it) with its body, as raw bytes, and the first
/// word of its start line. `None` at the end of the stream. `midway` is
/// called with the start line once the first MiB of a body of known
/// length has been read.
fn read_message(
    reader: &mut BufReader<TcpStream>,
    request_method: Option<&str>,
    midway: &dyn Fn(&str),
) -> io::Result<Option<(Vec<u8>, String)>> {
    let mut raw = Vec::new();
    let mut length = None;
    let mut chunked = false;
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(line.as_bytes());
        if first.is_empty() {
            first = line.clone();
            continue;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse::<usize>().ok();
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let word = first.split_whitespace().next().unwrap_or("").to_string();
    let status = first.split_whitespace().nth(1).unwrap_or("");
    let no_body = match request_method {
        Some(method) => {
            method == "HEAD" || status.starts_with('1') || status == "204" || status == "304"
        }
        None => false,
    };
    if no_body {
        return Ok(Some((raw, word)));
    }
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            raw.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                loop {
                    let mut trailer = String::new();
                    reader.read_line(&mut trailer)?;
                    raw.extend_from_slice(trailer.as_bytes());
                    if trailer == "\r\n" || trailer.is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = raw.len();
            raw.resize(start + size + 2, 0);
            reader.read_exact(&mut raw[start..])?;
        }
    } else if let Some(length) = length {
        let start = raw.len();
        raw.resize(start + length, 0);
        let first_mib = start + length.min(1 << 20);
        reader.read_exact(&mut raw[start..first_mib])?;
        midway(&first);
        reader.read_exact(&mut raw[first_mib..])?;
    } else if request_method.is_some() {
        reader.read_to_end(&mut raw)?;
    }
    Ok(Some((raw, word)))
}
