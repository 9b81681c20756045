//! `verify-bundle`: checks a bundle file against its `.sha256` sidecar and
//! against the manifest it carries, or (`--into DIR`) a pulled set in place
//! against its manifest, file by file; and the check of unpacked contents
//! against the manifest that `pull` shares.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{self, Difference, Manifest};
use super::{ARCHIVE_ROOT, BundleError, parse_sidecar};
use crate::archive::{self, Limits, Unpacked};

/// The outcome of [`verify_bundle`]. The bundle is good when `differences`
/// is empty.
#[derive(Clone, Debug)]
pub struct Verification {
    /// sha256 of the archive file.
    pub sha256: String,
    pub manifest: Manifest,
    pub differences: Vec<Difference>,
}

/// The sidecar path of a bundle: the bundle path with `.sha256` appended.
pub fn sidecar_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Checks `bundle` against its sidecar and its manifest. Unsafe archive
/// entries and a missing sidecar or manifest are errors; everything else is
/// reported as differences.
pub fn verify_bundle(bundle: &Path, limits: &Limits) -> Result<Verification, BundleError> {
    let origin = bundle.display().to_string();
    let sidecar = sidecar_path(bundle);
    let expected = match fs::read_to_string(&sidecar) {
        Ok(text) => parse_sidecar(&text, &sidecar.display().to_string())?,
        Err(e) => {
            return Err(BundleError::MissingDigest {
                source_str: origin,
                detail: format!("could not read {}: {e}", sidecar.display()),
            });
        }
    };
    let (sha256, _) = hash_file(bundle)?;
    let mut differences = Vec::new();
    if sha256 != expected {
        differences.push(Difference::DigestMismatch {
            expected,
            actual: sha256.clone(),
        });
    }
    let scratch =
        tempfile::tempdir().map_err(|e| BundleError::io("create", &std::env::temp_dir(), e))?;
    let file = File::open(bundle).map_err(|e| BundleError::io("read", bundle, e))?;
    let unpacked =
        archive::unpack(io::BufReader::new(file), scratch.path(), limits).map_err(|source| {
            BundleError::UnsafeArchive {
                origin: origin.clone(),
                source,
            }
        })?;
    let (manifest, found) = check_unpacked(scratch.path(), &unpacked, &origin)?;
    differences.extend(found);
    Ok(Verification {
        sha256,
        manifest,
        differences,
    })
}

/// Checks the set a pull put at `dir` (its `cookbooks/` folder, or a link
/// to it) against the manifest inside it, reading every file: an edit made
/// in place, even through a hard link, shows as a difference.
pub fn verify_set(dir: &Path) -> Result<(Manifest, Vec<Difference>), BundleError> {
    let manifest_path = dir.join(manifest::FILE_NAME);
    let bytes = match fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BundleError::BadLayout {
                origin: dir.display().to_string(),
                detail: format!(
                    "it has no {}; is it a directory larder pull switched?",
                    manifest::FILE_NAME
                ),
            });
        }
        Err(e) => return Err(BundleError::io("read", &manifest_path, e)),
    };
    let manifest = Manifest::from_json(&bytes, &manifest_path.display().to_string())?;
    let mut actual = BTreeMap::new();
    for item in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| super::vendor::walk_error(dir, e))?;
        let rel = super::vendor::relative_name(item.path(), dir)?;
        if rel == manifest::FILE_NAME || item.file_type().is_dir() {
            continue;
        }
        let sha256 = if item.file_type().is_file() {
            hash_file(item.path())?.0
        } else {
            "(not a regular file)".to_string()
        };
        actual.insert(format!("{ARCHIVE_ROOT}/{rel}"), sha256);
    }
    let differences = manifest.compare(&actual);
    Ok((manifest, differences))
}

/// Reads the manifest of a bundle unpacked at `root` and compares it with
/// what was unpacked.
pub(crate) fn check_unpacked(
    root: &Path,
    unpacked: &Unpacked,
    origin: &str,
) -> Result<(Manifest, Vec<Difference>), BundleError> {
    let manifest_path = format!("{ARCHIVE_ROOT}/{}", manifest::FILE_NAME);
    let bytes = if unpacked.files.contains_key(&manifest_path) {
        let on_disk = root.join(&manifest_path);
        Some(fs::read(&on_disk).map_err(|e| BundleError::io("read", &on_disk, e))?)
    } else {
        None
    };
    check_files(bytes.as_deref(), unpacked, origin)
}

/// Compares the files of a bundle with its manifest, whose bytes are
/// `manifest` (`None` when the bundle has none, an error).
pub(crate) fn check_files(
    manifest: Option<&[u8]>,
    unpacked: &Unpacked,
    origin: &str,
) -> Result<(Manifest, Vec<Difference>), BundleError> {
    let manifest_path = format!("{ARCHIVE_ROOT}/{}", manifest::FILE_NAME);
    let Some(bytes) = manifest else {
        return Err(BundleError::BadLayout {
            origin: origin.to_string(),
            detail: format!("it has no {manifest_path}; make it with larder package"),
        });
    };
    let manifest = Manifest::from_json(bytes, origin)?;
    let mut actual = unpacked.file_list();
    actual.remove(&manifest_path);
    let differences = manifest.compare(&actual);
    Ok((manifest, differences))
}

/// The manifest a bundle carries, read from the start of the archive
/// without unpacking the rest (`package` sorts it second, after the
/// top-level folder).
pub fn read_manifest(bundle: &Path) -> Result<Manifest, BundleError> {
    let origin = bundle.display().to_string();
    let manifest_path = format!("{ARCHIVE_ROOT}/{}", manifest::FILE_NAME);
    let file = File::open(bundle).map_err(|e| BundleError::io("read", bundle, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let unreadable = |e: io::Error| BundleError::BadLayout {
        origin: origin.clone(),
        detail: format!("it cannot be read as a tar.gz archive ({e})"),
    };
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry.path_bytes().into_owned();
        if path == manifest_path.as_bytes() {
            let limit = 64 << 20;
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limit)
                .read_to_end(&mut bytes)
                .map_err(unreadable)?;
            return Manifest::from_json(&bytes, &origin);
        }
        if path.as_slice() > manifest_path.as_bytes() {
            break;
        }
    }
    Err(BundleError::BadLayout {
        origin,
        detail: format!("it has no {manifest_path}; make it with larder package"),
    })
}

/// sha256 of a file, lower-case hex, and its size.
pub fn hash_file(path: &Path) -> Result<(String, u64), BundleError> {
    let mut file = File::open(path).map_err(|e| BundleError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BundleError::io("read", path, e)),
        }
    }
    Ok((hex::encode(hasher.finalize()), size))
}
