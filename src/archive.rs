//! Defensive unpacking of `.tar.gz` archives, shared by the cookbook cache
//! and `larder pull`.
//!
//! An archive is untrusted input. [`unpack`] refuses, naming the entry:
//! absolute paths, `..` components, names that are not UTF-8, symbolic and
//! hard links (all of them: bundles never contain links, because `vendor`
//! copies linked files as plain files), device files, fifos and any other
//! special entry, duplicate files, and archives larger than the configured
//! [`Limits`] (total file bytes, entry count, and the decompressed stream
//! itself, which also bounds tar's own extension headers).
//!
//! Files are created with `create_new` inside a destination that must be
//! empty, so nothing can be written through a pre-existing link. Modes are
//! reduced to 0644 or 0755 (directories 0755); owners and times are not
//! restored. Every file's sha256 is computed while it is written, so callers
//! can check the result against a manifest without reading it back.
//!
//! Writing goes through [`append_dir`] and [`append_file`], the one
//! deterministic entry format of every archive larder makes (bundles and
//! registry tarballs): GNU headers, uid/gid 0, no owner names, the caller's
//! mtime, modes 0644/0755 and directories 0755.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

/// Caps that keep a hostile or broken archive from filling the disk or the
/// memory of the machine unpacking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all files once unpacked.
    pub max_bytes: u64,
    /// Number of entries (files and directories).
    pub max_entries: u64,
}

impl Default for Limits {
    /// 2 GiB and 200 000 entries: far above any real cookbook set.
    fn default() -> Self {
        Limits {
            max_bytes: 2 << 30,
            max_entries: 200_000,
        }
    }
}

impl Limits {
    /// Bytes the decompressed tar stream may hold: the file bytes plus
    /// generous room for headers, padding and long-name extensions.
    fn max_stream_bytes(&self) -> u64 {
        self.max_bytes
            .saturating_add(self.max_entries.saturating_mul(8 * 1024))
            .saturating_add(1 << 20)
    }

    /// Bytes a compressed archive within these limits can take: the stream
    /// cap plus deflate's worst-case overhead on incompressible data.
    pub fn max_archive_bytes(&self) -> u64 {
        let stream = self.max_stream_bytes();
        stream.saturating_add(stream / 64).saturating_add(1 << 20)
    }
}

/// One unpacked regular file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackedFile {
    /// Lower-case hex sha256 of the contents.
    pub sha256: String,
    pub size: u64,
    pub executable: bool,
}

/// What [`unpack`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Every file, by its path relative to the destination (`/`-separated).
    pub files: BTreeMap<String, UnpackedFile>,
    /// Every directory entry, relative to the destination.
    pub dirs: Vec<String>,
    /// Total bytes of all files.
    pub bytes: u64,
}

impl Unpacked {
    /// Every file's sha256, by path: what a manifest lists and a tree
    /// digest is taken of.
    pub fn file_list(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(path, file)| (path.clone(), file.sha256.clone()))
            .collect()
    }
}

/// Why an archive was refused. Entry names are shown as stored in the
/// archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive entry '{entry}' has an absolute path; refusing to unpack it")]
    AbsolutePath { entry: String },
    #[error("archive entry '{entry}' contains a '..' component; refusing to unpack it")]
    ParentComponent { entry: String },
    #[error("archive entry '{entry}' has an empty or unusable name")]
    BadName { entry: String },
    #[error(
        "archive entry '{entry}' is a {kind} to '{target}'; links are not allowed in cookbook archives"
    )]
    Link {
        entry: String,
        kind: &'static str,
        target: String,
    },
    #[error("archive entry '{entry}' is a {kind}; only files and directories are allowed")]
    SpecialFile { entry: String, kind: String },
    #[error("archive entry '{entry}' appears twice")]
    Duplicate { entry: String },
    #[error(
        "archive holds more than {limit} entries (at '{entry}'); it is not a cookbook set, or raise the entry limit"
    )]
    TooManyEntries { entry: String, limit: u64 },
    #[error(
        "archive expands beyond {limit} bytes (at '{entry}'); it may be a decompression bomb, or raise the size limit"
    )]
    TooLarge { entry: String, limit: u64 },
    #[error("destination {} is not empty; unpack into a fresh directory", path.display())]
    DestinationNotEmpty { path: PathBuf },
    #[error("archive is corrupt or truncated: {source}")]
    Corrupt {
        #[source]
        source: io::Error,
    },
    #[error("could not write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Marker error raised by [`CappedReader`] so that an oversized stream is
