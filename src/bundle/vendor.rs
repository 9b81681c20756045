//! The copy step of `vendor`: one cookbook from wherever it was installed
//! into a clean folder, as Chef should see it.
//!
//! What a cookbook folder holds and what its cookbook is differ: a project
//! whose Berksfile says `metadata` is a cookbook folder that also holds the
//! lockfiles, the vendored copy and the bundles made from it. One rule,
//! [`cookbook_files`], says which files are the cookbook; a path
//! cookbook's digest in the lock, `vendor` and `package` all use it:
//!
//! - version control files and folders (`.git .svn .hg .bzr CVS RCS SCCS
//!   _darcs {arch} .arch-ids` and their ignore/tag files), at any depth;
//! - at the top of the folder, what larder, Berkshelf and Test Kitchen keep
//!   there: `larder.lock`, `Berksfile.lock`, `.larder/`, `.kitchen/`,
//!   `berks-cookbooks/` (the default vendor target), any folder holding the
//!   [`VENDOR_MARKER`] that `vendor` leaves in its target, larder's own
//!   staging entries (`.larder-*`, `.cookbooks-*`), and every `*.tar.gz`
//!   that has a `*.tar.gz.sha256` beside it (a bundle) with that sidecar;
//! - whatever the cookbook's chefignore drops.
//!
//! Only regular files are copied (empty directories disappear). A symbolic
//! link is copied as the regular file it points to when that file lies
//! inside the cookbook; links that escape the cookbook, dangle or point to
//! directories are refused with an error naming them. Modes are reduced to
//! 0644, or 0755 when any execute bit is set.
//!
//! The caller may add files (say, a compiled `metadata.json`), which
//! replace copied files of the same path.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

use super::BundleError;
use super::chefignore::Chefignore;

/// Names that belong to a version control system, dropped at any depth.
const VCS_NAMES: &[&str] = &[
    ".git",
    ".gitignore",
    ".gitmodules",
    ".svn",
    ".hg",
    ".hgignore",
    ".hgtags",
    ".bzr",
    ".bzrignore",
    ".bzrtags",
    "CVS",
    ".cvsignore",
    "RCS",
    "SCCS",
    "_darcs",
    "{arch}",
    ".arch-ids",
];

/// Entries at the top of a cookbook folder that belong to the tools around
/// the cookbook rather than to it.
const PROJECT_ENTRIES: &[&str] = &[
    "larder.lock",
    "Berksfile.lock",
    ".larder",
    ".kitchen",
    "berks-cookbooks",
];

/// Prefixes of the staging entries `vendor` and `package` create beside
/// their targets.
const STAGING_PREFIXES: &[&str] = &[".larder-", ".cookbooks-"];

/// The file `larder vendor` leaves at the top of its target, so that a
/// vendor target inside a cookbook folder is never taken for part of it.
pub const VENDOR_MARKER: &str = ".larder-vendored";

/// What [`copy_cookbook`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Files written, relative to the destination, sorted.
    pub files: Vec<String>,
    /// Files left out by chefignore, relative to the source, sorted.
    pub ignored: Vec<String>,
}

/// Copies the cookbook at `src_dir` into `dest_dir` (created if missing,
/// otherwise it must be empty), then writes `extra_files` (relative path,
/// contents) over the copy.
pub fn copy_cookbook(
    src_dir: &Path,
    dest_dir: &Path,
    extra_files: &[(&str, &[u8])],
) -> Result<CopyReport, BundleError> {
    for (path, _) in extra_files {
        check_extra_path(path)?;
    }
    let files = cookbook_files(src_dir)?;
    prepare_destination(dest_dir)?;

    // Relative path → (source file to read, executable).
    let mut plan: BTreeMap<String, Option<(PathBuf, bool)>> = files
        .kept
        .into_iter()
        .map(|(rel, source)| (rel, Some(source)))
        .collect();
    let mut report = CopyReport {
        ignored: files.ignored,
        ..CopyReport::default()
    };
    for (path, _) in extra_files {
        plan.insert(path.to_string(), None);
    }

    for (rel, source) in &plan {
        let target = dest_dir.join(rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| BundleError::io("create", parent, e))?;
        }
        if let Some((source, executable)) = source {
            fs::copy(source, &target).map_err(|e| BundleError::io("copy", source, e))?;
            let mode = if *executable { 0o755 } else { 0o644 };
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(|e| BundleError::io("set permissions on", &target, e))?;
        }
        report.files.push(rel.clone());
    }
    for (path, contents) in extra_files {
        let target = dest_dir.join(path);
        fs::write(&target, contents).map_err(|e| BundleError::io("write", &target, e))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644))
            .map_err(|e| BundleError::io("set permissions on", &target, e))?;
    }
    Ok(report)
}

