//! `publish`: puts a bundle into the store under its sha256, with its
//! `sha256sum` file, each of its cookbooks as a cookbook object
//! (`cookbooks/<name>/<version>/<tree-digest>.tar.gz`, shared by every
//! bundle with the same files), and its record, which lists those objects.
//! Content addressing makes publishing idempotent: an object that is
//! already there is checked against its name (the bundle streamed and
//! hashed, a cookbook object unpacked and its file list hashed) and not
//! uploaded again, and an existing record keeps the time and provenance of
//! the first publish. The record is written last, so a record in the store
//! means the bundle and cookbook objects it names are complete.

use std::fs::File;
use std::io;
use std::path::Path;

use serde::Serialize;

use super::DeliveryError;
use super::cookbook_object::{self, cookbook_part};
use super::record::{
    self, BundleRecord, CookbookObject, Provenance, bundle_key, cookbook_key, record_key,
    sidecar_key, tree_digest,
};
use super::store::{Created, Store};
use crate::archive::{self, Limits, Unpacked};
use crate::bundle::manifest::{CookbookManifest, Manifest};
use crate::bundle::package::available_threads;
use crate::bundle::verify::{check_unpacked, hash_file};
use crate::bundle::{ARCHIVE_ROOT, BundleError};

/// What [`publish`] did.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub sha256: String,
    pub size: u64,
    /// The bundle object's URL.
    pub url: String,
    /// False when the store already had the bundle.
    pub uploaded: bool,
    /// The record in the store (the first publish's, if it was there).
    pub record: BundleRecord,
}

/// Publishes the bundle file at `bundle`.
pub fn publish(
    store: &Store,
    bundle: &Path,
    provenance: Provenance,
) -> Result<Published, DeliveryError> {
    store.ensure_writable()?;
    let scratch = tempfile::tempdir()
        .map_err(|e| BundleError::io("create a directory in", &std::env::temp_dir(), e))?;
    // Hashing the bundle (its name) and unpacking it (for its cookbook
    // objects) both read all of it: on two cores at once.
    let (hashed, unpacked) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_file(bundle));
        let unpacked = unpack_bundle(bundle, &scratch.path().join("bundle"));
        let hashed = hashing.join().unwrap_or_else(|_| {
            Err(BundleError::io(
                "hash",
                bundle,
                io::Error::other("the hashing thread panicked"),
            ))
        });
        (hashed, unpacked)
    });
    let (sha256, size) = hashed?;
    let (manifest, unpacked) = unpacked?;
    let key = bundle_key(&sha256);
    // The bundle goes up while the cookbook objects are made and sent.
    let (uploaded, objects) = std::thread::scope(|scope| {
        let upload = scope.spawn(|| upload_bundle(store, bundle, &key, &sha256, size));
        let objects: Result<Vec<_>, DeliveryError> = manifest
            .cookbooks
            .iter()
            .enumerate()
            .map(|(i, cookbook)| {
                let folder = format!("{ARCHIVE_ROOT}/{}", cookbook.name);
                let contents = cookbook_part(&unpacked, &folder);
                let dir = scratch.path().join("bundle").join(&folder);
                let work = scratch.path().join(format!("object-{i}"));
                publish_cookbook(store, cookbook, &dir, &contents, &work)
            })
            .collect();
        let uploaded = upload.join().unwrap_or_else(|_| {
            Err(DeliveryError::Io {
                action: "upload",
                path: bundle.to_path_buf(),
                source: io::Error::other("the upload thread panicked"),
            })
        });
        (uploaded, objects)
    });
    let uploaded = uploaded?;
    let objects = objects?;
    store.create(
        &sidecar_key(&sha256),
        format!("{sha256}  {sha256}.tar.gz\n").into_bytes(),
    )?;
    let record = BundleRecord::new(&sha256, size, &manifest, objects, provenance);
    let record_key = record_key(&sha256);
    let record = match store.create(&record_key, record::to_json(&record))? {
        Created::New => record,
        Created::Existed => match store.get(&record_key)? {
            Some(object) => record::from_json(&object.bytes, &store.object_url(&record_key))?,
            None => record,
        },
    };
    Ok(Published {
        url: store.object_url(&key),
        sha256,
        size,
        uploaded,
        record,
    })
}

