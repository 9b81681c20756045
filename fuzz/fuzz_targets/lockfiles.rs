//! Fuzzes both lockfile readers, larder.lock and Berksfile.lock, with the
//! same text. Invariants: no panic, no hang, and a larder.lock that reads
//! renders to text that reads back to the same lock.

#![no_main]

use std::path::Path;

use larder::lock::berkshelf::BerksfileLock;
use larder::lock::larder::{parse, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lock) = parse(text, Path::new("larder.lock")) {
        let rendered = render(&lock);
        match parse(&rendered, Path::new("larder.lock")) {
            Ok(reread) => assert_eq!(reread, lock, "larder.lock does not round-trip:\n{rendered}"),
            Err(e) => panic!("a rendered larder.lock does not read back: {e}\n{rendered}"),
        }
    }
    let _ = BerksfileLock::parse(text, Path::new("Berksfile.lock"));
});
