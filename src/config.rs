//! Settings from configuration files: `$LARDER_HOME/config.toml` (global)
//! and `./.larder/config.toml` (the project's, which wins), with command
//! line flags winning over both. Every effective value remembers where it
//! came from, for `larder config`.
//!
//! ```toml
//! [api]
//! timeout = 30            # seconds a request may wait for the server
//! deadline = 600          # seconds one request may take in all
//! connect_timeout = 10
//! retries = 3
//!
//! [ssl]
//! verify = true
//! ca_file = "certs/corp.pem"   # relative to the file's directory
//!
//! [install]
//! jobs = 8                # downloads at once
//! max_download_size = 536870912   # bytes per cookbook artifact
//!
//! [chef]                  # a Chef Infra Server (over ~/.chef/credentials and knife.rb)
//! server_url = "https://chef.example.com/organizations/acme"
//! client_name = "deploy"
//! client_key = "keys/deploy.pem"   # relative to the file's directory
//! sign_version = "1.3"             # or "1.1" for servers that need it
//!
//! [sources."https://artifactory.example.com/api/chef/chef"]
//! api_key = "..."         # used when the Berksfile and $ARTIFACTORY_API_KEY give none
//!
//! [store]
//! url = "s3://bucket/prefix"  # the bundle store (LARDER_STORE and --store win)
//! endpoint = "http://127.0.0.1:9000"  # S3-compatible endpoint (AWS_ENDPOINT_URL wins)
//! fixed_copy = true       # keep stacks/<name>/cookbooks.tar.gz current
//! multipart_threshold = 268435456  # bundles this large go up in parallel parts
//! ```
//!
//! Unknown keys are errors (Berkshelf's `InvalidConfiguration`, exit 115).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::http::HttpSettings;

/// The file name in both places.
pub const FILE_NAME: &str = "config.toml";

/// The default `[install] max_download_size`: 512 MiB.
pub const DEFAULT_MAX_DOWNLOAD_SIZE: u64 = 512 * 1024 * 1024;

/// The default `[store] multipart_threshold`: 256 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 256 * 1024 * 1024;

/// The largest object S3 takes in one request: 5 GiB.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a valid larder configuration: {reason}; see the Configuration section of the \
         README for the keys",
        path.display()
    )]
    Invalid { path: PathBuf, reason: String },
}

impl ConfigError {
    /// Berkshelf's `InvalidConfiguration`.
    pub fn exit_code(&self) -> i32 {
        115
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    ssl: SslSection,
    #[serde(default)]
    install: InstallSection,
    #[serde(default)]
    sources: BTreeMap<String, SourceSection>,
    #[serde(default)]
    chef: ChefSection,
    #[serde(default)]
    store: StoreSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChefSection {
    server_url: Option<String>,
    client_name: Option<String>,
    client_key: Option<PathBuf>,
    sign_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    url: Option<String>,
    endpoint: Option<String>,
    fixed_copy: Option<bool>,
    multipart_threshold: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    timeout: Option<u64>,
    deadline: Option<u64>,
    connect_timeout: Option<u64>,
    retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SslSection {
    verify: Option<bool>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallSection {
    jobs: Option<usize>,
    max_download_size: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSection {
    api_key: Option<String>,
}

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One effective value and its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            origin: Origin::Default,
        }
    }

    fn set(&mut self, value: Option<T>, origin: &Origin) {
        if let Some(value) = value {
            *self = Setting {
                value,
                origin: origin.clone(),
            };
        }
    }
}

/// The effective configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub timeout: Setting<u64>,
    /// `[api] deadline`: seconds one request may take in all.
    pub deadline: Setting<u64>,
    pub connect_timeout: Setting<u64>,
    pub retries: Setting<u32>,
    pub ssl_verify: Setting<bool>,
    pub ca_file: Setting<Option<PathBuf>>,
    pub jobs: Setting<usize>,
    /// `[install] max_download_size`: bytes per cookbook artifact.
    pub max_download_size: Setting<u64>,
    /// Artifactory API keys by source URL.
    pub api_keys: BTreeMap<String, Setting<String>>,
    /// The `[chef]` section: `server_url`, `client_name`, `client_key`
    /// (absolute), `sign_version`.
    pub chef: BTreeMap<&'static str, Setting<String>>,
    /// `[store] url`: the bundle store.
    pub store_url: Setting<Option<String>>,
    /// `[store] endpoint`: an S3-compatible endpoint.
    pub store_endpoint: Setting<Option<String>>,
    /// `[store] fixed_copy`: keep each stack's fixed-URL copy current.
    pub fixed_copy: Setting<bool>,
    /// `[store] multipart_threshold`: bundles at least this large (bytes)
    /// go up as parallel multipart uploads.
    pub multipart_threshold: Setting<u64>,
}

/// The flags that override configuration files.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub insecure: bool,
    pub jobs: Option<usize>,
}

