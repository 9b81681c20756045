//! A registry that lives in a directory: the cookbooks behind `file://`
//! sources and `larder serve`.
//!
//! The directory holds cookbooks in any mix of two forms:
//! - folders, one per cookbook version (named as you like, `base-1.0.0/`
//!   say), each a cookbook whose metadata gives its name and version;
//! - `.tar.gz` (or `.tgz`) archives whose single top-level folder is the
//!   cookbook, as Supermarket stores them.
//!
//! Hidden entries, other files and folders without metadata are skipped. A
//! directory holding `universe.json` is instead a pre-built registry: the
//! file is used as is (its download URLs may be relative to the directory).
//!
//! [`tarball`] turns a folder into a deterministic `.tar.gz`, so that the
//! same cookbook always has the same sha256 wherever it is served from.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::archive;
use crate::metadata::{Metadata, MetadataError};
use crate::version::{Constraint, Version};

/// The file that makes a directory a pre-built registry.
pub const UNIVERSE_FILE: &str = "universe.json";

/// The largest `metadata.json` or `metadata.rb` read from an archive.
const MAX_METADATA_FILE: u64 = 16 * 1024 * 1024;

/// The largest other top-level file kept for `metadata.rb` to read (a
/// `VERSION`, say), and the most such files may hold in all.
const MAX_NEIGHBOUR_FILE: u64 = 64 * 1024;
const MAX_NEIGHBOURS_TOTAL: u64 = 1024 * 1024;

/// Where an entry's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A cookbook folder.
    Folder(PathBuf),
    /// A `.tar.gz` holding the cookbook.
    Tarball(PathBuf),
}

impl EntryKind {
    pub fn path(&self) -> &Path {
        match self {
            EntryKind::Folder(path) | EntryKind::Tarball(path) => path,
        }
    }
}

/// One cookbook version found in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: Version,
    /// The version as the metadata spells it.
    pub raw_version: String,
    pub dependencies: Vec<(String, Constraint)>,
    pub description: String,
    pub maintainer: String,
    pub license: String,
    pub kind: EntryKind,
}

/// What a registry directory holds.
#[derive(Clone, Debug)]
pub enum Registry {
    /// Cookbooks found by scanning, sorted by name then version.
    Cookbooks(Vec<Entry>),
    /// A pre-built `universe.json` (its path and bytes).
    Universe { path: PathBuf, body: Vec<u8> },
}

/// Why a registry directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryDirError {
    #[error("cannot read the registry directory {}: {source}; check that it exists and is readable", dir.display())]
    ReadDir { dir: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the cookbook at {}: {source}", entry.display())]
    Metadata {
        entry: PathBuf,
        #[source]
        source: MetadataError,
    },
    #[error(
        "{} is not a gzipped cookbook tarball: {reason}; remove it from the registry directory \
         or replace it with a .tar.gz holding one cookbook folder",
        path.display()
    )]
    BadArchive { path: PathBuf, reason: String },
    #[error(
        "{name} {version} is in the registry directory twice: {} and {}; remove one of them",
        first.display(),
        second.display()
    )]
    Duplicate {
        name: String,
        version: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("cannot pack {} into a tarball: {source}", path.display())]
    Pack { path: PathBuf, source: io::Error },
}

impl RegistryDirError {
    /// Berkshelf's nearest exit code: bad metadata is a cookbook syntax
    /// error (107), a folder that is not a cookbook is `NotACookbook` (141),
    /// an unreadable archive is `UnknownCompressionType` (131).
    pub fn exit_code(&self) -> u8 {
        match self {
            RegistryDirError::Metadata { source, .. } => match source.exit_code() {
                141 => 141,
                _ => 107,
            },
            RegistryDirError::BadArchive { .. } => 131,
            RegistryDirError::Duplicate { .. } => 115,
            _ => 47,
        }
    }
}

/// Opens a registry directory: its `universe.json` if it has one,
/// otherwise the cookbooks a [`scan`] finds.
pub fn open(dir: &Path) -> Result<Registry, RegistryDirError> {
    let universe = dir.join(UNIVERSE_FILE);
    if universe.is_file() {
        let body = std::fs::read(&universe).map_err(|source| RegistryDirError::Read {
            path: universe.clone(),
            source,
        })?;
        return Ok(Registry::Universe {
            path: universe,
            body,
        });
    }
    scan(dir).map(Registry::Cookbooks)
}

/// Every cookbook version in `dir`, sorted by name then version.
pub fn scan(dir: &Path) -> Result<Vec<Entry>, RegistryDirError> {
    let read_dir = |source| RegistryDirError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for item in std::fs::read_dir(dir).map_err(read_dir)? {
        let item = item.map_err(read_dir)?;
        let file_name = item.file_name();
        let name = file_name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        paths.push(item.path());
    }
    paths.sort();
    let mut found: BTreeMap<(String, Version), Entry> = BTreeMap::new();
    for path in paths {
        let entry = if path.is_dir() {
            match Metadata::load(&path) {
                Ok(metadata) => entry(metadata, EntryKind::Folder(path)),
                Err(MetadataError::NotACookbook { .. }) => continue,
                Err(source) => {
                    return Err(RegistryDirError::Metadata {
                        entry: path,
                        source,
                    });
                }
            }
        } else if is_tarball_name(&path) {
            let metadata = read_archive_metadata(&path)?;
            entry(metadata, EntryKind::Tarball(path))
        } else {
            continue;
        };
        let key = (entry.name.clone(), entry.version);
        if let Some(first) = found.get(&key) {
            return Err(RegistryDirError::Duplicate {
                name: entry.name,
                version: entry.raw_version,
                first: first.kind.path().to_path_buf(),
                second: entry.kind.path().to_path_buf(),
            });
        }
        found.insert(key, entry);
    }
    Ok(found.into_values().collect())
}

