//! What the bundle store holds besides the bundles themselves, as JSON: a
//! bundle's record (`bundles/<sha256>.json`), a stack's pointer
//! (`stacks/<name>.json`) and its history entries
//! (`stacks/<name>/history/<seq>.json`), and the names of these objects.
//!
//! Readers ignore fields they do not know, so later versions can add to a
//! record without breaking older readers. A record lists, for each
//! cookbook, its byte range in the bundle object
//! ([`crate::bundle::cookbook_ranges`]), so that a pull can fetch one
//! cookbook without the rest. Records without ranges (a bundle that was not
//! cut by cookbook, or a record written before ranges existed) stay
//! readable, and pulls of such bundles fetch the whole bundle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DeliveryError;
use crate::bundle::manifest::Manifest;

/// The version of the record and pointer formats.
pub const FORMAT: u32 = 1;

/// `bundles/<sha256>.tar.gz`.
pub fn bundle_key(sha256: &str) -> String {
    format!("bundles/{sha256}.tar.gz")
}

/// `bundles/<sha256>.tar.gz.sha256`, in `sha256sum` format.
pub fn sidecar_key(sha256: &str) -> String {
    format!("bundles/{sha256}.tar.gz.sha256")
}

/// `bundles/<sha256>.json`.
pub fn record_key(sha256: &str) -> String {
    format!("bundles/{sha256}.json")
}

/// `stacks/<name>.json`.
pub fn pointer_key(stack: &str) -> String {
    format!("stacks/{stack}.json")
}

/// `stacks/<name>/history/`.
pub fn history_dir(stack: &str) -> String {
    format!("stacks/{stack}/history")
}

/// `stacks/<name>/history/<seq, 10 digits>.json`: sorted by name is sorted
/// by change.
pub fn history_key(stack: &str, seq: u64) -> String {
    format!("{}/{seq:010}.json", history_dir(stack))
}

/// The fixed-URL copy of a stack's current bundle.
pub fn fixed_copy_key(stack: &str) -> String {
    format!("stacks/{stack}/cookbooks.tar.gz")
}

/// Who published a bundle, from what, and why; what CI passes in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    pub by: String,
}

/// One cookbook of a published bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookRecord {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: String,
    /// The digest of its file list ([`tree_digest`]).
    pub sha256: String,
    #[serde(default)]
    pub files: usize,
    /// Where the cookbook's entries sit in the bundle object, when the
    /// bundle was cut by cookbook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
}

/// Bytes `start..end` of the bundle object, which inflate on their own into
/// one cookbook's tar entries, and what checks them: the bundle's SHA-256
/// chaining states ([`crate::bundle::sha256_states`]) at the 64-byte block
/// boundaries around them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
    /// The state at the block boundary at or before `start`.
    pub sha256_before: String,
    /// The state at the block boundary at or after `end`; `None` when that
    /// is past the end of the bundle, whose digest then checks the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_after: Option<String>,
}

impl ByteRange {
    /// The bytes to fetch to check the range: from the boundary before it
    /// to the boundary after it, or to the end of a bundle of `size` bytes.
    pub fn checked_span(&self, size: u64) -> std::ops::Range<u64> {
        let (before, after) = crate::bundle::sha256_states::around(self.start, self.end);
        before..if self.sha256_after.is_some() {
            after
        } else {
            size
        }
    }
}

/// `bundles/<sha256>.json`: what a bundle holds and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub format: u32,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub lock_digest: String,
    pub published_at: String,
    pub provenance: Provenance,
    pub cookbooks: Vec<CookbookRecord>,
    /// The sha256 of the bundle's `cookbooks/.larder-manifest.json`, so a
    /// set assembled from cookbook ranges can prove it has the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

impl BundleRecord {
    /// The record of a bundle with this manifest; `ranges` are its
    /// cookbooks' ranges, in the manifest's order (empty: none).
    pub fn new(
        sha256: &str,
        size: u64,
        manifest: &Manifest,
        ranges: Vec<ByteRange>,
        provenance: Provenance,
    ) -> Self {
        let with_ranges = !ranges.is_empty() && ranges.len() == manifest.cookbooks.len();
        let mut ranges = ranges.into_iter().filter(|_| with_ranges);
        BundleRecord {
            format: FORMAT,
            sha256: sha256.to_string(),
            size,
            lock_digest: manifest.lock_digest.clone(),
            published_at: now(),
            provenance,
            cookbooks: manifest
                .cookbooks
                .iter()
                .map(|c| CookbookRecord {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    source: c.source.clone(),
                    sha256: tree_digest(&c.files),
                    files: c.files.len(),
                    range: ranges.next(),
                })
                .collect(),
            manifest_sha256: with_ranges.then(|| hex::encode(Sha256::digest(manifest.to_json()))),
        }
    }
}

