//! `larder install` and `larder update`: resolve the Berksfile, write the
//! lock, and put every cookbook in the store.

use std::path::{Path, PathBuf};

use super::{Failure, Output};
use crate::berksfile::GroupFilter;
use crate::cache::Store;
use crate::config::{Config, Overrides};
use crate::install::{self, Locked, Outcome, Request, Unlock};

/// Flags shared by the commands that read a Berksfile.
#[derive(clap::Args, Debug, Clone)]
pub struct ProjectArgs {
    /// The Berksfile to read.
    #[arg(long, short = 'b', default_value = "Berksfile", value_name = "PATH")]
    pub berksfile: PathBuf,
    /// Only these groups.
    #[arg(long, short = 'o', value_delimiter = ',', value_name = "GROUP")]
    pub only: Vec<String>,
    /// Every group but these.
    #[arg(long, short = 'e', value_delimiter = ',', value_name = "GROUP")]
    pub except: Vec<String>,
}

/// A locked cookbook of a project (show, info, contingent, why).
#[derive(clap::Args, Debug)]
pub struct CookbookArgs {
    /// The cookbook, as the lock names it.
    pub name: String,
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// Flags of commands that may fetch.
#[derive(clap::Args, Debug, Clone)]
pub struct FetchArgs {
    /// Use only what is cached; fail if something is missing.
    #[arg(long)]
    pub offline: bool,
    /// Do not verify TLS certificates (for a private registry with a
    /// self-signed certificate you cannot add with SSL_CERT_FILE).
    #[arg(long)]
    pub insecure: bool,
    /// How many downloads run at once [default: 8, or install.jobs of the
    /// configuration].
    #[arg(long, short = 'j', value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Fail (exit 144) instead of changing the lockfile.
    #[arg(long)]
    pub locked: bool,
}

impl InstallArgs {
    /// The flags of a plain `larder install`.
    pub fn defaults() -> Result<InstallArgs, Failure> {
        use clap::{Args, FromArgMatches};
        let command = InstallArgs::augment_args(clap::Command::new("install"));
        command
            .try_get_matches_from(["install"])
            .and_then(|matches| InstallArgs::from_arg_matches(&matches))
            .map_err(|e| Failure::usage(e.to_string()))
    }
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Cookbooks to unlock; without names, everything is resolved again.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

pub fn run_install(args: &InstallArgs, output: &Output) -> Result<(), Failure> {
    run(
        &args.project,
        &args.fetch,
        args.locked,
        Unlock::Nothing,
        output,
    )
}

pub fn run_update(args: &UpdateArgs, output: &Output) -> Result<(), Failure> {
    let unlock = if args.names.is_empty() {
        Unlock::Everything
    } else {
        Unlock::Only(args.names.clone())
    };
    run(&args.project, &args.fetch, false, unlock, output)
}

/// Builds the install request for a project's flags, with the settings of
/// the configuration files (flags win).
pub fn request(
    project: &ProjectArgs,
    fetch: &FetchArgs,
    locked: bool,
    unlock: Unlock,
) -> Result<Request, Failure> {
    let config = config(fetch)?;
    let (berksfile, filter) = berksfile(project)?;
    Ok(Request {
        berksfile,
        filter,
        locked,
        offline: fetch.offline,
        unlock,
        http: config.http(),
        jobs: config.jobs.value,
        api_keys: config.api_keys(),
    })
}

/// The effective configuration: `$LARDER_HOME/config.toml`, then
/// `./.larder/config.toml`, then the flags.
pub fn config(fetch: &FetchArgs) -> Result<Config, Failure> {
    let home = crate::cache::home()?;
    let overrides = Overrides {
        insecure: fetch.insecure,
        jobs: fetch.jobs,
    };
    Ok(Config::load(&home, Path::new("."), &overrides)?)
}

/// The Berksfile (absolute) and group filter of a project's flags; a
/// missing Berksfile is exit 100.
fn berksfile(project: &ProjectArgs) -> Result<(PathBuf, GroupFilter), Failure> {
    let no_berksfile = |detail: String| Failure::new(100, "no_berksfile", detail);
    if !project.berksfile.exists() {
        let dir = project
            .berksfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| ".".to_string(), |p| p.display().to_string());
        return Err(no_berksfile(format!(
            "No Berksfile found at '{}' (looked in {dir}); create one, or point at it with --berksfile",
            project.berksfile.display()
        )));
    }
    let filter = GroupFilter::new(&project.only, &project.except)?;
    let berksfile = std::path::absolute(&project.berksfile).map_err(|e| {
        no_berksfile(format!(
            "cannot locate {}: {e}",
            project.berksfile.display()
        ))
    })?;
    Ok((berksfile, filter))
}

/// The project's Berksfile and a lock that agrees with it (exit 140 without
/// a lock, 144 when it is out of sync). The Berksfile's warnings are
/// printed either way.
pub fn locked(project: &ProjectArgs, output: &Output) -> Result<Locked, Failure> {
    let (berksfile, filter) = berksfile(project)?;
    let store = Store::open()?;
    Ok(Locked::read(&berksfile, &filter, &store, &|w| {
        output.warning(w)
    })?)
}

fn run(
    project: &ProjectArgs,
    fetch: &FetchArgs,
    locked: bool,
    unlock: Unlock,
    output: &Output,
) -> Result<(), Failure> {
    let outcome = install_project(project, fetch, locked, unlock, output)?;
    report(&outcome, output);
    Ok(())
}

/// Runs an install for a project, showing progress; the commands that
/// need the cookbooks in place (vendor, package) start with it.
pub fn install_project(
    project: &ProjectArgs,
    fetch: &FetchArgs,
    locked: bool,
    unlock: Unlock,
    output: &Output,
) -> Result<Outcome, Failure> {
    let request = request(project, fetch, locked, unlock)?;
    let store = Store::open()?;
    output.status("Resolving cookbook dependencies...");
    let progress = output.progress();
    let warn = |warning: &str| match &progress {
        Some(bar) => bar.suspend(|| output.warning(warning)),
        None => output.warning(warning),
    };
    let outcome = install::install(
        &request,
        &store,
        &|line| match &progress {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(line.to_string());
            }
            None => output.status(line),
        },
        &warn,
    );
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    for note in &outcome.notes {
        output.detail(&format!("note: {note}"));
    }
    Ok(outcome)
}

fn report(outcome: &Outcome, output: &Output) {
    if output.is_json() {
        let cookbooks: Vec<_> = outcome
            .cookbooks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "version": c.raw_version,
                    "source": c.from,
                    "path": c.path,
                    "downloaded": c.downloaded,
                    "sha256": outcome.lock.cookbooks.get(&c.name).and_then(|l| l.sha256.clone()),
                })
            })
            .collect();
        output.json(&serde_json::json!({
            "cookbooks": cookbooks,
            "lockfile": outcome.lock_path,
            "lockfile_written": outcome.lock_written,
            "resolved": !outcome.trusted,
        }));
        return;
    }
    for source in &outcome.sources_read {
        output.detail(&format!(
            "read the cookbook index of {}",
            crate::http::redact(source)
        ));
    }
    for cookbook in &outcome.cookbooks {
        if !cookbook.downloaded {
            output.line(&format!(
                "Using {} ({}) from {}",
                cookbook.name, cookbook.raw_version, cookbook.from
            ));
        }
    }
    if outcome.lock_written {
        output.status(&format!("Wrote {}", outcome.lock_path.display()));
    }
}
