//! `pull --stack`: reads the stack's pointer (one small request), and when
//! the directory does not hold that bundle yet, builds the new set and
//! hands it to [`crate::bundle::pull::pull_built`], which switches
//! atomically and keeps the previous sets.
//!
//! When the bundle's record (the one the pointer names by its sha256, when
//! it names one) lists each cookbook's byte range and the instance's
//! [`LocalStore`] holds something, the set is assembled incrementally: only
//! the ranges of the cookbooks the local store lacks are fetched from the
//! bundle object (in parallel), each is checked against the record (the
//! bundle's SHA-256 states around it, then its file list's digest) and
//! added to the local store, the set is made of hard links to local store entries
//! (each checked before use), and it is checked file by file against the
//! bundle's manifest, rebuilt from the entries and proved equal to the
//! published one by the sha256 the record gives. Otherwise (a cold
//! instance, a bundle published without ranges, a store that does not
//! serve ranges) the whole bundle is downloaded and verified against the
//! digest the pointer names, as `larder pull` does, and its cookbooks seed
//! the local store by hard links. Afterwards, local store entries that no
//! kept set uses are removed.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::local_store::{Entry, LocalStore, Stamps, check_set};
use super::record::{
    self, BundleRecord, ByteRange, CookbookRecord, Pointer, bundle_key, record_key,
};
use super::stack::show;
use super::store::Store;
use crate::archive::Limits;
use crate::bundle::cookbook_ranges::unpack_range;
use crate::bundle::manifest::{self, CookbookManifest, Manifest};
use crate::bundle::pull::{PullOutcome, Staging, pull_built, unpack_download};
use crate::bundle::sha256_states;
use crate::bundle::{ARCHIVE_ROOT, BundleError};

/// Cookbook ranges fetched at once.
const PARALLEL_FETCHES: usize = 8;

/// How a pull by stack got its set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The bundle was in place already; only the pointer was read.
    #[default]
    None,
    /// Only the ranges of missing cookbooks were fetched.
    Incremental,
    /// The whole bundle was fetched.
    Full,
}

/// One cookbook fetched or reused, and the bytes of its range.
#[derive(Clone, Debug, Serialize)]
pub struct Moved {
    pub name: String,
    pub version: String,
    pub bytes: u64,
}

/// What a pull by stack moved over the network and what it reused.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Transfer {
    pub mode: Mode,
    /// The bundle record's size (0 when it was not read).
    pub record_bytes: u64,
    /// The whole bundle's size, when it was fetched.
    pub bundle_bytes: u64,
    pub fetched: Vec<Moved>,
    pub fetched_bytes: u64,
    /// Cookbooks taken from the local store (bytes: their ranges' sizes).
    pub reused: Vec<Moved>,
    pub reused_bytes: u64,
}

/// What [`pull_stack`] did.
#[derive(Clone, Debug)]
pub struct StackPull {
    pub pointer: Pointer,
    pub outcome: PullOutcome,
    pub transfer: Transfer,
}

/// Switches `into` to the bundle `stack` points at, keeping `keep` sets
/// (at least the live one and the previous one).
pub fn pull_stack(
    store: &Store,
    stack: &str,
    into: &Path,
    limits: &Limits,
    keep: usize,
) -> Result<StackPull, DeliveryError> {
    let pointer = show(store, stack)?;
    let origin = store.object_url(&bundle_key(&pointer.bundle));
    let mut transfer = Transfer::default();
    let outcome = pull_built(
        into,
        &pointer.bundle,
        &origin,
        keep.max(2),
        |staging| build_set(store, &pointer, staging, limits, &mut transfer),
        |state, kept| Ok(LocalStore::open(state)?.prune(kept)?),
    )?;
    Ok(StackPull {
        pointer,
        outcome,
        transfer,
    })
}

fn build_set(
    store: &Store,
    pointer: &Pointer,
    staging: &Staging<'_>,
    limits: &Limits,
    transfer: &mut Transfer,
) -> Result<Manifest, DeliveryError> {
    let record = read_record(store, pointer, transfer)?;
    let local = LocalStore::open(staging.state)?;
    if let Some(record) = record.filter(has_ranges)
        && !local.is_empty()?
    {
        transfer.mode = Mode::Incremental;
        if let Some(manifest) = assemble(store, &record, &local, staging, limits, transfer)? {
            return Ok(manifest);
        }
        *transfer = Transfer {
            record_bytes: transfer.record_bytes,
            ..Transfer::default()
        };
    }
    transfer.mode = Mode::Full;
    let manifest = fetch_whole(store, pointer, staging, limits, transfer)?;
    let cookbooks = staging.work.join(ARCHIVE_ROOT);
    for (i, cookbook) in manifest.cookbooks.iter().enumerate() {
        local.adopt(
            &record::tree_digest(&cookbook.files),
            &cookbooks.join(&cookbook.name),
            &cookbook.files,
            &staging.tmp.join(format!("adopt-{i}")),
        )?;
    }
    Ok(manifest)
}

