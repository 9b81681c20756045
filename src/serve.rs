//! `larder serve`: a registry directory served over HTTP on loopback as a
//! Supermarket-compatible registry, for tests, demos and air-gapped
//! mirrors.
//!
//! Routes (all `GET` or `HEAD`):
//!
//! | path | answer |
//! |---|---|
//! | `/universe`, `/api/v1/universe` | the universe, with an ETag (304 on `If-None-Match`) |
//! | `/api/v1/cookbooks?start=&items=` | `{start,total,items:[...]}` |
//! | `/api/v1/search?q=&start=&items=` | the same shape; `total` counts all cookbooks, as Supermarket's does |
//! | `/api/v1/cookbooks/NAME` | name, maintainer, description, latest_version, versions (newest first) |
//! | `/api/v1/cookbooks/NAME/versions/VER` | license, tarball_file_size, version, cookbook, file, dependencies |
//! | `/api/v1/cookbooks/NAME/versions/VER/download` | 302 to `/tarballs/NAME-VER.tar.gz` |
//! | `/tarballs/NAME-VER.tar.gz` | the deterministic tarball ([`registry_dir::tarball`]) |
//! | `/files/PATH` | a file of a pre-built registry (`universe.json` directory) |
//!
//! `VER` may be `latest`, and underscores count as dots. Anything else is a
//! 404 in Supermarket's `{"error_code":"NOT_FOUND","error_messages":[...]}`
//! form. URLs in answers use the address actually bound.
//!
//! A client must send its request headers within the header timeout, and
//! at most [`connection_cap`] connections are open at once (the rest wait
//! to be accepted), so that idle or half-sent connections can neither hold
//! the server nor use up its file descriptors.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::source::registry_dir::{self, Entry, Registry, RegistryDirError};
use crate::source::supermarket::{self, SupermarketError};

/// How many cookbooks a listing returns at most, as Supermarket caps it.
const MAX_ITEMS: usize = 100;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "larder serve listens only on loopback (127.0.0.1 or ::1), not {addr}: it has no \
         authentication. Use --listen 127.0.0.1:PORT"
    )]
    NotLoopback { addr: SocketAddr },
    #[error(
        "cannot listen on {addr}: {reason}. Pick another port with --listen 127.0.0.1:PORT, or \
         127.0.0.1:0 for any free one"
    )]
    Bind { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Registry(#[from] RegistryDirError),
    #[error(transparent)]
    Universe(#[from] SupermarketError),
}

impl ServeError {
    /// Berkshelf's nearest exit code: a bad `--listen` is an argument error
    /// (99); the registry directory's errors keep their own codes.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::NotLoopback { .. } => 99,
            ServeError::Bind { .. } => 47,
            ServeError::Registry(e) => e.exit_code(),
            ServeError::Universe(e) => e.exit_code(),
        }
    }
}

/// One open connection, counted while it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn take(open: &Arc<AtomicUsize>) -> OpenConnection {
        open.fetch_add(1, Ordering::SeqCst);
        OpenConnection(Arc::clone(open))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many connections the server keeps open at once: its limit of open
/// files (from `/proc/self/limits`; 1024 where that cannot be read) less
/// 64 for the files it reads, at least 16 and at most 10,000.
pub fn connection_cap() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    limit.saturating_sub(64).clamp(16, 10_000)
}

/// What is being served.
enum Content {
    /// Scanned cookbooks, sorted by name then version.
    Cookbooks(Vec<Entry>),
    /// A pre-built registry: its files are served under `/files/`.
    Prebuilt { dir: PathBuf, versions: usize },
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    listener: std::net::TcpListener,
    /// `http://127.0.0.1:PORT`, where it listens.
    listening: String,
    /// What the URLs it writes start with: `--public-url` or `listening`.
    base: String,
    content: Content,
    universe: Arc<[u8]>,
    etag: String,
    /// `NAME-VERSION.tar.gz` → index into the entries.
    files: HashMap<String, usize>,
    /// Tarballs built so far.
    tarballs: Mutex<HashMap<usize, Arc<[u8]>>>,
}

/// One answer, before it is written.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Arc<[u8]>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: Arc::from(value.to_string().into_bytes()),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, code: &str, message: String) -> Reply {
        Reply::json(
            status,
            &json!({"error_code": code, "error_messages": [message]}),
        )
    }

    fn not_found(message: String) -> Reply {
        Reply::error(404, "NOT_FOUND", message)
    }

    fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            content_type: "text/plain",
            body: Arc::from(Vec::new()),
            headers: vec![("Location", location)],
        }
    }
}

