//! `larder search QUERY`: Supermarket's search, with each hit's latest
//! version. The registry is `--source`, else the Berksfile's first HTTP
//! source, else the public Supermarket.

use super::install::{FetchArgs, config};
use super::{Failure, Output};
use crate::berksfile::{Manifest, SourceSpec};
use crate::http::Client;
use crate::source::search;

/// The registry searched when nothing else names one.
pub const PUBLIC_SUPERMARKET: &str = "https://supermarket.chef.io";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Words to look for in cookbook names and descriptions.
    pub query: String,
    /// The Supermarket-compatible registry to ask.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// The Berksfile whose first HTTP source is asked without --source.
    #[arg(long, short = 'b', default_value = "Berksfile", value_name = "PATH")]
    pub berksfile: std::path::PathBuf,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let source = match &args.source {
        Some(url) => url.clone(),
        None => berksfile_source(&args.berksfile)?,
    };
    let client = Client::new(config(&args.fetch)?.http())?;
    let hits = search::search(&client, &source, &args.query)?;
    if output.is_json() {
        output.json(&serde_json::json!({
            "source": crate::http::redact(&source),
            "cookbooks": hits,
        }));
        return Ok(());
    }
    if hits.is_empty() {
        output.line(&format!("No cookbooks match '{}'.", args.query));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.latest_version
                    .as_ref()
                    .map_or_else(String::new, |v| format!("({v})")),
                h.description.clone(),
            ]
        })
        .collect();
    output.table(&rows);
    Ok(())
}

/// The first `http(s)` source of the Berksfile, if there is one.
fn berksfile_source(berksfile: &std::path::Path) -> Result<String, Failure> {
    if !berksfile.exists() {
        return Ok(PUBLIC_SUPERMARKET.to_string());
    }
    let manifest = Manifest::load(berksfile)?;
    let first = manifest.sources.iter().find_map(|s| match s {
        SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. }
            if url.starts_with("http://") || url.starts_with("https://") =>
        {
            Some(url.clone())
        }
        _ => None,
    });
    Ok(first.unwrap_or_else(|| PUBLIC_SUPERMARKET.to_string()))
}
