//! A misbehaving Supermarket-style registry on loopback, for fault
//! injection through the binary: it serves a `/universe` and cookbook
//! tarballs, and on command truncates a body, lies about its length,
//! stalls, trickles a byte a second, resets the connection mid-body,
//! answers 200 with an HTML error page, redirects in a loop or to a local
//! file. It records
//! the path and headers of every request it reads.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;

/// What the server does wrong when answering one kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Announce the full length, send half the body, then close.
    Truncate,
    /// Announce half the real length and send only that much.
    WrongLength,
    /// Send the headers, then nothing, holding the connection open.
    Stall,
    /// Send the body one byte a second.
    Trickle,
    /// Send the body in eight parts, a second apart: slow, but never idle
    /// for long.
    Slow,
    /// Send half the body, then reset the connection (RST).
    Reset,
    /// Answer 200 with an HTML error page.
    HtmlPage,
    /// Redirect to the same URL, forever.
    RedirectLoop,
    /// Redirect to a local file, `file:///etc/passwd`.
    RedirectToFile,
}

/// One request the server read.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers and how it fails.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// The `/universe` body; `{base}` is replaced by the server's URL.
    pub universe: String,
    /// Tarballs by the path they are served at (`/download/x.tar.gz`).
    pub files: Vec<(String, Vec<u8>)>,
    /// How `/universe` fails, if at all.
    pub universe_fault: Option<Fault>,
    /// How every other path fails, if at all.
    pub download_fault: Option<Fault>,
}

/// A running hostile registry; it stops with the test process.
pub struct Hostile {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    script: Arc<Mutex<Script>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    pub fn start(script: Script) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script {
            universe: script.universe.replace("{base}", &url),
            ..script
        }));
        let (thread_script, thread_seen) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, seen) = (thread_script.clone(), thread_seen.clone());
                std::thread::spawn(move || serve(stream, &script, &seen));
            }
        });
        Hostile { url, script, seen }
    }

    /// Makes every later download fail as `fault` says (`None`: behave).
    pub fn set_download_fault(&self, fault: Option<Fault>) {
        self.script.lock().expect("the script").download_fault = fault;
    }

    /// Every request read so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the request log").clone()
    }
}

/// A one-cookbook universe whose `hostile 1.0.0` downloads from `url`.
pub fn universe_with_download(url: &str) -> String {
    format!(
        r#"{{"hostile": {{"1.0.0": {{"location_type": "opscode", "location_path": "{{base}}",
            "download_url": "{url}", "dependencies": {{}}}}}}}}"#
    )
}

/// The tarball of a cookbook `hostile` 1.0.0, padded with a `filler` file of
/// `filler` pseudo-random bytes (which do not compress) so that bodies are
/// long enough to cut.
pub fn cookbook_tarball(filler: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let files: [(&str, Vec<u8>); 3] = [
        (
            "hostile/metadata.rb",
            b"name 'hostile'\nversion '1.0.0'\n".to_vec(),
        ),
        ("hostile/recipes/default.rb", b"# nothing\n".to_vec()),
        ("hostile/files/filler.txt", pseudo_random(filler)),
    ];
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data.as_slice())
            .expect("append to the tarball");
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish the tarball")
}

/// `length` bytes of a fixed xorshift sequence.
fn pseudo_random(length: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn serve(stream: TcpStream, script: &Mutex<Script>, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the connection"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.trim_end().is_empty() => break,
            Ok(_) => {
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_lowercase(), value.trim().to_string()));
                }
            }
        }
    }
    seen.lock().expect("the request log").push(Seen {
        path: path.clone(),
        headers,
    });
    let script = script.lock().expect("the script").clone();
    let bare = path.split('?').next().unwrap_or("/");
    let (body, fault, content_type) = if bare.ends_with("/universe") {
        (
            script.universe.as_bytes().to_vec(),
            script.universe_fault,
            "application/json",
        )
    } else if let Some((_, data)) = script.files.iter().find(|(p, _)| p == bare) {
        (data.clone(), script.download_fault, "application/x-gzip")
    } else {
        let _ = respond(
            &stream,
            "404 Not Found",
            "text/plain",
            b"no such path",
            None,
        );
        return;
    };
    let _ = misbehave(stream, &path, &body, content_type, fault);
}

fn misbehave(
    stream: TcpStream,
    path: &str,
    body: &[u8],
    content_type: &str,
    fault: Option<Fault>,
) -> std::io::Result<()> {
    let half = &body[..body.len() / 2];
    match fault {
        None => respond(&stream, "200 OK", content_type, body, None),
        Some(Fault::Truncate) => respond(&stream, "200 OK", content_type, half, Some(body.len())),
        Some(Fault::WrongLength) => respond(&stream, "200 OK", content_type, half, None),
        Some(Fault::HtmlPage) => respond(
            &stream,
            "200 OK",
            "text/html; charset=utf-8",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            None,
        ),
        Some(Fault::RedirectLoop) => redirect(&stream, path),
        Some(Fault::RedirectToFile) => redirect(&stream, "file:///etc/passwd"),
        Some(Fault::Stall) => {
            head(&stream, content_type, body.len())?;
            std::thread::sleep(Duration::from_secs(120));
            Ok(())
        }
        Some(Fault::Trickle) => {
            head(&stream, content_type, body.len())?;
            let mut stream = &stream;
            for byte in body {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        }
        Some(Fault::Slow) => {
            head(&stream, content_type, body.len())?;
            let mut stream = &stream;
            for part in body.chunks(body.len().div_ceil(8).max(1)) {
                stream.write_all(part)?;
                stream.flush()?;
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        }
        Some(Fault::Reset) => {
            head(&stream, content_type, body.len())?;
            (&stream).write_all(half)?;
            (&stream).flush()?;
            std::thread::sleep(Duration::from_millis(200));
            // A zero linger time makes closing send RST instead of FIN (and
            // does not block, which is what the deprecation warns about).
            let socket = tokio::net::TcpSocket::from_std_stream(stream);
            #[allow(deprecated)]
            socket.set_linger(Some(Duration::ZERO))?;
            drop(socket);
            Ok(())
        }
    }
}

fn redirect(stream: &TcpStream, location: &str) -> std::io::Result<()> {
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn head(stream: &TcpStream, content_type: &str, length: usize) -> std::io::Result<()> {
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()
}

/// Writes a whole answer; `announced` is the Content-Length to claim when
/// it is not the body's.
fn respond(
    stream: &TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    announced: Option<usize>,
) -> std::io::Result<()> {
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        announced.unwrap_or(body.len())
    )?;
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Write)
}
