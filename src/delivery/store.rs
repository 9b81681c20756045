//! The bundle store: one URL (`s3://`, `gs://`, `az://`, `file://`, or a
//! read-only `http(s)://` prefix) opened through `object_store`, with the
//! few operations delivery needs, each blocking on a small tokio runtime of
//! its own: read with version, create-only write, compare-and-swap on the
//! version, streamed download with sha256, parallel multipart upload, list.
//!
//! S3 credentials come from the standard chain: the `AWS_*` environment
//! variables, then the shared credentials and config files
//! (`~/.aws/credentials`, `~/.aws/config`, `AWS_PROFILE`), then the
//! instance role or web identity that `object_store` finds itself.
//!
//! Local stores have no object versions in `object_store`, so their
//! compare-and-swap holds a file lock under `<dir>/.larder-locks/` while it
//! compares the object's e-tag and replaces it (by rename).

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{
    GetOptions, GetRange, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
    WriteMultipart,
};
use reqwest::Url;
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::store_client::{self, StoreConnector};

/// The size of each part of a multipart upload.
const PART_SIZE: usize = 16 << 20;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 8;

/// How to reach the store and write to it, from the configuration.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// `[store] endpoint`; `AWS_ENDPOINT_URL` wins over it, as for the AWS
    /// CLI.
    pub endpoint: Option<String>,
    /// `[store] multipart_threshold`: uploads at least this large go up as
    /// parallel multipart uploads; smaller ones as one create-only request.
    pub multipart_threshold: u64,
}

/// An object's version, for compare-and-swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

/// An object read with its version.
#[derive(Clone, Debug)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub version: Version,
}

/// What a create-only write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// The object was already there; it was left as it is.
    Existed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cloud,
    Local,
    ReadOnlyHttp,
}

