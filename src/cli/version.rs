//! `larder version`: the version of this larder.

use super::{Failure, Output};

pub fn run(output: &Output) -> Result<(), Failure> {
    let version = env!("CARGO_PKG_VERSION");
    if output.is_json() {
        output.json(&serde_json::json!({ "version": version }));
    } else {
        output.line(&format!("larder {version}"));
    }
    Ok(())
}
