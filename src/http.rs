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
//!   hash the artifact as it arrives, refuse more than
//!   [`HttpSettings::max_download_size`] bytes and refuse an HTML page;
//! - an overall deadline per request ([`HttpSettings::deadline`]), retries,
//!   redirects and body included, checked between tries and between reads
//!   on top of the idle timeout (which cuts off a server that sends
//!   nothing), so that a server that trickles a byte a second cannot hold
//!   larder forever;
//! - redirects only to the same scheme or from `http` up to `https`, never
//!   down to `http` or to another scheme such as `file`
//!   ([`scheme_may_follow`]);
//! - errors that name the URL with its secrets redacted ([`redact`]).
//!
//! Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
//! (and their lowercase forms), which reqwest reads itself. Extra CA
//! certificates come from [`HttpSettings::ca_file`] and `$SSL_CERT_FILE`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// How long one request may take in all, retries, redirects and the
    /// whole body included.
    pub deadline: Duration,
    /// The largest artifact [`Client::download`] accepts (`None`: no cap).
    pub max_download_size: Option<u64>,
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
    /// Berkshelf's 30-second API timeout, a 10-minute deadline, 3 retries
    /// starting at 500 ms, no download cap.
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(600),
            max_download_size: None,
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
        "{url} timed out{}: {reason}. Try again later, or raise the timeout ([api] timeout)",
        describe_attempts(*attempts)
    )]
    Timeout {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error(
        "{url} timed out: no complete answer within the {seconds}-second deadline. Try again \
         later, or raise the deadline ([api] deadline)"
    )]
    Deadline { url: String, seconds: u64 },
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
    #[error(
        "the answer from {url} is larger than {limit} bytes; check the URL, or raise the cap \
         ([install] max_download_size)"
    )]
    TooLarge { url: String, limit: u64 },
    #[error(
        "{url} answered with an HTML page instead of the file to download; the registry is \
         failing or the URL is wrong"
    )]
    HtmlPage { url: String },
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

/// `url` with its secrets replaced by `***`, for messages and logs: the
/// user information of a `scheme://user:password@host` URL (any scheme)
/// and the value of every query parameter (`?token=***`). A URL is shown
/// as the URL parser writes it; text that does not parse is redacted as
/// written, and text without `://`, such as `git@host:o/r.git`, comes back
/// unchanged.
pub fn redact(url: &str) -> String {
    if let Ok(mut parsed) = Url::parse(url)
        && !parsed.cannot_be_a_base()
    {
        let has_user = !parsed.username().is_empty() || parsed.password().is_some();
        let user_removed =
            !has_user || (parsed.set_password(None).is_ok() && parsed.set_username("***").is_ok());
        if user_removed {
            if let Some(query) = parsed.query().map(redact_query) {
                parsed.set_query(Some(&query));
            }
            return parsed.to_string();
        }
    }
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut shown = url[..scheme_end].to_string();
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            shown.push_str("***");
            shown.push_str(&rest[at..authority_end]);
        }
        None => shown.push_str(&rest[..authority_end]),
    }
    let after = &rest[authority_end..];
    let fragment_start = after.find('#').unwrap_or(after.len());
    let (before_fragment, fragment) = after.split_at(fragment_start);
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            shown.push_str(path);
            shown.push('?');
            shown.push_str(&redact_query(query));
        }
        None => shown.push_str(before_fragment),
    }
    shown.push_str(fragment);
    shown
}

/// A query string with every value replaced by `***`.
fn redact_query(query: &str) -> String {
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None if pair.is_empty() => String::new(),
            None => "***".to_string(),
        })
        .collect();
    pairs.join("&")
}

