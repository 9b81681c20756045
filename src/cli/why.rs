//! `larder why NAME`: every chain from a Berksfile dependency to NAME,
//! with the constraint on each edge, to see why a version was picked.

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::graph::{Graph, MAX_CHAINS};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cookbook, as the lock names it.
    pub name: String,
    #[command(flatten)]
    pub project: ProjectArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project)?;
    let cookbook = project.cookbook(&args.name)?;
    let found = Graph::new(&project.lock).chains(&args.name);
    if output.is_json() {
        output.json(&serde_json::json!({
            "name": args.name,
            "version": cookbook.raw_version,
            "chains": found.chains,
            "truncated": found.truncated,
        }));
        return Ok(());
    }
    output.line(&format!(
        "{} ({}) is locked because:",
        args.name, cookbook.raw_version
    ));
    for chain in &found.chains {
        let steps: Vec<String> = chain
            .iter()
            .map(|s| format!("{} ({}) {}", s.name, s.constraint, s.version))
            .collect();
        output.line(&format!("  Berksfile > {}", steps.join(" > ")));
    }
    if found.truncated {
        output.line(&format!(
            "  ... only the first {MAX_CHAINS} chains are shown"
        ));
    }
    Ok(())
}