/// An open bundle store.
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    kind: Kind,
    /// The store's prefix inside the bucket (empty for local stores).
    prefix: String,
    /// The store URL as given, credentials removed, for messages.
    url: String,
    /// The directory of a local store.
    local_root: Option<PathBuf>,
    /// Secrets from the environment, scrubbed from any message.
    secrets: Vec<String>,
    /// Where this kind of store takes its credentials from, for the
    /// message when they are refused.
    credentials: &'static str,
    multipart_threshold: u64,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Opens the store at `url` (or an absolute path, for a local store). A
    /// local store is created when `create` is set, and must exist
    /// otherwise.
    pub fn open(url: &str, settings: &StoreSettings, create: bool) -> Result<Store, DeliveryError> {
        let shown = crate::http::redact(url).trim_end_matches('/').to_string();
        let invalid = |reason: String| DeliveryError::InvalidStore {
            url: shown.clone(),
            reason,
        };
        let parsed = if url.starts_with('/') {
            // A plain absolute path is a local store.
            crate::file_url::from_file(std::path::Path::new(url))
                .ok_or_else(|| invalid("it is not a usable directory path".into()))?
        } else {
            Url::parse(url).map_err(|e| {
                invalid(format!(
                    "{e}; use s3://, gs://, az://, file:// or http(s)://, or an absolute path"
                ))
            })?
        };
        let url = parsed.as_str();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start its I/O runtime: {e}")))?;
        let prefix = parsed.path().trim_matches('/').to_string();
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        };
        let unusable = |e: object_store::Error| invalid(e.to_string());
        let (inner, kind, local_root): (Arc<dyn ObjectStore>, Kind, Option<PathBuf>) = match parsed
            .scheme()
        {
            "s3" => {
                let endpoint = std::env::var("AWS_ENDPOINT_URL")
                    .ok()
                    .filter(|e| !e.is_empty())
                    .or_else(|| settings.endpoint.clone());
                let plain_http = endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://"));
                let mut builder = AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_virtual_hosted_style_request(false)
                    // Every object is checked against its digest by its
                    // reader, so the payload is not hashed a second time
                    // to sign it (the headers still are).
                    .with_unsigned_payload(true)
                    .with_client_options(store_client::options(plain_http))
                    .with_http_connector(StoreConnector::new(plain_http))
                    .with_retry(retry);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                let profile = AwsProfile::load();
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                    && let (Some(key), Some(secret)) =
                        (profile.access_key_id, profile.secret_access_key)
                {
                    builder = builder
                        .with_access_key_id(key)
                        .with_secret_access_key(secret);
                    if let Some(token) = profile.session_token {
                        builder = builder.with_token(token);
                    }
                }
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    builder = builder.with_region(profile.region.as_deref().unwrap_or("us-east-1"));
                }
                let store = builder.build().map_err(unusable)?;
                (Arc::new(store), Kind::Cloud, None)
            }
            "gs" => {
                let store = GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .with_client_options(store_client::options(false))
                    .with_retry(retry)
                    .build()
                    .map_err(unusable)?;
                (Arc::new(store), Kind::Cloud, None)
            }
            "az" | "azure" => {
                let store = MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .with_client_options(store_client::options(false))
                    .with_retry(retry)
                    .build()
                    .map_err(unusable)?;
                (Arc::new(store), Kind::Cloud, None)
            }
            scheme @ ("http" | "https") => {
                let store = HttpBuilder::new()
                    .with_url(url)
                    .with_client_options(store_client::options(true))
                    .with_http_connector(StoreConnector::new(scheme == "http"))
                    .with_retry(retry)
                    .build()
                    .map_err(unusable)?;
                (Arc::new(store), Kind::ReadOnlyHttp, None)
            }
            "file" => {
                let dir = crate::file_url::to_path(&parsed)
                    .ok_or_else(|| invalid("it does not name a local absolute path".into()))?;
                if create {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
                } else if !dir.is_dir() {
                    return Err(invalid(format!("{} does not exist", dir.display())));
                }
                let store = LocalFileSystem::new_with_prefix(&dir).map_err(unusable)?;
                (Arc::new(store), Kind::Local, Some(dir))
            }
            other => {
                return Err(invalid(format!(
                    "scheme '{other}' is not supported; use s3://, gs://, az://, file:// or \
                         a read-only http(s):// prefix"
                )));
            }
        };
        let prefix = match kind {
            Kind::Local | Kind::ReadOnlyHttp => String::new(),
            Kind::Cloud => prefix,
        };
        let secrets = [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCESS_KEY",
            "AZURE_STORAGE_MASTER_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_STORAGE_SAS_TOKEN",
            "AZURE_STORAGE_TOKEN",
            "AZURE_STORAGE_CLIENT_SECRET",
            "AZURE_CLIENT_SECRET",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
        ]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|value| value.len() >= 4)
        .collect();
        Ok(Store {
            inner,
            kind,
            prefix,
            url: shown,
            local_root,
            secrets,
            credentials: credentials_hint(parsed.scheme()),
            multipart_threshold: settings.multipart_threshold,
            runtime,
        })
    }

    /// The store URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the object at `key`.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    fn key(&self, key: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(key)
        } else {
            Key::from(format!("{}/{key}", self.prefix))
        }
    }

    /// A store failure as an error naming the store and the object, with
    /// any secret from the environment scrubbed out.
    fn failure(
        &self,
        action: &'static str,
        key: &str,
        error: object_store::Error,
    ) -> DeliveryError {
        let mut detail = error.to_string();
        for secret in &self.secrets {
            detail = detail.replace(secret.as_str(), "****");
        }
        let denied = matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || detail.contains("403")
            || detail.contains("SignatureDoesNotMatch")
            || detail.contains("InvalidAccessKeyId");
        DeliveryError::Store {
            action,
            object: self.object_url(key),
            detail,
            denied: denied.then_some(self.credentials),
        }
    }

    /// Refuses writes to a read-only (plain HTTP) store.
    pub fn ensure_writable(&self) -> Result<(), DeliveryError> {
        match self.kind {
            Kind::ReadOnlyHttp => Err(DeliveryError::ReadOnly {
                url: self.url.clone(),
            }),
            Kind::Cloud | Kind::Local => Ok(()),
        }
    }

    /// Reads the object at `key` with its version; `None` when there is
    /// none.
    pub fn get(&self, key: &str) -> Result<Option<Object>, DeliveryError> {
        let location = self.key(key);
        let result = self.runtime.block_on(async {
            let got = self.inner.get(&location).await?;
            let version = Version {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            let bytes = got.bytes().await?;
            Ok::<_, object_store::Error>((bytes, version))
        });
        match result {
            Ok((bytes, version)) => Ok(Some(Object {
                bytes: bytes.to_vec(),
                version,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure("read", key, e)),
        }
    }

    /// Whether an object exists at `key`, and its size.
    pub fn size_of(&self, key: &str) -> Result<Option<u64>, DeliveryError> {
        match self.runtime.block_on(self.inner.head(&self.key(key))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure("inspect", key, e)),
        }
    }

    /// Writes `bytes` at `key` unless an object is there already.
    pub fn create(&self, key: &str, bytes: impl Into<Bytes>) -> Result<Created, DeliveryError> {
        self.runtime.block_on(self.create_async(key, bytes.into()))
    }

    async fn create_async(&self, key: &str, bytes: Bytes) -> Result<Created, DeliveryError> {
        self.ensure_writable()?;
        let location = self.key(key);
        let options = PutOptions::from(PutMode::Create);
        let result = self
            .inner
            .put_opts(&location, PutPayload::from(bytes), options)
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Created::Existed),
            Err(e) => Err(self.failure("write", key, e)),
        }
    }

    /// Replaces the object at `key` only if it still has version
    /// `expected` (`None`: only if there is none). Someone else's change in
    /// between is [`DeliveryError::Conflict`].
    pub fn swap(
        &self,
        key: &str,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<(), DeliveryError> {
        self.ensure_writable()?;
        let conflict = || DeliveryError::Conflict {
            object: self.object_url(key),
        };
        let location = self.key(key);
        if let Some(root) = &self.local_root {
            let _lock = lock_local(root, key)?;
            let current = match self.runtime.block_on(self.inner.head(&location)) {
                Ok(meta) => Some(meta.e_tag),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(self.failure("inspect", key, e)),
            };
            let matches = match (expected, current) {
                (None, None) => true,
                (Some(want), Some(have)) => want.e_tag.is_some() && want.e_tag == have,
                _ => false,
            };
            if !matches {
                return Err(conflict());
            }
            return self
                .runtime
                .block_on(self.inner.put(&location, PutPayload::from(bytes)))
                .map(|_| ())
                .map_err(|e| self.failure("write", key, e));
        }
        let mode = match expected {
            None => PutMode::Create,
            Some(version) => PutMode::Update(UpdateVersion {
                e_tag: version.e_tag.clone(),
                version: version.version.clone(),
            }),
        };
        let result = self.runtime.block_on(self.inner.put_opts(
            &location,
            PutPayload::from(bytes),
            PutOptions::from(mode),
        ));
        match result {
            Ok(_) => Ok(()),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(conflict()),
            Err(e) => Err(self.failure("write", key, e)),
        }
    }

    /// Whether an upload of `len` bytes goes up as one request that sends
    /// them in order ([`Store::upload`]).
    pub fn uploads_in_order(&self, len: u64) -> bool {
        len < self.multipart_threshold
    }

    /// Uploads `bytes` to `key`: one create-only request below the
    /// multipart threshold, parallel multipart parts from there on (the
    /// caller has checked that `key` is free; a racing upload of a
    /// content-addressed key writes the same bytes).
    pub fn upload(&self, key: &str, bytes: Bytes) -> Result<Created, DeliveryError> {
        self.runtime.block_on(self.upload_async(key, bytes))
    }

    /// [`Store::upload`], and meanwhile the create-only write of the small
    /// object `beside` ([`Store::create`]), so that it costs no round trip
    /// of its own. Returns what each found.
    pub fn upload_beside(
        &self,
        key: &str,
        bytes: Bytes,
        beside: (&str, Bytes),
    ) -> (
        Result<Created, DeliveryError>,
        Result<Created, DeliveryError>,
    ) {
        let (key_beside, bytes_beside) = beside;
        self.runtime.block_on(futures_util::future::join(
            self.upload_async(key, bytes),
            self.create_async(key_beside, bytes_beside),
        ))
    }

    async fn upload_async(&self, key: &str, bytes: Bytes) -> Result<Created, DeliveryError> {
        self.ensure_writable()?;
        if self.uploads_in_order(bytes.len() as u64) {
            return self.create_async(key, bytes).await;
        }
        let location = self.key(key);
        let result = async {
            let upload = self.inner.put_multipart(&location).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            // A failed part aborts the upload, so that no parts are left
            // behind to be billed (a failed completion aborts it too).
            let mut parts = (0..bytes.len()).step_by(PART_SIZE).peekable();
            loop {
                let in_flight = if parts.peek().is_some() {
                    PARTS_IN_FLIGHT
                } else {
                    0
                };
                if let Err(e) = writer.wait_for_capacity(in_flight).await {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                let Some(start) = parts.next() else { break };
                writer.put(bytes.slice(start..(start + PART_SIZE).min(bytes.len())));
            }
            writer.finish().await
        }
        .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(e) => Err(self.failure("upload", key, e)),
        }
    }

    /// Removes the object at `key`, if there is one.
    pub fn delete(&self, key: &str) -> Result<(), DeliveryError> {
        self.ensure_writable()?;
        match self.runtime.block_on(self.inner.delete(&self.key(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failure("delete", key, e)),
        }
    }

    /// Streams the object at `key` into `out` and returns its sha256;
    /// `None` when there is no such object.
    pub fn download(
        &self,
        key: &str,
        out: &mut dyn Write,
    ) -> Result<Option<String>, DeliveryError> {
        let location = self.key(key);
        let result = self.runtime.block_on(async {
            let mut stream = self.inner.get(&location).await?.into_stream();
            let mut hasher = Sha256::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                if let Err(e) = out.write_all(&chunk) {
                    return Ok(Err(e));
                }
            }
            Ok::<_, object_store::Error>(Ok(hex::encode(hasher.finalize())))
        });
        match result {
            Ok(Ok(digest)) => Ok(Some(digest)),
            Ok(Err(e)) => Err(DeliveryError::Download {
                object: self.object_url(key),
                detail: e.to_string(),
            }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure("download", key, e)),
        }
    }

    /// Downloads byte ranges of the object `key` into the files `paths`
    /// (created), up to `parallel` at a time. A response longer than its
    /// range is cut off there (the caller checks what it got); a missing
    /// object is the error `missing` makes.
    pub fn download_ranges(
        &self,
        key: &str,
        ranges: &[Range<u64>],
        paths: &[PathBuf],
        parallel: usize,
        missing: impl Fn() -> DeliveryError,
    ) -> Result<(), DeliveryError> {
        let missing = &missing;
        let location = &self.key(key);
        let jobs = ranges.iter().zip(paths).map(|(range, path)| {
            let limit = range.end.saturating_sub(range.start);
            let options = GetOptions {
                range: Some(GetRange::Bounded(range.clone())),
                ..GetOptions::default()
            };
            async move {
                let result = async {
                    let mut stream = self.inner.get_opts(location, options).await?.into_stream();
                    let mut out = match File::create(path) {
                        Ok(file) => std::io::BufWriter::with_capacity(1 << 20, file),
                        Err(e) => return Ok(Err(e)),
                    };
                    let mut size = 0u64;
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk?;
                        size += chunk.len() as u64;
                        if size > limit {
                            break;
                        }
                        if let Err(e) = out.write_all(&chunk) {
                            return Ok(Err(e));
                        }
                    }
                    Ok::<_, object_store::Error>(out.flush())
                }
                .await;
                match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(DeliveryError::Io {
                        action: "write",
                        path: path.clone(),
                        source: e,
                    }),
                    Err(object_store::Error::NotFound { .. }) => Err(missing()),
                    Err(e) => Err(self.failure("download", key, e)),
                }
            }
        });
        self.runtime.block_on(async {
            futures_util::stream::iter(jobs)
                .buffered(parallel.max(1))
                .collect::<Vec<Result<(), DeliveryError>>>()
                .await
                .into_iter()
                .collect()
        })
    }

    /// Copies the object at `from` to `to`, replacing what is there.
    pub fn copy(&self, from: &str, to: &str) -> Result<(), DeliveryError> {
        self.ensure_writable()?;
        self.runtime
            .block_on(self.inner.copy(&self.key(from), &self.key(to)))
            .map_err(|e| self.failure("copy", from, e))
    }

    /// Writes `bytes` at `key`, replacing what is there.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), DeliveryError> {
        self.ensure_writable()?;
        self.runtime
            .block_on(self.inner.put(&self.key(key), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.failure("write", key, e))
    }

    /// The names of the objects directly under `dir` (no deeper), sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, DeliveryError> {
        let location = self.key(dir);
        let result = self
            .runtime
            .block_on(self.inner.list_with_delimiter(Some(&location)));
        match result {
            Ok(listing) => {
                let mut names: Vec<String> = listing
                    .objects
                    .into_iter()
                    .filter_map(|meta| meta.location.filename().map(str::to_string))
                    .collect();
                names.sort();
                Ok(names)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.failure("list", dir, e)),
        }
    }
}

