//! `publish`: puts a bundle into the store under its sha256, with its
//! `sha256sum` file and its record. The record lists each cookbook's byte
//! range in the bundle ([`crate::bundle::cookbook_ranges`]), so that
//! `pull --stack` can fetch one cookbook without the rest: every byte is
//! stored once, in the bundle object.
//!
//! The bundle is mapped, not copied, and beside the upload one thread at
//! the lowest priority fills in the mapping ahead of it and then does what
//! checking is left, and then lets go of the pages the upload has sent (so
//! that the mapping is not torn down after the upload, while the publish
//! waits). A bundle that `package` wrote on this machine,
//! unchanged since ([`crate::bundle::package_memo`]), leaves none: its
//! name, manifest, ranges and SHA-256 states are what packing it showed
//! (the file's stamp is checked again after the upload). A bundle cut
//! short by someone else while it is published is refused, not a crash
//! ([`crate::mapped_file`]). Any other bundle
//! is checked in full. Its name is the digest in the `.sha256` file beside
//! it, so the upload starts at once (a bundle without that file is hashed
//! for its name first). The thread checks every file against the manifest
//! while it finds the cookbook ranges, then hashes the bundle once for its
//! digest and the ranges' SHA-256 states (or, for a bundle hashed for its
//! name, takes the states from that pass). If the digest is not the name
//! or a check fails, the object just created is removed again and nothing
//! else is written.
//!
//! The `sha256sum` file goes up beside the bundle, on a second
//! connection: its text follows from the name alone.
//!
//! Content addressing makes publishing idempotent: a bundle that is already
//! there is checked against its name (streamed and hashed) and not uploaded
//! again, and an existing record keeps the time and provenance of the first
//! publish. The record is written last, so a record in the store means its
//! bundle is complete.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::record::{
    self, BundleRecord, ByteRange, Provenance, bundle_key, record_key, sidecar_key,
};
use super::store::{Created, Store};
use crate::archive::Limits;
use crate::bundle::cookbook_ranges::{self, ScannedBundle};
use crate::bundle::manifest::Difference;
use crate::bundle::package_memo;
use crate::bundle::sha256_states;
use crate::bundle::verify::sidecar_path;
use crate::bundle::{BundleError, parse_sidecar};
use crate::mapped_file::MappedFile;

/// What [`publish`] did.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub sha256: String,
    pub size: u64,
    /// The bundle object's URL.
    pub url: String,
    /// False when the store already had the bundle.
    pub uploaded: bool,
    /// False when `package` wrote this bundle file and it is unchanged
    /// since, so its checks stand ([`crate::bundle::package_memo`]); true
    /// when publish read the bundle to check it.
    pub rechecked: bool,
    /// How long the upload took, from the request to the store's answer
    /// (`None` when nothing was uploaded).
    pub upload_seconds: Option<f64>,
    /// The record in the store (the first publish's, if it was there).
    pub record: BundleRecord,
    /// The sha256 of that record as stored, for the stack's pointer.
    pub record_sha256: String,
}

