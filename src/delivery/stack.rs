//! Stack pointers: reading them, and changing them (pin, promote,
//! rollback) by compare-and-swap on the pointer object's version, so that
//! of two racing changes one wins and the other fails without overwriting
//! anything. Every change is also written as a create-only history entry;
//! the entry of the pointer being replaced is written first if a crash
//! left it out, so the history never misses a state the stack was in.
//! Also: the history itself, and the difference between two bundles.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::record::{
    self, Action, BundleRecord, Pointer, bundle_key, check_stack_name, fixed_copy_key, history_dir,
    history_key, pointer_key, record_key,
};
use super::store::{Store, Version};

/// Who makes a change and why, and whether the stack's fixed-URL copy is
/// kept.
#[derive(Clone, Debug, Default)]
pub struct Change {
    pub by: String,
    pub reason: Option<String>,
    pub fixed_copy: bool,
}

/// What a change did.
#[derive(Clone, Debug, Serialize)]
pub struct Changed {
    /// The pointer after the command.
    pub pointer: Pointer,
    /// False when the stack already pointed at that bundle.
    pub changed: bool,
}

/// The stack's pointer and its version, or `None` when the stack has none.
pub fn read_pointer(
    store: &Store,
    stack: &str,
) -> Result<Option<(Pointer, Version)>, DeliveryError> {
    check_stack_name(stack)?;
    let key = pointer_key(stack);
    match store.get(&key)? {
        Some(object) => {
            let pointer = Pointer::from_json(&object.bytes, &store.object_url(&key))?;
            Ok(Some((pointer, object.version)))
        }
        None => Ok(None),
    }
}

/// The stack's pointer; a missing stack is an error.
pub fn show(store: &Store, stack: &str) -> Result<Pointer, DeliveryError> {
    read_existing(store, stack).map(|(pointer, _)| pointer)
}

/// The stack's pointer with its version; a missing stack is an error.
fn read_existing(store: &Store, stack: &str) -> Result<(Pointer, Version), DeliveryError> {
    read_pointer(store, stack)?.ok_or_else(|| DeliveryError::NoStack {
        stack: stack.to_string(),
        store: store.url().to_string(),
    })
}

/// Every stack's pointer, by name.
pub fn list(store: &Store) -> Result<Vec<Pointer>, DeliveryError> {
    let mut pointers = Vec::new();
    for name in store.list("stacks")? {
        let Some(stack) = name.strip_suffix(".json") else {
            continue;
        };
        if check_stack_name(stack).is_err() {
            continue;
        }
        if let Some((pointer, _)) = read_pointer(store, stack)? {
            pointers.push(pointer);
        }
    }
    Ok(pointers)
}

/// The record of a published bundle.
pub fn bundle_record(store: &Store, digest: &str) -> Result<BundleRecord, DeliveryError> {
    let key = record_key(digest);
    match store.get(&key)? {
        Some(object) => record::from_json(&object.bytes, &store.object_url(&key)),
        None => Err(DeliveryError::NoBundle {
            digest: digest.to_string(),
            store: store.url().to_string(),
        }),
    }
}

/// A full digest from 64 hex digits or a unique prefix of at least 7 of a
/// published bundle's digest.
pub fn resolve_digest(store: &Store, text: &str) -> Result<String, DeliveryError> {
    let text = text.strip_prefix("sha256:").unwrap_or(text);
    let hex = text.to_ascii_lowercase();
    if !(7..=64).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeliveryError::BadDigest {
            text: text.chars().take(80).collect(),
        });
    }
    let candidates: Vec<String> = if hex.len() == 64 {
        vec![hex.clone()]
    } else {
        store
            .list("bundles")?
            .into_iter()
            .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
            .filter(|digest| digest.starts_with(&hex))
            .collect()
    };
    match candidates.as_slice() {
        [one] if store.size_of(&record_key(one))?.is_some() => Ok(one.clone()),
        [] | [_] => Err(DeliveryError::NoBundle {
            digest: hex,
            store: store.url().to_string(),
        }),
        many => Err(DeliveryError::AmbiguousDigest {
            prefix: hex,
            count: many.len(),
            store: store.url().to_string(),
        }),
    }
}

/// Points `stack` at the published bundle `digest`.
pub fn pin(
    store: &Store,
    stack: &str,
    digest: &str,
    change: &Change,
) -> Result<Changed, DeliveryError> {
    store.ensure_writable()?;
    let digest = resolve_digest(store, digest)?;
    if store.size_of(&bundle_key(&digest))?.is_none() {
        return Err(DeliveryError::NoBundle {
            digest,
            store: store.url().to_string(),
        });
    }
    let target = Target {
        digest: &digest,
        record_sha256: None,
    };
    set(store, stack, target, Action::Pin, None, None, change)
}

