//! A Chef Infra Server: signed requests over the one HTTP client, with the
//! server API version negotiated, and errors that say what to fix.
//!
//! - [`sign`]: mixlib-authentication's signed headers (1.3 and 1.1);
//! - [`credentials`]: the server URL, client name and key, found as knife
//!   and Berkshelf find them;
//! - [`source`]: `/universe` as a source, cookbooks downloaded file by file
//!   from their manifest;
//! - [`upload`]: the sandbox flow of `larder upload`;
//! - [`environment`]: `larder apply ENV --server`.

pub mod credentials;
pub mod environment;
pub mod sign;
pub mod source;
pub mod upload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use reqwest::Url;
use serde_json::Value;

use crate::cache::CacheError;
use crate::http::{self, Client, Exchange, HttpError};
use credentials::Credentials;
use sign::{KeyError, SignVersion, SigningKey};

/// The newest server API version larder speaks: 1 (cookbook manifests by
/// segment; version 2's `all_files` is not needed).
pub const MAX_API_VERSION: u32 = 1;

/// The clock difference a Chef Server tolerates (15 minutes).
const ALLOWED_SKEW_SECS: u64 = 15 * 60;

/// Talking to a Chef Server failed.
#[derive(Debug, thiserror::Error)]
pub enum ChefServerError {
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "{url} refused the request ({status}) as client '{client}' signed with the key {}: \
         {server_says}. Check client_name and client_key (or --client-name/--client-key) and \
         that this client exists on the server",
        key.display()
    )]
    Unauthorized {
        url: String,
        status: u16,
        client: String,
        key: PathBuf,
        server_says: String,
    },
    #[error(
        "{url} refused the request as client '{client}' (key {}) because this machine's clock \
         is off{by}; set the clock right (NTP) and try again",
        key.display()
    )]
    ClockSkew {
        url: String,
        client: String,
        key: PathBuf,
        /// ` by about N seconds from the server's`, when the server's
        /// `Date` tells.
        by: String,
    },
    #[error("{url} was not found: {hint}")]
    NotFound { url: String, hint: String },
    #[error("{method} {url} failed with {status}: {server_says}")]
    Status {
        method: String,
        url: String,
        status: u16,
        server_says: String,
    },
    #[error("{url} did not answer as a Chef Server does: {reason}")]
    BadAnswer { url: String, reason: String },
    #[error(
        "{url} supports server API versions {min} to {max}, and larder speaks 0 to \
         {MAX_API_VERSION}; use a server that accepts one of these"
    )]
    ApiVersion { url: String, min: u32, max: u32 },
    #[error("no cached universe for {url}; run once without --offline")]
    Offline { url: String },
    #[error(
        "the file {file} from {url} is corrupt: {detail}; the copy on the server is damaged, \
         upload the cookbook again"
    )]
    Corrupt {
        /// `PATH of NAME (VERSION)`.
        file: String,
        url: String,
        /// What the MD5 is and what the manifest says.
        detail: String,
    },
    #[error("{name} ({version}) is frozen on {url}; upload with --force to replace it")]
    Frozen {
        name: String,
        version: String,
        url: String,
    },
    #[error(
        "the environment '{name}' does not exist on {url}; create it with `larder apply {name} \
         --server --create`, or with knife"
    )]
    EnvironmentNotFound { name: String, url: String },
    #[error("cannot upload the cookbook in {}: {reason}", dir.display())]
    CookbookFiles { dir: PathBuf, reason: String },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ChefServerError {
    /// Berkshelf's exit codes: 126 frozen cookbook, 129 environment not
    /// found, 115 invalid configuration (credentials, key), 132 invalid
    /// cookbook files (a corrupt download), 130 for any other failed
    /// conversation with the server (`ChefConnectionError`, unreachable
    /// servers included).
    pub fn exit_code(&self) -> u8 {
        match self {
            ChefServerError::Credentials(_)
            | ChefServerError::Key(_)
            | ChefServerError::Config(_) => 115,
            ChefServerError::Http(e) if e.exit_code() != 123 => e.exit_code(),
            ChefServerError::Cache(e) => u8::try_from(e.exit_code()).unwrap_or(47),
            ChefServerError::Frozen { .. } => 126,
            ChefServerError::EnvironmentNotFound { .. } => 129,
            ChefServerError::Corrupt { .. } | ChefServerError::CookbookFiles { .. } => 132,
            ChefServerError::Io { .. } => 47,
            _ => 130,
        }
    }

    /// The JSON kind for `--format json`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChefServerError::Credentials(_) | ChefServerError::Key(_) => "chef_credentials",
            ChefServerError::Unauthorized { .. } => "chef_unauthorized",
            ChefServerError::ClockSkew { .. } => "clock_skew",
            ChefServerError::Frozen { .. } => "frozen_cookbook",
            ChefServerError::EnvironmentNotFound { .. } => "environment_not_found",
            ChefServerError::Corrupt { .. } => "corrupt_cookbook_file",
            _ => "chef_server",
        }
    }
}