/// `message` (from git, a server, a parser) with every secret of `url`
/// removed: the URL itself redacted, then its user information, password
/// and query values, as written and percent-decoded, wherever they appear.
pub fn redact_message(message: &str, url: &str) -> String {
    let mut message = message.replace(url, &redact(url));
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return message;
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut secrets = Vec::new();
    if let Some(at) = rest[..authority_end].rfind('@') {
        let info = &rest[..at];
        secrets.push(info.to_string());
        if let Some((_, password)) = info.split_once(':') {
            secrets.push(password.to_string());
        }
    }
    let after = &rest[authority_end..];
    let query = after[..after.find('#').unwrap_or(after.len())]
        .split_once('?')
        .map_or("", |(_, q)| q);
    for pair in query.split('&') {
        secrets.push(pair.split_once('=').map_or(pair, |(_, v)| v).to_string());
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    // Longest first, so that a password inside the user information does
    // not leave the user name behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        message = message.replace(secret.as_str(), "***");
    }
    message
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base` with `segments` (`universe`, `api/v1/search`) added to its path,
/// its query and fragment kept where they belong:
/// `https://h/r?token=t` gives `https://h/r/universe?token=t`. Text that is
/// not a URL gets the segments appended as written.
pub fn join_path(base: &str, segments: &str) -> String {
    match Url::parse(base) {
        Ok(mut url) if !url.cannot_be_a_base() => {
            let path = format!("{}/{segments}", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url.to_string()
        }
        _ => format!("{}/{segments}", base.trim_end_matches('/')),
    }
}

/// Whether a URL with scheme `from` (a source, or a URL that redirects) may
/// lead to one with scheme `to`: the same scheme, or `http` up to `https`.
/// So a remote registry can never name a local file (`file://`), only a
/// `file://` source can, and nothing read over `https` goes on over plain
/// `http`.
pub fn scheme_may_follow(from: &str, to: &str) -> bool {
    from.eq_ignore_ascii_case(to)
        || (from.eq_ignore_ascii_case("http") && to.eq_ignore_ascii_case("https"))
}

/// `url` with the user information of `source` when both have the same
/// origin and `url` names no user of its own: a registry's credentials go
/// with its own downloads, and never to another origin.
pub fn with_source_credentials(url: &Url, source: &Url) -> Url {
    let mut url = url.clone();
    if url.origin() == source.origin() && url.username().is_empty() && url.password().is_none() {
        let _ = url.set_username(source.username());
        let _ = url.set_password(source.password());
    }
    url
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

/// A response whose status is final (2xx or 304), with the URL it came
/// from and the deadline its body must arrive by.
struct Opened {
    response: reqwest::blocking::Response,
    url: Url,
    deadline: Deadline,
}

/// When a request must be over, retries, redirects and body included.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    end: Instant,
    total: Duration,
}

impl Deadline {
    fn start(total: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + total,
            total,
        }
    }

    /// The time left, `None` once it has passed.
    fn remaining(&self) -> Option<Duration> {
        self.end
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    fn expired(&self, url: &Url) -> HttpError {
        HttpError::Deadline {
            url: redact(url.as_str()),
            seconds: self.total.as_secs().max(1),
        }
    }
}

/// What larder calls itself in every HTTP request it makes.
pub const USER_AGENT: &str = concat!("larder/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// Builds a client. Fails only on an unreadable CA bundle.
    pub fn new(settings: HttpSettings) -> Result<Client, HttpError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
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
    /// headers). Retries happen only before the first byte is written. An
    /// HTML page, or more than [`HttpSettings::max_download_size`] bytes,
    /// is refused.
    pub fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        dest: &mut impl Write,
    ) -> Result<String, HttpError> {
        let opened = self.open(url, headers, None)?;
        let shown = redact(opened.url.as_str());
        let html = opened
            .response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
        if html {
            return Err(HttpError::HtmlPage { url: shown });
        }
        let limit = self.settings.max_download_size.unwrap_or(u64::MAX);
        let mut hasher = Sha256::new();
        read_body(opened, limit, &mut |chunk| {
            hasher.update(chunk);
            dest.write_all(chunk)
        })?;
        dest.flush()
            .map_err(|source| HttpError::Write { url: shown, source })?;
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
        let deadline = Deadline::start(self.settings.deadline);
        let response = self.send(&method, &parsed, header_map(headers)?, body, &deadline)?;
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
            deadline,
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
        let deadline = Deadline::start(self.settings.deadline);
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
            let response = self.send(&reqwest::Method::GET, &current, headers, None, &deadline)?;
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
                    deadline,
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
    /// again after an exponentially growing pause, as long as `deadline`
    /// leaves time.
    ///
    /// No per-request timeout is set: in reqwest that would be a total
    /// for the body too, cutting a large download off after the idle
    /// timeout. Waits stay bounded by the client's idle timeout, and the
    /// deadline is checked between tries and between reads.
    fn send(
        &self,
        method: &reqwest::Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<&[u8]>,
        deadline: &Deadline,
    ) -> Result<reqwest::blocking::Response, HttpError> {
        let attempts = self.settings.retries.saturating_add(1);
        let mut pause = self.settings.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= attempts;
            if deadline.remaining().is_none() {
                return Err(deadline.expired(url));
            }
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
                Err(_) if deadline.remaining().is_none() => return Err(deadline.expired(url)),
                Err(e) if !last && (e.is_connect() || e.is_timeout()) => {}
                Err(e) => return Err(classify(e, url, attempt)),
            }
            let left = deadline.remaining().ok_or_else(|| deadline.expired(url))?;
            std::thread::sleep(pause.min(left));
            pause = pause.saturating_mul(2).min(Duration::from_secs(8));
        }
    }
}