/// reported as [`ArchiveError::TooLarge`] rather than as corruption.
#[derive(Debug)]
struct StreamCapExceeded;

impl std::fmt::Display for StreamCapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed stream exceeds its cap")
    }
}

impl std::error::Error for StreamCapExceeded {}

/// A reader that fails once more than `remaining` bytes have been read.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.remaining.checked_sub(n as u64) {
            Some(left) => {
                self.remaining = left;
                Ok(n)
            }
            None => Err(io::Error::other(StreamCapExceeded)),
        }
    }
}

fn is_cap_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<StreamCapExceeded>())
}

/// Unpacks the gzip-compressed tar read from `reader` into `dest`, which is
/// created if missing and must otherwise be empty.
///
/// On error `dest` may hold a partial tree; callers unpack into a temporary
/// directory and discard it.
pub fn unpack<R: Read>(reader: R, dest: &Path, limits: &Limits) -> Result<Unpacked, ArchiveError> {
    unpack_tar(MultiGzDecoder::new(reader), dest, limits)
}

/// The same for a tar stream that is already decompressed.
pub fn unpack_tar<R: Read>(
    stream: R,
    dest: &Path,
    limits: &Limits,
) -> Result<Unpacked, ArchiveError> {
    prepare_destination(dest)?;
    walk(stream, limits, |item| match item {
        Item::Dir { rel, .. } => {
            let target = dest.join(rel);
            fs::create_dir_all(&target)
                .map_err(|source| WriteFailure::Archive(write_error(&target, source)))?;
            set_mode(&target, 0o755).map_err(WriteFailure::Archive)?;
            Ok(None)
        }
        Item::File {
            rel,
            data,
            budget,
            executable,
            raw_name,
            ..
        } => write_file(data, &dest.join(rel), budget, executable, raw_name).map(Some),
    })
}

/// What [`scan_tar`] found besides the files' digests.
#[derive(Debug, Default)]
pub struct Scanned {
    pub unpacked: Unpacked,
    /// Where each entry's header starts in the tar stream, by entry path
    /// (directories end with `/`), in stream order.
    pub positions: Vec<(String, u64)>,
    /// The contents of the file named by the `keep` argument, if present.
    pub kept: Option<Vec<u8>>,
}

/// Reads a decompressed tar stream with the same checks as [`unpack`],
/// writing nothing: every file is hashed in memory, and the file at path
/// `keep` (small: a manifest) is kept.
pub fn scan_tar<R: Read>(stream: R, limits: &Limits, keep: &str) -> Result<Scanned, ArchiveError> {
    let mut positions = Vec::new();
    let mut kept = None;
    let unpacked = walk(stream, limits, |item| {
        let (rel, position) = match &item {
            Item::Dir { rel, position } => (format!("{rel}/"), *position),
            Item::File { rel, position, .. } => (rel.to_string(), *position),
        };
        positions.push((rel, position));
        let Item::File {
            rel, data, budget, ..
        } = item
        else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        let mut copy = (rel == keep).then(Vec::new);
        let size = copy_limited(data, budget, |chunk| {
            hasher.update(chunk);
            if let Some(copy) = copy.as_mut() {
                copy.extend_from_slice(chunk);
            }
            Ok(())
        })?;
        if copy.is_some() {
            kept = copy;
        }
        Ok(Some((hex::encode(hasher.finalize()), size)))
    })?;
    Ok(Scanned {
        unpacked,
        positions,
        kept,
    })
}

/// One entry of the stream, as [`walk`] hands it to its consumer.
enum Item<'a, 'e> {
    Dir {
        rel: &'a str,
        position: u64,
    },
    File {
        rel: &'a str,
        position: u64,
        data: &'a mut (dyn Read + 'e),
        budget: u64,
        executable: bool,
        raw_name: &'a str,
    },
}

