//! Putting every locked cookbook in place: cookbooks on disk are digested
//! where they are, registry cookbooks come from the store, and what the
//! store lacks is downloaded (several at once), checked against the lock's
//! sha256, unpacked defensively and only then moved into the store.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reqwest::Url;

use super::{InstallError, plan};
use crate::archive::{self, Limits};
use crate::berksfile::{Manifest, SourceSpec};
use crate::bundle::vendor;
use crate::bundle::verify::hash_file;
use crate::cache::{CacheError, Store};
use crate::http::{Client, HttpError};
use crate::index::{Index, Origin};
use crate::lock::{Lock, LockedCookbook, LockedSource};
use crate::source::supermarket::ARTIFACTORY_HEADER;

/// One cookbook in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub name: String,
    pub raw_version: String,
    /// The cookbook's directory (in the store, or on disk for path cookbooks).
    pub path: PathBuf,
    /// Where it came from, for messages: a registry URL or a directory.
    pub from: String,
    /// Downloaded by this install (rather than already in place).
    pub downloaded: bool,
}

/// A finished download and the sha256 of its artifact.
struct Downloaded {
    fetched: Fetched,
    sha256: String,
}

/// A download still to do.
struct Job {
    name: String,
    raw_version: String,
    url: String,
    headers: Vec<(String, String)>,
    expected: Option<String>,
    /// From a Chef Server source (its URL, `None` for the configured one):
    /// `url` is the cookbook version's API URL, read file by file.
    chef_server: Option<Option<String>>,
}

/// What fetching needs from the install.
pub struct Fetcher<'a> {
    pub store: &'a Store,
    pub client: &'a Client,
    pub manifest: &'a Manifest,
    pub offline: bool,
    pub jobs: usize,
}