/// Publishes the bundle file at `bundle`.
pub fn publish(
    store: &Store,
    bundle: &Path,
    provenance: Provenance,
) -> Result<Published, DeliveryError> {
    store.ensure_writable()?;
    let origin = bundle.display().to_string();
    let file = File::open(bundle).map_err(|e| BundleError::io("read", bundle, e))?;
    let mapped = MappedBundle::map(&file, bundle)?;
    let data = Bytes::from_owner(mapped.clone());
    let size = data.len() as u64;
    let claimed = sidecar_digest(bundle);
    // What `package` learned writing this very file, if it did and the
    // file is unchanged since: then there is nothing left to check.
    let memo = claimed.as_deref().and_then(|sha256| {
        let home = crate::cache::home().ok()?;
        package_memo::recall(&home, sha256, &file)
    });
    // Otherwise the name is the digest the `.sha256` file claims, checked
    // beside the upload; without that file it has to be computed first,
    // and the checks reuse that pass instead of hashing the bundle again.
    let (sha256, hashed) = match (&memo, claimed) {
        (Some(memo), _) => (memo.hashed.digest.clone(), Some(memo.hashed.clone())),
        (None, Some(claimed)) => (claimed, None),
        (None, None) => {
            let hashed = sha256_states::checkpointed(&data);
            (hashed.digest.clone(), Some(hashed))
        }
    };
    let rechecked = memo.is_none();
    let key = bundle_key(&sha256);
    let sidecar_key = sidecar_key(&sha256);
    let sidecar = Bytes::from(format!("{sha256}  {sha256}.tar.gz\n"));
    let present = store.size_of(&key)?.is_some();
    let upload_over = AtomicBool::new(false);
    // What this process had written before the upload, so that the thread
    // beside it can tell how much of the bundle has gone out.
    let written_before = (!present && store.uploads_in_order(size))
        .then(bytes_written)
        .flatten();
    let (created, checked) = std::thread::scope(|scope| {
        let checking = scope.spawn(|| {
            // This thread's work is background work next to the transfer:
            // on a small machine (or one that also runs the server) the
            // upload gets the processor first. Linux keeps the nice value
            // per thread, so only this one is lowered; failing to lower it
            // changes nothing else.
            let _ = rustix::process::setpriority_process(None, 19);
            mapped.populate(&upload_over);
            let checked = match &memo {
                Some(memo) => Ok(ScannedBundle {
                    manifest: memo.manifest.clone(),
                    ranges: Some(memo.ranges.clone()),
                }),
                None => cookbook_ranges::scan(&data, &origin, &Limits::default()),
            }
            .and_then(|scanned| hash_with_ranges(&data, scanned, &sha256, hashed, &origin));
            if let Some(written_before) = written_before {
                mapped.release_sent(written_before, &upload_over);
            }
            checked
        });
        // The sidecar goes up beside the bundle: its text follows from the
        // name alone, so it needs no check, and it costs no round trip of
        // its own.
        let created = (!present).then(|| {
            let started = Instant::now();
            let (bundle, sidecar) =
                store.upload_beside(&key, data.clone(), (&sidecar_key, sidecar.clone()));
            let upload_time = started.elapsed();
            (bundle.map(|created| (created, upload_time)), sidecar)
        });
        upload_over.store(true, Ordering::Relaxed);
        checking.thread().unpark();
        let checked = checking.join().unwrap_or_else(|_| {
            Err(BundleError::io(
                "check",
                bundle,
                io::Error::other("the checking thread panicked"),
            ))
        });
        (created, checked)
    });
    // What was read is not what was checked if the file was cut short
    // while it was read, or, for a bundle taken on its memo, changed at all
    // (the memo vouches only for the file as it was before the upload). An
    // upload that failed because the file shrank under it is the same.
    let (created, sidecar_created) = created.unzip();
    let upload_failed = matches!(created, Some(Err(_)));
    let changed = mapped.was_cut()
        || memo.as_ref().is_some_and(|memo| !memo.is_for(&file))
        || (upload_failed && file.metadata().map_or(true, |meta| meta.len() != size));
    let checked = if changed {
        Err(BundleError::ChangedDuringPublish {
            path: bundle.to_path_buf(),
        })
    } else {
        checked
    };
    // An upload that failed on a changed file created nothing, and the
    // change is the error that matters.
    let created = created.filter(|upload| upload.is_ok() || !changed);
    // A publish that fails leaves behind none of what it created, unless
    // the bundle turned out to be someone else's upload, whose sidecar
    // this one is as well. The failure is the error that matters.
    let remove_ours = |bundle: Option<Created>| {
        if bundle == Some(Created::New) {
            // Not what its name or its manifest says: gone again before
            // anyone can rely on it (readers check digests in any case).
            let _ = store.delete(&key);
        }
        if bundle != Some(Created::Existed) && matches!(sidecar_created, Some(Ok(Created::New))) {
            let _ = store.delete(&sidecar_key);
        }
    };
    let (created, upload_time) = match created.transpose() {
        Ok(created) => created.unzip(),
        Err(e) => {
            remove_ours(None);
            return Err(e);
        }
    };
    let (scanned, ranges) = match checked {
        Ok(scanned) => scanned,
        Err(e) => {
            remove_ours(created);
            return Err(e.into());
        }
    };
    let uploaded = created == Some(Created::New);
    if !uploaded {
        check_existing(store, &key, &sha256)?;
    }
    match sidecar_created {
        Some(written) => written.map(drop)?,
        None => store.create(&sidecar_key, sidecar).map(drop)?,
    }
    let record = BundleRecord::new(&sha256, size, &scanned.manifest, ranges, provenance);
    let record_key = record_key(&sha256);
    let ours = record::to_json(&record);
    let (record, record_bytes) = match store.create(&record_key, ours.clone())? {
        Created::New => (record, ours),
        Created::Existed => match store.get(&record_key)? {
            Some(object) => (
                record::from_json(&object.bytes, &store.object_url(&record_key))?,
                object.bytes,
            ),
            None => (record, ours),
        },
    };
    Ok(Published {
        url: store.object_url(&key),
        sha256,
        size,
        uploaded,
        rechecked,
        upload_seconds: upload_time
            .filter(|_| uploaded)
            .map(|time| time.as_secs_f64()),
        record,
        record_sha256: hex::encode(Sha256::digest(&record_bytes)),
    })
}

/// A bundle file mapped into memory, read by the upload and the checks
/// alike: neither copies it. A file cut short by someone else while it is
/// published reads as zeros past its new end, and the map says so
/// ([`MappedFile::was_cut`]), so that the publish is refused rather than
/// the process killed.
#[derive(Clone)]
struct MappedBundle(Option<Arc<MappedFile>>);