/// Copies exactly `from`'s bundle onto `to`. With `expect`, `to` must
/// still point at that bundle.
pub fn promote(
    store: &Store,
    from: &str,
    to: &str,
    expect: Option<&str>,
    change: &Change,
) -> Result<Changed, DeliveryError> {
    store.ensure_writable()?;
    let source = show(store, from)?;
    if store.size_of(&bundle_key(&source.bundle))?.is_none() {
        return Err(DeliveryError::DanglingPointer {
            stack: from.to_string(),
            digest: source.bundle,
            store: store.url().to_string(),
        });
    }
    let target = Target {
        digest: &source.bundle,
        record_sha256: source.record_sha256.clone(),
    };
    set(
        store,
        to,
        target,
        Action::Promote,
        Some(from.to_string()),
        expect,
        change,
    )
}

/// Points `stack` back at its previous bundle, or at `to`.
pub fn rollback(
    store: &Store,
    stack: &str,
    to: Option<&str>,
    change: &Change,
) -> Result<Changed, DeliveryError> {
    store.ensure_writable()?;
    // Without --to the target is the previous bundle of the pointer as read
    // here, so the swap is made against that same read: if the stack moves
    // in between, the rollback is a conflict rather than an undo of a
    // change it never saw.
    let (current, target, record_sha256) = match to {
        Some(text) => {
            let target = resolve_digest(store, text)?;
            (read_pointer(store, stack)?, target, None)
        }
        None => {
            let (pointer, version) = read_existing(store, stack)?;
            let previous = pointer
                .previous
                .clone()
                .ok_or_else(|| DeliveryError::NoPrevious {
                    stack: stack.to_string(),
                })?;
            let record_sha256 = pointer.previous_record_sha256.clone();
            (Some((pointer, version)), previous, record_sha256)
        }
    };
    if store.size_of(&bundle_key(&target))?.is_none() {
        return Err(DeliveryError::NoBundle {
            digest: target,
            store: store.url().to_string(),
        });
    }
    let target = Target {
        digest: &target,
        record_sha256,
    };
    swap_onto(
        store,
        stack,
        current,
        target,
        Action::Rollback,
        None,
        change,
    )
}

/// A bundle to point a stack at: its digest and, when the caller knows it,
/// the sha256 of its record (otherwise the record is read for it).
pub struct Target<'a> {
    pub digest: &'a str,
    pub record_sha256: Option<String>,
}

/// Points `stack` at `target` by compare-and-swap, recording the change in
/// the history.
pub fn set(
    store: &Store,
    stack: &str,
    target: Target<'_>,
    action: Action,
    from: Option<String>,
    expect: Option<&str>,
    change: &Change,
) -> Result<Changed, DeliveryError> {
    let current = read_pointer(store, stack)?;
    if let Some(expected) = expect {
        let actual = current.as_ref().map(|(p, _)| p.bundle.as_str());
        let expected = expected.strip_prefix("sha256:").unwrap_or(expected);
        if !actual
            .is_some_and(|a| !expected.is_empty() && a.starts_with(&expected.to_ascii_lowercase()))
        {
            return Err(DeliveryError::Moved {
                stack: stack.to_string(),
                expected: expected.to_string(),
                actual: actual.unwrap_or("nothing").to_string(),
            });
        }
    }
    swap_onto(store, stack, current, target, action, from, change)
}

/// Points `stack`, whose pointer was read as `current` (with its version),
/// at `target`. The swap fails as a conflict if the pointer has changed
/// since that read.
fn swap_onto(
    store: &Store,
    stack: &str,
    current: Option<(Pointer, Version)>,
    target: Target<'_>,
    action: Action,
    from: Option<String>,
    change: &Change,
) -> Result<Changed, DeliveryError> {
    let digest = target.digest;
    if let Some((pointer, _)) = &current
        && pointer.bundle == digest
    {
        if change.fixed_copy {
            refresh_fixed_copy(store, stack, digest)?;
        }
        return Ok(Changed {
            pointer: pointer.clone(),
            changed: false,
        });
    }
    if let Some((pointer, _)) = &current {
        store.create(&history_key(stack, pointer.seq), pointer.to_json())?;
    }
    let record_sha256 = match target.record_sha256 {
        Some(known) => Some(known),
        None => store
            .get(&record_key(digest))?
            .map(|record| hex::encode(Sha256::digest(&record.bytes))),
    };
    let pointer = Pointer {
        format: record::FORMAT,
        stack: stack.to_string(),
        bundle: digest.to_string(),
        previous: current.as_ref().map(|(p, _)| p.bundle.clone()),
        seq: current.as_ref().map_or(1, |(p, _)| p.seq + 1),
        action,
        from,
        changed_at: record::now(),
        by: change.by.clone(),
        reason: change.reason.clone(),
        previous_record_sha256: current.as_ref().and_then(|(p, _)| p.record_sha256.clone()),
        record_sha256,
    };
    store.swap(
        &pointer_key(stack),
        pointer.to_json(),
        current.as_ref().map(|(_, version)| version),
    )?;
    store.create(&history_key(stack, pointer.seq), pointer.to_json())?;
    if change.fixed_copy {
        refresh_fixed_copy(store, stack, digest)?;
    }
    Ok(Changed {
        pointer,
        changed: true,
    })
}

