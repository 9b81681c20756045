//! Vendoring a resolved cookbook set into one directory: every cookbook is
//! copied (chefignore applied, VCS files dropped) into a staging directory
//! beside the target, with a `metadata.json` compiled from `metadata.rb`
//! when it has none, and only then moved into place, so a failure leaves the
//! target as it was. The staged tree is flushed to disk before it is moved,
//! and the target directory after, so that a power loss never leaves a
//! vendored cookbook with empty or missing files under its name.

use std::fs;
use std::path::{Path, PathBuf};

use super::BundleError;
use super::vendor::{VENDOR_MARKER, copy_cookbook};
use crate::metadata::Metadata;

/// One cookbook to vendor: its name (the folder it gets) and where it is.
#[derive(Clone, Debug)]
pub struct VendorItem {
    pub name: String,
    pub source_dir: PathBuf,
}

/// Copies `items` into `target/<name>/`. Without `delete`, a target that
/// holds anything other than these cookbooks is refused; with it, such
/// entries are removed. Returns the vendored folders.
pub fn vendor_set(
    items: &[VendorItem],
    target: &Path,
    delete: bool,
) -> Result<Vec<PathBuf>, BundleError> {
    let strangers = strangers(items, target)?;
    if !strangers.is_empty() && !delete {
        return Err(BundleError::VendorTargetInUse {
            path: target.to_path_buf(),
            entries: strangers,
        });
    }
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| BundleError::io("create", parent, e))?;
    let stage = tempfile::Builder::new()
        .prefix(".larder-vendor.")
        .tempdir_in(parent)
        .map_err(|e| BundleError::io("create a staging directory in", parent, e))?;
    for item in items {
        stage_one(item, &stage.path().join(&item.name))?;
    }
    crate::atomic_file::sync_tree(stage.path(), crate::atomic_file::LinkedFiles::Flush)
        .map_err(|e| BundleError::io("flush", stage.path(), e))?;

    if !target.is_dir() {
        fs::create_dir_all(target).map_err(|e| BundleError::io("create", target, e))?;
        crate::atomic_file::sync_dir(parent).map_err(|e| BundleError::io("flush", parent, e))?;
    }
    for name in &strangers {
        let path = target.join(name);
        super::remove_path(&path)?;
    }
    let mut vendored = Vec::with_capacity(items.len());
    for item in items {
        let destination = target.join(&item.name);
        if destination.exists() {
            super::remove_path(&destination)?;
        }
        let staged = stage.path().join(&item.name);
        fs::rename(&staged, &destination)
            .map_err(|e| BundleError::io("move the vendored cookbook to", &destination, e))?;
        vendored.push(destination);
    }
    // The marker goes in last, and writing it flushes the target directory:
    // that one flush makes every rename above durable too.
    let marker = target.join(VENDOR_MARKER);
    crate::atomic_file::write(&marker, MARKER_TEXT.as_bytes())
        .map_err(|e| BundleError::io("write", &marker, e))?;
    Ok(vendored)
}

/// What the vendor marker says to someone who finds it.
const MARKER_TEXT: &str = "This folder was written by `larder vendor`. larder leaves it out of \
any cookbook folder it lies inside.\n";

/// Copies one cookbook, compiling metadata.json when the cookbook has only
/// metadata.rb (Chef loads the JSON; Supermarket reads only the JSON).
fn stage_one(item: &VendorItem, destination: &Path) -> Result<(), BundleError> {
    let compiled = if item.source_dir.join("metadata.json").is_file() {
        None
    } else {
        let metadata =
            Metadata::load(&item.source_dir).map_err(|e| BundleError::InvalidMetadata {
                path: item.source_dir.clone(),
                detail: e.to_string(),
            })?;
        let json = metadata
            .to_json_pretty()
            .map_err(|e| BundleError::InvalidMetadata {
                path: item.source_dir.clone(),
                detail: e.to_string(),
            })?;
        Some(json)
    };
    let extra: Vec<(&str, &[u8])> = compiled
        .as_ref()
        .map(|json| vec![("metadata.json", json.as_bytes())])
        .unwrap_or_default();
    copy_cookbook(&item.source_dir, destination, &extra)?;
    Ok(())
}

/// Entries of `target` that are not among the cookbooks being vendored.
fn strangers(items: &[VendorItem], target: &Path) -> Result<Vec<String>, BundleError> {
    let listing = match fs::read_dir(target) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BundleError::io("list", target, e)),
    };
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| BundleError::io("list", target, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != VENDOR_MARKER && !items.iter().any(|item| item.name == name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
