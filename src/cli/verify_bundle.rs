//! `larder verify-bundle`: checks a bundle against its `.sha256` sidecar and
//! its manifest, or with `--into DIR` the set `larder pull` switched DIR to
//! against its manifest, listing every difference (exit 155 when there is
//! one).

use std::path::{Path, PathBuf};

use super::Output;
use crate::archive::Limits;
use crate::bundle::BundleError;
use crate::bundle::verify::{verify_bundle, verify_set};

/// Arguments of `larder verify-bundle`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The bundle file (its sidecar is FILE.sha256).
    #[arg(required_unless_present = "into", conflicts_with = "into")]
    pub file: Option<PathBuf>,
    /// Check the cookbook set a pull put at DIR instead, reading every file
    /// (exit 155 when one differs from the manifest).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

/// Runs `larder verify-bundle`; differences make it fail.
pub fn run(args: &Args, output: &Output) -> Result<(), BundleError> {
    let file = match (&args.file, &args.into) {
        (_, Some(dir)) => return run_into(dir, output),
        (Some(file), None) => file,
        // clap requires FILE unless --into is given.
        (None, None) => return Ok(()),
    };
    let verification = verify_bundle(file, &Limits::default())?;
    if verification.differences.is_empty() {
        let files: usize = verification
            .manifest
            .cookbooks
            .iter()
            .map(|c| c.files.len())
            .sum();
        output.line(&format!(
            "Verified {} (sha256 {}): {} cookbook(s), {files} file(s)",
            file.display(),
            verification.sha256,
            verification.manifest.cookbooks.len()
        ));
        return Ok(());
    }
    for difference in &verification.differences {
        output.line(&difference.to_string());
    }
    Err(BundleError::ContentMismatch {
        origin: file.display().to_string(),
        differences: verification.differences,
    })
}

/// `verify-bundle --into DIR`.
fn run_into(dir: &Path, output: &Output) -> Result<(), BundleError> {
    let (manifest, differences) = verify_set(dir)?;
    if differences.is_empty() {
        let files: usize = manifest.cookbooks.iter().map(|c| c.files.len()).sum();
        output.line(&format!(
            "Verified {}: {} cookbook(s), {files} file(s) as its manifest lists them",
            dir.display(),
            manifest.cookbooks.len()
        ));
        return Ok(());
    }
    for difference in &differences {
        output.line(&difference.to_string());
    }
    Err(BundleError::ContentMismatch {
        origin: dir.display().to_string(),
        differences,
    })
}