fn entry(metadata: Metadata, kind: EntryKind) -> Entry {
    Entry {
        name: metadata.name,
        version: metadata.version,
        raw_version: metadata.raw_version,
        dependencies: metadata.dependencies,
        description: metadata.description,
        maintainer: metadata.maintainer,
        license: metadata.license,
        kind,
    }
}

fn is_tarball_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    path.is_file() && (name.ends_with(".tar.gz") || name.ends_with(".tgz"))
}

/// The metadata of the cookbook inside an archive: `metadata.json` of its
/// top-level folder, or its `metadata.rb` evaluated beside the archive's
/// other small top-level files (which it may read, such as `VERSION`).
/// The archive is streamed; only the metadata files and at most
/// [`MAX_NEIGHBOURS_TOTAL`] bytes of neighbours are kept in memory.
fn read_archive_metadata(path: &Path) -> Result<Metadata, RegistryDirError> {
    let bad = |reason: String| RegistryDirError::BadArchive {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| RegistryDirError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    // Files directly inside each top-level folder, by folder.
    let mut tops: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut neighbours_kept: u64 = 0;
    for item in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut item = item.map_err(|e| bad(e.to_string()))?;
        if !item.header().entry_type().is_file() {
            continue;
        }
        let parts: Vec<String> = match item.path() {
            Ok(p) => p
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect(),
            Err(_) => continue,
        };
        let [top, file_name] = parts.as_slice() else {
            continue;
        };
        let size = item.size();
        let is_metadata = file_name == "metadata.json" || file_name == "metadata.rb";
        let fits = if is_metadata {
            size <= MAX_METADATA_FILE
        } else {
            size <= MAX_NEIGHBOUR_FILE && neighbours_kept + size <= MAX_NEIGHBOURS_TOTAL
        };
        if top.starts_with("._") || !fits {
            continue;
        }
        let mut bytes = Vec::new();
        (&mut item)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if !is_metadata {
            neighbours_kept += bytes.len() as u64;
        }
        tops.entry(top.clone())
            .or_default()
            .insert(file_name.clone(), bytes);
    }
    let mut cookbooks = tops.into_iter().filter(|(_, files)| {
        files.contains_key("metadata.json") || files.contains_key("metadata.rb")
    });
    let (top, files) = cookbooks
        .next()
        .ok_or_else(|| bad("no top-level folder holds metadata.json or metadata.rb".into()))?;
    if let Some((other, _)) = cookbooks.next() {
        return Err(bad(format!(
            "it holds more than one cookbook ({top}/ and {other}/)"
        )));
    }
    let shown = path.join(&top);
    let metadata_error = |source| RegistryDirError::Metadata {
        entry: path.to_path_buf(),
        source,
    };
    if let Some(json) = files.get("metadata.json") {
        return Metadata::from_json(&shown.join("metadata.json"), json).map_err(metadata_error);
    }
    // metadata.rb may read its neighbours: lay them out in a scratch folder.
    let scratch = tempfile::tempdir().map_err(|source| RegistryDirError::Read {
        path: std::env::temp_dir(),
        source,
    })?;
    let folder = scratch.path().join(&top);
    let write = |name: &str, bytes: &[u8]| -> Result<(), RegistryDirError> {
        let target = folder.join(name);
        std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(&target, bytes))
            .map_err(|source| RegistryDirError::Read {
                path: target,
                source,
            })
    };
    let mut source = Vec::new();
    for (name, bytes) in &files {
        write(name, bytes)?;
        if name == "metadata.rb" {
            source.clone_from(bytes);
        }
    }
    Metadata::from_rb(&folder.join("metadata.rb"), &source).map_err(metadata_error)
}

/// The entry's artifact as `.tar.gz` bytes: the archive itself for a
/// tarball entry; for a folder, a deterministic archive (sorted entries,
/// mtime 0, uid/gid 0, modes 0644/0755, gzip without a timestamp) whose
/// top-level folder is the cookbook's name. Symbolic links and version
/// control files ([`crate::bundle::vendor::is_vcs_name`]) are left out.
pub fn tarball(entry: &Entry) -> Result<Vec<u8>, RegistryDirError> {
    match &entry.kind {
        EntryKind::Tarball(path) => std::fs::read(path).map_err(|source| RegistryDirError::Read {
            path: path.clone(),
            source,
        }),
        EntryKind::Folder(dir) => pack_folder(dir, &entry.name),
    }
}

