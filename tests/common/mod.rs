//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod git;
pub mod project;
pub mod s3;
pub mod server;

use std::path::PathBuf;

/// A file under `../shared/data`, or `None` (with a message saying the test
/// is skipped) when that folder is not present. `.ci/run` makes sure it is.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else if std::env::var_os("LARDER_REQUIRE_SHARED_DATA").is_some() {
        panic!(
            "{} is required (LARDER_REQUIRE_SHARED_DATA is set)",
            path.display()
        );
    } else {
        eprintln!(
            "skipped: {} is not present (the shared data folder sits beside the repository)",
            path.display()
        );
        None
    }
}
