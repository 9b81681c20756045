//! Fuzzes the universe reader (Supermarket, Berkshelf API and acceptance
//! shapes) with arbitrary bytes. Invariant: no panic, no hang.

#![no_main]

use larder::index::{Index, Origin};
use larder::universe::parse_into;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut index = Index::new();
    let _ = parse_into(data, "fuzz input", &mut index, |_, _| Origin::Listed);
});
