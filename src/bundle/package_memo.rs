//! What `package` learned about the bundles it wrote, kept in
//! `$LARDER_HOME/packaged/<sha256>.<device>.<inode>.json` so that
//! `publish` need not read a bundle again to learn it. (The same bundle
//! packed to two paths has a memo for each.)
//!
//! `package` checks every byte of a bundle as it writes it: each file
//! against the manifest's hash, and the archive's SHA-256 as it goes out.
//! It also knows where it cut the stream for each cookbook. That is what
//! `publish` needs (the digest that names the bundle, the manifest, each
//! cookbook's range and the SHA-256 states around it), and finding it again
//! means inflating and hashing the whole bundle beside the upload.
//!
//! The memo holds it together with the bundle file's stamp: device, inode,
//! size, and modification and change times to the nanosecond. `publish`
//! uses a memo only for that same file, unchanged since: any write to it
//! or `touch` of it changes its change time, which no user can set back,
//! and a copy is another inode. Any other bundle is checked in full.
//!
//! A change within the same clock tick as the stamp would go unseen, so a
//! memo is written only once the clock has moved on from the file's change
//! time, and never on a file system whose times look coarser than 10 ms.
//! Writing one is best effort: without it, `publish` checks in full. The
//! newest [`KEPT`] memos are kept.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::cookbook_ranges::CookbookRange;
use super::manifest::Manifest;
use super::package::Packaged;
use super::sha256_states::Checkpointed;

/// Memos kept in the home directory; older ones are removed.
const KEPT: usize = 32;

/// The memo format this larder writes and reads.
const FORMAT: u32 = 1;

/// File times are taken to be this fine at worst, and the clock to lag
/// them by at most this much.
const TICK: Duration = Duration::from_millis(10);

/// What `package` knows about one bundle file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMemo {
    format: u32,
    stamp: Stamp,
    pub manifest: Manifest,
    /// Each cookbook's range, in manifest order.
    pub ranges: Vec<CookbookRange>,
    /// The SHA-256 pass over the bundle: its digest and kept states.
    pub hashed: Checkpointed,
}

/// What changes when a file does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    /// Seconds and nanoseconds since 1970.
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file system keeps times finer than [`TICK`] (a time
    /// on a whole 10 ms is taken as a sign that it does not).
    fn is_fine(&self) -> bool {
        self.changed.1 % TICK.as_nanos() as i64 != 0
    }

    /// When the file last changed.
    fn changed_at(&self) -> Option<SystemTime> {
        let secs = u64::try_from(self.changed.0).ok()?;
        let nanos = u32::try_from(self.changed.1).ok()?;
        UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
    }
}

fn memo_dir(home: &Path) -> PathBuf {
    home.join("packaged")
}

/// The memo of the bundle file `sha256` with the device and inode in
/// `meta`.
fn memo_path(home: &Path, sha256: &str, meta: &Metadata) -> PathBuf {
    memo_dir(home).join(format!("{sha256}.{}.{}.json", meta.dev(), meta.ino()))
}

/// Keeps what `package` knows about the bundle it just wrote, in `home`.
/// Best effort: a memo that cannot be written only means a full check
/// when the bundle is published.
pub fn record(home: &Path, packaged: &Packaged) {
    let Ok(meta) = fs::metadata(&packaged.archive) else {
        return;
    };
    let stamp = Stamp::of(&meta);
    let Some(changed_at) = stamp.changed_at().filter(|_| stamp.is_fine()) else {
        return;
    };
    // Until the clock has moved on, a change to the file could still be
    // given the time it has now.
    if let Ok(wait) = (changed_at + TICK).duration_since(SystemTime::now()) {
        if wait > TICK {
            // The file's time is ahead of this clock: no telling when the
            // clock moves on from it.
            return;
        }
        std::thread::sleep(wait);
    }
    let memo = PackageMemo {
        format: FORMAT,
        stamp,
        manifest: packaged.manifest.clone(),
        ranges: packaged.ranges.clone(),
        hashed: packaged.hashed.clone(),
    };
    let Ok(json) = serde_json::to_vec(&memo) else {
        return;
    };
    if fs::create_dir_all(memo_dir(home)).is_ok()
        && crate::atomic_file::write(&memo_path(home, &packaged.sha256, &meta), &json).is_ok()
    {
        prune(home);
    }
}

/// The memo for the bundle `file`, whose `.sha256` file says `sha256`,
/// when `package` wrote that very file on this machine and it is unchanged
/// since.
pub fn recall(home: &Path, sha256: &str, file: &File) -> Option<PackageMemo> {
    // Only a digest names a memo (never a path).
    let sha256 = super::parse_sha256(sha256, "a memo's name").ok()?;
    let meta = file.metadata().ok()?;
    let text = fs::read(memo_path(home, &sha256, &meta)).ok()?;
    let memo: PackageMemo = serde_json::from_slice(&text).ok()?;
    let size = memo.stamp.size;
    let fits = memo.format == FORMAT
        && memo.hashed.digest == sha256
        && memo.hashed.fits(size)
        && memo.ranges.len() == memo.manifest.cookbooks.len()
        && memo
            .ranges
            .iter()
            .zip(&memo.manifest.cookbooks)
            .all(|(range, cookbook)| {
                range.name == cookbook.name && range.start <= range.end && range.end <= size
            });
    (fits && memo.stamp == Stamp::of(&meta)).then_some(memo)
}

impl PackageMemo {
    /// Whether `file` is still the file this memo describes, unchanged.
    pub fn is_for(&self, file: &File) -> bool {
        file.metadata()
            .is_ok_and(|meta| Stamp::of(&meta) == self.stamp)
    }
}

/// Removes all but the newest [`KEPT`] memos.
fn prune(home: &Path) {
    let Ok(listing) = fs::read_dir(memo_dir(home)) else {
        return;
    };
    let mut memos: Vec<(SystemTime, PathBuf)> = listing
        .flatten()
        .filter(|item| item.path().extension().is_some_and(|ext| ext == "json"))
        .filter_map(|item| Some((item.metadata().ok()?.modified().ok()?, item.path())))
        .collect();
    if memos.len() <= KEPT {
        return;
    }
    memos.sort();
    for (_, path) in &memos[..memos.len() - KEPT] {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_memos_are_kept() {
        let home = tempfile::tempdir().unwrap();
        let dir = memo_dir(home.path());
        fs::create_dir_all(&dir).unwrap();
        let start = SystemTime::now() - Duration::from_secs(3600);
        for i in 0..KEPT + 5 {
            let path = dir.join(format!("{i:064x}.json"));
            fs::write(&path, b"{}").unwrap();
            let file = File::options().write(true).open(&path).unwrap();
            file.set_modified(start + Duration::from_secs(i as u64))
                .unwrap();
        }
        fs::write(dir.join("not-a-memo.txt"), b"").unwrap();
        prune(home.path());
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected: Vec<String> = (5..KEPT + 5).map(|i| format!("{i:064x}.json")).collect();
        expected.push("not-a-memo.txt".to_string());
        assert_eq!(left, expected);
    }

    #[test]
    fn a_memo_is_only_looked_up_by_a_digest() {
        let home = tempfile::tempdir().unwrap();
        let file = tempfile::tempfile().unwrap();
        assert!(recall(home.path(), "../../etc/passwd", &file).is_none());
    }
}
