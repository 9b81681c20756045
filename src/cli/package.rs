//! `larder package`: packs a folder of vendored cookbooks into a
//! reproducible bundle with its `.sha256` sidecar.
//!
//! Until `install` and `vendor` are wired in, the input is `--from DIR`, a
//! folder with one folder per cookbook. Each cookbook's version is read
//! from its `metadata.json` (Chef's default `0.0.0` without one) and its
//! source is recorded as `vendor`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::bundle::BundleError;
use crate::bundle::package::{self, CookbookInfo, Destination, PackageRequest};

/// Arguments of `larder package`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Where to write the bundle: a directory (named cookbooks-<digest>.tar.gz
    /// inside it) or a file path. Default: the current directory.
    pub path: Option<PathBuf>,
    /// Folder holding one folder per cookbook, as `vendor` produces.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Digest of the lockfile the cookbooks were resolved from, recorded in
    /// the manifest.
    #[arg(long, value_name = "HEX", default_value = "")]
    pub lock_digest: String,
}

/// Runs `larder package`.
pub fn run(args: &Args) -> Result<(), BundleError> {
    let cookbooks = describe_folder(&args.from)?;
    let destination = match &args.path {
        None => Destination::Dir(PathBuf::from(".")),
        Some(path) if path.is_dir() => Destination::Dir(path.clone()),
        Some(path) => Destination::File(path.clone()),
    };
    let request = PackageRequest {
        cookbooks_dir: &args.from,
        cookbooks: &cookbooks,
        lock_digest: &args.lock_digest,
        destination,
        mtime: package::epoch_from_env()?,
        threads: package::available_threads(),
    };
    let packaged = package::package(&request)?;
    println!("Cookbook(s) packaged to {}", packaged.archive.display());
    println!(
        "sha256 {} ({} cookbook(s), {} file(s)); checksum in {}",
        packaged.sha256,
        packaged.manifest.cookbooks.len(),
        packaged.files,
        packaged.sidecar.display()
    );
    Ok(())
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
        cookbooks.push(CookbookInfo {
            name,
            version: metadata_version(&path.join("metadata.json"))?,
            source: "vendor".to_string(),
        });
    }
    cookbooks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cookbooks)
}

fn metadata_version(path: &Path) -> Result<String, BundleError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("0.0.0".into()),
        Err(e) => return Err(BundleError::io("read", path, e)),
    };
    let invalid = |detail: String| BundleError::InvalidMetadata {
        path: path.to_path_buf(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    match value.get("version") {
        None => Ok("0.0.0".into()),
        Some(serde_json::Value::String(version)) => Ok(version.clone()),
        Some(_) => Err(invalid("\"version\" is not a string".into())),
    }
}
