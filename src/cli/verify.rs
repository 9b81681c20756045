//! `larder verify`: every locked cookbook's files match the lock, its
//! metadata parses, and its dependencies are met by the lock. Exit 124
//! (Berkshelf's CookbookValidationFailure) when one is not.

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::cache::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    let store = Store::open()?;
    output.status(&format!(
        "Verifying ({}) cookbook(s)...",
        project.lock.cookbooks.len()
    ));
    let checked = project.verify(&store);
    let failed: Vec<_> = checked.iter().filter(|c| !c.problems.is_empty()).collect();
    if output.is_json() {
        output.json(&serde_json::json!({
            "verified": failed.is_empty(),
            "cookbooks": checked,
        }));
    } else if failed.is_empty() {
        output.line("Verified.");
    } else {
        for cookbook in &failed {
            output.line(&format!("{} ({}):", cookbook.name, cookbook.version));
            for problem in &cookbook.problems {
                output.line(&format!("  - {problem}"));
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = failed
        .iter()
        .map(|c| format!("{} ({})", c.name, c.version))
        .collect();
    Err(Failure::new(
        124,
        "verify_failed",
        format!(
            "{} cookbook(s) failed verification: {}",
            failed.len(),
            names.join(", ")
        ),
    )
    .after_result())
}