/// Reads every entry of a decompressed tar stream, refusing what
/// [`unpack`] refuses (a file named twice included, whether or not
/// `consume` writes it anywhere), and hands directories and files to
/// `consume`, which returns a file's digest and size (`None` for
/// directories).
fn walk<R: Read>(
    stream: R,
    limits: &Limits,
    mut consume: impl FnMut(Item<'_, '_>) -> Result<Option<(String, u64)>, WriteFailure>,
) -> Result<Unpacked, ArchiveError> {
    let capped = CappedReader {
        inner: stream,
        remaining: limits.max_stream_bytes(),
    };
    let mut archive = tar::Archive::new(capped);
    let stream_limit = limits.max_stream_bytes();
    let mut result = Unpacked::default();
    let mut entries_seen: u64 = 0;
    let mut last_entry = String::from("(start of archive)");
    let corrupt_or_cap = |e: io::Error, entry: &str| {
        if is_cap_error(&e) {
            ArchiveError::TooLarge {
                entry: entry.to_string(),
                limit: stream_limit,
            }
        } else {
            ArchiveError::Corrupt { source: e }
        }
    };
    let failure = |e: WriteFailure, entry: &str| match e {
        WriteFailure::Archive(e) => e,
        WriteFailure::Read(e) => corrupt_or_cap(e, entry),
    };
    let entries = archive
        .entries()
        .map_err(|e| corrupt_or_cap(e, &last_entry))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt_or_cap(e, &last_entry))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last_entry.clone_from(&raw_name);
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                entry: raw_name,
                limit: limits.max_entries,
            });
        }
        let rel = safe_relative_path(&entry.path_bytes(), &raw_name)?;
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            return Err(ArchiveError::Link {
                entry: raw_name,
                kind: if kind.is_symlink() {
                    "symbolic link"
                } else {
                    "hard link"
                },
                target,
            });
        }
        let Some(rel) = rel else {
            // The entry names the archive root itself (`./`); nothing to do
            // for a directory, anything else has no usable name.
            if kind.is_dir() {
                continue;
            }
            return Err(ArchiveError::BadName { entry: raw_name });
        };
        let position = entry.raw_header_position();
        if kind.is_dir() {
            consume(Item::Dir {
                rel: &rel,
                position,
            })
            .map_err(|e| failure(e, &raw_name))?;
            result.dirs.push(rel);
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse()) {
            return Err(ArchiveError::SpecialFile {
                entry: raw_name,
                kind: describe_kind(kind),
            });
        }
        let declared = entry.size();
        let budget = limits.max_bytes.saturating_sub(result.bytes);
        if declared > budget {
            return Err(ArchiveError::TooLarge {
                entry: raw_name,
                limit: limits.max_bytes,
            });
        }
        if result.files.contains_key(&rel) {
            return Err(ArchiveError::Duplicate { entry: raw_name });
        }
        let executable = entry
            .header()
            .mode()
            .map(|m| m & 0o111 != 0)
            .unwrap_or(false);
        let (sha256, size) = consume(Item::File {
            rel: &rel,
            position,
            data: &mut entry,
            budget,
            executable,
            raw_name: &raw_name,
        })
        .map_err(|e| failure(e, &raw_name))?
        .unwrap_or_default();
        if size > budget {
            return Err(ArchiveError::TooLarge {
                entry: raw_name,
                limit: limits.max_bytes,
            });
        }
        result.bytes += size;
        result.files.insert(
            rel,
            UnpackedFile {
                sha256,
                size,
                executable,
            },
        );
    }
    // The tar end marker comes before the end of the compressed stream:
    // read on to the end, so that the decoder checks every member's CRC-32
    // and length, and a stream cut short is noticed.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| corrupt_or_cap(e, &last_entry))?;
    Ok(result)
}

fn prepare_destination(dest: &Path) -> Result<(), ArchiveError> {
    fs::create_dir_all(dest).map_err(|source| write_error(dest, source))?;
    let mut listing = fs::read_dir(dest).map_err(|source| write_error(dest, source))?;
    if listing.next().is_some() {
        return Err(ArchiveError::DestinationNotEmpty {
            path: dest.to_path_buf(),
        });
    }
    Ok(())
}

