//! A cookbook's own object in the bundle store,
//! `cookbooks/<name>/<version>/<tree-digest>.tar.gz`: the files and folders
//! of one cookbook folder, with paths relative to it, written with larder's
//! deterministic archive entries. `publish` splits each bundle into these,
//! so that bundles share the cookbooks they have in common; `pull --stack`
//! fetches only those an instance does not hold yet. An object is named by
//! the digest of its file list ([`super::record::tree_digest`]), and that
//! digest is checked every time one is unpacked.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::DeliveryError;
use super::record::tree_digest;
use crate::archive::{self, Limits, Unpacked};
use crate::bundle::gzip::ParallelGz;
use crate::bundle::package::DEFAULT_EPOCH;
use crate::bundle::{BundleError, HashingWriter};

/// The part of an unpacked bundle below `cookbooks/<name>/`, with paths
/// relative to the cookbook folder.
pub fn cookbook_part(unpacked: &Unpacked, folder: &str) -> Unpacked {
    let prefix = format!("{folder}/");
    let files: BTreeMap<_, _> = unpacked
        .files
        .iter()
        .filter_map(|(path, file)| Some((path.strip_prefix(&prefix)?.to_string(), file.clone())))
        .collect();
    Unpacked {
        bytes: files.values().map(|f| f.size).sum(),
        files,
        dirs: unpacked
            .dirs
            .iter()
            .filter_map(|d| d.strip_prefix(&prefix).map(str::to_string))
            .collect(),
    }
}

/// The file list of an unpacked cookbook: path → sha256.
pub fn file_list(unpacked: &Unpacked) -> BTreeMap<String, String> {
    unpacked
        .files
        .iter()
        .map(|(path, file)| (path.clone(), file.sha256.clone()))
        .collect()
}

/// The deflate level of cookbook objects: the fastest. They are made on
/// every publish of a bundle with new cookbooks, after the bundle itself
/// (made at [`crate::bundle::gzip::LEVEL`]); on source text level 1 is
/// about a fifth larger than level 6, on incompressible files (the large
/// ones) the same size in a fraction of the time (docs/PERFORMANCE.md).
const LEVEL: u32 = 1;

/// Packs the cookbook folder `dir`, whose contents are `contents`, into
/// the `.tar.gz` at `out`; returns the sha256 and size of what was written.
/// The same files give the same bytes.
pub fn pack(
    dir: &Path,
    contents: &Unpacked,
    out: &Path,
    threads: usize,
) -> Result<(String, u64), BundleError> {
    let io_err = |e: io::Error| BundleError::io("write", out, e);
    let file = File::create(out).map_err(io_err)?;
    let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let gz = ParallelGz::with_level(hashing, threads, LEVEL).map_err(io_err)?;
    let mut tar = tar::Builder::new(gz);
    let mut entries: Vec<(&str, Option<&archive::UnpackedFile>)> = contents
        .dirs
        .iter()
        .map(|d| (d.as_str(), None))
        .chain(contents.files.iter().map(|(p, f)| (p.as_str(), Some(f))))
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (path, file) in entries {
        match file {
            None => archive::append_dir(&mut tar, format!("{path}/"), DEFAULT_EPOCH),
            Some(file) => {
                let source = dir.join(path);
                let reader =
                    File::open(&source).map_err(|e| BundleError::io("read", &source, e))?;
                archive::append_file(
                    &mut tar,
                    path,
                    DEFAULT_EPOCH,
                    file.executable,
                    file.size,
                    io::Read::take(reader, file.size),
                )
            }
        }
        .map_err(io_err)?;
    }
    let gz = tar.into_inner().map_err(io_err)?;
    let (mut buffered, sha256) = gz.finish().map_err(io_err)?.finish();
    buffered.flush().map_err(io_err)?;
    let size = buffered.get_ref().metadata().map_err(io_err)?.len();
    Ok((sha256, size))
}

/// Unpacks the cookbook object at `path` (downloaded from `origin`) into
/// `dest` and checks that its files have the digest `tree`.
pub fn unpack_checked(
    path: &Path,
    dest: &Path,
    tree: &str,
    limits: &Limits,
    origin: &str,
) -> Result<Unpacked, DeliveryError> {
    let file = File::open(path).map_err(|e| BundleError::io("read", path, e))?;
    let unpacked = archive::unpack(io::BufReader::new(file), dest, limits).map_err(|source| {
        BundleError::UnsafeArchive {
            origin: origin.to_string(),
            source,
        }
    })?;
    let actual = tree_digest(&file_list(&unpacked));
    if actual != tree {
        return Err(DeliveryError::CorruptCookbook {
            object: origin.to_string(),
            expected: tree.to_string(),
            actual,
        });
    }
    Ok(unpacked)
}