/// The server of a Berksfile source: `url`, or for `source :chef_server`
/// the configured one, with the credentials of this process (see
/// [`credentials::from_environment`]) and larder's configuration.
pub fn connect(client: &Client, url: Option<&str>) -> Result<Server, ChefServerError> {
    let home = crate::cache::home()?;
    let config = crate::config::Config::load(
        &home,
        std::path::Path::new("."),
        &crate::config::Overrides::default(),
    )?;
    let flags = credentials::Overrides {
        server_url: url.map(str::to_string),
        ..credentials::Overrides::default()
    };
    let credentials = credentials::from_environment(&flags, &config)?;
    Server::new(client.clone(), &credentials)
}

/// A Chef Server, with the client and key requests are signed as.
#[derive(Debug)]
pub struct Server {
    client: Client,
    /// The server URL, without a trailing `/` (`https://h/organizations/o`).
    url: String,
    client_name: String,
    key: SigningKey,
    version: SignVersion,
    /// The server API version sent; lowered once if the server asks.
    api_version: AtomicU32,
}

impl Server {
    /// Connects (lazily) with `credentials`, reading the key.
    pub fn new(client: Client, credentials: &Credentials) -> Result<Server, ChefServerError> {
        Ok(Server {
            client,
            url: credentials.server_url.trim_end_matches('/').to_string(),
            client_name: credentials.client_name.clone(),
            key: credentials.key()?,
            version: credentials.sign_version,
            api_version: AtomicU32::new(MAX_API_VERSION),
        })
    }

