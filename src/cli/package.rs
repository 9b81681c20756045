//! `larder package [PATH]`: install, vendor into a scratch directory, and
//! pack the result into a reproducible bundle with its `.sha256` sidecar.
//! `--from DIR` packs an already vendored folder instead.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::install::{FetchArgs, ProjectArgs, install_project};
use super::vendor::items_of;
use super::{Failure, Output};
use crate::bundle::BundleError;
use crate::bundle::package::{self, CookbookInfo, Destination, PackageRequest, Packaged};
use crate::bundle::package_memo;
use crate::bundle::vendor_set::vendor_set;
use crate::install::Unlock;
use crate::metadata::Metadata;

/// Arguments of `larder package`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the bundle: a directory (named cookbooks-<digest>.tar.gz
    /// inside it) or a file path. Default: the current directory.
    pub path: Option<PathBuf>,
    /// Pack this folder of vendored cookbooks (one folder per cookbook)
    /// instead of installing the Berksfile.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// With --from: the digest of the lockfile the cookbooks were resolved
    /// from, recorded in the manifest.
    #[arg(long, value_name = "HEX", requires = "from")]
    pub lock_digest: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Runs `larder package`.
pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let destination = match &args.path {
        None => Destination::Dir(PathBuf::from(".")),
        Some(path) if path.is_dir() => Destination::Dir(path.clone()),
        Some(path) => Destination::File(path.clone()),
    };
    let mut scratch = None;
    let (cookbooks_dir, cookbooks, lock_digest) = match &args.from {
        Some(dir) => (
            dir.clone(),
            describe_folder(dir)?,
            args.lock_digest.clone().unwrap_or_default(),
        ),
        None => vendor_locked(&args.project, &args.fetch, false, &mut scratch, output)?,
    };
    let request = PackageRequest {
        cookbooks_dir: &cookbooks_dir,
        cookbooks: &cookbooks,
        lock_digest: &lock_digest,
        destination,
        mtime: package::epoch_from_env()?,
        threads: package::available_threads(),
    };
    let packaged = pack(&request)?;
    if output.is_json() {
        output.json(&serde_json::json!({
            "archive": packaged.archive,
            "sidecar": packaged.sidecar,
            "sha256": packaged.sha256,
            "cookbooks": packaged.manifest.cookbooks.len(),
            "files": packaged.files,
        }));
    } else {
        output.line(&format!(
            "Cookbook(s) packaged to {}",
            packaged.archive.display()
        ));
        output.line(&format!(
            "sha256 {} ({} cookbook(s), {} file(s)); checksum in {}",
            packaged.sha256,
            packaged.manifest.cookbooks.len(),
            packaged.files,
            packaged.sidecar.display()
        ));
    }
    Ok(())
}

/// Packs the bundle and keeps what packing it showed in the home
/// directory ([`package_memo`]), so that publishing this file need not
/// check it again.
pub fn pack(request: &PackageRequest<'_>) -> Result<Packaged, Failure> {
    let packaged = package::package(request)?;
    if let Ok(home) = crate::cache::home() {
        package_memo::record(&home, &packaged);
    }
    Ok(packaged)
}

/// Installs the project (with `locked`, refusing a lock out of sync as
/// `install --locked` does), vendors it into a scratch directory kept in
/// `scratch`, and returns the folder, its cookbooks and the lock's digest.
pub fn vendor_locked(
    project: &ProjectArgs,
    fetch: &FetchArgs,
    locked: bool,
    scratch: &mut Option<tempfile::TempDir>,
    output: &Output,
) -> Result<(PathBuf, Vec<CookbookInfo>, String), Failure> {
    let outcome = install_project(project, fetch, locked, Unlock::Nothing, output)?;
    let dir = scratch
        .insert(tempfile::tempdir().map_err(|e| {
            BundleError::io("create a scratch directory in", &std::env::temp_dir(), e)
        })?)
        .path()
        .join("cookbooks");
    vendor_set(&items_of(&outcome), &dir, false)?;
    let cookbooks = outcome
        .cookbooks
        .iter()
        .map(|c| CookbookInfo {
            name: c.name.clone(),
            version: c.raw_version.clone(),
            source: outcome
                .lock
                .cookbooks
                .get(&c.name)
                .map_or_else(String::new, |l| l.source.describe()),
        })
        .collect();
    let lock_bytes =
        fs::read(&outcome.lock_path).map_err(|e| BundleError::io("read", &outcome.lock_path, e))?;
    Ok((dir, cookbooks, hex::encode(Sha256::digest(&lock_bytes))))
}

/// One [`CookbookInfo`] per folder of `dir`, sorted by name.
fn describe_folder(dir: &Path) -> Result<Vec<CookbookInfo>, BundleError> {
    let listing = fs::read_dir(dir).map_err(|e| BundleError::io("list", dir, e))?;
    let mut cookbooks = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| BundleError::io("list", dir, e))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| BundleError::NonUtf8Path { path: path.clone() })?;
        let metadata = Metadata::load(&path).map_err(|e| BundleError::InvalidMetadata {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        cookbooks.push(CookbookInfo {
            name,
            version: metadata.raw_version,
            source: "vendor".to_string(),
        });
    }
    cookbooks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cookbooks)
}