/// The sha256 of a cookbook's file list (path → sha256, as in
/// [`crate::bundle::manifest::CookbookManifest::files`]): the `sha256sum` lines (`<sha256>  <path>`)
/// of its files sorted by path, as [`crate::cache::tree_digest`] computes
/// for a folder. The same files give the same digest whatever archive
/// carries them.
pub fn tree_digest(files: &BTreeMap<String, String>) -> String {
    crate::cache::file_list_digest(
        files
            .iter()
            .map(|(path, sha256)| (path.as_bytes(), sha256.as_str())),
    )
}

/// How a pointer got its bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Publish,
    Pin,
    Promote,
    Rollback,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Publish => "publish",
            Action::Pin => "pin",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
        })
    }
}

/// `stacks/<name>.json`, and each history entry: the stack's bundle and
/// the change that put it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub format: u32,
    pub stack: String,
    /// The sha256 of the bundle the stack runs.
    pub bundle: String,
    /// The bundle it ran before this change.
    #[serde(default)]
    pub previous: Option<String>,
    /// 1 for the first change, one more for each change after it.
    pub seq: u64,
    pub action: Action,
    /// For a promotion, the stack the bundle was copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub changed_at: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The sha256 of the bundle's record when the change was made, so that
    /// a pull using the record's ranges can prove it is the one published
    /// (pointers written before this field existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_sha256: Option<String>,
    /// The same for the previous bundle, so that a rollback need not read
    /// its record again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_record_sha256: Option<String>,
}

impl Pointer {
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses a pointer or history entry read from `object`, refusing
    /// digests that are not 64 hex digits.
    pub fn from_json(bytes: &[u8], object: &str) -> Result<Pointer, DeliveryError> {
        let pointer: Pointer = from_json(bytes, object)?;
        let digests = std::iter::once(&pointer.bundle).chain(pointer.previous.as_ref());
        for digest in digests {
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(DeliveryError::BadObject {
                    object: object.to_string(),
                    detail: format!(
                        "'{}' is not a sha256",
                        digest.chars().take(80).collect::<String>()
                    ),
                });
            }
        }
        Ok(pointer)
    }
}

/// Pretty JSON with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Parses a JSON object read from `object` in the store.
pub fn from_json<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    object: &str,
) -> Result<T, DeliveryError> {
    serde_json::from_slice(bytes).map_err(|e| DeliveryError::BadObject {
        object: object.to_string(),
        detail: e.to_string(),
    })
}

/// The current time, RFC 3339 in UTC to the second.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Checks a stack name: letters, digits, `.`, `_`, `-`, not starting with
/// `.` or `-`, at most 100 characters.
pub fn check_stack_name(name: &str) -> Result<(), DeliveryError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(DeliveryError::InvalidStackName {
            name: name.chars().take(120).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::CookbookManifest;

    #[test]
    fn tree_digest_is_sha256sum_of_the_file_list() {
        let cookbook = CookbookManifest {
            files: BTreeMap::from([
                ("metadata.json".to_string(), "a".repeat(64)),
                ("recipes/default.rb".to_string(), "b".repeat(64)),
            ]),
            name: "app".into(),
            source: String::new(),
            version: "1.0.0".into(),
        };
        let text = format!(
            "{}  metadata.json\n{}  recipes/default.rb\n",
            "a".repeat(64),
            "b".repeat(64)
        );
        assert_eq!(
            tree_digest(&cookbook.files),
            hex::encode(Sha256::digest(text.as_bytes()))
        );
    }

    #[test]
    fn stack_names() {
        for good in ["production", "stage-2", "eu_west.1"] {
            assert!(check_stack_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "a b", "ü"] {
            assert!(check_stack_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pointers_with_bad_digests_are_refused() {
        let pointer = |bundle: &str| {
            format!(
                r#"{{"format":1,"stack":"p","bundle":"{bundle}","seq":1,"action":"pin",
                "changed_at":"t","by":"me"}}"#
            )
        };
        assert!(Pointer::from_json(pointer(&"a".repeat(64)).as_bytes(), "p").is_ok());
        for bad in ["ééé", "abc", &"g".repeat(64)] {
            let err = Pointer::from_json(pointer(bad).as_bytes(), "p").unwrap_err();
            assert!(err.to_string().contains("is not a sha256"), "{err}");
        }
    }

    #[test]
    fn records_ignore_fields_they_do_not_know() {
        let json = br#"{"format":1,"sha256":"x","size":1,"published_at":"t",
            "provenance":{"by":"ci"},"cookbooks":[{"name":"a","version":"1.0.0",
            "sha256":"d","signature":{"by":"ci"}}],"later":true}"#;
        let record: BundleRecord = from_json(json, "test").unwrap();
        assert_eq!(record.cookbooks[0].name, "a");
        assert_eq!(record.cookbooks[0].range, None);
        assert_eq!(record.manifest_sha256, None);
    }
}
