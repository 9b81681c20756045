//! `larder viz`: the locked dependency graph as a picture. DOT is written
//! by larder; SVG and PNG are drawn by Graphviz's `dot`.
//!
//! The picture's format is `--graph-format` (the global `--format` chooses
//! how larder reports, human or JSON, as for every command); without it,
//! the extension of `-o`, else PNG.

use std::path::PathBuf;

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::graph::Graph;
use crate::graphviz::{self, GraphFormat, GraphvizError};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the graph [default: graph.png, or graph.<FORMAT>].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The picture's format [default: from the extension of -o, else png].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub graph_format: Option<GraphFormat>,
    /// The Berksfile whose lock is drawn (the whole lock: viz takes no
    /// groups, and `-o` names the output file as in Berkshelf).
    #[arg(long, short = 'b', default_value = "Berksfile", value_name = "PATH")]
    pub berksfile: PathBuf,
}

impl From<GraphvizError> for Failure {
    fn from(err: GraphvizError) -> Self {
        let kind = match err {
            GraphvizError::NotInstalled => "graphviz_not_installed",
            GraphvizError::Failed { .. } => "graphviz_failed",
            GraphvizError::Write { .. } => "io",
        };
        Failure::new(
            super::failure::code_of(err.exit_code()),
            kind,
            err.to_string(),
        )
    }
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(
        &ProjectArgs {
            berksfile: args.berksfile.clone(),
            only: Vec::new(),
            except: Vec::new(),
        },
        output,
    )?;
    let format = args
        .graph_format
        .or_else(|| args.output.as_deref().and_then(GraphFormat::from_path))
        .unwrap_or(GraphFormat::Png);
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("graph.{}", format.extension())));
    let dot = Graph::new(&project.lock).dot();
    graphviz::write(&dot, format, &path)?;
    if output.is_json() {
        output.json(&serde_json::json!({
            "path": path,
            "format": format.extension(),
            "cookbooks": project.lock.cookbooks.len(),
        }));
    } else {
        output.line(&format!("Dependency graph written to {}", path.display()));
    }
    Ok(())
}
