//! `larder list`: every locked cookbook with its version and source.

use serde::Serialize;

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    version: &'a str,
    source: String,
    direct: bool,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    let cookbooks: Vec<Listed> = project
        .lock
        .cookbooks
        .iter()
        .map(|(name, cookbook)| Listed {
            name,
            version: &cookbook.raw_version,
            source: cookbook.source.describe(),
            direct: project.lock.dependency(name).is_some(),
        })
        .collect();
    if output.is_json() {
        output.json(&serde_json::json!({ "cookbooks": cookbooks }));
        return Ok(());
    }
    output.line("Cookbooks installed by your Berksfile:");
    let rows: Vec<Vec<String>> = cookbooks
        .iter()
        .map(|c| {
            vec![
                format!("  * {}", c.name),
                format!("({})", c.version),
                format!("from {}", c.source),
            ]
        })
        .collect();
    output.table(&rows);
    Ok(())
}
