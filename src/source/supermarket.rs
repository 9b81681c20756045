//! Universes from registries: Supermarket and anything that speaks its API
//! (Artifactory, `larder serve`), and `file://` registry directories.
//!
//! [`fetch_universe`] gets the `/universe` body of a source: over HTTP it is
//! cached in the store with its ETag and Last-Modified and revalidated with
//! a conditional GET on the next run; `--offline` uses only the cached copy.
//! A `file://` URL names a directory read with [`super::registry_dir`].
//!
//! [`add_to_index`] turns a body into index releases, and
//! [`supermarket_universe`] / [`file_universe`] build a body from the
//! entries of a registry directory (the former is what `larder serve`
//! answers).

use std::path::{Path, PathBuf};

use reqwest::Url;
use serde_json::{Map, Value, json};

use super::registry_dir::{self, Entry, EntryKind, Registry, RegistryDirError};
use crate::cache::{CacheError, Store};
use crate::http::{self, Client, Conditional, HttpError, Validators};
use crate::index::{Index, Origin};
use crate::universe::{self, UniverseError};

/// The header Artifactory reads an API key from.
pub const ARTIFACTORY_HEADER: &str = "X-Jfrog-Art-Api";

/// Why a source's universe could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SupermarketError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("no cached universe for {url}; run once without --offline")]
    Offline { url: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot read the cached universe {}: {source}; run again without --offline to fetch it anew", path.display())]
    CachedBody {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryDirError),
    #[error(
        "'{url}' is not a valid source URI: {reason}. Valid schemes: http, https and file (a \
         file:// URL must name a local directory)"
    )]
    InvalidSource { url: String, reason: String },
    #[error("{origin} is not a cookbook universe: {reason}; fix or remove it")]
    BadUniverse { origin: String, reason: String },
    #[error("{url} did not answer as a Supermarket API does: {reason}; check the source URL")]
    BadAnswer { url: String, reason: String },
}

impl SupermarketError {
    /// Berkshelf's nearest exit code: 137 for a bad source URI, 123
    /// (`CommunitySiteError`) for a registry that cannot be reached or
    /// read, the registry directory's own codes for a `file://` source.
    pub fn exit_code(&self) -> u8 {
        match self {
            SupermarketError::Http(e) => e.exit_code(),
            SupermarketError::Cache(e) => u8::try_from(e.exit_code()).unwrap_or(47),
            SupermarketError::Registry(e) => e.exit_code(),
            SupermarketError::InvalidSource { .. } => 137,
            SupermarketError::Offline { .. }
            | SupermarketError::CachedBody { .. }
            | SupermarketError::BadUniverse { .. }
            | SupermarketError::BadAnswer { .. } => 123,
        }
    }
}

/// The URL of a source's universe: `/universe` added to its path.
pub fn universe_url(source_url: &str) -> String {
    http::join_path(source_url, "universe")
}

