//! Fuzzes the bundle manifest reader with arbitrary bytes. Invariants: no
//! panic, no hang, and a manifest that reads writes back to bytes that read
//! to the same manifest.

#![no_main]

use larder::bundle::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::from_json(data, "fuzz input") {
        let written = manifest.to_json();
        match Manifest::from_json(&written, "fuzz input") {
            Ok(reread) => assert_eq!(reread, manifest),
            Err(e) => panic!("a written manifest does not read back: {e}"),
        }
    }
});