/// Checks an entry name and returns it as a `/`-separated relative path, or
/// `None` when it names the root itself.
fn safe_relative_path(bytes: &[u8], raw_name: &str) -> Result<Option<String>, ArchiveError> {
    let name = std::str::from_utf8(bytes).map_err(|_| ArchiveError::BadName {
        entry: raw_name.to_string(),
    })?;
    if name.contains('\0') {
        return Err(ArchiveError::BadName {
            entry: raw_name.to_string(),
        });
    }
    let mut parts = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => {
                    return Err(ArchiveError::BadName {
                        entry: raw_name.to_string(),
                    });
                }
            },
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(ArchiveError::ParentComponent {
                    entry: raw_name.to_string(),
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::AbsolutePath {
                    entry: raw_name.to_string(),
                });
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

enum WriteFailure {
    Archive(ArchiveError),
    Read(io::Error),
}

/// Copies at most `budget + 1` bytes of `entry` into a new file at `target`,
/// hashing them; returns the digest and the number of bytes copied.
fn write_file(
    entry: &mut dyn Read,
    target: &Path,
    budget: u64,
    executable: bool,
    raw_name: &str,
) -> Result<(String, u64), WriteFailure> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| WriteFailure::Archive(write_error(parent, e)))?;
    }
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(target)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(WriteFailure::Archive(ArchiveError::Duplicate {
                entry: raw_name.to_string(),
            }));
        }
        Err(e) => return Err(WriteFailure::Archive(write_error(target, e))),
    };
    let mut hasher = Sha256::new();
    let size = copy_limited(entry, budget, |chunk| {
        hasher.update(chunk);
        file.write_all(chunk)
            .map_err(|e| WriteFailure::Archive(write_error(target, e)))
    })?;
    set_file_mode(&file, target, mode).map_err(WriteFailure::Archive)?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Hands at most `budget + 1` bytes of `entry` to `sink`, in pieces;
/// returns how many it handed over.
fn copy_limited(
    entry: &mut dyn Read,
    budget: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), WriteFailure>,
) -> Result<u64, WriteFailure> {
    let mut limited = entry.take(budget.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WriteFailure::Read(e)),
        };
        sink(&buf[..n])?;
        size += n as u64;
        if size > budget {
            break;
        }
    }
    Ok(size)
}

fn set_file_mode(file: &File, path: &Path, mode: u32) -> Result<(), ArchiveError> {
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|source| write_error(path, source))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ArchiveError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|source| write_error(path, source))
}

fn write_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn describe_kind(kind: tar::EntryType) -> String {
    if kind.is_character_special() {
        "character device".into()
    } else if kind.is_block_special() {
        "block device".into()
    } else if kind.is_fifo() {
        "fifo".into()
    } else {
        format!("entry of type {:?}", kind.as_byte() as char)
    }
}

/// A header as every archive larder writes has it, before type and size.
fn header(mtime: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_mode(mode);
    header
}

/// Appends a folder entry (mode 0755).
pub fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    path: impl AsRef<Path>,
    mtime: u64,
) -> io::Result<()> {
    let mut header = header(mtime, 0o755);
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    tar.append_data(&mut header, path, io::empty())
}