/// Hands the body of `opened` to `sink` chunk by chunk, refusing more than
/// `limit` bytes and stopping with "timed out" when the deadline passes.
fn read_body(
    opened: Opened,
    limit: u64,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), HttpError> {
    let Opened {
        mut response,
        url,
        deadline,
    } = opened;
    let shown = || redact(url.as_str());
    let too_large = || HttpError::TooLarge {
        url: shown(),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let read = match response.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if deadline.remaining().is_none() => return Err(deadline.expired(&url)),
            Err(e) if is_timeout(&e) => {
                return Err(HttpError::Timeout {
                    url: shown(),
                    attempts: 1,
                    reason: "the server stopped sending".into(),
                });
            }
            Err(e) => {
                return Err(HttpError::Body {
                    url: shown(),
                    reason: with_causes(&e),
                });
            }
        };
        total = total.saturating_add(read as u64);
        if total > limit {
            return Err(too_large());
        }
        sink(&buffer[..read]).map_err(|source| HttpError::Write {
            url: shown(),
            source,
        })?;
        if deadline.remaining().is_none() {
            return Err(deadline.expired(&url));
        }
    }
    Ok(())
}

/// Whether a body read failed because the server went quiet.
fn is_timeout(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::TimedOut {
        return true;
    }
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_timeout)
}

/// An error and the causes behind it as one line, each cause named once.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
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

/// Where a redirect goes: `Location` resolved against the current URL, on
/// a scheme [`scheme_may_follow`] allows. The first URL's credentials carry
/// over only within its origin.
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
    let next = current
        .join(location)
        .map_err(|e| bad(format!("'{}': {e}", redact(location))))?;
    if !scheme_may_follow(current.scheme(), next.scheme()) {
        return Err(bad(format!(
            "it leads from {} to {}, and a redirect may only keep its scheme or go from http up to https",
            current.scheme(),
            redact(next.as_str())
        )));
    }
    // The source URL's credentials stay on its own origin; a different
    // origin (S3, a CDN) never sees them.
    Ok(with_source_credentials(&next, first))
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
    let header = |name| {
        opened
            .response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let status = opened.response.status().as_u16();
    let shown = redact(opened.url.as_str());
    let mut body = Vec::new();
    read_body(opened, MAX_BODY, &mut |chunk| {
        body.extend_from_slice(chunk);
        Ok(())
    })?;
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
    with_causes(&error.without_url())
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
    fn redacts_user_information_and_query_values() {
        assert_eq!(
            redact("https://user:token@host/universe"),
            "https://***@host/universe"
        );
        assert_eq!(redact("https://token@host"), "https://***@host/");
        assert_eq!(
            redact("https://token@example.com:8443/r.git?x=a@b"),
            "https://***@example.com:8443/r.git?x=***"
        );
        assert_eq!(redact("ftp://user:PASSWORD@host/"), "ftp://***@host/");
        assert_eq!(
            redact("https://h/u?token=SECRET&bare#frag"),
            "https://h/u?token=***&***#frag"
        );
        assert_eq!(redact("not a url://u:p@h/x"), "not a url://***@h/x");
        for plain in ["git@github.com:o/r.git", "file:///tmp/r", "https://h/a@b"] {
            assert_eq!(redact(plain), plain);
        }
        let url = "https://me:p%40ss@h/r.git?t=a%2Fb";
        let message = redact_message(
            "failed for https://me:p%40ss@h/r.git?t=a%2Fb as me:p@ss, a/b",
            url,
        );
        assert_eq!(message, "failed for https://***@h/r.git?t=*** as ***, ***");
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn joins_paths_before_the_query_and_follows_schemes_upward_only() {
        assert_eq!(
            join_path("https://h/r/?token=t", "universe"),
            "https://h/r/universe?token=t"
        );
        assert_eq!(
            join_path("http://h:1", "api/v1/search"),
            "http://h:1/api/v1/search"
        );
        assert!(scheme_may_follow("http", "https"));
        assert!(scheme_may_follow("file", "file"));
        assert!(!scheme_may_follow("https", "file"));
        assert!(!scheme_may_follow("https", "http"));
        assert!(!scheme_may_follow("file", "https"));
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