/// The bundle's record, when the store has a readable one for it that the
/// pointer vouches for (a record that differs from the one the pointer
/// names is not used: the whole bundle, which the pointer's digest checks,
/// is fetched instead).
fn read_record(
    store: &Store,
    pointer: &Pointer,
    transfer: &mut Transfer,
) -> Result<Option<BundleRecord>, DeliveryError> {
    let key = record_key(&pointer.bundle);
    let Some(object) = store.get(&key)? else {
        return Ok(None);
    };
    transfer.record_bytes = object.bytes.len() as u64;
    if let Some(expected) = &pointer.record_sha256
        && *expected != hex::encode(Sha256::digest(&object.bytes))
    {
        return Ok(None);
    }
    let record: BundleRecord = record::from_json(&object.bytes, &store.object_url(&key))?;
    Ok((record.sha256 == pointer.bundle).then_some(record))
}

/// Whether a record lists a usable range for every cookbook: a non-empty
/// span inside the bundle.
fn has_ranges(record: &BundleRecord) -> bool {
    record.manifest_sha256.is_some()
        && record.cookbooks.iter().all(|c| {
            c.range
                .as_ref()
                .is_some_and(|r| r.start < r.end && r.end <= record.size)
                && c.sha256.len() == 64
                && c.sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && !c.name.is_empty()
                && !c.name.starts_with('.')
                && !c.name.contains(['/', '\\', '\0'])
        })
}

/// Downloads the whole bundle and unpacks it into the staging folder.
fn fetch_whole(
    store: &Store,
    pointer: &Pointer,
    staging: &Staging<'_>,
    limits: &Limits,
    transfer: &mut Transfer,
) -> Result<Manifest, DeliveryError> {
    let key = bundle_key(&pointer.bundle);
    let origin = store.object_url(&key);
    let mut failure = None;
    let mut bytes = 0;
    let unpacked = unpack_download(staging, &pointer.bundle, &origin, limits, |out| {
        let mut counted = Counted {
            inner: out,
            bytes: 0,
        };
        let fetched = match store.download(&key, &mut counted) {
            Ok(Some(digest)) => {
                bytes = counted.bytes;
                return Ok(digest);
            }
            Ok(None) => DeliveryError::DanglingPointer {
                stack: pointer.stack.clone(),
                digest: pointer.bundle.clone(),
                store: store.url().to_string(),
            },
            Err(e) => e,
        };
        let detail = fetched.to_string();
        failure = Some(fetched);
        Err(BundleError::Fetch {
            url: origin.clone(),
            detail,
        })
    });
    transfer.bundle_bytes = bytes;
    match (unpacked, failure) {
        (Ok(manifest), _) => Ok(manifest),
        // The store's own error, unless the pull stopped for a reason of
        // its own (a download over the size limit ends the same way).
        (Err(BundleError::Fetch { .. }), Some(failure)) => Err(failure),
        (Err(e), _) => Err(e.into()),
    }
}

/// Builds the set from local store entries, fetching the missing ones;
/// `None` when the store would not serve their ranges (nothing was written
/// to the set then).
fn assemble(
    store: &Store,
    record: &BundleRecord,
    local: &LocalStore,
    staging: &Staging<'_>,
    limits: &Limits,
    transfer: &mut Transfer,
) -> Result<Option<Manifest>, DeliveryError> {
    let mut entries: BTreeMap<&str, Entry> = BTreeMap::new();
    let mut missing: Vec<&CookbookRecord> = Vec::new();
    for cookbook in &record.cookbooks {
        let tree = cookbook.sha256.as_str();
        if entries.contains_key(tree) || missing.iter().any(|m| m.sha256 == tree) {
            continue;
        }
        match local.verified(tree)? {
            Some(entry) => {
                entries.insert(tree, entry);
                transfer.reused.push(moved(cookbook, record.size));
            }
            None => missing.push(cookbook),
        }
    }
    match fetch_missing(
        store,
        record,
        &missing,
        local,
        staging.tmp,
        limits,
        &mut entries,
    ) {
        // Some servers (a plain static one) answer a range request with
        // the whole object; object_store refuses that, and the whole
        // bundle is the way left.
        Err(DeliveryError::Store { denied: None, .. }) => return Ok(None),
        other => other?,
    }
    transfer.fetched = missing.iter().map(|c| moved(c, record.size)).collect();
    transfer.fetched_bytes = transfer.fetched.iter().map(|m| m.bytes).sum();
    transfer.reused_bytes = transfer.reused.iter().map(|m| m.bytes).sum();

    let cookbooks = staging.work.join(ARCHIVE_ROOT);
    let mut stamps = Stamps::new();
    let mut manifest = Manifest {
        cookbooks: Vec::with_capacity(record.cookbooks.len()),
        format: manifest::FORMAT,
        lock_digest: record.lock_digest.clone(),
    };
    for cookbook in &record.cookbooks {
        let entry = &entries[cookbook.sha256.as_str()];
        local.link_into(
            &cookbook.sha256,
            entry,
            &cookbooks.join(&cookbook.name),
            &mut stamps,
        )?;
        manifest.cookbooks.push(CookbookManifest {
            files: entry.file_list(),
            name: cookbook.name.clone(),
            source: cookbook.source.clone(),
            version: cookbook.version.clone(),
        });
    }
    let json = manifest.to_json();
    let record_url = store.object_url(&record_key(&record.sha256));
    if record.manifest_sha256.as_deref() != Some(hex::encode(Sha256::digest(&json)).as_str()) {
        return Err(DeliveryError::BadObject {
            object: record_url,
            detail: "its cookbooks do not make up the bundle's manifest; publish the bundle again"
                .to_string(),
        });
    }
    let manifest_path = cookbooks.join(manifest::FILE_NAME);
    std::fs::write(&manifest_path, &json)
        .map_err(|e| BundleError::io("write", &manifest_path, e))?;
    let differences = check_set(&cookbooks, &manifest, &stamps)?;
    if !differences.is_empty() {
        return Err(BundleError::ContentMismatch {
            origin: format!("the set assembled for {record_url}"),
            differences,
        }
        .into());
    }
    Ok(Some(manifest))
}