/// The universe body of the source at `url` (`http(s)://` or `file://`).
///
/// Over HTTP the body is cached in `store`, keyed by the redacted URL (no
/// credentials reach the disk), and revalidated with a conditional GET.
/// With `offline`, only the cache is used. `headers` go with every request
/// (pass [`ARTIFACTORY_HEADER`] for Artifactory).
pub fn fetch_universe(
    client: &Client,
    store: &Store,
    url: &str,
    headers: &[(&str, &str)],
    offline: bool,
) -> Result<Vec<u8>, SupermarketError> {
    let parsed = Url::parse(url).map_err(|e| SupermarketError::InvalidSource {
        url: http::redact(url),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "file" => return file_source_universe(url, &parsed),
        "http" | "https" => {}
        other => {
            return Err(SupermarketError::InvalidSource {
                url: http::redact(url),
                reason: format!("invalid URI scheme '{other}'"),
            });
        }
    }
    let target = universe_url(url);
    let cache = store.universe_cache(&http::redact(&target));
    let cached = cache.meta();
    let read_cached = || {
        std::fs::read(cache.body_path()).map_err(|source| SupermarketError::CachedBody {
            path: cache.body_path().to_path_buf(),
            source,
        })
    };
    if offline {
        return match cached {
            Some(_) => read_cached(),
            None => Err(SupermarketError::Offline {
                url: http::redact(&target),
            }),
        };
    }
    let validators = cached
        .map(|meta| Validators {
            etag: meta.etag,
            last_modified: meta.last_modified,
        })
        .unwrap_or_default();
    match client.get_conditional(&target, headers, &validators)? {
        Conditional::NotModified => read_cached(),
        Conditional::Modified {
            body,
            etag,
            last_modified,
        } => {
            cache.store(&body, etag.as_deref(), last_modified.as_deref())?;
            Ok(body)
        }
    }
}

/// Adds the releases of a universe body to `index`, each with the origin
/// `Origin::Registry { source, download_url }` (`Origin::Listed` when the
/// body gives no download URL, as a Chef Server's does not). `source_url`
/// names the body in notes and errors (redacted).
pub fn add_to_index(
    body: &[u8],
    source_url: &str,
    source: usize,
    index: &mut Index,
) -> Result<(), UniverseError> {
    universe::parse_into(body, &http::redact(source_url), index, |_, download_url| {
        match download_url {
            Some(url) => Origin::Registry {
                source,
                download_url: url.to_string(),
            },
            None => Origin::Listed,
        }
    })
    .map(drop)
}

/// The universe of a `file://` source: its `universe.json` (relative
/// download URLs made absolute `file://` URLs), or one built from the
/// cookbooks in the directory.
fn file_source_universe(url: &str, parsed: &Url) -> Result<Vec<u8>, SupermarketError> {
    let dir = crate::file_url::to_path(parsed).ok_or_else(|| SupermarketError::InvalidSource {
        url: http::redact(url),
        reason: "it does not name a local path".into(),
    })?;
    match registry_dir::open(&dir)? {
        Registry::Universe { path, body } => {
            let base = directory_url(&dir, url)?;
            rebase_universe(&body, &base, &path.display().to_string())
        }
        Registry::Cookbooks(entries) => {
            let base = directory_url(&dir, url)?;
            file_universe(&entries, &base)
        }
    }
}

fn directory_url(dir: &Path, url: &str) -> Result<Url, SupermarketError> {
    crate::file_url::from_dir(dir).ok_or_else(|| SupermarketError::InvalidSource {
        url: http::redact(url),
        reason: "it does not name an absolute directory".into(),
    })
}

/// A Supermarket `/universe` body for the entries of a registry directory
/// served at `base_url`: `location_type` `opscode`, `location_path`
/// `{base}/api/v1`, and `download_url`
/// `{base}/api/v1/cookbooks/NAME/versions/VERSION/download`.
pub fn supermarket_universe(entries: &[Entry], base_url: &str) -> Vec<u8> {
    let base = base_url.trim_end_matches('/');
    universe_body(entries, "opscode", &format!("{base}/api/v1"), |entry| {
        format!(
            "{base}/api/v1/cookbooks/{}/versions/{}/download",
            entry.name, entry.raw_version
        )
    })
}

/// A universe body for the entries of a registry directory read through a
/// `file://` source at `base` (the directory's URL): `location_type`
/// `file_store`, and `download_url` the `file://` URL of each folder or
/// tarball.
pub fn file_universe(entries: &[Entry], base: &Url) -> Result<Vec<u8>, SupermarketError> {
    let mut urls = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = entry.kind.path();
        let url = match &entry.kind {
            EntryKind::Folder(_) => crate::file_url::from_dir(path),
            EntryKind::Tarball(_) => crate::file_url::from_file(path),
        }
        .ok_or_else(|| SupermarketError::InvalidSource {
            url: base.to_string(),
            reason: format!("{} is not an absolute path", path.display()),
        })?;
        urls.push(url.to_string());
    }
    let mut next = urls.into_iter();
    Ok(universe_body(entries, "file_store", base.as_str(), |_| {
        next.next().unwrap_or_default()
    }))
}

