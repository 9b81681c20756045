//! Each cookbook's byte range in a bundle.
//!
//! `package` cuts the bundle's deflate stream where each cookbook's entries
//! begin and where the last one ends ([`super::gzip::ParallelGz::cut`]).
//! Chunks share no history and every chunk ends byte-aligned after an empty
//! stored block (`00 00 ff ff`), so the bytes from one cut to the next
//! inflate on their own, with a fresh inflater, into exactly that
//! cookbook's tar entries. `publish` finds these ranges while it checks a
//! bundle ([`scan`]) and lists them in the bundle's record; `pull --stack`
//! fetches only the ranges of the cookbooks an instance lacks, from the
//! bundle object itself, and reads each back ([`unpack_range`]).
//!
//! A cut is recognised, never assumed: at each place where the stream is
//! byte-aligned after an empty stored block and the output is at a tar
//! block boundary, a fresh inflater is tried on what follows; only when it
//! yields the header of a cookbook's folder (`cookbooks/<name>/`, checksum
//! correct), or the end-of-archive block after the last cookbook, is the
//! place taken as a cut and the rest of the stream inflated from there by a
//! fresh inflater. Everything inflated that way is then checked against the
//! manifest, so a range that would not read back on its own cannot pass. A
//! bundle made otherwise (by another tool, or before cuts existed) is
//! checked in full all the same; it just has no ranges.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use super::gzip::HEADER;
use super::manifest::{self, Manifest};
use super::verify::check_files;
use super::{ARCHIVE_ROOT, BundleError};
use crate::archive::{self, Limits, Unpacked};
use flate2::{Crc, Decompress, FlushDecompress, Status};

/// Where a cookbook's entries sit in a bundle file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CookbookRange {
    pub name: String,
    /// Offset of the first byte, from the start of the file.
    pub start: u64,
    /// Offset just past the last byte.
    pub end: u64,
}

/// What [`scan`] found in a bundle that matches its manifest.
#[derive(Clone, Debug)]
pub struct ScannedBundle {
    pub manifest: Manifest,
    /// One per cookbook, in manifest order; `None` when the bundle was not
    /// cut by cookbook.
    pub ranges: Option<Vec<CookbookRange>>,
}

/// Compressed input handed to the inflater at a time: bounds what one step
/// can expand to.
const PIECE: usize = 16 * 1024;

/// The empty stored block that ends every chunk.
const SYNC_MARK: &[u8] = &[0, 0, 0xff, 0xff];

/// A tar block.
const BLOCK: usize = 512;

/// Checks the bundle `data` (read from `origin`) against its manifest,
/// reading every file, and finds each cookbook's range. Unsafe entries are
/// errors; files that differ from the manifest are a content mismatch.
pub fn scan(data: &[u8], origin: &str, limits: &Limits) -> Result<ScannedBundle, BundleError> {
    let unsafe_archive = |source| BundleError::UnsafeArchive {
        origin: origin.to_string(),
        source,
    };
    if let Some((found, cuts)) = scan_cut(data, limits) {
        let (manifest, differences) = check_files(found.kept.as_deref(), &found.unpacked, origin)?;
        if differences.is_empty() {
            let ranges = ranges_of(&manifest, &found.positions, &cuts);
            return Ok(ScannedBundle { manifest, ranges });
        }
    }
    // Not cut by cookbook, or not readable that way: read it as any gzip
    // stream, for a verdict (and an error) that does not depend on cuts.
    let manifest_path = manifest_path();
    let scanned = archive::scan_tar(
        flate2::read::MultiGzDecoder::new(data),
        limits,
        &manifest_path,
    )
    .map_err(unsafe_archive)?;
    let (manifest, differences) = check_files(scanned.kept.as_deref(), &scanned.unpacked, origin)?;
    if !differences.is_empty() {
        return Err(BundleError::ContentMismatch {
            origin: origin.to_string(),
            differences,
        });
    }
    Ok(ScannedBundle {
        manifest,
        ranges: None,
    })
}