/// The files of a cookbook that vendoring keeps, and those chefignore drops.
pub struct CookbookFiles {
    /// Relative path → (file to read, executable), sorted by path.
    pub kept: BTreeMap<String, (PathBuf, bool)>,
    /// Files left out by chefignore, relative, sorted.
    pub ignored: Vec<String>,
}

/// Lists the files of the cookbook at `src_dir` the way vendoring sees them:
/// chefignore applied, VCS files dropped, links inside the cookbook read
/// through (links pointing outside are refused).
pub fn cookbook_files(src_dir: &Path) -> Result<CookbookFiles, BundleError> {
    let ignore = Chefignore::for_cookbook(src_dir)?;
    let root =
        fs::canonicalize(src_dir).map_err(|e| BundleError::io("open cookbook", src_dir, e))?;
    let mut files = CookbookFiles {
        kept: BTreeMap::new(),
        ignored: Vec::new(),
    };
    let walk = WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(is_vcs_name(e.file_name()) || e.depth() == 1 && is_project_entry(e.path()))
        });
    for entry in walk {
        let entry = entry.map_err(|e| walk_error(&root, e))?;
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let rel = relative_name(entry.path(), &root)?;
        if ignore.is_ignored(&rel) {
            files.ignored.push(rel);
            continue;
        }
        let source = if file_type.is_symlink() {
            resolve_link(entry.path(), &root)?
        } else if file_type.is_file() {
            entry.path().to_path_buf()
        } else {
            return Err(BundleError::SpecialFile {
                path: entry.path().to_path_buf(),
            });
        };
        let meta = fs::metadata(&source).map_err(|e| BundleError::io("read", &source, e))?;
        files
            .kept
            .insert(rel, (source, meta.permissions().mode() & 0o111 != 0));
    }
    Ok(files)
}

/// The digest of a cookbook on disk over exactly the files vendoring would
/// copy (see [`crate::cache::files_digest`]): what a lock records for a
/// path cookbook.
pub fn cookbook_digest(src_dir: &Path) -> Result<String, BundleError> {
    let files = cookbook_files(src_dir)?;
    let list = files
        .kept
        .into_iter()
        .map(|(rel, (source, _))| (rel.into_bytes(), source))
        .collect();
    crate::cache::files_digest(list)
        .map_err(|e| BundleError::io("digest", src_dir, std::io::Error::other(e)))
}

/// Whether a file or folder name belongs to a version control system: such
/// entries are left out of vendored folders and registry tarballs alike.
pub fn is_vcs_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| VCS_NAMES.contains(&n))
}

/// Whether `path`, an entry at the top of a cookbook folder, belongs to the
/// tools around the cookbook (see the module documentation).
fn is_project_entry(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if PROJECT_ENTRIES.contains(&name) || STAGING_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return true;
    }
    if let Some(archive) = name.strip_suffix(".sha256") {
        return archive.ends_with(".tar.gz") && path.with_file_name(archive).is_file();
    }
    if name.ends_with(".tar.gz") {
        return path.with_file_name(format!("{name}.sha256")).is_file();
    }
    path.join(VENDOR_MARKER).is_file()
}

fn prepare_destination(dest: &Path) -> Result<(), BundleError> {
    fs::create_dir_all(dest).map_err(|e| BundleError::io("create", dest, e))?;
    let mut listing = fs::read_dir(dest).map_err(|e| BundleError::io("list", dest, e))?;
    if listing.next().is_some() {
        return Err(BundleError::DestinationNotEmpty {
            path: dest.to_path_buf(),
        });
    }
    Ok(())
}

/// The `/`-separated path of `path` below `root`.
pub(crate) fn relative_name(path: &Path, root: &Path) -> Result<String, BundleError> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| BundleError::UnexpectedEntry {
            path: path.to_path_buf(),
        })?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    match parts {
        Some(parts) => Ok(parts.join("/")),
        None => Err(BundleError::NonUtf8Path {
            path: path.to_path_buf(),
        }),
    }
}

