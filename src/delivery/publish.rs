//! `publish`: puts a bundle into the store under its sha256, with its
//! `sha256sum` file and its record. Content addressing makes publishing
//! idempotent: an object that is already there is checked against its
//! name (streamed and hashed, not stored) and not uploaded again, and an
//! existing record keeps the time and provenance of the first publish.
//! The record is written last, so a record in the store means the bundle
//! beside it is complete.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::DeliveryError;
use super::record::{self, BundleRecord, Provenance, bundle_key, record_key, sidecar_key};
use super::store::{Created, Store};
use crate::bundle::verify::{hash_file, read_manifest};

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
    let manifest = read_manifest(bundle)?;
    let (sha256, size) = hash_file(bundle)?;
    let key = bundle_key(&sha256);
    let uploaded = match store.size_of(&key)? {
        Some(_) => {
            check_existing(store, &key, &sha256)?;
            false
        }
        None => store.upload(&key, bundle, size)? == Created::New,
    };
    store.create(
        &sidecar_key(&sha256),
        format!("{sha256}  {sha256}.tar.gz\n").into_bytes(),
    )?;
    let record = BundleRecord::new(&sha256, size, &manifest, provenance);
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