impl MappedBundle {
    fn map(file: &File, bundle: &Path) -> Result<MappedBundle, BundleError> {
        let len = file
            .metadata()
            .map_err(|e| BundleError::io("read", bundle, e))?
            .len();
        if len == 0 {
            // There is nothing to map (and an empty map is an error).
            return Ok(MappedBundle(None));
        }
        let map = MappedFile::map(file).map_err(|e| BundleError::io("read", bundle, e))?;
        Ok(MappedBundle(Some(Arc::new(map))))
    }

    /// Whether the file was found cut short while it was read.
    fn was_cut(&self) -> bool {
        self.0.as_ref().is_some_and(|map| map.was_cut())
    }

    /// Maps every page ahead of its readers, a piece at a time, until
    /// `stop` is set. The background thread calls this first, so the
    /// upload's first byte does not wait for a 200 MB mapping to be set up
    /// and the pages it reaches are mostly mapped already; once the upload
    /// is done, what is left is not worth waiting for. Best effort (Linux
    /// 5.14 and later); without it pages are mapped as they are read.
    fn populate(&self, stop: &AtomicBool) {
        const PIECE: usize = 8 << 20;
        if let Some(map) = &self.0 {
            let len = map.len();
            for start in (0..len).step_by(PIECE) {
                if stop.load(Ordering::Relaxed)
                    || map.populate(start, PIECE.min(len - start)).is_err()
                {
                    return;
                }
            }
        }
    }

    /// Lets go of the pages of the mapping that the upload has sent, until
    /// `upload_over` is set (and the thread unparked). Unmapping the tens of
    /// thousands of pages of a 200 MB bundle takes milliseconds, which would
    /// otherwise come after the upload, while the publish waits; done as
    /// the bytes go out, it overlaps the transfer. The upload is one request writing the bundle in order, so
    /// what this process has written since `written_before` is how far it
    /// has got (a little more: the request's head, which the slack covers).
    fn release_sent(&self, written_before: u64, upload_over: &AtomicBool) {
        /// Releases are whole multiples of this, which is a whole number of
        /// pages on every Linux page size, and it exceeds any request head.
        const SLACK: usize = 64 << 10;
        const POLL: Duration = Duration::from_millis(10);
        let Some(map) = &self.0 else { return };
        let len = map.len();
        let mut released = 0;
        while !upload_over.load(Ordering::Relaxed) {
            let Some(written) = bytes_written() else {
                return;
            };
            let sent =
                usize::try_from(written.saturating_sub(written_before)).unwrap_or(usize::MAX);
            let done = sent.saturating_sub(SLACK).min(len) / SLACK * SLACK;
            if done > released {
                if map.release(released, done - released).is_err() {
                    return;
                }
                released = done;
            }
            std::thread::park_timeout(POLL);
        }
    }
}

impl AsRef<[u8]> for MappedBundle {
    fn as_ref(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |map| &map[..])
    }
}

/// How many bytes this process has handed to `write` and its kin so far
/// (`wchar` in `/proc/self/io`), where the system tells.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))?
        .trim()
        .parse()
        .ok()
}

/// The digest in the bundle's `.sha256` file, when it has a readable one
/// (a claim, checked against the bytes).
fn sidecar_digest(bundle: &Path) -> Option<String> {
    let sidecar = sidecar_path(bundle);
    let text = std::fs::read_to_string(&sidecar).ok()?;
    parse_sidecar(&text, &sidecar.display().to_string()).ok()
}

/// Finds the SHA-256 states around each cookbook's range, and checks that
/// the bundle's digest is `sha256`. The bundle is hashed here unless
/// `hashed` already holds the pass that computed `sha256`.
fn hash_with_ranges(
    data: &[u8],
    scanned: ScannedBundle,
    sha256: &str,
    hashed: Option<sha256_states::Checkpointed>,
    origin: &str,
) -> Result<(ScannedBundle, Vec<ByteRange>), BundleError> {
    let size = data.len() as u64;
    let cut = scanned.ranges.as_deref().unwrap_or_default();
    // The boundary after a range that ends in the last block is past the
    // end: the bundle's digest checks that range instead.
    let spans: Vec<(u64, Option<u64>)> = cut
        .iter()
        .map(|range| {
            let (before, after) = sha256_states::around(range.start, range.end);
            (before, (after <= size).then_some(after))
        })
        .collect();
    let offsets: Vec<u64> = spans
        .iter()
        .flat_map(|&(before, after)| std::iter::once(before).chain(after))
        .collect();
    let hashed = hashed.unwrap_or_else(|| sha256_states::checkpointed(data));
    if hashed.digest != sha256 {
        return Err(BundleError::ContentMismatch {
            origin: origin.to_string(),
            differences: vec![Difference::DigestMismatch {
                expected: sha256.to_string(),
                actual: hashed.digest,
            }],
        });
    }
    let states = hashed.states_at(data, &offsets);
    let ranges = cut
        .iter()
        .zip(spans)
        .map(|(range, (before, after))| ByteRange {
            start: range.start,
            end: range.end,
            sha256_before: states[&before].clone(),
            sha256_after: after.map(|after| states[&after].clone()),
        })
        .collect();
    Ok((scanned, ranges))
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
