//! `larder verify-bundle`: checks a bundle against its `.sha256` sidecar and
//! its manifest, listing every difference.

use std::path::PathBuf;

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
pub fn run(args: &Args) -> Result<(), BundleError> {
    let verification = verify_bundle(&args.file, &Limits::default())?;
    if verification.differences.is_empty() {
        let files: usize = verification
            .manifest
            .cookbooks
            .iter()
            .map(|c| c.files.len())
            .sum();
        println!(
            "Verified {} (sha256 {}): {} cookbook(s), {files} file(s)",
            args.file.display(),
            verification.sha256,
            verification.manifest.cookbooks.len()
        );
        return Ok(());
    }
    for difference in &verification.differences {
        println!("{difference}");
    }
    Err(BundleError::ContentMismatch {
        origin: args.file.display().to_string(),
        differences: verification.differences,
    })
}