/// Unpacks the range of cookbook `name` (its bytes `range`, fetched from
/// `origin`) into `dest`: the cookbook's files end up in
/// `dest/cookbooks/<name>/`. Returns what was unpacked, with paths relative
/// to the cookbook folder. Anything in the range outside that folder is
/// refused.
pub fn unpack_range(
    range: &[u8],
    name: &str,
    dest: &Path,
    limits: &Limits,
    origin: &str,
) -> Result<Unpacked, BundleError> {
    let bad = |detail: String| BundleError::UnsafeArchive {
        origin: origin.to_string(),
        source: archive::ArchiveError::Corrupt {
            source: io::Error::other(detail),
        },
    };
    let inflated = Inflater::new(range, End::Cut);
    // The range ends at a cut, before the end-of-archive blocks.
    let stream = inflated.chain(io::repeat(0).take(2 * BLOCK as u64));
    let unpacked =
        archive::unpack_tar(stream, dest, limits).map_err(|source| BundleError::UnsafeArchive {
            origin: origin.to_string(),
            source,
        })?;
    let folder = format!("{ARCHIVE_ROOT}/{name}");
    let part = cookbook_part(&unpacked, &folder);
    let inside = part.files.len() == unpacked.files.len()
        && unpacked
            .dirs
            .iter()
            .all(|d| *d == folder || d.starts_with(&format!("{folder}/")));
    if !inside || !unpacked.dirs.contains(&folder) {
        return Err(bad(format!(
            "the range of cookbook {name} holds entries outside {folder}/"
        )));
    }
    Ok(part)
}

/// The part of an unpacked bundle below `folder` (`cookbooks/<name>`),
/// with paths relative to it.
fn cookbook_part(unpacked: &Unpacked, folder: &str) -> Unpacked {
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

fn manifest_path() -> String {
    format!("{ARCHIVE_ROOT}/{}", manifest::FILE_NAME)
}

/// A place where the stream was cut: the output offset, the input offset
/// (from the start of the deflate data) and the cookbook that starts there
/// (`None` for the end of the last one).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cut {
    output: u64,
    input: usize,
    cookbook: Option<String>,
}

/// Reads a bundle with larder's gzip header by cuts: what it holds and the
/// cuts found; `None` when it cannot be read that way (whatever the reason,
/// [`scan`] then reads it plainly).
fn scan_cut(data: &[u8], limits: &Limits) -> Option<(archive::Scanned, Vec<Cut>)> {
    if data.len() < HEADER.len() + 8 || data[..HEADER.len()] != HEADER {
        return None;
    }
    let body = &data[HEADER.len()..data.len() - 8];
    let trailer = &data[data.len() - 8..];
    let mut inflater = Inflater::new(body, End::Final);
    let scanned = archive::scan_tar(&mut inflater, limits, &manifest_path()).ok()?;
    let crc_ok = inflater.crc.sum().to_le_bytes() == trailer[..4]
        && inflater.crc.amount().to_le_bytes() == trailer[4..];
    (inflater.finished && crc_ok).then_some((scanned, inflater.cuts))
}

