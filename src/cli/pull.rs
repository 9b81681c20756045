//! `larder pull`: what a machine of the stack runs to fetch and switch to a
//! bundle, or to roll back to the previous one.

use std::path::PathBuf;

use crate::archive::Limits;
use crate::bundle::BundleError;
use crate::bundle::pull::{self, PullOptions, PullOutcome};

/// Arguments of `larder pull`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The bundle: a path, file:// URL or http(s):// URL.
    #[arg(required_unless_present = "rollback")]
    pub source: Option<String>,
    /// The cookbook directory to switch (becomes a symlink to the set).
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    /// Expected sha256 of the bundle; default: read from SOURCE.sha256.
    #[arg(long, value_name = "HEX", conflicts_with = "rollback")]
    pub sha256: Option<String>,
    /// Switch DIR back to the previous set instead of pulling.
    #[arg(long, conflicts_with = "source")]
    pub rollback: bool,
    /// Refuse bundles that unpack to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_bytes)]
    pub max_bytes: u64,
    /// Refuse bundles with more than this many entries.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,
}

/// Runs `larder pull`.
pub fn run(args: &Args) -> Result<(), BundleError> {
    let dir = args.into.display();
    let source = match (&args.source, args.rollback) {
        (_, true) => {
            let done = pull::rollback(&args.into)?;
            println!("Rolled back {dir} to {}", done.now);
            if let Some(replaced) = done.replaced {
                println!("Kept {replaced} as the previous set");
            }
            return Ok(());
        }
        (Some(source), false) => source,
        // clap requires SOURCE unless --rollback is given.
        (None, false) => return Ok(()),
    };
    let options = PullOptions {
        expected_sha256: args.sha256.clone(),
        limits: Limits {
            max_bytes: args.max_bytes,
            max_entries: args.max_entries,
        },
    };
    match pull::pull(source, &args.into, &options)? {
        PullOutcome::AlreadyInPlace { sha256 } => {
            println!(
                "Bundle {} is already in place at {dir}; nothing to do",
                &sha256[..12]
            );
        }
        PullOutcome::Switched {
            sha256,
            manifest,
            previous,
            ..
        } => {
            let files: usize = manifest.cookbooks.iter().map(|c| c.files.len()).sum();
            println!(
                "Pulled bundle {} into {dir}: {} cookbook(s), {files} file(s)",
                &sha256[..12],
                manifest.cookbooks.len()
            );
            for cookbook in &manifest.cookbooks {
                println!("  * {} ({})", cookbook.name, cookbook.version);
            }
            if let Some(previous) = previous {
                println!("Previous set kept for --rollback: {previous}");
            }
        }
    }
    Ok(())
}
