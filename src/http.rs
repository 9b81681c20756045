//! The one HTTP client for everything larder fetches: universes, cookbook
//! artifacts, registry APIs.
//!
//! It wraps a blocking `reqwest` client (rustls, no OpenSSL) and adds what
//! larder needs on top:
//! - retries with exponential backoff on connect errors, timeouts and 5xx
//!   answers (never on 4xx, which will not change by asking again);
//! - redirects followed by hand, so that the caller's headers (an
//!   Artifactory API key, say) are dropped when a redirect leaves the
//!   origin, as they must be when Supermarket sends a download to S3;
//! - conditional GETs for cached universes, and streaming downloads that
//!   hash the artifact as it arrives;
//! - errors that name the URL with its credentials redacted ([`redact`]).
//!
//! Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
//! (and their lowercase forms), which reqwest reads itself. Extra CA
//! certificates come from [`HttpSettings::ca_file`] and `$SSL_CERT_FILE`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

/// The environment variable naming an extra CA bundle (PEM).
pub const CA_FILE_ENV: &str = "SSL_CERT_FILE";

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 10;

/// The largest body [`Client::get`] keeps in memory (a large public
/// universe is tens of megabytes).
pub const MAX_BODY: u64 = 512 * 1024 * 1024;

/// How the client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// How long one request may wait for the server (connecting, then each
    /// read of the body).
    pub timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How many times a failed request is tried again.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub backoff: Duration,
    /// Accept any certificate (`--insecure`).
    pub insecure: bool,
    /// An extra CA bundle (PEM) to trust, besides the built-in roots and
    /// `$SSL_CERT_FILE`.
    pub ca_file: Option<PathBuf>,
}

impl Default for HttpSettings {
    /// Berkshelf's 30-second API timeout, 3 retries starting at 500 ms.
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(500),
            insecure: false,
            ca_file: None,
        }
    }
}

/// A request that failed, naming the (redacted) URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "'{url}' is not a URL larder can fetch: {reason}. Use an http:// or https:// URL such as \
         https://supermarket.chef.io"
    )]
    InvalidUrl { url: String, reason: String },
    #[error("the header {name} cannot be sent: {reason}; check its name and value")]
    InvalidHeader { name: String, reason: String },
    #[error(
        "cannot read the CA bundle {}: {source}; point {CA_FILE_ENV} or the CA file setting at a \
         readable PEM file",
        path.display()
    )]
    CaFile { path: PathBuf, source: io::Error },
    #[error(
        "{} is not a PEM CA bundle: {reason}; point {CA_FILE_ENV} or the CA file setting at a PEM \
         file of certificates",
        path.display()
    )]
    CaBundle { path: PathBuf, reason: String },
    #[error("cannot set up the HTTP client: {reason}")]
    Setup { reason: String },
    #[error(
        "cannot connect to {url} (tried {attempts} times): {reason}. Check the URL, your network \
         and the HTTPS_PROXY/NO_PROXY variables"
    )]
    Connect {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error(
        "the TLS handshake with {url} failed: {reason}. If the server uses a private CA, set \
         {CA_FILE_ENV} to its PEM bundle; --insecure skips verification"
    )]
    Tls { url: String, reason: String },
    #[error(
        "{url} did not answer in time (tried {attempts} times): {reason}. Try again later, or \
         raise the timeout"
    )]
    Timeout {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error("{url} answered {status}{}. {}", describe_attempts(*attempts), status_hint(*status))]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("cannot follow the redirect from {url}: {reason}; check the URL")]
    Redirect { url: String, reason: String },
    #[error("reading the answer from {url} failed: {reason}. Try again")]
    Body { url: String, reason: String },
    #[error("the answer from {url} is larger than {limit} bytes; check the URL")]
    TooLarge { url: String, limit: u64 },
    #[error("cannot save the download from {url}: {source}")]
    Write { url: String, source: io::Error },
}

