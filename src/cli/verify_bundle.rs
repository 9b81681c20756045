//! `larder verify-bundle`: checks a bundle against its `.sha256` sidecar and
//! its manifest, listing every difference.

use std::path::PathBuf;

use super::Output;
use crate::archive::Limits;
use crate::bundle::BundleError;
use crate::bundle::verify::verify_bundle;

/// Arguments of `larder verify-bundle`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The bundle file (its sidecar is FILE.sha256).
    pub file: PathBuf,
}

/// Runs `larder verify-bundle`; differences make it fail.
pub fn run(args: &Args, output: &Output) -> Result<(), BundleError> {
    let verification = verify_bundle(&args.file, &Limits::default())?;
    if verification.differences.is_empty() {
        let files: usize = verification
            .manifest
            .cookbooks
            .iter()
            .map(|c| c.files.len())
            .sum();
        output.line(&format!(
            "Verified {} (sha256 {}): {} cookbook(s), {files} file(s)",
            args.file.display(),
            verification.sha256,
            verification.manifest.cookbooks.len()
        ));
        return Ok(());
    }
    for difference in &verification.differences {
        output.line(&difference.to_string());
    }
    Err(BundleError::ContentMismatch {
        origin: args.file.display().to_string(),
        differences: verification.differences,
    })
}