/// The ranges, when the cuts put each manifest cookbook's entries (and only
/// them) between its own cut and the next.
fn ranges_of(
    manifest: &Manifest,
    positions: &[(String, u64)],
    cuts: &[Cut],
) -> Option<Vec<CookbookRange>> {
    let last = cuts.last()?;
    if last.cookbook.is_some() {
        return None;
    }
    // Every entry lies between the cut of its cookbook and the next cut;
    // the top folder and the manifest lie before the first cut.
    for (path, position) in positions {
        let cookbook = path
            .strip_prefix(ARCHIVE_ROOT)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split_once('/'))
            .map(|(name, _)| name);
        let inside = match cookbook {
            None => *position < cuts[0].output,
            Some(name) => cuts.windows(2).any(|pair| {
                pair[0].cookbook.as_deref() == Some(name)
                    && (pair[0].output..pair[1].output).contains(position)
            }),
        };
        if !inside {
            return None;
        }
    }
    let offset = HEADER.len() as u64;
    let ranges = cuts
        .windows(2)
        .map(|pair| {
            Some(CookbookRange {
                name: pair[0].cookbook.clone()?,
                start: offset + pair[0].input as u64,
                end: offset + pair[1].input as u64,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    in_manifest_order(manifest, ranges)
}

/// `ranges` in the manifest's order, when they are exactly one for each of
/// its cookbooks.
pub(super) fn in_manifest_order(
    manifest: &Manifest,
    ranges: Vec<CookbookRange>,
) -> Option<Vec<CookbookRange>> {
    let mut by_name = BTreeMap::new();
    for range in ranges {
        if by_name.insert(range.name.clone(), range).is_some() {
            return None;
        }
    }
    if by_name.len() != manifest.cookbooks.len() {
        return None;
    }
    manifest
        .cookbooks
        .iter()
        .map(|c| by_name.remove(&c.name))
        .collect()
}

/// How the deflate data handed to an [`Inflater`] ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// With the final block: the whole body of a gzip member.
    Final,
    /// At a cut: one cookbook's range.
    Cut,
}

/// Inflates raw deflate data as a `Read`, in pieces that end where a cut
/// may be; with [`End::Final`] it also finds the cuts (see the module
/// documentation) and keeps the CRC-32 of its output.
struct Inflater<'a> {
    input: &'a [u8],
    end: End,
    consumed: usize,
    decompress: Decompress,
    /// Output of the current piece: `out[..out_len]`, read up to
    /// `out_read`. The buffer only grows, and is zeroed only then.
    out: Vec<u8>,
    out_len: usize,
    out_read: usize,
    produced: u64,
    crc: Crc,
    cuts: Vec<Cut>,
    finished: bool,
}

impl<'a> Inflater<'a> {
    fn new(input: &'a [u8], end: End) -> Inflater<'a> {
        Inflater {
            input,
            end,
            consumed: 0,
            decompress: Decompress::new(false),
            out: vec![0; 4 * PIECE],
            out_len: 0,
            out_read: 0,
            produced: 0,
            crc: Crc::new(),
            cuts: Vec::new(),
            finished: false,
        }
    }

    /// Inflates the next piece into `out`.
    fn step(&mut self) -> io::Result<()> {
        let limit = (self.consumed + PIECE).min(self.input.len());
        let window =
            &self.input[self.consumed..(limit + SYNC_MARK.len() - 1).min(self.input.len())];
        let (stop, aligned) = match memchr::memmem::find(window, SYNC_MARK) {
            Some(at) => (self.consumed + at + SYNC_MARK.len(), true),
            None => (limit, false),
        };
        self.out_len = 0;
        self.out_read = 0;
        while self.consumed < stop || self.out_len == self.out.len() {
            if self.out_len == self.out.len() {
                self.out.resize(self.out.len() + 4 * PIECE, 0);
            }
            let (before_in, before_out) = (self.decompress.total_in(), self.decompress.total_out());
            let status = self
                .decompress
                .decompress(
                    &self.input[self.consumed..stop],
                    &mut self.out[self.out_len..],
                    FlushDecompress::None,
                )
                .map_err(io::Error::other)?;
            self.consumed += (self.decompress.total_in() - before_in) as usize;
            self.out_len += (self.decompress.total_out() - before_out) as usize;
            if status == Status::StreamEnd {
                self.finished = true;
                break;
            }
            if self.decompress.total_in() == before_in && self.decompress.total_out() == before_out
            {
                break;
            }
        }
        self.produced += self.out_len as u64;
        self.crc.update(&self.out[..self.out_len]);
        if self.finished {
            if self.end == End::Cut || self.consumed != self.input.len() {
                return Err(io::Error::other("data after the end of the deflate stream"));
            }
            return Ok(());
        }
        if self.consumed == self.input.len() {
            return match self.end {
                End::Cut => {
                    self.finished = true;
                    Ok(())
                }
                End::Final => Err(io::Error::other("the deflate stream ends early")),
            };
        }
        if self.consumed < stop {
            return Err(io::Error::other("the deflate stream stalls"));
        }
        if aligned && self.end == End::Final && self.produced.is_multiple_of(BLOCK as u64) {
            self.try_cut();
        }
        Ok(())
    }

    /// At an aligned place: takes it as a cut if a fresh inflater reads a
    /// cookbook folder's header (or the end-of-archive block) from here.
    fn try_cut(&mut self) {
        let ahead = &self.input[self.consumed..(self.consumed + 8 * BLOCK).min(self.input.len())];
        let mut probe = Decompress::new(false);
        let mut block = Vec::with_capacity(BLOCK);
        if probe
            .decompress_vec(ahead, &mut block, FlushDecompress::None)
            .is_err()
            || block.len() != BLOCK
        {
            return;
        }
        let cookbook = if block.iter().all(|&b| b == 0) {
            None
        } else {
            match cookbook_folder(&block) {
                Some(name) => Some(name),
                None => return,
            }
        };
        self.cuts.push(Cut {
            output: self.produced,
            input: self.consumed,
            cookbook,
        });
        self.decompress = Decompress::new(false);
    }
}

impl Read for Inflater<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_read < self.out_len {
                let n = buf.len().min(self.out_len - self.out_read);
                buf[..n].copy_from_slice(&self.out[self.out_read..self.out_read + n]);
                self.out_read += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            self.step()?;
        }
    }
}

