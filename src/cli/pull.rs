//! `larder pull`: what a machine of the stack runs to fetch and switch to a
//! bundle (by URL, or the one its stack points at with `--stack`), or to
//! roll back to the previous one.

use std::path::PathBuf;

use super::stack::open_store;
use super::{Failure, Output};
use crate::archive::Limits;
use crate::bundle::pull::{self, PullOptions, PullOutcome};
use crate::delivery::pull::{Mode, Transfer, pull_stack};

/// Arguments of `larder pull`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The bundle: a path, file:// URL or http(s):// URL.
    #[arg(required_unless_present_any = ["rollback", "stack"])]
    pub source: Option<String>,
    /// Pull the bundle this stack of the store points at.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["source", "sha256", "rollback"])]
    pub stack: Option<String>,
    /// The bundle store for --stack [default: $LARDER_STORE, or [store] url].
    #[arg(long, value_name = "URL", requires = "stack")]
    pub store: Option<String>,
    /// The cookbook directory to switch (becomes a symlink to the set).
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    /// Expected sha256 of the bundle; default: read from SOURCE.sha256.
    #[arg(long, value_name = "HEX", conflicts_with = "rollback")]
    pub sha256: Option<String>,
    /// Switch DIR back to the previous set instead of pulling.
    #[arg(long, conflicts_with = "source")]
    pub rollback: bool,
    /// With --stack: the cookbook sets to keep (the live one, the previous
    /// one and the newest others); local store content no kept set uses
    /// is removed.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "stack",
          value_parser = clap::value_parser!(u16).range(2..))]
    pub keep: u16,
    /// Refuse bundles that unpack to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_bytes)]
    pub max_bytes: u64,
    /// Refuse bundles with more than this many entries.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,
}

/// Runs `larder pull`.
pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let dir = args.into.display();
    let limits = Limits {
        max_bytes: args.max_bytes,
        max_entries: args.max_entries,
    };
    if let Some(stack) = &args.stack {
        let store = open_store(args.store.as_deref(), false)?;
        let pulled = pull_stack(&store, stack, &args.into, &limits, usize::from(args.keep))?;
        report(
            &pulled.outcome,
            &dir.to_string(),
            Some(&pulled.transfer),
            output,
        );
        return Ok(());
    }
    let source = match (&args.source, args.rollback) {
        (_, true) => {
            let done = pull::rollback(&args.into)?;
            if output.is_json() {
                output.json(&serde_json::json!({"now": done.now, "previous": done.replaced}));
                return Ok(());
            }
            output.line(&format!("Rolled back {dir} to {}", done.now));
            if let Some(replaced) = done.replaced {
                output.line(&format!("Kept {replaced} as the previous set"));
            }
            return Ok(());
        }
        (Some(source), false) => source,
        // clap requires SOURCE unless --rollback or --stack is given.
        (None, false) => return Ok(()),
    };
    let options = PullOptions {
        expected_sha256: args.sha256.clone(),
        limits,
    };
    let outcome = pull::pull(source, &args.into, &options)?;
    report(&outcome, &dir.to_string(), None, output);
    Ok(())
}

/// Prints what a pull did: with `--format json`,
/// `{"sha256", "switched": bool, "cookbooks": [{"name", "version"}], "previous"}`,
/// and for a pull by stack also `"transfer"`: what was fetched and reused,
/// with byte counts (printed with `--verbose` otherwise).
fn report(outcome: &PullOutcome, dir: &str, transfer: Option<&Transfer>, output: &Output) {
    if output.is_json() {
        let mut document = match outcome {
            PullOutcome::AlreadyInPlace { sha256 } => serde_json::json!({
                "sha256": sha256,
                "switched": false,
                "cookbooks": [],
                "previous": null,
            }),
            PullOutcome::Switched {
                sha256,
                manifest,
                previous,
                ..
            } => serde_json::json!({
                "sha256": sha256,
                "switched": true,
                "cookbooks": manifest
                    .cookbooks
                    .iter()
                    .map(|c| serde_json::json!({"name": c.name, "version": c.version}))
                    .collect::<Vec<_>>(),
                "previous": previous,
            }),
        };
        if let Some(transfer) = transfer {
            document["transfer"] = serde_json::json!(transfer);
        }
        output.json(&document);
        return;
    }
    if let Some(transfer) = transfer {
        report_transfer(transfer, output);
    }
    match outcome {
        PullOutcome::AlreadyInPlace { sha256 } => {
            output.line(&format!(
                "Bundle {} is already in place at {dir}; nothing to do",
                &sha256[..12]
            ));
        }
        PullOutcome::Switched {
            sha256,
            manifest,
            previous,
            ..
        } => {
            let files: usize = manifest.cookbooks.iter().map(|c| c.files.len()).sum();
            output.line(&format!(
                "Pulled bundle {} into {dir}: {} cookbook(s), {files} file(s)",
                &sha256[..12],
                manifest.cookbooks.len()
            ));
            for cookbook in &manifest.cookbooks {
                output.line(&format!("  * {} ({})", cookbook.name, cookbook.version));
            }
            if let Some(previous) = previous {
                output.line(&format!("Previous set kept for --rollback: {previous}"));
            }
        }
    }
}

/// The `--verbose` lines of a pull by stack: what it fetched and reused.
fn report_transfer(transfer: &Transfer, output: &Output) {
    match transfer.mode {
        Mode::None => {
            output.detail("Fetched only the stack's pointer");
            return;
        }
        Mode::Full => output.detail(&format!(
            "Fetched the whole bundle: {} bytes (and its record, {} bytes)",
            transfer.bundle_bytes, transfer.record_bytes
        )),
        Mode::Incremental => output.detail(&format!(
            "Fetched {} cookbook range(s), {} bytes, and the record, {} bytes; reused {} \
             cookbook(s) from the local store ({} bytes not fetched)",
            transfer.fetched.len(),
            transfer.fetched_bytes,
            transfer.record_bytes,
            transfer.reused.len(),
            transfer.reused_bytes
        )),
    }
    for moved in &transfer.fetched {
        output.detail(&format!(
            "  fetched {} ({}): {} bytes",
            moved.name, moved.version, moved.bytes
        ));
    }
    for moved in &transfer.reused {
        output.detail(&format!(
            "  reused {} ({}): {} bytes",
            moved.name, moved.version, moved.bytes
        ));
    }
}
