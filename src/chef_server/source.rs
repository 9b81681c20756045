//! A Chef Server as a Berksfile source (`source :chef_server`,
//! `source chef_server: URL`).
//!
//! [`fetch_universe`] reads the server's `/universe` (an organization's when
//! the URL ends in `/organizations/ORG`) with a signed, conditional GET and
//! caches it in the store like a Supermarket universe, ETag and all;
//! `--offline` uses only the cached copy. The server lists no download URL,
//! so [`with_download_urls`] points each version at its `location_path`
//! (the cookbook version's API URL), and [`download_cookbook`] reads that
//! manifest and fetches every file, checking each against its MD5.

use std::path::{Component, Path};

use md5::{Digest, Md5};
use serde_json::Value;

use super::{ChefServerError, Server};
use crate::cache::Store;
use crate::http;

/// The parts of a cookbook manifest that list files (API versions 0 and 1).
pub const SEGMENTS: [&str; 9] = [
    "attributes",
    "definitions",
    "files",
    "libraries",
    "providers",
    "recipes",
    "resources",
    "root_files",
    "templates",
];

/// The universe body of `server`, fetched or revalidated, with each
/// version's `download_url` set to its `location_path`.
pub fn fetch_universe(
    server: &Server,
    store: &Store,
    offline: bool,
) -> Result<Vec<u8>, ChefServerError> {
    let target = server.absolute("universe");
    let shown = http::redact(&target);
    let cache = store.universe_cache(&shown);
    let cached = cache.meta();
    let read_cached = || {
        std::fs::read(cache.body_path()).map_err(|source| ChefServerError::Io {
            path: cache.body_path().to_path_buf(),
            source,
        })
    };
    let body = if offline {
        match cached {
            Some(_) => read_cached()?,
            None => return Err(ChefServerError::Offline { url: shown }),
        }
    } else {
        let mut conditional = Vec::new();
        if let Some(meta) = &cached {
            if let Some(etag) = &meta.etag {
                conditional.push(("If-None-Match", etag.as_str()));
            }
            if let Some(date) = &meta.last_modified {
                conditional.push(("If-Modified-Since", date.as_str()));
            }
        }
        let answer = server.send("GET", &target, b"", &conditional)?;
        match answer.status {
            304 if cached.is_some() => read_cached()?,
            // goiardi answers an unknown organization with an empty body.
            404 | 200..=299 if answer.body.is_empty() || answer.status == 404 => {
                return Err(ChefServerError::NotFound {
                    url: shown,
                    hint: missing_universe(server.url()),
                });
            }
            200..=299 => {
                cache.store(
                    &answer.body,
                    answer.header("etag"),
                    answer.header("last-modified"),
                )?;
                answer.body
            }
            status => return Err(server.failed("GET", &target, status, &answer)),
        }
    };
    with_download_urls(&body, &shown)
}

/// Why a server has no universe: the organization of the URL does not
/// exist, or the URL is not a Chef Server's.
fn missing_universe(server_url: &str) -> String {
    match server_url.split_once("/organizations/") {
        Some((host, org)) => format!(
            "the organization '{}' does not exist on {}; check the organization name in the \
             server URL",
            org.trim_end_matches('/'),
            http::redact(host)
        ),
        None => "no universe there; check the server URL (an organization's is \
                 https://HOST/organizations/ORG)"
            .to_string(),
    }
}

/// A universe body whose versions carry `download_url` = `location_path`.
pub fn with_download_urls(body: &[u8], origin: &str) -> Result<Vec<u8>, ChefServerError> {
    let bad = |reason: String| ChefServerError::BadAnswer {
        url: origin.to_string(),
        reason,
    };
    let mut document: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("its universe is not JSON ({e})")))?;
    let Value::Object(cookbooks) = &mut document else {
        return Err(bad("its universe is not a JSON object".into()));
    };
    for versions in cookbooks.values_mut() {
        let Value::Object(versions) = versions else {
            continue;
        };
        for entry in versions.values_mut() {
            if let Value::Object(entry) = entry
                && let Some(Value::String(path)) = entry.get("location_path").cloned()
                && !entry.contains_key("download_url")
            {
                entry.insert("download_url".into(), Value::String(path));
            }
        }
    }
    Ok(document.to_string().into_bytes())
}

/// Downloads the cookbook version at `location` (its API URL) into
/// `stage`, file by file from its manifest, refusing any file whose MD5
/// differs from the manifest's checksum or whose path leaves the cookbook.
pub fn download_cookbook(
    server: &Server,
    name: &str,
    version: &str,
    location: &str,
    stage: &Path,
) -> Result<(), ChefServerError> {
    let manifest = server.json(
        "GET",
        location,
        &Value::Null,
        "the cookbook version is not on the server; run `larder install` to lock what it has",
    )?;
    let shown = http::redact(location);
    let bad = |reason: String| ChefServerError::BadAnswer {
        url: shown.clone(),
        reason,
    };
    let mut files = Vec::new();
    for segment in SEGMENTS.iter().chain(&["all_files"]) {
        if let Some(Value::Array(entries)) = manifest.get(*segment) {
            files.extend(entries.iter());
        }
    }
    for entry in files {
        let field = |key: &str| {
            entry
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("a manifest file entry has no {key}")))
        };
        let (path, checksum, url) = (field("path")?, field("checksum")?, field("url")?);
        let relative = Path::new(path);
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(bad(format!("the manifest names the unsafe path '{path}'")));
        }
        let answer = server.send("GET", url, b"", &[])?;
        if !(200..=299).contains(&answer.status) {
            return Err(server.failed("GET", url, answer.status, &answer));
        }
        let actual = hex::encode(Md5::digest(&answer.body));
        if !actual.eq_ignore_ascii_case(checksum) {
            return Err(ChefServerError::Corrupt {
                file: format!("{path} of {name} ({version})"),
                url: http::redact(url),
                detail: format!("its MD5 is {actual}, but the server's manifest says {checksum}"),
            });
        }
        let target = stage.join(relative);
        let io = |source| ChefServerError::Io {
            path: target.clone(),
            source,
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&target, &answer.body).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_point_at_their_location() {
        let body = br#"{"yum": {"4.1.0": {"location_type": "chef_server",
            "location_path": "https://h/organizations/o/cookbooks/yum/4.1.0",
            "dependencies": {}}}}"#;
        let out: Value = serde_json::from_slice(&with_download_urls(body, "u").unwrap()).unwrap();
        assert_eq!(
            out["yum"]["4.1.0"]["download_url"],
            "https://h/organizations/o/cookbooks/yum/4.1.0"
        );
        assert!(with_download_urls(b"[]", "u").is_err());
    }
}
