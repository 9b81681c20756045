//! `larder publish [BUNDLE] --to STORE [--stack NAME]`: what CI runs after
//! `install --locked`. Packs the project when no bundle is given (refusing
//! a lock out of sync, exit 144), uploads the bundle to the store under its
//! sha256, and with `--stack` points the stack at it.

use std::path::PathBuf;

use super::install::{FetchArgs, ProjectArgs};
use super::package::{pack, vendor_locked};
use super::stack::{ChangeArgs, change_of, open_store, report_change, short};
use super::{Failure, Output};
use crate::bundle::package::{self, Destination, PackageRequest};
use crate::delivery::publish::publish;
use crate::delivery::record::{Action, Provenance};
use crate::delivery::stack;

/// Arguments of `larder publish`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A bundle made by `larder package`; default: pack the project's lock.
    pub bundle: Option<PathBuf>,
    /// The bundle store [default: $LARDER_STORE, or [store] url].
    #[arg(long, visible_alias = "store", value_name = "URL")]
    pub to: Option<String>,
    /// Also point this stack at the bundle.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// A note recorded with the bundle.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The commit the bundle was built from.
    #[arg(long, value_name = "ID")]
    pub commit: Option<String>,
    /// The URL of the pipeline run that published it.
    #[arg(long, value_name = "URL")]
    pub pipeline: Option<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Runs `larder publish`.
pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let store = open_store(args.to.as_deref(), true)?;
    let change = change_of(&args.change)?;
    if let Some(name) = &args.stack {
        crate::delivery::record::check_stack_name(name)?;
    }
    let mut scratch = None;
    let bundle = match &args.bundle {
        Some(path) => path.clone(),
        None => {
            let (dir, cookbooks, lock_digest) =
                vendor_locked(&args.project, &args.fetch, true, &mut scratch, output)?;
            let out = dir.with_file_name("cookbooks.tar.gz");
            let request = PackageRequest {
                cookbooks_dir: &dir,
                cookbooks: &cookbooks,
                lock_digest: &lock_digest,
                destination: Destination::File(out),
                mtime: package::epoch_from_env()?,
                threads: package::available_threads(),
            };
            pack(&request)?.archive
        }
    };
    let provenance = Provenance {
        note: args.note.clone(),
        commit: args.commit.clone(),
        pipeline: args.pipeline.clone(),
        by: change.by.clone(),
    };
    let published = publish(&store, &bundle, provenance)?;
    let changed = match &args.stack {
        Some(name) => Some(stack::set(
            &store,
            name,
            stack::Target {
                digest: &published.sha256,
                record_sha256: Some(published.record_sha256.clone()),
            },
            Action::Publish,
            None,
            None,
            &change,
        )?),
        None => None,
    };
    if output.is_json() {
        output.json(&serde_json::json!({
            "sha256": published.sha256,
            "size": published.size,
            "url": published.url,
            "uploaded": published.uploaded,
            "rechecked": published.rechecked,
            "upload_seconds": published.upload_seconds,
            "record": published.record,
            "stack": changed,
        }));
        return Ok(());
    }
    if !published.rechecked {
        output.detail("Packed on this machine and unchanged since; its checks stand");
    }
    if published.uploaded {
        output.line(&format!(
            "Published bundle {} ({} cookbook(s), {} bytes)",
            published.sha256,
            published.record.cookbooks.len(),
            published.size
        ));
        if let Some(seconds) = published.upload_seconds {
            output.detail(&format!(
                "Uploaded in {seconds:.3} s ({:.0} MB/s)",
                published.size as f64 / 1e6 / seconds.max(1e-6)
            ));
        }
    } else {
        output.line(&format!(
            "Bundle {} was already published ({}); nothing uploaded",
            published.sha256, published.record.published_at
        ));
    }
    output.line(&published.url);
    if let Some(done) = &changed {
        report_change(output, done);
    } else {
        output.line(&format!(
            "Pin a stack to it with: larder stack pin NAME {}",
            short(&published.sha256)
        ));
    }
    Ok(())
}
