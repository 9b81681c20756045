//! `larder contingent NAME`: the locked cookbooks that depend on NAME,
//! directly or through others.

use super::install::locked;
use super::{Failure, Output};
use crate::graph::Graph;

pub use super::install::CookbookArgs as Args;

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    project.cookbook(&args.name)?;
    let contingent = Graph::new(&project.lock).contingent(&args.name);
    if output.is_json() {
        output.json(&serde_json::json!({"name": args.name, "contingent": contingent}));
    } else if contingent.is_empty() {
        output.line(&format!(
            "There are no cookbooks in this Berksfile contingent upon '{}'.",
            args.name
        ));
    } else {
        output.line(&format!(
            "Cookbooks in this Berksfile contingent upon '{}':",
            args.name
        ));
        let rows: Vec<Vec<String>> = contingent
            .iter()
            .map(|c| {
                vec![
                    format!("  * {}", c.name),
                    format!("({})", c.version),
                    if c.direct { "directly" } else { "indirectly" }.to_string(),
                ]
            })
            .collect();
        output.table(&rows);
    }
    Ok(())
}
