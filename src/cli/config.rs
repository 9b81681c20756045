//! `larder config`: the effective settings and where each came from (a
//! default, `$LARDER_HOME/config.toml`, `./.larder/config.toml` or a flag),
//! secrets masked.

use super::install::{FetchArgs, config};
use super::{Failure, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub fetch: FetchArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let entries = config(&args.fetch)?.entries();
    if output.is_json() {
        output.json(&serde_json::json!({ "settings": entries }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .into_iter()
        .map(|e| vec![e.key, e.value, format!("({})", e.origin)])
        .collect();
    output.table(&rows);
    Ok(())
}