/// Appends a regular file of `size` bytes read from `data` (mode 0755 when
/// `executable`, else 0644).
pub fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: impl AsRef<Path>,
    mtime: u64,
    executable: bool,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = header(mtime, if executable { 0o755 } else { 0o644 });
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    tar.append_data(&mut header, path, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};

    /// Builds a tar.gz from raw headers so that hostile entries can be made.
    fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let gz = GzEncoder::new(&mut out, Compression::fast());
            let mut builder = tar::Builder::new(gz);
            for (name, kind, data, link) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(*kind);
                header.set_mode(0o644);
                header.set_size(data.len() as u64);
                // Write the name bytes directly: set_path refuses '..'.
                let gnu = header.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
            builder.into_inner().unwrap().finish().unwrap();
        }
        out
    }

    fn unpack_bytes(
        bytes: &[u8],
        limits: &Limits,
    ) -> (tempfile::TempDir, Result<Unpacked, ArchiveError>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let result = unpack(bytes, &dest, limits);
        (dir, result)
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;

    #[test]
    fn unpacks_files_and_hashes_them() {
        let bytes = tar_gz(&[
            ("cookbooks/", tar::EntryType::Directory, b"", ""),
            ("cookbooks/a/recipes/default.rb", FILE, b"log 'hi'\n", ""),
        ]);
        let (dir, result) = unpack_bytes(&bytes, &Limits::default());
        let unpacked = result.unwrap();
        let file = &unpacked.files["cookbooks/a/recipes/default.rb"];
        assert_eq!(file.size, 9);
        assert_eq!(file.sha256, hex::encode(Sha256::digest(b"log 'hi'\n")));
        let on_disk = fs::read(dir.path().join("out/cookbooks/a/recipes/default.rb")).unwrap();
        assert_eq!(on_disk, b"log 'hi'\n");
    }

    #[test]
    fn refuses_parent_components_and_absolute_paths() {
        let (_d, r) = unpack_bytes(
            &tar_gz(&[("a/../../x", FILE, b"x", "")]),
            &Limits::default(),
        );
        assert!(matches!(r, Err(ArchiveError::ParentComponent { entry }) if entry == "a/../../x"));
        let (_d, r) = unpack_bytes(&tar_gz(&[("/etc/x", FILE, b"x", "")]), &Limits::default());
        assert!(matches!(r, Err(ArchiveError::AbsolutePath { entry }) if entry == "/etc/x"));
    }

    #[test]
    fn refuses_links_and_special_files() {
        let link = tar_gz(&[("a/passwd", tar::EntryType::Symlink, b"", "/etc/passwd")]);
        let (_d, r) = unpack_bytes(&link, &Limits::default());
        assert!(matches!(r, Err(ArchiveError::Link { target, .. }) if target == "/etc/passwd"));
        let hard = tar_gz(&[("a/h", tar::EntryType::Link, b"", "a/x")]);
        assert!(matches!(
            unpack_bytes(&hard, &Limits::default()).1,
            Err(ArchiveError::Link { .. })
        ));
        let fifo = tar_gz(&[("a/f", tar::EntryType::Fifo, b"", "")]);
        assert!(matches!(
            unpack_bytes(&fifo, &Limits::default()).1,
            Err(ArchiveError::SpecialFile { .. })
        ));
    }

    #[test]
    fn refuses_duplicates() {
        let dup = tar_gz(&[("a/x", FILE, b"1", ""), ("a/x", FILE, b"2", "")]);
        assert!(matches!(
            unpack_bytes(&dup, &Limits::default()).1,
            Err(ArchiveError::Duplicate { .. })
        ));
        let stream = MultiGzDecoder::new(&dup[..]);
        assert!(matches!(
            scan_tar(stream, &Limits::default(), "a/x"),
            Err(ArchiveError::Duplicate { .. })
        ));
    }

    #[test]
    fn enforces_limits() {
        let big = vec![0u8; 10_000];
        let limits = Limits {
            max_bytes: 4096,
            max_entries: 10,
        };
        let (_d, r) = unpack_bytes(&tar_gz(&[("a/zeros", FILE, &big, "")]), &limits);
        assert!(matches!(r, Err(ArchiveError::TooLarge { .. })));
        let many: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
        let entries: Vec<_> = many
            .iter()
            .map(|n| (n.as_str(), FILE, &b""[..], ""))
            .collect();
        let (_d, r) = unpack_bytes(&tar_gz(&entries), &limits);
        assert!(matches!(r, Err(ArchiveError::TooManyEntries { .. })));
    }

    #[test]
    fn refuses_non_empty_destination_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), b"").unwrap();
        let bytes = tar_gz(&[("a", FILE, b"", "")]);
        assert!(matches!(
            unpack(&bytes[..], dir.path(), &Limits::default()),
            Err(ArchiveError::DestinationNotEmpty { .. })
        ));
        let (_d, r) = unpack_bytes(b"not a gzip stream at all", &Limits::default());
        assert!(matches!(r, Err(ArchiveError::Corrupt { .. })));
    }
}