impl Fetcher<'_> {
    /// Puts the `selected` cookbooks of `lock` in place and returns them
    /// with the lock completed by the sha256 of every artifact. `index` is
    /// the index the lock was resolved from, if any; it is built only when a
    /// download is needed and there is none.
    pub fn fetch_all(
        &self,
        lock: &Lock,
        selected: &BTreeSet<String>,
        mut index: Option<Index>,
        sources_read: &mut Vec<String>,
        wanted: &[plan::Wanted],
        on_progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Vec<Fetched>, Lock), InstallError> {
        let base = self.manifest.path.parent().unwrap_or(Path::new("."));
        let mut lock = lock.clone();
        let mut fetched = BTreeMap::new();
        let mut jobs = Vec::new();
        for (name, cookbook) in lock.cookbooks.iter().filter(|(n, _)| selected.contains(*n)) {
            match &cookbook.source {
                LockedSource::Path { path } => {
                    let dir = base.join(path);
                    fetched.insert(
                        name.clone(),
                        Fetched {
                            name: name.clone(),
                            raw_version: cookbook.raw_version.clone(),
                            path: dir,
                            from: cookbook.source.describe(),
                            downloaded: false,
                        },
                    );
                }
                LockedSource::Git { revision, .. } => {
                    // Planning put every git dependency in the store at the
                    // revision locked here; only its files are checked.
                    self.store
                        .verify_entry(name, revision, cookbook.sha256.as_deref())?;
                    fetched.insert(
                        name.clone(),
                        Fetched {
                            name: name.clone(),
                            raw_version: cookbook.raw_version.clone(),
                            path: self.store.entry_path(name, revision),
                            from: cookbook.source.describe(),
                            downloaded: false,
                        },
                    );
                }
                LockedSource::Registry { .. } | LockedSource::Default => {
                    if self.store.contains(name, &cookbook.raw_version) {
                        fetched.insert(name.clone(), self.verify_cached(name, cookbook)?);
                    } else {
                        if index.is_none() {
                            index = Some(super::build_index(
                                self.manifest,
                                wanted,
                                self.client,
                                self.store,
                                self.offline,
                            )?);
                            *sources_read = super::registry_urls(self.manifest);
                        }
                        let index = index.as_ref().ok_or_else(|| missing(name, cookbook))?;
                        jobs.push(self.job(index, name, cookbook)?);
                    }
                }
            }
        }
        for done in self.download_all(jobs, on_progress)? {
            if let Some(entry) = lock.cookbooks.get_mut(&done.fetched.name) {
                entry.sha256 = Some(done.sha256);
            }
            fetched.insert(done.fetched.name.clone(), done.fetched);
        }
        for (name, cookbook) in lock.cookbooks.iter_mut() {
            if cookbook.sha256.is_none()
                && let Some(key) = cookbook.store_key()
                && let Ok(record) = self.store.record(name, key)
            {
                cookbook.sha256 = Some(record.artifact);
            }
        }
        Ok((fetched.into_values().collect(), lock))
    }

    /// A cookbook already in the store: its record must match the lock and
    /// its files must match the record.
    fn verify_cached(
        &self,
        name: &str,
        cookbook: &LockedCookbook,
    ) -> Result<Fetched, InstallError> {
        self.store
            .verify_entry(name, &cookbook.raw_version, cookbook.sha256.as_deref())?;
        Ok(Fetched {
            name: name.to_string(),
            raw_version: cookbook.raw_version.clone(),
            path: self.store.entry_path(name, &cookbook.raw_version),
            from: cookbook.source.describe(),
            downloaded: false,
        })
    }

    /// Finds where to download a locked cookbook: the first source that
    /// lists exactly its version.
    fn job(
        &self,
        index: &Index,
        name: &str,
        cookbook: &LockedCookbook,
    ) -> Result<Job, InstallError> {
        let release = index
            .by_name(name)
            .and_then(|c| c.release(&cookbook.version))
            .ok_or_else(|| missing(name, cookbook))?;
        let Origin::Registry {
            source,
            download_url,
        } = &release.origin
        else {
            return Err(missing(name, cookbook));
        };
        let spec = self.manifest.sources.get(*source);
        let chef_server = match spec {
            Some(SourceSpec::ChefServer(url)) => Some(url.clone()),
            _ => None,
        };
        let (url, headers) = match spec {
            Some(spec) if chef_server.is_none() => download_for(spec, name, release, download_url)?,
            _ => (download_url.clone(), Vec::new()),
        };
        Ok(Job {
            name: name.to_string(),
            raw_version: release.raw_version.clone(),
            url,
            headers,
            expected: cookbook.sha256.clone(),
            chef_server,
        })
    }

    /// Runs the downloads on up to `self.jobs` threads.
    fn download_all(
        &self,
        jobs: Vec<Job>,
        on_progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<Downloaded>, InstallError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if self.offline {
            let names: Vec<String> = jobs
                .iter()
                .map(|j| format!("{} ({})", j.name, j.raw_version))
                .collect();
            return Err(InstallError::OfflineMissing { names });
        }
        let queue = Mutex::new(jobs);
        let results = Mutex::new(Vec::new());
        let workers = self.jobs.max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let job = match queue.lock() {
                            Ok(mut q) => q.pop(),
                            Err(_) => None,
                        };
                        let Some(job) = job else { break };
                        on_progress(&format!(
                            "Installing {} ({}) from {}",
                            job.name,
                            job.raw_version,
                            crate::http::redact(&job.url)
                        ));
                        let result = self.download(&job);
                        if let Ok(mut r) = results.lock() {
                            r.push(result);
                        }
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_default();
        let mut done = Vec::with_capacity(results.len());
        for result in results {
            done.push(result?);
        }
        Ok(done)
    }

    /// Downloads one cookbook into the store.
    fn download(&self, job: &Job) -> Result<Downloaded, InstallError> {
        let installed = self
            .store
            .install(
                &job.name,
                &job.raw_version,
                job.expected.as_deref(),
                |stage| fetch_into(self.client, job, stage),
            )
            .map_err(fill_failure)?;
        let record = self.store.record(&job.name, &job.raw_version)?;
        Ok(Downloaded {
            fetched: Fetched {
                name: job.name.clone(),
                raw_version: job.raw_version.clone(),
                path: installed.path,
                from: crate::http::redact(&job.url),
                downloaded: !installed.already_present,
            },
            sha256: record.artifact,
        })
    }
}

/// A failure inside a store fill keeps the exit code of its kind: a Chef
/// Server's its own (a corrupt file is 132, a refused request 130; the
/// message already names the cookbook), a failed download the registry's
/// 123, with the cookbook and the (redacted) URL, a refused archive 154.
fn fill_failure(error: CacheError) -> InstallError {
    let CacheError::Fill {
        name,
        version,
        source,
    } = error
    else {
        return InstallError::Cache(error);
    };
    let source = match source.downcast::<crate::chef_server::ChefServerError>() {
        Ok(chef) => return InstallError::ChefServer(*chef),
        Err(source) => source,
    };
    let source = match source.downcast::<RefusedArchive>() {
        Ok(refused) => {
            return InstallError::RefusedArchive {
                name,
                version,
                url: refused.url,
                reason: refused.reason,
            };
        }
        Err(source) => source,
    };
    match source.downcast::<HttpError>() {
        Ok(http) => InstallError::Download {
            name,
            version,
            source: *http,
        },
        Err(source) => InstallError::Cache(CacheError::Fill {
            name,
            version,
            source,
        }),
    }
}