pub(crate) fn walk_error(root: &Path, e: walkdir::Error) -> BundleError {
    let path = e.path().unwrap_or(root).to_path_buf();
    let source = e
        .into_io_error()
        .unwrap_or_else(|| io::Error::other("filesystem loop"));
    BundleError::io("read", &path, source)
}

/// The regular file inside `root` that the link at `link` points to.
fn resolve_link(link: &Path, root: &Path) -> Result<PathBuf, BundleError> {
    let target = fs::read_link(link).map_err(|e| BundleError::io("read link", link, e))?;
    let refuse = |reason| BundleError::UnsupportedLink {
        link: link.to_path_buf(),
        target: target.clone(),
        reason,
    };
    let resolved = fs::canonicalize(link).map_err(|_| refuse("missing"))?;
    if !resolved.starts_with(root) {
        return Err(refuse("outside the cookbook"));
    }
    if !resolved.is_file() {
        return Err(refuse("not a regular file"));
    }
    Ok(resolved)
}

fn check_extra_path(path: &str) -> Result<(), BundleError> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(BundleError::InvalidExtraPath {
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    #[test]
    fn copies_files_applying_chefignore_and_dropping_vcs() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("app");
        write(&src, "metadata.rb", "name 'app'\n");
        write(&src, "recipes/default.rb", "log 'x'\n");
        write(&src, "recipes/default.rb~", "backup");
        write(&src, ".kitchen.yml", "driver: x");
        write(&src, ".git/config", "[core]");
        write(&src, "files/.gitignore", "*.o");
        write(&src, "files/.hidden", "kept");
        write(&src, "chefignore", "*~\n.kitchen*\n");
        fs::create_dir_all(src.join("empty/dir")).unwrap();
        let dest = tmp.path().join("out/app");
        let report = copy_cookbook(&src, &dest, &[("metadata.json", b"{}")]).unwrap();
        assert_eq!(
            report.files,
            vec![
                "chefignore",
                "files/.hidden",
                "metadata.json",
                "metadata.rb",
                "recipes/default.rb"
            ]
        );
        assert_eq!(report.ignored, vec![".kitchen.yml", "recipes/default.rb~"]);
        assert!(!dest.join("empty").exists());
        assert!(!dest.join(".git").exists());
        assert_eq!(fs::read(dest.join("metadata.json")).unwrap(), b"{}");
    }

    #[test]
    fn keeps_executable_bit_and_copies_inner_links_as_files() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("app");
        write(&src, "files/run.sh", "#!/bin/sh\n");
        fs::set_permissions(src.join("files/run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        symlink("run.sh", src.join("files/alias.sh")).unwrap();
        let dest = tmp.path().join("out");
        copy_cookbook(&src, &dest, &[]).unwrap();
        let alias = fs::symlink_metadata(dest.join("files/alias.sh")).unwrap();
        assert!(alias.file_type().is_file());
        assert_eq!(alias.permissions().mode() & 0o777, 0o755);
        assert_eq!(
            fs::read(dest.join("files/alias.sh")).unwrap(),
            b"#!/bin/sh\n"
        );
    }

    #[test]
    fn refuses_links_escaping_the_cookbook() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("app");
        write(&src, "metadata.rb", "");
        symlink("/etc/passwd", src.join("passwd")).unwrap();
        let err = copy_cookbook(&src, &tmp.path().join("out"), &[]).unwrap_err();
        assert!(matches!(
            err,
            BundleError::UnsupportedLink {
                reason: "outside the cookbook",
                ..
            }
        ));
        assert!(err.to_string().contains("passwd"));
    }

    #[test]
    fn refuses_bad_extra_paths_and_non_empty_destinations() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("app");
        write(&src, "metadata.rb", "");
        let err = copy_cookbook(&src, &tmp.path().join("o1"), &[("../x", b"")]).unwrap_err();
        assert!(matches!(err, BundleError::InvalidExtraPath { .. }));
        write(tmp.path(), "o2/stale", "");
        let err = copy_cookbook(&src, &tmp.path().join("o2"), &[]).unwrap_err();
        assert!(matches!(err, BundleError::DestinationNotEmpty { .. }));
    }
}