impl Server {
    /// Reads `dir` and binds `listen` (a loopback address; port 0 picks a
    /// free port). The URLs the registry writes (universe, redirects) start
    /// with `public_url` when given (the address clients reach it at, such
    /// as a TLS proxy's `https://` URL), else with the bound address.
    pub fn bind(
        dir: &Path,
        listen: SocketAddr,
        public_url: Option<&Url>,
    ) -> Result<Server, ServeError> {
        if !listen.ip().is_loopback() {
            return Err(ServeError::NotLoopback { addr: listen });
        }
        let registry = registry_dir::open(dir)?;
        let bind_error = |e: std::io::Error| ServeError::Bind {
            addr: listen,
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let listening = format!("http://{bound}");
        let base = public_url.map_or_else(
            || listening.clone(),
            |url| url.as_str().trim_end_matches('/').to_string(),
        );
        let (content, universe) = match registry {
            Registry::Cookbooks(entries) => {
                let universe = supermarket::supermarket_universe(&entries, &base);
                (Content::Cookbooks(entries), universe)
            }
            Registry::Universe { path, body } => {
                let files =
                    Url::parse(&format!("{base}/files/")).map_err(|e| ServeError::Bind {
                        addr: bound,
                        reason: e.to_string(),
                    })?;
                let universe =
                    supermarket::rebase_universe(&body, &files, &path.display().to_string())?;
                let versions = count_versions(&universe);
                let dir = dir.to_path_buf();
                (Content::Prebuilt { dir, versions }, universe)
            }
        };
        let files = match &content {
            Content::Cookbooks(entries) => entries
                .iter()
                .enumerate()
                .map(|(i, e)| (tarball_name(e), i))
                .collect(),
            Content::Prebuilt { .. } => HashMap::new(),
        };
        let etag = format!("\"{}\"", hex::encode(Sha256::digest(&universe)));
        Ok(Server {
            listener,
            listening,
            base,
            content,
            universe: Arc::from(universe),
            etag,
            files,
            tarballs: Mutex::new(HashMap::new()),
        })
    }

    /// The address it listens on, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.listening
    }

    /// How many cookbook versions are served.
    pub fn version_count(&self) -> usize {
        match &self.content {
            Content::Cookbooks(entries) => entries.len(),
            Content::Prebuilt { versions, .. } => *versions,
        }
    }

    /// Answers requests on `threads` threads until the process ends. With
    /// `log`, prints `METHOD PATH STATUS` to stderr for each request.
    ///
    /// Each connection is served on its own task, so clients that keep
    /// connections open (HTTP keep-alive) never hold up others.
    pub fn run(
        self,
        threads: usize,
        log: bool,
        header_timeout: Duration,
    ) -> Result<(), ServeError> {
        let addr = self.listener.local_addr().map_err(|e| ServeError::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            reason: e.to_string(),
        })?;
        let fail = |e: std::io::Error| ServeError::Bind {
            addr,
            reason: e.to_string(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_io()
            .enable_time()
            .build()
            .map_err(fail)?;
        let std_listener = self.listener.try_clone().map_err(fail)?;
        std_listener.set_nonblocking(true).map_err(fail)?;
        let server = Arc::new(self);
        let cap = connection_cap();
        let open = Arc::new(AtomicUsize::new(0));
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).map_err(fail)?;
            loop {
                // At the cap, leave new connections waiting to be accepted
                // until one closes (the header timeout ends idle ones).
                while open.load(Ordering::SeqCst) >= cap {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors, say: wait, then go on.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let server = Arc::clone(&server);
                let slot = OpenConnection::take(&open);
                tokio::spawn(async move {
                    let _slot = slot;
                    let service = service_fn(move |request: Request<Incoming>| {
                        let server = Arc::clone(&server);
                        async move { Ok::<_, Infallible>(server.respond(&request, log)) }
                    });
                    // A connection that breaks off, or does not send its
                    // headers in time, only ends itself.
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    }

    /// Answers one request; a bug in answering becomes a 500, never a
    /// crash of the server.
    fn respond(&self, request: &Request<Incoming>, log: bool) -> Response<Full<Bytes>> {
        let method = request.method();
        let url = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_string(),
            |p| p.as_str().to_string(),
        );
        let if_none_match = request
            .headers()
            .get(hyper::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        let reply = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.answer(method, &url, if_none_match)
        }))
        .unwrap_or_else(|_| {
            Reply::error(
                500,
                "INTERNAL_ERROR",
                "the server failed; see its log".into(),
            )
        });
        if log {
            let _ = writeln!(std::io::stderr().lock(), "{method} {url} {}", reply.status);
        }
        to_response(reply)
    }

    fn answer(&self, method: &Method, raw: &str, if_none_match: Option<&str>) -> Reply {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Reply::error(
                405,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not supported; this registry is read-only"),
            );
        }
        let parsed = match raw
            .starts_with('/')
            .then(|| Url::parse(&format!("http://registry.invalid{raw}")))
        {
            Some(Ok(url)) => url,
            _ => {
                return Reply::error(
                    400,
                    "BAD_REQUEST",
                    "the request path is not a URL path".into(),
                );
            }
        };
        let segments: Vec<&str> = parsed
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let query: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        match segments.as_slice() {
            ["universe"] | ["api", "v1", "universe"] => self.universe(if_none_match),
            ["api", "v1", "cookbooks"] => self.listing(&query, None),
            ["api", "v1", "search"] => self.listing(&query, Some(query_text(&query))),
            ["api", "v1", "cookbooks", name] => self.cookbook(name),
            ["api", "v1", "cookbooks", name, "versions", version] => {
                self.with_version(name, version, |entry| self.version_info(entry))
            }
            [
                "api",
                "v1",
                "cookbooks",
                name,
                "versions",
                version,
                "download",
            ] => self.with_version(name, version, |entry| {
                Reply::redirect(format!("{}/tarballs/{}", self.base, tarball_name(entry)))
            }),
            ["tarballs", file] => self.tarball(file),
            ["files", rest @ ..] => self.prebuilt_file(rest),
            _ => Reply::not_found(format!("{} does not exist", parsed.path())),
        }
    }

