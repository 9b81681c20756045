//! Checking an installed project against its lock: every locked cookbook's
//! files match the digest the lock records, its metadata parses and names
//! the locked name and version, and every `depends` it declares is met by
//! the version the lock holds.

use std::path::PathBuf;

use serde::Serialize;

use super::Locked;
use crate::bundle::vendor;
use crate::cache::Store;
use crate::lock::LockedCookbook;
use crate::metadata::Metadata;

/// The verdict on one locked cookbook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    /// What is wrong, one sentence each; empty when the cookbook is fine.
    pub problems: Vec<String>,
}

impl Locked {
    /// Checks every locked cookbook, by name.
    pub fn verify(&self, store: &Store) -> Vec<Checked> {
        self.lock
            .cookbooks
            .iter()
            .map(|(name, cookbook)| self.check(store, name, cookbook))
            .collect()
    }

    fn check(&self, store: &Store, name: &str, cookbook: &LockedCookbook) -> Checked {
        let path = self.cookbook_path(store, name, cookbook);
        let mut problems = Vec::new();
        match cookbook.store_key() {
            None => match (&cookbook.sha256, vendor::cookbook_digest(&path)) {
                (_, Err(e)) => problems.push(e.to_string()),
                (Some(expected), Ok(actual)) if !expected.eq_ignore_ascii_case(&actual) => problems
                    .push(format!(
                        "the files in {} hash to {actual}, but the lockfile records {expected}; \
                         run `larder install` to lock the cookbook as it is now",
                        path.display()
                    )),
                _ => {}
            },
            Some(key) => {
                if let Err(e) = store.verify_entry(name, key, cookbook.sha256.as_deref()) {
                    problems.push(e.to_string());
                }
            }
        }
        if problems.is_empty() {
            problems.extend(self.check_metadata(&path, name, cookbook));
        }
        Checked {
            name: name.to_string(),
            version: cookbook.raw_version.clone(),
            path,
            problems,
        }
    }

    fn check_metadata(
        &self,
        path: &std::path::Path,
        name: &str,
        cookbook: &LockedCookbook,
    ) -> Vec<String> {
        let metadata = match Metadata::load(path) {
            Ok(metadata) => metadata,
            Err(e) => return vec![e.to_string()],
        };
        let mut problems = Vec::new();
        if metadata.name != name || metadata.version != cookbook.version {
            problems.push(format!(
                "its metadata says {} ({}), but the lockfile has {name} ({})",
                metadata.name, metadata.raw_version, cookbook.raw_version
            ));
        }
        for (dependency, constraint) in &metadata.dependencies {
            match self.lock.cookbooks.get(dependency) {
                Some(locked) if constraint.matches(&locked.version) => {}
                Some(locked) => problems.push(format!(
                    "it depends on {dependency} ({constraint}), but the lockfile has {dependency} \
                     ({}); run `larder install`",
                    locked.raw_version
                )),
                None => problems.push(format!(
                    "it depends on {dependency} ({constraint}), which the lockfile does not \
                     hold; run `larder install`"
                )),
            }
        }
        problems
    }
}
