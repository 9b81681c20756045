//! The bundle manifest, `cookbooks/.larder-manifest.json`: what a bundle
//! must contain, file by file, so that a machine pulling it can prove it got
//! exactly that.
//!
//! Chef's cookbook loader skips dot-files at the top of the cookbook path,
//! so the manifest travels inside the archive without being mistaken for a
//! cookbook. It is pretty-printed JSON with every object's keys sorted
//! (struct fields are declared in alphabetical order and file maps are
//! `BTreeMap`s), so the same cookbooks always give the same bytes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ARCHIVE_ROOT, BundleError};

/// The manifest format this larder writes and understands.
pub const FORMAT: u32 = 1;

/// The manifest's file name inside the `cookbooks/` folder.
pub const FILE_NAME: &str = ".larder-manifest.json";

/// Everything a bundle holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// One entry per cookbook, sorted by name.
    pub cookbooks: Vec<CookbookManifest>,
    pub format: u32,
    /// Digest of the lockfile the cookbooks were resolved from.
    pub lock_digest: String,
}

/// One cookbook of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookManifest {
    /// sha256 (lower-case hex) of every file, by its `/`-separated path
    /// relative to the cookbook folder.
    pub files: BTreeMap<String, String>,
    pub name: String,
    /// Where the cookbook came from, as the lockfile records it.
    pub source: String,
    pub version: String,
}

/// One way a bundle differs from what it claims to be. Paths are archive
/// paths (`cookbooks/<name>/...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The manifest lists a file the bundle does not have.
    Missing { path: String },
    /// The bundle has a file the manifest does not list.
    Extra { path: String },
    /// The file's contents differ from the manifest.
    Changed {
        path: String,
        expected: String,
        actual: String,
    },
    /// The archive's sha256 differs from its `.sha256` sidecar.
    DigestMismatch { expected: String, actual: String },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { path } => write!(f, "missing: {path}"),
            Difference::Extra { path } => write!(f, "extra: {path} (not in the manifest)"),
            Difference::Changed {
                path,
                expected,
                actual,
            } => write!(
                f,
                "changed: {path} (sha256 {actual}, manifest says {expected})"
            ),
            Difference::DigestMismatch { expected, actual } => write!(
                f,
                "archive digest mismatch: sha256 is {actual}, the .sha256 file says {expected}"
            ),
        }
    }
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl Manifest {
    /// Pretty-printed JSON with sorted keys and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs, strings and maps cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses a manifest read from `origin` (a path or URL, for messages).
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Manifest, BundleError> {
        let invalid = |e: serde_json::Error| BundleError::InvalidManifest {
            origin: origin.to_string(),
            detail: e.to_string(),
        };
        let format = serde_json::from_slice::<FormatOnly>(bytes).map_err(invalid)?;
        if format.format != FORMAT {
            return Err(BundleError::UnsupportedFormat {
                origin: origin.to_string(),
                found: format.format,
                supported: FORMAT,
            });
        }
        serde_json::from_slice(bytes).map_err(invalid)
    }

    /// Compares the manifest with the files actually present, given as
    /// archive path (`cookbooks/<name>/...`) → sha256. The manifest itself
    /// is not expected in `actual`.
    pub fn compare(&self, actual: &BTreeMap<String, String>) -> Vec<Difference> {
        let mut expected = BTreeMap::new();
        for cookbook in &self.cookbooks {
            for (rel, sha) in &cookbook.files {
                expected.insert(format!("{ARCHIVE_ROOT}/{}/{rel}", cookbook.name), sha);
            }
        }
        let mut differences = Vec::new();
        for (path, want) in &expected {
            match actual.get(path) {
                None => differences.push(Difference::Missing { path: path.clone() }),
                Some(got) if got != *want => differences.push(Difference::Changed {
                    path: path.clone(),
                    expected: (*want).clone(),
                    actual: got.clone(),
                }),
                Some(_) => {}
            }
        }
        for path in actual.keys() {
            if !expected.contains_key(path) {
                differences.push(Difference::Extra { path: path.clone() });
            }
        }
        differences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            cookbooks: vec![CookbookManifest {
                files: BTreeMap::from([
                    ("recipes/default.rb".to_string(), "aa".to_string()),
                    ("metadata.rb".to_string(), "bb".to_string()),
                ]),
                name: "app".into(),
                source: "https://supermarket.chef.io".into(),
                version: "1.2.3".into(),
            }],
            format: FORMAT,
            lock_digest: "ff".into(),
        }
    }

    #[test]
    fn keys_are_sorted_and_round_trip() {
        let json = String::from_utf8(sample().to_json()).unwrap();
        let order: Vec<usize> = [
            "\"cookbooks\"",
            "\"files\"",
            "\"metadata.rb\"",
            "\"recipes/default.rb\"",
            "\"name\"",
            "\"source\"",
            "\"version\"",
            "\"format\"",
            "\"lock_digest\"",
        ]
        .iter()
        .map(|k| json.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert_eq!(Manifest::from_json(json.as_bytes(), "t").unwrap(), sample());
    }

    #[test]
    fn newer_format_is_refused_by_name() {
        let err = Manifest::from_json(br#"{"format": 9}"#, "b.tgz").unwrap_err();
        assert!(matches!(
            err,
            BundleError::UnsupportedFormat { found: 9, .. }
        ));
    }

    #[test]
    fn compare_finds_missing_extra_and_changed() {
        let actual = BTreeMap::from([
            ("cookbooks/app/metadata.rb".to_string(), "cc".to_string()),
            ("cookbooks/app/extra.rb".to_string(), "dd".to_string()),
        ]);
        let diffs = sample().compare(&actual);
        assert_eq!(
            diffs,
            vec![
                Difference::Changed {
                    path: "cookbooks/app/metadata.rb".into(),
                    expected: "bb".into(),
                    actual: "cc".into()
                },
                Difference::Missing {
                    path: "cookbooks/app/recipes/default.rb".into()
                },
                Difference::Extra {
                    path: "cookbooks/app/extra.rb".into()
                },
            ]
        );
    }
}
