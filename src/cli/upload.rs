//! `larder upload [NAME...]`: every locked cookbook (or those named) to a
//! Chef Infra Server, through [`crate::chef_server::upload`]. Also holds
//! the server flags `apply --server` shares.

use std::path::PathBuf;

use super::install::{FetchArgs, ProjectArgs, config, locked};
use super::{Failure, Output};
use crate::cache::Store;
use crate::chef_server::upload::{self, Cookbook, Options, Uploaded};
use crate::chef_server::{Server, credentials};
use crate::http::Client;

/// Which Chef Server, and as whom (over the configuration files).
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The Chef Server URL, e.g. https://chef.example.com/organizations/acme.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,
    /// The API client to sign requests as.
    #[arg(long, value_name = "NAME")]
    pub client_name: Option<String>,
    /// The client's private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub client_key: Option<PathBuf>,
}

impl ServerArgs {
    /// The server these flags and the configuration name.
    pub fn connect(&self, fetch: &FetchArgs) -> Result<Server, Failure> {
        let config = config(fetch)?;
        let flags = credentials::Overrides {
            server_url: self.server_url.clone(),
            client_name: self.client_name.clone(),
            client_key: self.client_key.clone(),
            sign_version: None,
        };
        let found = credentials::from_environment(&flags, &config)
            .map_err(crate::chef_server::ChefServerError::from)?;
        let client = Client::new(config.http())?;
        Ok(Server::new(client, &found)?)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Cookbooks to upload; all locked cookbooks without names.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// How many cookbooks go up at once [default: 8, or install.jobs of the
    /// configuration].
    #[arg(long, short = 'j', value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,
    /// Replace versions that are frozen on the server.
    #[arg(long)]
    pub force: bool,
    /// Freeze the uploaded versions (the default).
    #[arg(long, overrides_with = "no_freeze")]
    pub freeze: bool,
    /// Leave the uploaded versions unfrozen.
    #[arg(long, overrides_with = "freeze")]
    pub no_freeze: bool,
    /// Stop with exit 126 at a version frozen on the server instead of
    /// skipping it.
    #[arg(long)]
    pub halt_on_frozen: bool,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    let store = Store::open()?;
    if let Some(unknown) = args
        .names
        .iter()
        .find(|n| !project.lock.cookbooks.contains_key(*n))
    {
        project.cookbook(unknown)?;
    }
    let mut cookbooks = Vec::new();
    for (name, cookbook) in &project.lock.cookbooks {
        if !args.names.is_empty() && !args.names.contains(name) {
            continue;
        }
        let dir = project.cookbook_path(&store, name, cookbook);
        if !dir.is_dir() {
            return Err(Failure::new(
                145,
                "not_installed",
                format!(
                    "{name} ({}) is not installed; run `larder install` first",
                    cookbook.raw_version
                ),
            ));
        }
        cookbooks.push(Cookbook {
            name: name.clone(),
            version: cookbook.raw_version.clone(),
            dir,
        });
    }
    let fetch = FetchArgs {
        offline: false,
        insecure: args.insecure,
        jobs: args.jobs,
    };
    let server = args.server.connect(&fetch)?;
    let jobs = config(&fetch)?.jobs.value;
    let options = Options {
        force: args.force,
        freeze: !args.no_freeze,
        halt_on_frozen: args.halt_on_frozen,
        jobs,
    };
    let shown = crate::http::redact(server.url());
    let progress = output.progress();
    if let Some(bar) = &progress {
        bar.set_length(cookbooks.len() as u64);
    }
    let on_done = |done: &Uploaded| {
        let line = describe(done, &shown);
        match &progress {
            Some(bar) => {
                bar.inc(1);
                bar.println(&line);
            }
            None => output.status(&line),
        }
    };
    let result = upload::upload_all(&server, cookbooks, options, &on_done);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let uploaded = result?;
    if output.is_json() {
        output.json(&serde_json::json!({"server": shown, "cookbooks": uploaded}));
    }
    Ok(())
}

fn describe(done: &Uploaded, server: &str) -> String {
    match done.status {
        "skipped_frozen" => format!("Skipping {} ({}) (frozen)", done.name, done.version),
        "unchanged" => format!(
            "Uploaded {} ({}) to: '{server}' (already there, nothing sent)",
            done.name, done.version
        ),
        _ => format!(
            "Uploaded {} ({}) to: '{server}' ({} new file(s), {} bytes)",
            done.name, done.version, done.files_sent, done.bytes_sent
        ),
    }
}