impl HttpError {
    /// The HTTP status for [`HttpError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Berkshelf's nearest exit code: a bad URL is an invalid source URI
    /// (137); anything else is a failed conversation with the registry
    /// (Berkshelf's `CommunitySiteError`, 123).
    pub fn exit_code(&self) -> u8 {
        match self {
            HttpError::InvalidUrl { .. } => 137,
            HttpError::CaFile { .. } | HttpError::CaBundle { .. } => 115,
            _ => 123,
        }
    }
}

fn describe_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (tried {attempts} times)")
    } else {
        String::new()
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "Check the credentials: the API key, token or user in the source URL",
        404 => "Check the URL: nothing is there",
        429 => "The server is limiting requests; try again later",
        500..=599 => "The server failed; try again later",
        _ => "Check the URL",
    }
}

/// `url` with any `user:password@` replaced by `***@`, for messages and
/// logs. Text that does not parse as a URL is redacted by hand up to the
/// last `@` before the path.
pub fn redact(url: &str) -> String {
    if let Ok(mut parsed) = Url::parse(url) {
        if parsed.username().is_empty() && parsed.password().is_none() {
            return parsed.to_string();
        }
        if parsed.set_username("***").is_ok() && parsed.set_password(None).is_ok() {
            return parsed.to_string();
        }
    }
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// `url` without its user information (`https://user:token@host/x` becomes
/// `https://host/x`), for what is written to disk, such as lockfiles. A
/// URL without credentials, or text that is not a URL (`git@host:o/r`),
/// comes back unchanged.
pub fn without_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A successful answer read into memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Where the body came from, after redirects (redacted).
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Any answer to [`Client::exchange`], with its headers (names lowercase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Exchange {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server said to a conditional GET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conditional {
    /// 304: the cached copy is current.
    NotModified,
    /// A new body, with the validators to send next time.
    Modified {
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// The validators of a cached copy, sent as `If-None-Match` and
/// `If-Modified-Since`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The client. Cheap to share by reference across threads.
#[derive(Clone, Debug)]
pub struct Client {
    inner: reqwest::blocking::Client,
    settings: HttpSettings,
}

/// A response whose status is final (2xx or 304), with the URL it came from.
struct Opened {
    response: reqwest::blocking::Response,
    url: Url,
}

impl Client {
    /// Builds a client. Fails only on an unreadable CA bundle.
    pub fn new(settings: HttpSettings) -> Result<Client, HttpError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("larder/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(settings.insecure);
        let from_env = std::env::var_os(CA_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        for path in settings.ca_file.iter().chain(from_env.iter()) {
            for certificate in read_ca_bundle(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let inner = builder.build().map_err(|e| HttpError::Setup {
            reason: describe(e),
        })?;
        Ok(Client { inner, settings })
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// GETs `url` and reads the body (at most [`MAX_BODY`] bytes). Any
    /// status but 2xx is an error.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        let opened = self.open(url, headers, None)?;
        read_response(opened)
    }

    /// GETs `url` unless the copy described by `validators` is current.
    pub fn get_conditional(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        validators: &Validators,
    ) -> Result<Conditional, HttpError> {
        let opened = self.open(url, headers, Some(validators))?;
        if opened.response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Conditional::NotModified);
        }
        let response = read_response(opened)?;
        Ok(Conditional::Modified {
            body: response.body,
            etag: response.etag,
            last_modified: response.last_modified,
        })
    }

    /// Streams the body of `url` into `dest` and returns its sha256 in hex.
    /// Redirects are followed, to other hosts too (without the caller's
    /// headers). Retries happen only before the first byte is written.
    pub fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        dest: &mut impl Write,
    ) -> Result<String, HttpError> {
        let Opened {
            mut response,
            url: final_url,
        } = self.open(url, headers, None)?;
        let shown = redact(final_url.as_str());
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(HttpError::Body {
                        url: shown,
                        reason: e.to_string(),
                    });
                }
            };
            hasher.update(&buffer[..read]);
            dest.write_all(&buffer[..read])
                .map_err(|source| HttpError::Write {
                    url: shown.clone(),
                    source,
                })?;
        }
        dest.flush().map_err(|source| HttpError::Write {
            url: shown.clone(),
            source,
        })?;
        Ok(hex::encode(hasher.finalize()))
    }

    /// Sends one request with `method` and `body` to `url` (no redirects
    /// followed) and returns the answer whatever its status, with every
    /// response header, for APIs whose 4xx answers carry meaning (a Chef
    /// Server's 401, 404 or 409). Connect errors, timeouts and 5xx are
    /// retried as for [`Client::get`]; `headers` are computed once, so a
    /// signature must stay valid across the retries.
    pub fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Exchange, HttpError> {
        let parsed = parse_url(url)?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| {
            HttpError::InvalidHeader {
                name: "method".into(),
                reason: e.to_string(),
            }
        })?;
        let response = self.send(&method, &parsed, header_map(headers)?, body)?;
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        let read = read_response(Opened {
            response,
            url: parsed,
        })?;
        Ok(Exchange {
            status: read.status,
            body: read.body,
            headers,
        })
    }

    /// Sends the GET, following redirects by hand, and returns the first
    /// answer that is not a redirect, if it is 2xx (or 304 when
    /// `validators` are given).
    fn open(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        validators: Option<&Validators>,
    ) -> Result<Opened, HttpError> {
        let first = parse_url(url)?;
        let caller_headers = header_map(headers)?;
        let mut conditional = HeaderMap::new();
        if let Some(validators) = validators {
            let pairs = [
                ("if-none-match", &validators.etag),
                ("if-modified-since", &validators.last_modified),
            ];
            for (name, value) in pairs {
                if let Some(value) = value
                    && let Ok(value) = HeaderValue::from_str(value)
                {
                    conditional.insert(HeaderName::from_static(name), value);
                }
            }
        }
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = current.origin() == first.origin();
            let mut headers = if same_origin {
                caller_headers.clone()
            } else {
                HeaderMap::new()
            };
            if same_origin {
                headers.extend(conditional.clone());
            }
            let response = self.send(&reqwest::Method::GET, &current, headers, None)?;
            let status = response.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                current = redirect_target(&current, &first, &response)?;
                continue;
            }
            if status.is_success()
                || (validators.is_some() && status == reqwest::StatusCode::NOT_MODIFIED)
            {
                return Ok(Opened {
                    response,
                    url: current,
                });
            }
            return Err(HttpError::Status {
                url: redact(current.as_str()),
                status: status.as_u16(),
                attempts: 1,
            });
        }
        Err(HttpError::Redirect {
            url: redact(url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// One request with retries: connect errors, timeouts and 5xx are tried
    /// again after an exponentially growing pause.
    fn send(
        &self,
        method: &reqwest::Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<reqwest::blocking::Response, HttpError> {
        let attempts = self.settings.retries.saturating_add(1);
        let mut pause = self.settings.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= attempts;
            let mut request = self
                .inner
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(body) = body {
                request = request.body(body.to_vec());
            }
            match request.send() {
                Ok(response) if response.status().is_server_error() => {
                    if last {
                        return Err(HttpError::Status {
                            url: redact(url.as_str()),
                            status: response.status().as_u16(),
                            attempts: attempt,
                        });
                    }
                }
                Ok(response) => return Ok(response),
                Err(e) if !last && (e.is_connect() || e.is_timeout()) => {}
                Err(e) => return Err(classify(e, url, attempt)),
            }
            std::thread::sleep(pause);
            pause = pause.saturating_mul(2).min(Duration::from_secs(8));
        }
    }
}

/// Where a redirect goes: `Location` resolved against the current URL. The
/// first URL's credentials carry over only within its origin.
fn redirect_target(
    current: &Url,
    first: &Url,
    response: &reqwest::blocking::Response,
) -> Result<Url, HttpError> {
    let bad = |reason: String| HttpError::Redirect {
        url: redact(current.as_str()),
        reason,
    };
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| bad("no Location header".into()))?
        .to_str()
        .map_err(|_| bad("a Location header that is not text".into()))?;
    let mut next = current
        .join(location)
        .map_err(|e| bad(format!("'{}': {e}", redact(location))))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(bad(format!("the {} scheme", next.scheme())));
    }
    if next.origin() == first.origin() && next.username().is_empty() {
        // Keep the source URL's credentials on its own host; a different
        // origin (S3, a CDN) never sees them.
        let _ = next.set_username(first.username());
        let _ = next.set_password(first.password());
    }
    Ok(next)
}

fn parse_url(url: &str) -> Result<Url, HttpError> {
    let invalid = |reason: String| HttpError::InvalidUrl {
        url: redact(url),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(invalid(format!("the {other} scheme is not HTTP"))),
    }
}

fn header_map(headers: &[(&str, &str)]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let invalid = |reason: String| HttpError::InvalidHeader {
            name: name.to_string(),
            reason,
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let mut value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

/// Reads a body into memory, refusing more than [`MAX_BODY`] bytes.
fn read_response(opened: Opened) -> Result<Response, HttpError> {
    let Opened { response, url } = opened;
    let shown = redact(url.as_str());
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let status = response.status().as_u16();
    if response.content_length().is_some_and(|n| n > MAX_BODY) {
        return Err(HttpError::TooLarge {
            url: shown,
            limit: MAX_BODY,
        });
    }
    let mut body = Vec::new();
    response
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| HttpError::Body {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
    if body.len() as u64 > MAX_BODY {
        return Err(HttpError::TooLarge {
            url: shown,
            limit: MAX_BODY,
        });
    }
    Ok(Response {
        url: shown,
        status,
        body,
        etag,
        last_modified,
    })
}

/// Reads every certificate of a PEM bundle.
fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpError> {
    let pem = std::fs::read(path).map_err(|source| HttpError::CaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpError::CaBundle {
            path: path.to_path_buf(),
            reason: describe(e),
        })?;
    if certificates.is_empty() {
        return Err(HttpError::CaBundle {
            path: path.to_path_buf(),
            reason: "it holds no certificates".into(),
        });
    }
    Ok(certificates)
}

/// Sorts a failed request into the error the user can act on.
fn classify(error: reqwest::Error, url: &Url, attempts: u32) -> HttpError {
    let url = redact(url.as_str());
    let timeout = error.is_timeout();
    let connect = error.is_connect();
    let reason = describe(error);
    let lower = reason.to_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        HttpError::Tls { url, reason }
    } else if timeout {
        HttpError::Timeout {
            url,
            attempts,
            reason,
        }
    } else if connect {
        HttpError::Connect {
            url,
            attempts,
            reason,
        }
    } else {
        HttpError::Body { url, reason }
    }
}

/// A reqwest error and its causes as one line, without the URL (which may
/// hold credentials; callers name the redacted URL themselves).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A loopback server answering each request with the next scripted
    /// `(status, headers, body)` (the last one repeats), recording the
    /// request headers it saw.
    /// The headers of one request, names lowercased.
    type Seen = Vec<(String, String)>;
    /// One scripted answer: status, headers, body.
    type Step = (u16, Vec<(&'static str, String)>, &'static str);

    struct Scripted {
        url: String,
        hits: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    fn scripted(script: Vec<Step>) -> Scripted {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (thread_hits, thread_seen) = (hits.clone(), seen.clone());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let n = thread_hits.fetch_add(1, Ordering::SeqCst);
                thread_seen.lock().unwrap().push(
                    request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string().to_lowercase(), h.value.to_string()))
                        .collect(),
                );
                let (status, headers, body) = &script[n.min(script.len() - 1)];
                let mut response =
                    tiny_http::Response::from_string(*body).with_status_code(*status);
                for (name, value) in headers {
                    response.add_header(
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap(),
                    );
                }
                let _ = request.respond(response);
            }
        });
        Scripted { url, hits, seen }
    }

    fn client() -> Client {
        Client::new(HttpSettings {
            retries: 2,
            backoff: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
            ..HttpSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn credentials_are_stripped_and_other_urls_kept_as_written() {
        assert_eq!(
            without_credentials("https://user:tok@git.example.com/o/r.git"),
            "https://git.example.com/o/r.git"
        );
        assert_eq!(without_credentials("https://host"), "https://host");
        assert_eq!(
            without_credentials("http://u:p@h:8080?x=a@b"),
            "http://h:8080?x=a@b"
        );
        assert_eq!(
            without_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("https://user:token@host/universe"),
            "https://***@host/universe"
        );
        assert_eq!(redact("https://token@host"), "https://***@host/");
        assert_eq!(redact("https://host/a@b"), "https://host/a@b");
        assert_eq!(redact("not a url://u:p@h/x"), "not a url://***@h/x");
    }

    #[test]
    fn retries_5xx_then_succeeds() {
        let server = scripted(vec![
            (503, vec![], "busy"),
            (200, vec![("ETag", "\"v1\"".into())], "{}"),
        ]);
        let response = client()
            .get(&format!("{}/universe", server.url), &[])
            .unwrap();
        assert_eq!(response.body, b"{}");
        assert_eq!(response.etag.as_deref(), Some("\"v1\""));
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn does_not_retry_4xx_and_names_the_url() {
        let server = scripted(vec![(404, vec![], "no")]);
        let url = server.url.replace("http://", "http://me:secret@");
        let err = client().get(&format!("{url}/x"), &[]).unwrap_err();
        assert_eq!(err.status(), Some(404));
        let text = err.to_string();
        assert!(text.contains("http://***@127.0.0.1"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn gives_up_on_5xx_after_the_retries() {
        let server = scripted(vec![(500, vec![], "broken")]);
        let err = client().get(&server.url, &[]).unwrap_err();
        assert!(
            err.to_string().contains("answered 500 (tried 3 times)"),
            "{err}"
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn connection_refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/universe", listener.local_addr().unwrap());
        drop(listener);
        let err = client().get(&url, &[]).unwrap_err();
        assert!(
            matches!(err, HttpError::Connect { attempts: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&url));
    }

    #[test]
    fn conditional_get_and_download() {
        let server = scripted(vec![
            (304, vec![], ""),
            (
                200,
                vec![("Last-Modified", "Tue, 01 Jan 2030".into())],
                "body",
            ),
        ]);
        let client = client();
        let validators = Validators {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        };
        assert_eq!(
            client
                .get_conditional(&server.url, &[], &validators)
                .unwrap(),
            Conditional::NotModified
        );
        assert!(
            server.seen.lock().unwrap()[0].contains(&("if-none-match".into(), "\"v1\"".into()))
        );
        let mut out = Vec::new();
        let digest = client.download(&server.url, &[], &mut out).unwrap();
        assert_eq!(out, b"body");
        assert_eq!(digest, hex::encode(Sha256::digest(b"body")));
    }

    #[test]
    fn exchange_returns_4xx_answers_with_their_headers() {
        let server = scripted(vec![(409, vec![("X-Why", "frozen".into())], "{}")]);
        let answer = client()
            .exchange(
                "PUT",
                &format!("{}/cookbooks/a/1.0.0", server.url),
                &[("Content-Type", "application/json")],
                Some(b"{}"),
            )
            .unwrap();
        assert_eq!(answer.status, 409);
        assert_eq!(answer.header("x-why"), Some("frozen"));
        assert_eq!(answer.body, b"{}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn redirects_drop_headers_across_origins() {
        let target = scripted(vec![(200, vec![], "tarball")]);
        let origin = scripted(vec![(
            302,
            vec![("Location", format!("{}/bucket/a.tar.gz", target.url))],
            "",
        )]);
        let mut out = Vec::new();
        client()
            .download(&origin.url, &[("X-Jfrog-Art-Api", "key")], &mut out)
            .unwrap();
        assert_eq!(out, b"tarball");
        let has_key =
            |seen: &Vec<(String, String)>| seen.iter().any(|(n, _)| n == "x-jfrog-art-api");
        assert!(has_key(&origin.seen.lock().unwrap()[0]));
        assert!(!has_key(&target.seen.lock().unwrap()[0]));
    }

    #[test]
    fn rejects_other_schemes_and_bad_ca_files() {
        let err = client().get("ftp://host/x", &[]).unwrap_err();
        assert_eq!(err.exit_code(), 137);
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not pem").unwrap();
        let err = Client::new(HttpSettings {
            ca_file: Some(bad.clone()),
            ..HttpSettings::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains(&bad.display().to_string()),
            "{err}"
        );
    }
}
