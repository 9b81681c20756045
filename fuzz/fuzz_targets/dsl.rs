//! Fuzzes the Ruby-subset evaluator through its two readers: the first
//! byte picks the Berksfile or the metadata.rb reader, the rest is the
//! file. Invariant: no panic, no hang, whatever the file says.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use larder::berksfile::Manifest;
use larder::metadata::Metadata;
use libfuzzer_sys::fuzz_target;

/// An empty project directory for the evaluated files, so that their
/// relative reads and globs see nothing.
fn project() -> &'static PathBuf {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| tempfile::tempdir().expect("temp dir").keep())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, source)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let path = project().join("Berksfile");
        let _ = Manifest::parse(&path, source, &|_| None);
    } else {
        let path = project().join("metadata.rb");
        let _ = Metadata::from_rb(&path, source);
    }
});
