//! `larder outdated [NAME...]`: locked cookbooks with newer versions in the
//! Berksfile's sources. Exit 0 unless `--exit-code` is given and something
//! is outdated (then 1, for CI).

use super::install::{FetchArgs, ProjectArgs, config, locked};
use super::{Failure, Output};
use crate::cache::Store;
use crate::http::Client;
use crate::lock::LockError;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only these cookbooks.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Also list cookbooks whose constraints block a newer version.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Exit 1 when something is listed.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let mut project = locked(&args.project, output)?;
    let unknown: Vec<String> = args
        .names
        .iter()
        .filter(|name| !project.lock.cookbooks.contains_key(*name))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(LockError::UnknownCookbooks { names: unknown }.into());
    }
    let config = config(&args.fetch)?;
    project.manifest.fill_api_keys(&config.api_keys());
    let store = Store::open()?;
    let client = Client::new(config.http())?;
    let index = project.index(&client, &store, args.fetch.offline)?;
    let report = crate::outdated::outdated(
        &project.lock,
        &index,
        &project.manifest.sources,
        &args.names,
        args.all,
    );
    if output.is_json() {
        output.json(&serde_json::json!({ "cookbooks": report }));
    } else if report.is_empty() {
        output.line("All cookbooks up to date!");
    } else {
        output.line("The following cookbooks have newer versions:");
        let mut rows = vec![vec![
            "  NAME".to_string(),
            "LOCKED".to_string(),
            "ALLOWED".to_string(),
            "LATEST".to_string(),
            "SOURCE".to_string(),
        ]];
        rows.extend(report.iter().map(|n| {
            vec![
                format!("  * {}", n.name),
                n.locked.clone(),
                n.allowed.clone(),
                n.latest.clone(),
                n.source.clone(),
            ]
        }));
        output.table(&rows);
    }
    if args.exit_code && !report.is_empty() {
        return Err(Failure::new(
            1,
            "outdated",
            format!(
                "{} cookbook(s) have newer versions; run `larder update` to take them",
                report.len()
            ),
        )
        .after_result());
    }
    Ok(())
}
