//! `larder why NAME`: every chain from a Berksfile dependency to NAME,
//! with the constraint on each edge, to see why a version was picked.

use super::install::locked;
use super::{Failure, Output};
use crate::graph::{Graph, MAX_CHAINS};

pub use super::install::CookbookArgs as Args;

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
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