    fn entries(&self) -> &[Entry] {
        match &self.content {
            Content::Cookbooks(entries) => entries,
            Content::Prebuilt { .. } => &[],
        }
    }

    fn universe(&self, if_none_match: Option<&str>) -> Reply {
        let headers = vec![("ETag", self.etag.clone())];
        if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == self.etag)) {
            return Reply {
                status: 304,
                content_type: "application/json",
                body: Arc::from(Vec::new()),
                headers,
            };
        }
        Reply {
            status: 200,
            content_type: "application/json",
            body: Arc::clone(&self.universe),
            headers,
        }
    }

    /// The versions of `name`, oldest first (empty when unknown).
    fn versions_of(&self, name: &str) -> &[Entry] {
        let entries = self.entries();
        let start = entries.partition_point(|e| e.name.as_str() < name);
        let end = entries.partition_point(|e| e.name.as_str() <= name);
        &entries[start..end]
    }

    fn cookbook_url(&self, name: &str) -> String {
        format!("{}/api/v1/cookbooks/{name}", self.base)
    }

    fn version_url(&self, entry: &Entry) -> String {
        format!(
            "{}/versions/{}",
            self.cookbook_url(&entry.name),
            entry.raw_version.replace('.', "_")
        )
    }

    fn cookbook(&self, name: &str) -> Reply {
        let versions = self.versions_of(name);
        let Some(latest) = versions.last() else {
            return Reply::not_found(format!("cookbook '{name}' does not exist"));
        };
        let urls: Vec<String> = versions.iter().rev().map(|e| self.version_url(e)).collect();
        Reply::json(
            200,
            &json!({
                "name": latest.name,
                "maintainer": latest.maintainer,
                "description": latest.description,
                "category": "Other",
                "latest_version": self.version_url(latest),
                "external_url": null,
                "deprecated": false,
                "versions": urls,
            }),
        )
    }

    /// Runs `answer` on the version `version` of `name` (`latest`, or the
    /// version with underscores for dots), or answers 404.
    fn with_version(
        &self,
        name: &str,
        version: &str,
        answer: impl FnOnce(&Entry) -> Reply,
    ) -> Reply {
        let versions = self.versions_of(name);
        let found = if version == "latest" {
            versions.last()
        } else {
            let wanted = version.replace('_', ".");
            versions.iter().find(|e| e.raw_version == wanted)
        };
        match found {
            Some(entry) => answer(entry),
            None => Reply::not_found(format!("cookbook '{name}' has no version '{version}'")),
        }
    }

    fn version_info(&self, entry: &Entry) -> Reply {
        let size = self
            .files
            .get(&tarball_name(entry))
            .and_then(|i| self.tarball_bytes(*i).ok())
            .map_or(0, |bytes| bytes.len());
        let dependencies: serde_json::Map<String, Value> = entry
            .dependencies
            .iter()
            .map(|(name, constraint)| (name.clone(), Value::String(constraint.to_string())))
            .collect();
        Reply::json(
            200,
            &json!({
                "license": entry.license,
                "tarball_file_size": size,
                "version": entry.raw_version,
                "cookbook": self.cookbook_url(&entry.name),
                "file": format!("{}/tarballs/{}", self.base, tarball_name(entry)),
                "dependencies": dependencies,
                "supports": {},
            }),
        )
    }

    /// `/cookbooks` (every cookbook) or `/search` (names or descriptions
    /// containing `q`, ignoring case), paged by `start` and `items`.
    fn listing(&self, query: &HashMap<String, String>, text: Option<String>) -> Reply {
        let number = |key: &str, default: usize| {
            query
                .get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        let start = number("start", 0);
        let items = number("items", 10).min(MAX_ITEMS);
        let newest: Vec<&Entry> = self
            .entries()
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                self.entries()
                    .get(i + 1)
                    .is_none_or(|next| next.name != e.name)
            })
            .map(|(_, e)| e)
            .collect();
        let total = newest.len();
        let hits: Vec<Value> = newest
            .into_iter()
            .filter(|e| match &text {
                Some(q) => {
                    e.name.to_lowercase().contains(q) || e.description.to_lowercase().contains(q)
                }
                None => true,
            })
            .skip(start)
            .take(items)
            .map(|e| {
                json!({
                    "cookbook_name": e.name,
                    "cookbook_maintainer": e.maintainer,
                    "cookbook_description": e.description,
                    "cookbook": self.cookbook_url(&e.name),
                })
            })
            .collect();
        Reply::json(200, &json!({"start": start, "total": total, "items": hits}))
    }

    fn tarball(&self, file: &str) -> Reply {
        let Some(index) = self.files.get(file) else {
            return Reply::not_found(format!("no tarball named '{file}'"));
        };
        match self.tarball_bytes(*index) {
            Ok(body) => Reply {
                status: 200,
                content_type: "application/x-gzip",
                body,
                headers: Vec::new(),
            },
            Err(e) => Reply::error(500, "INTERNAL_ERROR", e.to_string()),
        }
    }

    /// The tarball of entry `index`, built once.
    fn tarball_bytes(&self, index: usize) -> Result<Arc<[u8]>, RegistryDirError> {
        if let Ok(cache) = self.tarballs.lock()
            && let Some(bytes) = cache.get(&index)
        {
            return Ok(Arc::clone(bytes));
        }
        let Some(entry) = self.entries().get(index) else {
            return Ok(Arc::from(Vec::new()));
        };
        let bytes: Arc<[u8]> = Arc::from(registry_dir::tarball(entry)?);
        if let Ok(mut cache) = self.tarballs.lock() {
            cache.insert(index, Arc::clone(&bytes));
        }
        Ok(bytes)
    }

    /// A file of a pre-built registry, never outside its directory.
    fn prebuilt_file(&self, rest: &[&str]) -> Reply {
        let Content::Prebuilt { dir, .. } = &self.content else {
            return Reply::not_found("this registry serves no files".into());
        };
        let relative: PathBuf = rest.iter().collect();
        let safe = relative.components().all(
            |c| matches!(c, Component::Normal(part) if !part.to_string_lossy().starts_with('.')),
        );
        if !safe || rest.is_empty() {
            return Reply::not_found("no such file".into());
        }
        match std::fs::read(dir.join(&relative)) {
            Ok(bytes) => Reply {
                status: 200,
                content_type: "application/octet-stream",
                body: Arc::from(bytes),
                headers: Vec::new(),
            },
            Err(_) => Reply::not_found(format!("no file '{}'", relative.display())),
        }
    }
}

/// The `q` of a search, lowercased.
fn query_text(query: &HashMap<String, String>) -> String {
    query.get("q").map(|q| q.to_lowercase()).unwrap_or_default()
}

fn tarball_name(entry: &Entry) -> String {
    format!("{}-{}.tar.gz", entry.name, entry.raw_version)
}

/// How many versions a universe body lists.
fn count_versions(universe: &[u8]) -> usize {
    match serde_json::from_slice::<Value>(universe) {
        Ok(Value::Object(cookbooks)) => cookbooks
            .values()
            .map(|v| v.as_object().map_or(0, |versions| versions.len()))
            .sum(),
        _ => 0,
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_owner(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let content_type = ("Content-Type", reply.content_type.to_string());
    for (name, value) in std::iter::once(content_type).chain(reply.headers) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