fn pack_folder(dir: &Path, name: &str) -> Result<Vec<u8>, RegistryDirError> {
    let pack = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| RegistryDirError::Pack { path, source }
    };
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !crate::bundle::vendor::is_vcs_name(e.file_name()));
    for item in walk {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            RegistryDirError::Pack {
                path,
                source: io::Error::other(e),
            }
        })?;
        let relative = item.path().strip_prefix(dir).unwrap_or(item.path());
        let archived = if relative.as_os_str().is_empty() {
            PathBuf::from(name)
        } else {
            Path::new(name).join(relative)
        };
        let file_type = item.file_type();
        if file_type.is_dir() {
            archive::append_dir(&mut builder, &archived, 0).map_err(pack(item.path()))?;
        } else if file_type.is_file() {
            let metadata = item.metadata().map_err(|e| RegistryDirError::Pack {
                path: item.path().to_path_buf(),
                source: io::Error::other(e),
            })?;
            let file = std::fs::File::open(item.path()).map_err(pack(item.path()))?;
            archive::append_file(
                &mut builder,
                &archived,
                0,
                is_executable(&metadata),
                metadata.len(),
                file,
            )
            .map_err(pack(item.path()))?;
        }
    }
    let mut gzip = builder.into_inner().map_err(pack(dir))?;
    gzip.flush().map_err(pack(dir))?;
    gzip.finish().map_err(pack(dir))
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookbook(dir: &Path, folder: &str, metadata_rb: &str) -> PathBuf {
        let path = dir.join(folder);
        std::fs::create_dir_all(path.join("recipes")).unwrap();
        std::fs::write(path.join("metadata.rb"), metadata_rb).unwrap();
        std::fs::write(path.join("recipes/default.rb"), "log 'hello'\n").unwrap();
        path
    }

    fn unpack(bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn scans_folders_and_tarballs_sorted() {
        let dir = tempfile::tempdir().unwrap();
        cookbook(
            dir.path(),
            "z-base-2",
            "name 'base'\nversion '2.0.0'\nmaintainer 'Ops'\n",
        );
        cookbook(
            dir.path(),
            "a-base-1",
            "name 'base'\nversion '1.0.0'\ndescription 'Base'\n",
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let app = cookbook(
            elsewhere.path(),
            "app",
            "name 'app'\nversion IO.read(File.join(__dir__, 'VERSION')).strip\ndepends 'base', '~> 1.0'\n",
        );
        std::fs::write(app.join("VERSION"), "0.3.0\n").unwrap();
        let packed = pack_folder(&app, "app").unwrap();
        std::fs::write(dir.path().join("app-0.3.0.tar.gz"), packed).unwrap();
        std::fs::create_dir(dir.path().join("not-a-cookbook")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();

        let entries = scan(dir.path()).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| format!("{} {}", e.name, e.raw_version))
            .collect();
        assert_eq!(names, ["app 0.3.0", "base 1.0.0", "base 2.0.0"]);
        assert!(matches!(entries[0].kind, EntryKind::Tarball(_)));
        assert_eq!(entries[0].dependencies[0].0, "base");
        assert_eq!(entries[1].description, "Base");
        assert_eq!(entries[2].maintainer, "Ops");
    }

    #[test]
    fn tarballs_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let folder = cookbook(dir.path(), "base-1.0.0", "name 'base'\nversion '1.0.0'\n");
        std::fs::create_dir(folder.join(".git")).unwrap();
        std::fs::write(folder.join(".git/HEAD"), "ref").unwrap();
        let entry = scan(dir.path()).unwrap().remove(0);
        let first = tarball(&entry).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(folder.join("recipes/default.rb"), "log 'hello'\n").unwrap();
        assert_eq!(tarball(&entry).unwrap(), first);
        assert_eq!(
            unpack(&first),
            [
                ("base".to_string(), 0o755, 0),
                ("base/metadata.rb".to_string(), 0o644, 0),
                ("base/recipes".to_string(), 0o755, 0),
                ("base/recipes/default.rb".to_string(), 0o644, 0),
            ]
        );
    }

    #[test]
    fn errors_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        cookbook(dir.path(), "broken", "name 'broken'\nversion 'one'\n");
        let err = scan(dir.path()).unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
        assert_eq!(err.exit_code(), 107);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.tar.gz"), "not gzip").unwrap();
        let err = scan(dir.path()).unwrap_err();
        assert!(err.to_string().contains("junk.tar.gz"), "{err}");
        assert_eq!(err.exit_code(), 131);

        let dir = tempfile::tempdir().unwrap();
        cookbook(dir.path(), "one", "name 'base'\nversion '1.0.0'\n");
        cookbook(dir.path(), "two", "name 'base'\nversion '1.0'\n");
        assert!(matches!(
            scan(dir.path()),
            Err(RegistryDirError::Duplicate { .. })
        ));

        let missing = dir.path().join("missing");
        let err = scan(&missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn a_universe_file_makes_a_prebuilt_registry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(UNIVERSE_FILE), "{}").unwrap();
        assert!(matches!(
            open(dir.path()).unwrap(),
            Registry::Universe { body, .. } if body == b"{}"
        ));
    }
}