/// Uploads the bundle to `key` unless it is there already (then checked);
/// whether it was uploaded.
fn upload_bundle(
    store: &Store,
    bundle: &Path,
    key: &str,
    sha256: &str,
    size: u64,
) -> Result<bool, DeliveryError> {
    match store.size_of(key)? {
        Some(_) => {
            check_existing(store, key, sha256)?;
            Ok(false)
        }
        None => Ok(store.upload(key, bundle, size)? == Created::New),
    }
}

/// Streams the stored object and checks that it has the digest its name
/// says.
fn check_existing(store: &Store, key: &str, sha256: &str) -> Result<(), DeliveryError> {
    match store.download(key, &mut io::sink())? {
        Some(actual) if actual == sha256 => Ok(()),
        Some(actual) => Err(DeliveryError::Corrupt {
            object: store.object_url(key),
            actual,
        }),
        None => Err(DeliveryError::NoBundle {
            digest: sha256.to_string(),
            store: store.url().to_string(),
        }),
    }
}

/// Unpacks the bundle into `dest` and checks it against its manifest: the
/// cookbook objects are cut from what was checked.
fn unpack_bundle(bundle: &Path, dest: &Path) -> Result<(Manifest, Unpacked), BundleError> {
    let origin = bundle.display().to_string();
    let file = File::open(bundle).map_err(|e| BundleError::io("read", bundle, e))?;
    let unpacked =
        archive::unpack(io::BufReader::new(file), dest, &Limits::default()).map_err(|source| {
            BundleError::UnsafeArchive {
                origin: origin.clone(),
                source,
            }
        })?;
    let (manifest, differences) = check_unpacked(dest, &unpacked, &origin)?;
    if !differences.is_empty() {
        return Err(BundleError::ContentMismatch {
            origin,
            differences,
        });
    }
    Ok((manifest, unpacked))
}

/// Stores one cookbook of the bundle as its own object, unless an object
/// with its file list is there already (checked by unpacking it).
fn publish_cookbook(
    store: &Store,
    cookbook: &CookbookManifest,
    dir: &Path,
    contents: &Unpacked,
    work: &Path,
) -> Result<CookbookObject, DeliveryError> {
    check_key_part(&cookbook.name, "name")?;
    check_key_part(&cookbook.version, &format!("version of {}", cookbook.name))?;
    let tree = tree_digest(&cookbook.files);
    let key = cookbook_key(&cookbook.name, &cookbook.version, &tree);
    std::fs::create_dir_all(work).map_err(|e| BundleError::io("create", work, e))?;
    let packed = work.join("object.tar.gz");
    if store.size_of(&key)?.is_none() {
        let (sha256, size) = cookbook_object::pack(dir, contents, &packed, available_threads())?;
        if store.upload(&key, &packed, size)? == Created::New {
            return Ok(CookbookObject { key, sha256, size });
        }
    }
    // Already there: it counts only if it holds exactly these files.
    let mut out = File::create(&packed).map_err(|e| BundleError::io("write", &packed, e))?;
    let sha256 = store
        .download(&key, &mut out)?
        .ok_or_else(|| DeliveryError::NoBundle {
            digest: tree.clone(),
            store: store.url().to_string(),
        })?;
    drop(out);
    let size = std::fs::metadata(&packed)
        .map_err(|e| BundleError::io("read", &packed, e))?
        .len();
    let url = store.object_url(&key);
    match cookbook_object::unpack_checked(
        &packed,
        &work.join("check"),
        &tree,
        &Limits::default(),
        &url,
    ) {
        Ok(_) => Ok(CookbookObject { key, sha256, size }),
        Err(_) => Err(DeliveryError::Corrupt {
            object: url,
            actual: sha256,
        }),
    }
}

/// A cookbook name or version must be usable as one part of an object key.
fn check_key_part(text: &str, what: &str) -> Result<(), BundleError> {
    let usable = !text.is_empty()
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if usable {
        Ok(())
    } else {
        Err(BundleError::InvalidManifest {
            origin: "the bundle".to_string(),
            detail: format!(
                "cookbook {what} '{}' cannot name a store object (letters, digits, '.', '_', \
                 '-', '+')",
                text.chars().take(80).collect::<String>()
            ),
        })
    }
}