/// What the AWS shared files say for the profile in use (`AWS_PROFILE`,
/// else `default`): keys from `AWS_SHARED_CREDENTIALS_FILE` (default
/// `~/.aws/credentials`), the region from `AWS_CONFIG_FILE` (default
/// `~/.aws/config`). Missing files give nothing.
#[derive(Debug, Default, PartialEq, Eq)]
struct AwsProfile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
}

impl AwsProfile {
    fn load() -> AwsProfile {
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let file = |variable: &str, name: &str| {
            std::env::var_os(variable)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_default()
        };
        let credentials = ini_section(
            &file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            &profile,
        );
        let config_section = if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        };
        let config = ini_section(&file("AWS_CONFIG_FILE", "config"), &config_section);
        let get = |map: &[(String, String)], key: &str| {
            map.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        AwsProfile {
            access_key_id: get(&credentials, "aws_access_key_id"),
            secret_access_key: get(&credentials, "aws_secret_access_key"),
            session_token: get(&credentials, "aws_session_token"),
            region: get(&config, "region"),
        }
    }
}

/// What to check when a store of `scheme` refuses access: for a cloud, the
/// standard variables of its credential chain and the chain's last link
/// (a profile, an instance's identity).
fn credentials_hint(scheme: &str) -> &'static str {
    match scheme {
        "file" => "check the directory's permissions for this user",
        "s3" => "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile in use",
        "gs" => {
            "check GOOGLE_APPLICATION_CREDENTIALS / GOOGLE_SERVICE_ACCOUNT or the instance's \
             service account"
        }
        "az" | "azure" => {
            "check AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or \
             AZURE_STORAGE_SAS_KEY, or the identity in use"
        }
        _ => "check that the server lets this machine read it",
    }
}

/// The `key = value` pairs of section `[name]` of an INI text.
fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
        } else if inside && let Some((key, value)) = line.split_once('=') {
            pairs.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    pairs
}

/// The lock a local store's compare-and-swap of `key` holds.
fn lock_local(root: &Path, key: &str) -> Result<File, DeliveryError> {
    let dir = root.join(".larder-locks");
    let io_error = |action: &'static str, path: &Path, e: std::io::Error| DeliveryError::Io {
        action,
        path: path.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
    let path = dir.join(format!("{}.lock", key.replace('/', "%2F")));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    file.lock().map_err(|e| io_error("lock", &path, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_are_read_by_name() {
        let text = "[default]\naws_access_key_id = A\n# note\n[profile ci]\nregion=eu-west-1\n";
        assert_eq!(
            ini_section(text, "default"),
            vec![("aws_access_key_id".to_string(), "A".to_string())]
        );
        assert_eq!(
            ini_section(text, "profile ci"),
            vec![("region".to_string(), "eu-west-1".to_string())]
        );
        assert!(ini_section(text, "other").is_empty());
    }
}
