//! `larder vendor [PATH]`: install, then copy every resolved cookbook into
//! `PATH/<name>/` as Chef will load it.

use std::path::PathBuf;

use super::install::{FetchArgs, ProjectArgs, install_project};
use super::{Failure, Output};
use crate::bundle::vendor_set::{VendorItem, vendor_set};
use crate::install::{Outcome, Unlock};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to put the cookbooks.
    #[arg(default_value = "berks-cookbooks")]
    pub path: PathBuf,
    /// Remove anything in PATH that is not being vendored.
    #[arg(long)]
    pub delete: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// What to vendor for an install's outcome.
pub fn items_of(outcome: &Outcome) -> Vec<VendorItem> {
    outcome
        .cookbooks
        .iter()
        .map(|c| VendorItem {
            name: c.name.clone(),
            source_dir: c.path.clone(),
        })
        .collect()
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let outcome = install_project(&args.project, &args.fetch, false, Unlock::Nothing, output)?;
    let vendored = vendor_set(&items_of(&outcome), &args.path, args.delete)?;
    if output.is_json() {
        let cookbooks: Vec<_> = outcome
            .cookbooks
            .iter()
            .zip(&vendored)
            .map(|(c, path)| serde_json::json!({"name": c.name, "version": c.raw_version, "path": path}))
            .collect();
        output.json(&serde_json::json!({ "cookbooks": cookbooks }));
    } else {
        for (cookbook, path) in outcome.cookbooks.iter().zip(&vendored) {
            output.line(&format!(
                "Vendoring {} ({}) to {}",
                cookbook.name,
                cookbook.raw_version,
                path.display()
            ));
        }
    }
    Ok(())
}