/// Where a registry's release is downloaded from, and with which headers:
/// the download URL must keep the source's scheme (`http` and `https`
/// counting as one), so a remote registry cannot name a local file; the
/// source's user information goes with downloads from its own origin, and
/// its API key only to that origin.
fn download_for(
    spec: &SourceSpec,
    name: &str,
    release: &crate::index::Release,
    download_url: &str,
) -> Result<(String, Vec<(String, String)>), InstallError> {
    let source_url = match spec {
        SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. } => Url::parse(url).ok(),
        SourceSpec::ChefRepo(dir) => crate::file_url::from_dir(dir),
        SourceSpec::ChefServer(_) => None,
    };
    let refused = |reason: String| InstallError::DownloadRefused {
        name: crate::shown::shown(name),
        version: crate::shown::shown(&release.raw_version),
        url: crate::http::redact(download_url),
        reason,
    };
    let Some(source_url) = source_url else {
        return Err(refused("its source is not a URL".into()));
    };
    let url = Url::parse(download_url).map_err(|e| refused(format!("it is not a URL: {e}")))?;
    if !crate::http::scheme_may_follow(source_url.scheme(), url.scheme()) {
        return Err(refused(format!(
            "the registry {} is read over {}, and its downloads must be too (or go from http \
             up to https)",
            crate::http::redact(source_url.as_str()),
            source_url.scheme()
        )));
    }
    let headers = if url.origin() == source_url.origin() {
        source_headers(spec)
    } else {
        Vec::new()
    };
    let url = crate::http::with_source_credentials(&url, &source_url);
    Ok((url.to_string(), headers))
}

/// A cookbook archive that unpacking refused: corrupt, hostile, too large
/// or not shaped as one cookbook folder.
#[derive(Debug, thiserror::Error)]
#[error("the cookbook archive from {url} is unusable: {reason}")]
struct RefusedArchive {
    /// The archive's URL, credentials redacted.
    url: String,
    reason: String,
}

fn missing(name: &str, cookbook: &LockedCookbook) -> InstallError {
    InstallError::LockedVersionMissing {
        name: name.to_string(),
        version: cookbook.raw_version.clone(),
    }
}

/// The headers a source's requests carry (Artifactory's API key).
pub fn source_headers(spec: &SourceSpec) -> Vec<(String, String)> {
    match spec {
        SourceSpec::Artifactory {
            api_key: Some(key), ..
        } => vec![(ARTIFACTORY_HEADER.to_string(), key.clone())],
        _ => Vec::new(),
    }
}

/// Fetches an artifact into `stage` (the future store entry) and returns
/// its sha256: a `.tar.gz` from HTTP or `file://`, a cookbook folder from a
/// `file://` registry, or a Chef Server's files (the digest of the folder).
fn fetch_into(
    client: &Client,
    job: &Job,
    stage: &Path,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(server_url) = &job.chef_server {
        let server = crate::chef_server::connect(client, server_url.as_deref())?;
        crate::chef_server::source::download_cookbook(
            &server,
            &job.name,
            &job.raw_version,
            &job.url,
            stage,
        )?;
        return Ok(vendor::cookbook_digest(stage)?);
    }
    if let Some(path) = crate::file_url::text_to_path(&job.url) {
        let path = path.as_path();
        if path.is_dir() {
            vendor::copy_cookbook(path, stage, &[])?;
            return Ok(vendor::cookbook_digest(stage)?);
        }
        let (sha, _) = hash_file(path)?;
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        unpack_cookbook(BufReader::new(file), stage, &job.url)?;
        return Ok(sha);
    }
    let mut download = tempfile::tempfile()?;
    let headers: Vec<(&str, &str)> = job
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sha = client.download(&job.url, &headers, &mut download)?;
    download.seek(SeekFrom::Start(0))?;
    unpack_cookbook(BufReader::new(download), stage, &job.url)?;
    Ok(sha)
}

/// Unpacks a cookbook tarball so that its single top folder becomes `stage`.
fn unpack_cookbook(
    reader: impl std::io::Read,
    stage: &Path,
    url: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let refused = |reason: String| RefusedArchive {
        url: crate::http::redact(url),
        reason,
    };
    let scratch = stage.join(".unpack");
    std::fs::create_dir(&scratch)?;
    archive::unpack(reader, &scratch, &Limits::default()).map_err(|e| refused(e.to_string()))?;
    let tops: Vec<PathBuf> = std::fs::read_dir(&scratch)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    let [top] = tops.as_slice() else {
        return Err(refused(format!(
            "it should hold one top-level folder, but holds {}",
            tops.len()
        ))
        .into());
    };
    if !top.is_dir() {
        return Err(refused("it holds no folder".to_string()).into());
    }
    for entry in std::fs::read_dir(top)? {
        let entry = entry?;
        std::fs::rename(entry.path(), stage.join(entry.file_name()))?;
    }
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}