/// Fetches the ranges of `missing` from the bundle object in parallel,
/// checks each against the record and adds it to the local store and to
/// `entries`.
fn fetch_missing<'a>(
    store: &Store,
    record: &BundleRecord,
    missing: &[&'a CookbookRecord],
    local: &LocalStore,
    tmp: &Path,
    limits: &Limits,
    entries: &mut BTreeMap<&'a str, Entry>,
) -> Result<(), DeliveryError> {
    let key = bundle_key(&record.sha256);
    let url = store.object_url(&key);
    let ranges: Vec<&ByteRange> = missing.iter().filter_map(|c| c.range.as_ref()).collect();
    let spans: Vec<_> = ranges.iter().map(|r| r.checked_span(record.size)).collect();
    let paths: Vec<PathBuf> = (0..ranges.len())
        .map(|i| tmp.join(format!("range-{i}")))
        .collect();
    store.download_ranges(&key, &spans, &paths, PARALLEL_FETCHES, || {
        DeliveryError::BadObject {
            object: url.clone(),
            detail: "the bundle's record names it but the store does not have it; publish \
                     the bundle again"
                .to_string(),
        }
    })?;
    for (i, ((cookbook, range), span)) in missing.iter().zip(&ranges).zip(&spans).enumerate() {
        let origin = format!(
            "{url} (bytes {}-{}, cookbook {})",
            range.start, range.end, cookbook.name
        );
        let fetched =
            std::fs::read(&paths[i]).map_err(|e| BundleError::io("read", &paths[i], e))?;
        let intact = fetched.len() as u64 == span.end - span.start
            && match &range.sha256_after {
                Some(after) => sha256_states::leads_to_state(&range.sha256_before, &fetched, after),
                None => sha256_states::leads_to_digest(
                    &range.sha256_before,
                    span.start,
                    &fetched,
                    &record.sha256,
                ),
            };
        if !intact {
            return Err(DeliveryError::Corrupt {
                object: origin,
                actual: hex::encode(Sha256::digest(&fetched)),
            });
        }
        let bytes =
            &fetched[(range.start - span.start) as usize..(range.end - span.start) as usize];
        let staged = tmp.join(format!("entry-{i}"));
        let raw = staged.join("raw");
        let unpacked = unpack_range(bytes, &cookbook.name, &raw, limits, &origin)?;
        let actual = record::tree_digest(&unpacked.file_list());
        if actual != cookbook.sha256 {
            return Err(DeliveryError::CorruptCookbook {
                object: origin,
                expected: cookbook.sha256.clone(),
                actual,
            });
        }
        let folder = raw.join(ARCHIVE_ROOT).join(&cookbook.name);
        let files = staged.join("files");
        std::fs::rename(&folder, &files).map_err(|e| BundleError::io("move", &folder, e))?;
        let entry = local.insert(&cookbook.sha256, &staged, &unpacked)?;
        entries.insert(cookbook.sha256.as_str(), entry);
    }
    Ok(())
}

/// A cookbook of a bundle of `size` bytes, and the bytes of its checked
/// span.
fn moved(cookbook: &CookbookRecord, size: u64) -> Moved {
    let span = cookbook.range.as_ref().map(|r| r.checked_span(size));
    Moved {
        name: cookbook.name.clone(),
        version: cookbook.version.clone(),
        bytes: span.map_or(0, |s| s.end.saturating_sub(s.start)),
    }
}

/// Counts the bytes written through it.
struct Counted<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
