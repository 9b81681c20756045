//! Cookbooks with a fixed place: `path:` locations, the `metadata`
//! directive and `chef_repo` sources on disk, and git locations exported
//! into the store. Each becomes an index release pinned to what is there.

use std::path::{Path, PathBuf};

use super::InstallError;
use crate::index::{Index, Origin, Release, Requirement};
use crate::metadata::Metadata;

/// A cookbook directory and what its metadata says: a path location, or a
/// git location exported into the store at one revision.
#[derive(Clone, Debug)]
pub struct LocalCookbook {
    pub path: PathBuf,
    pub metadata: Metadata,
    /// Where the resolver and the lock say it comes from.
    pub origin: Origin,
}

impl LocalCookbook {
    /// Reads the cookbook in `path`; `expected` is the name the Berksfile
    /// gave it, if any (a mismatch is an error naming both).
    pub fn load(path: &Path, expected: Option<&str>) -> Result<LocalCookbook, InstallError> {
        let metadata = Metadata::load(path).map_err(|source| InstallError::Metadata {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        if let Some(expected) = expected
            && expected != metadata.name
        {
            return Err(InstallError::MismatchedName {
                path: path.to_path_buf(),
                expected: expected.to_string(),
                actual: crate::shown::shown(&metadata.name),
            });
        }
        Ok(LocalCookbook {
            path: path.to_path_buf(),
            metadata,
            origin: Origin::Directory {
                path: path.to_path_buf(),
            },
        })
    }

    /// The cookbook as an index release.
    pub fn release(&self, index: &mut Index) -> Release {
        let dependencies = self
            .metadata
            .dependencies
            .iter()
            .map(|(name, constraint)| Requirement {
                cookbook: index.intern(name),
                constraint: constraint.clone(),
            })
            .collect();
        Release {
            version: self.metadata.version,
            raw_version: self.metadata.raw_version.clone(),
            dependencies: Ok(dependencies),
            origin: self.origin.clone(),
        }
    }
}

/// Adds every cookbook of a `chef_repo` directory (its `cookbooks/`
/// folder when it has one, else the directory itself) to the index.
pub fn add_chef_repo(dir: &Path, index: &mut Index) -> Result<(), InstallError> {
    let nested = dir.join("cookbooks");
    let root = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let entries = std::fs::read_dir(&root).map_err(|source| InstallError::Io {
        action: "read the chef_repo directory",
        path: root.clone(),
        source,
    })?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("metadata.rb").is_file() || p.join("metadata.json").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let cookbook = LocalCookbook::load(&folder, None)?;
        let id = index.intern(&cookbook.metadata.name);
        let release = cookbook.release(index);
        index.add(id, release);
    }
    Ok(())
}
