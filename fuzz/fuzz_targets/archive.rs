//! Fuzzes the archive unpacker with arbitrary bytes as a gzip-compressed
//! tar, into a fresh temporary directory each time, and the same bytes as a
//! bundle that `publish` checks and cuts into cookbook ranges, and as one
//! cookbook's range that `pull --stack` unpacks. Invariants: no panic, no
//! hang, and what the unpacker reports unpacking is what is on disk.

#![no_main]

use larder::archive::{Limits, unpack};
use larder::bundle::cookbook_ranges::{scan, unpack_range};
use libfuzzer_sys::fuzz_target;

/// Small caps, so that the fuzzer spends its time on structure rather than
/// on writing large files.
const LIMITS: Limits = Limits {
    max_bytes: 1 << 20,
    max_entries: 1000,
};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("unpacked");
    if let Ok(unpacked) = unpack(data, &dest, &LIMITS) {
        let mut total = 0;
        for (name, file) in &unpacked.files {
            let metadata = std::fs::symlink_metadata(dest.join(name))
                .unwrap_or_else(|e| panic!("reported file {name} is not on disk: {e}"));
            assert!(metadata.is_file(), "{name} is not a regular file");
            assert_eq!(metadata.len(), file.size, "{name} has the wrong size");
            total += file.size;
        }
        assert_eq!(total, unpacked.bytes);
        assert!(unpacked.bytes <= LIMITS.max_bytes);
    }
    if let Ok(scanned) = scan(data, "fuzz", &LIMITS) {
        for range in scanned.ranges.iter().flatten() {
            assert!(range.start < range.end && range.end <= data.len() as u64);
        }
    }
    let _ = unpack_range(data, "app", &dir.path().join("range"), &LIMITS, "fuzz");
});