    /// The server URL (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The absolute URL of `target`: an absolute URL as is, a path below the
    /// server URL otherwise.
    pub fn absolute(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}/{}", self.url, target.trim_start_matches('/'))
        }
    }

    /// Sends a signed request and returns the answer whatever its status,
    /// after turning 401/403 into [`ChefServerError::Unauthorized`] or
    /// [`ChefServerError::ClockSkew`] and negotiating the API version on 406.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<Exchange, ChefServerError> {
        let url = self.absolute(target);
        let path = Url::parse(&url)
            .map(|u| u.path().to_string())
            .map_err(|e| HttpError::InvalidUrl {
                url: http::redact(&url),
                reason: e.to_string(),
            })?;
        let mut negotiated = false;
        loop {
            let api_version = self.api_version.load(Ordering::Relaxed).to_string();
            let timestamp = sign::timestamp(SystemTime::now());
            let signed = sign::sign(
                &self.key,
                &sign::Request {
                    method,
                    path: &path,
                    body,
                    user_id: &self.client_name,
                    timestamp: &timestamp,
                    server_api_version: &api_version,
                },
                self.version,
            )?;
            let mut headers: Vec<(&str, &str)> = signed
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            headers.push(("X-Ops-Server-API-Version", &api_version));
            headers.push(("X-Chef-Version", "12.0.0"));
            headers.push(("Accept", "application/json"));
            headers.extend_from_slice(extra);
            let sent_body = (method != "GET").then_some(body);
            let answer = self.client.exchange(method, &url, &headers, sent_body)?;
            match answer.status {
                401 | 403 => return Err(self.refused(&url, &answer)),
                406 if !negotiated => {
                    negotiated = true;
                    self.negotiate(&url, &answer)?;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// A signed request with a JSON body (or none, for `Value::Null`) whose
    /// answer must be 2xx JSON; 404 names `missing`.
    pub fn json(
        &self,
        method: &str,
        target: &str,
        body: &Value,
        missing: &str,
    ) -> Result<Value, ChefServerError> {
        let (bytes, extra): (Vec<u8>, &[(&str, &str)]) = if body.is_null() {
            (Vec::new(), &[])
        } else {
            (
                body.to_string().into_bytes(),
                &[("Content-Type", "application/json")],
            )
        };
        let answer = self.send(method, target, &bytes, extra)?;
        let url = http::redact(&self.absolute(target));
        match answer.status {
            200..=299 => {
                serde_json::from_slice(&answer.body).map_err(|e| ChefServerError::BadAnswer {
                    url,
                    reason: format!("its answer is not JSON ({e})"),
                })
            }
            404 => Err(ChefServerError::NotFound {
                url,
                hint: missing.to_string(),
            }),
            status => Err(self.failed(method, &url, status, &answer)),
        }
    }

    /// A failed request, with what the server said.
    pub fn failed(
        &self,
        method: &str,
        url: &str,
        status: u16,
        answer: &Exchange,
    ) -> ChefServerError {
        ChefServerError::Status {
            method: method.to_string(),
            url: http::redact(url),
            status,
            server_says: server_says(&answer.body),
        }
    }

    fn refused(&self, url: &str, answer: &Exchange) -> ChefServerError {
        let said = server_says(&answer.body);
        let skew = answer
            .header("date")
            .and_then(|date| httpdate::parse_http_date(date).ok())
            .map(|server| match server.duration_since(SystemTime::now()) {
                Ok(ahead) => ahead.as_secs(),
                Err(behind) => behind.duration().as_secs(),
            })
            .filter(|skew| *skew > ALLOWED_SKEW_SECS);
        let mentions_clock = said.to_lowercase().contains("clock");
        if skew.is_some() || mentions_clock {
            return ChefServerError::ClockSkew {
                url: http::redact(url),
                client: self.client_name.clone(),
                key: self.key.path().to_path_buf(),
                by: skew.map_or_else(String::new, |secs| {
                    format!(" by about {secs} seconds from the server's")
                }),
            };
        }
        ChefServerError::Unauthorized {
            url: http::redact(url),
            status: answer.status,
            client: self.client_name.clone(),
            key: self.key.path().to_path_buf(),
            server_says: said,
        }
    }

    /// Picks the newest API version both sides speak from a 406 answer's
    /// `X-Ops-Server-API-Version: {"min_version": .., "max_version": ..}`.
    fn negotiate(&self, url: &str, answer: &Exchange) -> Result<(), ChefServerError> {
        let bad = |reason: &str| ChefServerError::BadAnswer {
            url: http::redact(url),
            reason: reason.to_string(),
        };
        let header = answer
            .header("x-ops-server-api-version")
            .ok_or_else(|| bad("it answered 406 without X-Ops-Server-API-Version"))?;
        let value: Value = serde_json::from_str(header)
            .map_err(|_| bad("its X-Ops-Server-API-Version header is not JSON"))?;
        let number = |key: &str| -> Option<u32> {
            match &value[key] {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                _ => None,
            }
        };
        let (Some(min), Some(max)) = (number("min_version"), number("max_version")) else {
            return Err(bad(
                "its X-Ops-Server-API-Version header lacks min/max_version",
            ));
        };
        let chosen = max.min(MAX_API_VERSION);
        if chosen < min {
            return Err(ChefServerError::ApiVersion {
                url: http::redact(url),
                min,
                max,
            });
        }
        self.api_version.store(chosen, Ordering::Relaxed);
        Ok(())
    }
}

/// The message of a Chef Server error body (`{"error": ["..."]}`), or the
/// start of the body.
fn server_says(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        match &value["error"] {
            Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect();
                return parts.join("; ");
            }
            Value::String(s) => return s.clone(),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no reason given".to_string()
    } else {
        text.chars().take(200).collect()
    }
}