/// Copies the stack's bundle to `stacks/<name>/cookbooks.tar.gz`, then
/// writes its `.sha256` beside it.
pub fn refresh_fixed_copy(store: &Store, stack: &str, digest: &str) -> Result<(), DeliveryError> {
    let key = fixed_copy_key(stack);
    store.copy(&bundle_key(digest), &key)?;
    store.put(
        &format!("{key}.sha256"),
        format!("{digest}  cookbooks.tar.gz\n").into_bytes(),
    )
}

/// The stack's changes, newest first, at most `limit` of them.
pub fn history(store: &Store, stack: &str, limit: usize) -> Result<Vec<Pointer>, DeliveryError> {
    let current = show(store, stack)?;
    let names = store.list(&history_dir(stack))?;
    let mut entries = Vec::new();
    for name in names.iter().rev().take(limit) {
        let key = format!("{}/{name}", history_dir(stack));
        if let Some(object) = store.get(&key)? {
            entries.push(Pointer::from_json(&object.bytes, &store.object_url(&key))?);
        }
    }
    if entries
        .first()
        .is_none_or(|newest| newest.seq < current.seq)
    {
        entries.insert(0, current);
        entries.truncate(limit);
    }
    Ok(entries)
}

/// One side of a diff: what it is called and the cookbooks it holds.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// `production`, `sha256:0123abcd4567`, or the lockfile's path.
    pub label: String,
    /// The bundle's sha256, when the side is a bundle.
    pub bundle: Option<String>,
    #[serde(skip)]
    pub cookbooks: BTreeMap<String, Held>,
}

/// A cookbook as one side holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub version: String,
    /// The digest of its files, when known (bundles; not lockfiles).
    pub tree: Option<String>,
}

/// A stack (by name) or a published bundle (by digest) as a diff side.
pub fn side(store: &Store, text: &str) -> Result<Side, DeliveryError> {
    let stack = if check_stack_name(text).is_ok() {
        read_pointer(store, text)?.map(|(pointer, _)| pointer)
    } else {
        None
    };
    let (label, digest) = match stack {
        Some(pointer) => (text.to_string(), pointer.bundle),
        None => {
            let digest = match resolve_digest(store, text) {
                Err(DeliveryError::BadDigest { .. }) => {
                    return Err(DeliveryError::NoStack {
                        stack: text.to_string(),
                        store: store.url().to_string(),
                    });
                }
                other => other?,
            };
            (format!("sha256:{}", &digest[..12]), digest)
        }
    };
    let record = bundle_record(store, &digest)?;
    Ok(Side {
        label,
        bundle: Some(digest),
        cookbooks: record
            .cookbooks
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    Held {
                        version: c.version,
                        tree: Some(c.sha256),
                    },
                )
            })
            .collect(),
    })
}

/// A cookbook in only one side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Present {
    pub name: String,
    pub version: String,
}

/// A cookbook in both sides, different.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Modified {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Same version, different files.
    pub content_only: bool,
}

/// How side `b` differs from side `a`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub added: Vec<Present>,
    pub removed: Vec<Present>,
    pub changed: Vec<Modified>,
    pub unchanged: usize,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changes from `a` to `b`.
pub fn diff(a: &Side, b: &Side) -> Difference {
    let mut result = Difference {
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
    };
    for (name, old) in &a.cookbooks {
        match b.cookbooks.get(name) {
            None => result.removed.push(Present {
                name: name.clone(),
                version: old.version.clone(),
            }),
            Some(new) => {
                let content_differs =
                    matches!((&old.tree, &new.tree), (Some(x), Some(y)) if x != y);
                if old.version != new.version || content_differs {
                    result.changed.push(Modified {
                        name: name.clone(),
                        from: old.version.clone(),
                        to: new.version.clone(),
                        content_only: old.version == new.version,
                    });
                } else {
                    result.unchanged += 1;
                }
            }
        }
    }
    for (name, new) in &b.cookbooks {
        if !a.cookbooks.contains_key(name) {
            result.added.push(Present {
                name: name.clone(),
                version: new.version.clone(),
            });
        }
    }
    result
}