/// One line of `larder config`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub key: String,
    /// The value as text; secrets are masked.
    pub value: String,
    /// `default`, a file path, or `flag --NAME`.
    pub origin: String,
}

impl Default for Config {
    fn default() -> Self {
        let http = HttpSettings::default();
        Config {
            timeout: Setting::default(http.timeout.as_secs()),
            deadline: Setting::default(http.deadline.as_secs()),
            connect_timeout: Setting::default(http.connect_timeout.as_secs()),
            retries: Setting::default(http.retries),
            ssl_verify: Setting::default(!http.insecure),
            ca_file: Setting::default(http.ca_file),
            jobs: Setting::default(8),
            max_download_size: Setting::default(DEFAULT_MAX_DOWNLOAD_SIZE),
            api_keys: BTreeMap::new(),
            chef: BTreeMap::new(),
            store_url: Setting::default(None),
            store_endpoint: Setting::default(None),
            fixed_copy: Setting::default(false),
            multipart_threshold: Setting::default(DEFAULT_MULTIPART_THRESHOLD),
        }
    }
}

impl Config {
    /// The global file in `home`, then the project's in
    /// `project_dir/.larder`, then the flags.
    pub fn load(home: &Path, project_dir: &Path, flags: &Overrides) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for path in [
            home.join(FILE_NAME),
            project_dir.join(".larder").join(FILE_NAME),
        ] {
            if path.is_file() {
                config.apply_file(&path)?;
            }
        }
        if flags.insecure {
            config.ssl_verify = Setting {
                value: false,
                origin: Origin::Flag("--insecure"),
            };
        }
        config.jobs.set(flags.jobs, &Origin::Flag("--jobs"));
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let origin = Origin::File(path.to_path_buf());
        let dir = path.parent().unwrap_or(Path::new("."));
        self.timeout.set(file.api.timeout, &origin);
        self.deadline.set(file.api.deadline, &origin);
        self.connect_timeout.set(file.api.connect_timeout, &origin);
        self.retries.set(file.api.retries, &origin);
        self.ssl_verify.set(file.ssl.verify, &origin);
        self.ca_file
            .set(file.ssl.ca_file.map(|ca| Some(dir.join(ca))), &origin);
        let zero = [
            ("install.jobs", file.install.jobs == Some(0)),
            ("api.deadline", file.api.deadline == Some(0)),
            (
                "install.max_download_size",
                file.install.max_download_size == Some(0),
            ),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: format!("{key} must be at least 1"),
            });
        }
        if file
            .store
            .multipart_threshold
            .is_some_and(|bytes| bytes > MAX_SINGLE_PUT)
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "store.multipart_threshold must be at most {MAX_SINGLE_PUT} (5 GiB, the \
                     largest single upload S3 takes)"
                ),
            });
        }
        self.jobs.set(file.install.jobs, &origin);
        self.max_download_size
            .set(file.install.max_download_size, &origin);
        let chef = [
            ("server_url", file.chef.server_url),
            ("client_name", file.chef.client_name),
            (
                "client_key",
                file.chef
                    .client_key
                    .map(|key| dir.join(key).display().to_string()),
            ),
            ("sign_version", file.chef.sign_version),
        ];
        for (key, value) in chef {
            if let Some(value) = value {
                self.chef.insert(
                    key,
                    Setting {
                        value,
                        origin: origin.clone(),
                    },
                );
            }
        }
        self.store_url.set(file.store.url.map(Some), &origin);
        self.store_endpoint
            .set(file.store.endpoint.map(Some), &origin);
        self.fixed_copy.set(file.store.fixed_copy, &origin);
        self.multipart_threshold
            .set(file.store.multipart_threshold, &origin);
        for (url, source) in file.sources {
            if let Some(key) = source.api_key {
                self.api_keys.insert(
                    url.trim_end_matches('/').to_string(),
                    Setting {
                        value: key,
                        origin: origin.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The HTTP client's settings.
    pub fn http(&self) -> HttpSettings {
        HttpSettings {
            timeout: Duration::from_secs(self.timeout.value),
            deadline: Duration::from_secs(self.deadline.value),
            max_download_size: Some(self.max_download_size.value),
            connect_timeout: Duration::from_secs(self.connect_timeout.value),
            retries: self.retries.value,
            insecure: !self.ssl_verify.value,
            ca_file: self.ca_file.value.clone(),
            ..HttpSettings::default()
        }
    }

    /// API keys by source URL (without a trailing slash).
    pub fn api_keys(&self) -> BTreeMap<String, String> {
        self.api_keys
            .iter()
            .map(|(url, key)| (url.clone(), key.value.clone()))
            .collect()
    }

    /// The `[chef]` section as credential overrides.
    pub fn chef_overrides(&self) -> crate::chef_server::credentials::Overrides {
        let get = |key| {
            self.chef
                .get(key)
                .map(|s: &Setting<String>| s.value.clone())
        };
        crate::chef_server::credentials::Overrides {
            server_url: get("server_url"),
            client_name: get("client_name"),
            client_key: get("client_key").map(PathBuf::from),
            sign_version: get("sign_version"),
        }
    }

    /// Every effective value with its origin, secrets masked.
    pub fn entries(&self) -> Vec<Entry> {
        fn entry<T>(key: &str, setting: &Setting<T>, value: String) -> Entry {
            Entry {
                key: key.to_string(),
                value,
                origin: setting.origin.to_string(),
            }
        }
        let mut entries = vec![
            entry("api.timeout", &self.timeout, self.timeout.value.to_string()),
            entry(
                "api.deadline",
                &self.deadline,
                self.deadline.value.to_string(),
            ),
            entry(
                "api.connect_timeout",
                &self.connect_timeout,
                self.connect_timeout.value.to_string(),
            ),
            entry("api.retries", &self.retries, self.retries.value.to_string()),
            entry(
                "ssl.verify",
                &self.ssl_verify,
                self.ssl_verify.value.to_string(),
            ),
            entry(
                "ssl.ca_file",
                &self.ca_file,
                self.ca_file
                    .value
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
            ),
            entry("install.jobs", &self.jobs, self.jobs.value.to_string()),
            entry(
                "install.max_download_size",
                &self.max_download_size,
                self.max_download_size.value.to_string(),
            ),
        ];
        for (key, setting) in &self.chef {
            entries.push(entry(
                &format!("chef.{key}"),
                setting,
                setting.value.clone(),
            ));
        }
        let text = |value: &Option<String>| {
            value
                .as_deref()
                .map_or_else(String::new, crate::http::redact)
        };
        entries.push(entry(
            "store.url",
            &self.store_url,
            text(&self.store_url.value),
        ));
        entries.push(entry(
            "store.endpoint",
            &self.store_endpoint,
            text(&self.store_endpoint.value),
        ));
        entries.push(entry(
            "store.fixed_copy",
            &self.fixed_copy,
            self.fixed_copy.value.to_string(),
        ));
        entries.push(entry(
            "store.multipart_threshold",
            &self.multipart_threshold,
            self.multipart_threshold.value.to_string(),
        ));
        for (url, key) in &self.api_keys {
            entries.push(entry(
                &format!("sources.\"{}\".api_key", crate::http::redact(url)),
                key,
                mask(&key.value),
            ));
        }
        entries
    }
}

/// A secret shown only by its last four characters, and only when it is
/// long enough that they give nothing away.
fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count >= 12 {
        let tail: String = secret.chars().skip(count - 4).collect();
        format!("****{tail}")
    } else {
        "****".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_section_is_read() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(FILE_NAME),
            "[store]\nurl = \"s3://b/p\"\nendpoint = \"http://127.0.0.1:9000\"\nfixed_copy = true\n\
             multipart_threshold = 33554432\n",
        )
        .unwrap();
        let config = Config::load(home.path(), home.path(), &Overrides::default()).unwrap();
        assert_eq!(config.multipart_threshold.value, 32 << 20);
        assert_eq!(config.store_url.value.as_deref(), Some("s3://b/p"));
        assert_eq!(
            config.store_endpoint.value.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert!(config.fixed_copy.value);
    }

    #[test]
    fn project_overrides_global_and_flags_override_both() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(FILE_NAME),
            "[api]\ntimeout = 60\nretries = 1\n[install]\njobs = 2\n",
        )
        .unwrap();
        std::fs::create_dir(project.path().join(".larder")).unwrap();
        let project_file = project.path().join(".larder").join(FILE_NAME);
        std::fs::write(
            &project_file,
            "[api]\ntimeout = 5\n[ssl]\nca_file = \"ca.pem\"\n\
             [sources.\"https://a.example/\"]\napi_key = \"abcdefghijklmnop\"\n",
        )
        .unwrap();
        let flags = Overrides {
            insecure: true,
            jobs: None,
        };
        let config = Config::load(home.path(), project.path(), &flags).unwrap();
        assert_eq!(config.timeout.value, 5);
        assert_eq!(config.timeout.origin, Origin::File(project_file.clone()));
        assert_eq!(config.retries.value, 1);
        assert_eq!(config.jobs.value, 2);
        assert_eq!(config.ssl_verify.origin, Origin::Flag("--insecure"));
        assert_eq!(
            config.ca_file.value,
            Some(project.path().join(".larder/ca.pem"))
        );
        let http = config.http();
        assert!(http.insecure);
        assert_eq!(http.timeout, Duration::from_secs(5));
        assert_eq!(config.api_keys()["https://a.example"], "abcdefghijklmnop");
        let key = config.entries().pop().unwrap();
        assert_eq!(key.value, "****mnop");
    }

    #[test]
    fn the_chef_section_gives_credential_overrides() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(FILE_NAME),
            "[chef]\nserver_url = \"https://c.example/organizations/o\"\n\
             client_name = \"deploy\"\nclient_key = \"keys/deploy.pem\"\n",
        )
        .unwrap();
        let config = Config::load(home.path(), home.path(), &Overrides::default()).unwrap();
        let chef = config.chef_overrides();
        assert_eq!(chef.client_name.as_deref(), Some("deploy"));
        assert_eq!(chef.client_key, Some(home.path().join("keys/deploy.pem")));
        assert!(
            config
                .entries()
                .iter()
                .any(|e| e.key == "chef.server_url" && e.value.ends_with("/organizations/o"))
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_file() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(FILE_NAME), "[ssl]\nverfy = false\n").unwrap();
        let err = Config::load(home.path(), home.path(), &Overrides::default()).unwrap_err();
        assert_eq!(err.exit_code(), 115);
        let message = err.to_string();
        assert!(message.contains("config.toml"), "{message}");
        assert!(message.contains("verfy"), "{message}");
    }
}
