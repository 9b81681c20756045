//! `pull --stack`: reads the stack's pointer (one small request), and when
//! the directory does not hold that bundle yet, downloads it from the store
//! and hands it to [`crate::bundle::pull::pull_with`], which verifies it
//! against the digest the pointer names and switches atomically.

use std::path::Path;

use super::DeliveryError;
use super::record::{Pointer, bundle_key};
use super::stack::show;
use super::store::Store;
use crate::archive::Limits;
use crate::bundle::BundleError;
use crate::bundle::pull::{PullOutcome, pull_with};

/// Switches `into` to the bundle `stack` points at; returns the pointer
/// and what the pull did.
pub fn pull_stack(
    store: &Store,
    stack: &str,
    into: &Path,
    limits: &Limits,
) -> Result<(Pointer, PullOutcome), DeliveryError> {
    let pointer = show(store, stack)?;
    let key = bundle_key(&pointer.bundle);
    let origin = store.object_url(&key);
    let mut failure = None;
    let outcome = pull_with(into, &pointer.bundle, &origin, limits, |out| {
        let fetched = match store.download(&key, out) {
            Ok(Some(digest)) => return Ok(digest),
            Ok(None) => DeliveryError::DanglingPointer {
                stack: stack.to_string(),
                digest: pointer.bundle.clone(),
                store: store.url().to_string(),
            },
            Err(e) => e,
        };
        let detail = fetched.to_string();
        failure = Some(fetched);
        Err(BundleError::Fetch {
            url: origin.clone(),
            detail,
        })
    });
    match (outcome, failure) {
        (Ok(outcome), _) => Ok((pointer, outcome)),
        // The store's own error, unless the pull stopped for a reason of
        // its own (a download over the size limit ends the same way).
        (Err(BundleError::Fetch { .. }), Some(failure)) => Err(failure),
        (Err(e), _) => Err(e.into()),
    }
}