/// The cookbook name of a tar header block for `cookbooks/<name>/` (a
/// folder, with a correct checksum).
fn cookbook_folder(block: &[u8]) -> Option<String> {
    let header = tar::Header::from_byte_slice(block);
    let stored = header.cksum().ok()?;
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    if stored != sum || !header.entry_type().is_dir() {
        return None;
    }
    let path = header.path_bytes();
    let name = std::str::from_utf8(&path)
        .ok()?
        .strip_prefix(ARCHIVE_ROOT)?
        .strip_prefix('/')?
        .strip_suffix('/')?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::package::{
        CookbookInfo, DEFAULT_EPOCH, Destination, PackageRequest, Packaged, package,
    };

    /// `len` bytes that do not compress: sha256 of 0, 1, 2, ...
    fn noise(len: usize) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        (0u64..)
            .flat_map(|i| Sha256::digest(i.to_le_bytes()))
            .take(len)
            .collect()
    }

    /// Packs cookbooks `app` (text), `big` (1.5 MiB of noise, so two
    /// chunks) and `a-b` (sorts before `app`), returning the bundle bytes.
    fn bundle(dir: &Path) -> Vec<u8> {
        packaged(dir).0
    }

    /// [`bundle`], with what `package` says of it.
    fn packaged(dir: &Path) -> (Vec<u8>, Packaged) {
        let root = dir.join("vendored");
        let write = |path: &str, bytes: &[u8]| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        write("app/metadata.json", br#"{"name":"app","version":"1.0.0"}"#);
        write("app/recipes/default.rb", &b"package 'nginx'\n".repeat(5000));
        write("big/metadata.json", br#"{"name":"big","version":"2.0.0"}"#);
        write("big/files/blob.bin", &noise(3 << 19));
        write("a-b/metadata.json", br#"{"name":"a-b","version":"0.1.0"}"#);
        let cookbooks: Vec<CookbookInfo> = ["a-b", "app", "big"]
            .iter()
            .map(|name| CookbookInfo {
                name: name.to_string(),
                version: "1.0.0".to_string(),
                source: "test".to_string(),
            })
            .collect();
        let packaged = package(&PackageRequest {
            cookbooks_dir: &root,
            cookbooks: &cookbooks,
            lock_digest: "0".repeat(64).as_str(),
            destination: Destination::File(dir.join("bundle.tar.gz")),
            mtime: DEFAULT_EPOCH,
            threads: 2,
        })
        .unwrap();
        (std::fs::read(&packaged.archive).unwrap(), packaged)
    }

    #[test]
    fn package_knows_the_ranges_and_states_that_reading_the_bundle_finds() {
        let dir = tempfile::tempdir().unwrap();
        let (data, packaged) = packaged(dir.path());
        let scanned = scan(&data, "bundle", &Limits::default()).unwrap();
        assert_eq!(Some(packaged.ranges), scanned.ranges);
        assert_eq!(packaged.manifest, scanned.manifest);
        assert_eq!(
            packaged.hashed,
            crate::bundle::sha256_states::checkpointed(&data)
        );
    }

    #[test]
    fn every_cookbook_of_a_packaged_bundle_reads_back_from_its_range_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = bundle(dir.path());
        let scanned = scan(&data, "bundle", &Limits::default()).unwrap();
        let ranges = scanned.ranges.expect("a packaged bundle has ranges");
        assert_eq!(
            ranges.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a-b", "app", "big"]
        );
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for (range, cookbook) in ranges.iter().zip(&scanned.manifest.cookbooks) {
            let bytes = &data[range.start as usize..range.end as usize];
            let dest = dir.path().join(format!("out-{}", range.name));
            let part = unpack_range(bytes, &range.name, &dest, &Limits::default(), "r").unwrap();
            assert_eq!(part.file_list(), cookbook.files, "{}", range.name);
        }
    }

    #[test]
    fn a_range_holding_another_cookbook_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = bundle(dir.path());
        let ranges = scan(&data, "bundle", &Limits::default())
            .unwrap()
            .ranges
            .unwrap();
        let both = &data[ranges[0].start as usize..ranges[1].end as usize];
        let err = unpack_range(both, "a-b", &dir.path().join("x"), &Limits::default(), "r");
        assert!(err.unwrap_err().to_string().contains("outside"));
    }

    #[test]
    fn a_bundle_that_was_not_cut_is_checked_but_has_no_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let data = bundle(dir.path());
        // The same entries, recompressed as one ordinary gzip stream.
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut tar)
            .unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        io::Write::write_all(&mut encoder, &tar).unwrap();
        let plain = encoder.finish().unwrap();
        let scanned = scan(&plain, "plain", &Limits::default()).unwrap();
        assert!(scanned.ranges.is_none());
        assert_eq!(scanned.manifest.cookbooks.len(), 3);
    }

    #[test]
    fn a_changed_byte_is_a_content_mismatch_or_a_corrupt_archive() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = bundle(dir.path());
        let ranges = scan(&data, "bundle", &Limits::default())
            .unwrap()
            .ranges
            .unwrap();
        // Inside big's noise, which is stored as is.
        let at = (ranges[2].start + ranges[2].end) as usize / 2;
        data[at] ^= 1;
        assert!(scan(&data, "bundle", &Limits::default()).is_err());
    }
}