fn universe_body(
    entries: &[Entry],
    location_type: &str,
    location_path: &str,
    mut download_url: impl FnMut(&Entry) -> String,
) -> Vec<u8> {
    let mut cookbooks = Map::new();
    for entry in entries {
        let dependencies: Map<String, Value> = entry
            .dependencies
            .iter()
            .filter(|(name, _)| *name != entry.name)
            .map(|(name, constraint)| (name.clone(), Value::String(constraint.to_string())))
            .collect();
        let versions = cookbooks
            .entry(entry.name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(versions) = versions {
            versions.insert(
                entry.raw_version.clone(),
                json!({
                    "location_type": location_type,
                    "location_path": location_path,
                    "download_url": download_url(entry),
                    "dependencies": dependencies,
                }),
            );
        }
    }
    Value::Object(cookbooks).to_string().into_bytes()
}

/// A universe body with each relative `download_url` resolved against
/// `base` (absolute URLs are kept). `origin` names the body in errors.
pub fn rebase_universe(body: &[u8], base: &Url, origin: &str) -> Result<Vec<u8>, SupermarketError> {
    let bad = |reason: String| SupermarketError::BadUniverse {
        origin: origin.to_string(),
        reason,
    };
    let mut document: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let Value::Object(cookbooks) = &mut document else {
        return Err(bad("expected a JSON object of cookbook names".into()));
    };
    for versions in cookbooks.values_mut() {
        let Value::Object(versions) = versions else {
            continue;
        };
        for entry in versions.values_mut() {
            let Some(Value::String(url)) = entry.get_mut("download_url") else {
                continue;
            };
            if Url::parse(url).is_err() {
                let joined = base
                    .join(url)
                    .map_err(|e| bad(format!("download_url '{url}': {e}")))?;
                *url = joined.to_string();
            }
        }
    }
    Ok(document.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Constraint;

    fn entry(name: &str, version: &str, deps: &[(&str, &str)], path: &Path) -> Entry {
        Entry {
            name: name.into(),
            version: version.parse().unwrap(),
            raw_version: version.into(),
            dependencies: deps
                .iter()
                .map(|(n, c)| (n.to_string(), Constraint::parse(c).unwrap()))
                .collect(),
            description: String::new(),
            maintainer: String::new(),
            license: String::new(),
            kind: EntryKind::Folder(path.to_path_buf()),
        }
    }

    #[test]
    fn builds_a_supermarket_universe_that_loads_back() {
        let dir = Path::new("/registry");
        let entries = [
            entry("base", "1.0.0", &[], dir),
            entry("app", "1.0.0", &[("base", "~> 1.0")], dir),
        ];
        let body = supermarket_universe(&entries, "http://127.0.0.1:9/");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value["app"]["1.0.0"],
            json!({
                "location_type": "opscode",
                "location_path": "http://127.0.0.1:9/api/v1",
                "download_url": "http://127.0.0.1:9/api/v1/cookbooks/app/versions/1.0.0/download",
                "dependencies": {"base": "~> 1.0"},
            })
        );
        let mut index = Index::new();
        add_to_index(&body, "http://u:p@127.0.0.1:9", 2, &mut index).unwrap();
        let app = index.by_name("app").unwrap();
        assert!(matches!(
            &app.releases[0].origin,
            Origin::Registry { source: 2, download_url } if download_url.ends_with("/download")
        ));
    }

    #[test]
    fn rebases_relative_download_urls() {
        let body = br#"{"a": {"1.0.0": {"download_url": "tarballs/a-1.0.0.tar.gz"},
                              "2.0.0": {"download_url": "https://elsewhere/a.tgz"}}}"#;
        let base = Url::parse("file:///srv/registry/").unwrap();
        let rebased: Value =
            serde_json::from_slice(&rebase_universe(body, &base, "u.json").unwrap()).unwrap();
        assert_eq!(
            rebased["a"]["1.0.0"]["download_url"],
            "file:///srv/registry/tarballs/a-1.0.0.tar.gz"
        );
        assert_eq!(
            rebased["a"]["2.0.0"]["download_url"],
            "https://elsewhere/a.tgz"
        );
        let err = rebase_universe(b"[]", &base, "u.json").unwrap_err();
        assert!(err.to_string().contains("u.json"));
    }

    #[test]
    fn offline_without_a_cache_says_what_to_do() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::at(home.path()).unwrap();
        let client = Client::new(http::HttpSettings::default()).unwrap();
        let err =
            fetch_universe(&client, &store, "https://u:t@example.invalid", &[], true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cached universe for https://***@example.invalid/universe; run once without \
             --offline"
        );
        let err = fetch_universe(&client, &store, "ftp://host", &[], false).unwrap_err();
        assert_eq!(err.exit_code(), 137);
    }
}
