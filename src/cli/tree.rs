//! `larder tree`: the locked dependency tree with the constraint on each
//! edge; a cookbook whose dependencies were already shown is marked `(*)`.

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::graph::{Graph, TreeNode};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    let tree = Graph::new(&project.lock).tree();
    if output.is_json() {
        output.json(&serde_json::json!({ "dependencies": tree }));
        return Ok(());
    }
    output.line("Berksfile");
    print_level(&tree, "", output);
    Ok(())
}

fn print_level(nodes: &[TreeNode], prefix: &str, output: &Output) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let version = node.version.as_deref().unwrap_or("not locked");
        let marker = if node.repeated { " (*)" } else { "" };
        output.line(&format!(
            "{prefix}{} {} {version} [{}]{marker}",
            if last { "└──" } else { "├──" },
            node.name,
            node.constraint
        ));
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        print_level(&node.dependencies, &deeper, output);
    }
}
