//! `larder shelf list|show|uninstall`: what the global store holds, and
//! removing entries. Uninstalling refuses an entry that the lock in the
//! current directory uses, unless `--force`.

use std::path::Path;

use clap::Subcommand;
use serde::Serialize;

use super::{Failure, Output};
use crate::cache::{CacheError, Entry, EntryVersion, Store};
use crate::install::read_lock;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ShelfCommand,
}

#[derive(Subcommand, Debug)]
pub enum ShelfCommand {
    /// Every cookbook in the store with its versions.
    List,
    /// The versions of one cookbook in the store and where they are.
    Show { name: String },
    /// Remove a cookbook from the store: every version, or one.
    Uninstall {
        name: String,
        /// Only this version (or git revision).
        #[arg(long)]
        version: Option<String>,
        /// Remove it even if the lock in this directory uses it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Serialize)]
struct Stored {
    version: String,
    path: std::path::PathBuf,
}

fn version_text(version: &EntryVersion) -> String {
    match version {
        EntryVersion::Release { raw, .. } => raw.clone(),
        EntryVersion::Git { revision } => revision.clone(),
    }
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let store = Store::open()?;
    match &args.command {
        ShelfCommand::List => list(&store, output),
        ShelfCommand::Show { name } => show(&store, name, output),
        ShelfCommand::Uninstall {
            name,
            version,
            force,
        } => uninstall(&store, name, version.as_deref(), *force, output),
    }
}

fn list(store: &Store, output: &Output) -> Result<(), Failure> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for entry in store.entries()? {
        let version = version_text(&entry.version);
        match grouped.last_mut() {
            Some((name, versions)) if *name == entry.name => versions.push(version),
            _ => grouped.push((entry.name, vec![version])),
        }
    }
    if output.is_json() {
        let cookbooks: Vec<_> = grouped
            .iter()
            .map(|(name, versions)| serde_json::json!({"name": name, "versions": versions}))
            .collect();
        output.json(&serde_json::json!({ "cookbooks": cookbooks }));
    } else if grouped.is_empty() {
        output.line("There are no cookbooks in the larder shelf.");
    } else {
        output.line("Cookbooks in the larder shelf:");
        for (name, versions) in &grouped {
            output.line(&format!("  * {name} ({})", versions.join(", ")));
        }
    }
    Ok(())
}

/// The entries of `name`, optionally only `version`; none is exit 103.
fn entries_of(store: &Store, name: &str, version: Option<&str>) -> Result<Vec<Entry>, Failure> {
    let entries: Vec<Entry> = store
        .entries()?
        .into_iter()
        .filter(|e| e.name == name && version.is_none_or(|v| version_text(&e.version) == v))
        .collect();
    if entries.is_empty() {
        return Err(CacheError::NotInstalled {
            name: name.to_string(),
            version: version.unwrap_or("any version").to_string(),
        }
        .into());
    }
    Ok(entries)
}

fn show(store: &Store, name: &str, output: &Output) -> Result<(), Failure> {
    let stored: Vec<Stored> = entries_of(store, name, None)?
        .into_iter()
        .map(|e| Stored {
            version: version_text(&e.version),
            path: e.path,
        })
        .collect();
    if output.is_json() {
        output.json(&serde_json::json!({"name": name, "versions": stored}));
    } else {
        let rows: Vec<Vec<String>> = stored
            .iter()
            .map(|s| {
                vec![
                    format!("{name} ({})", s.version),
                    s.path.display().to_string(),
                ]
            })
            .collect();
        output.table(&rows);
    }
    Ok(())
}

fn uninstall(
    store: &Store,
    name: &str,
    version: Option<&str>,
    force: bool,
    output: &Output,
) -> Result<(), Failure> {
    let entries = entries_of(store, name, version)?;
    if !force {
        let (lock, _) = read_lock(Path::new("Berksfile"))?;
        let in_use = lock.and_then(|lock| lock.cookbooks.get(name).cloned());
        if let Some(locked) = in_use
            && entries
                .iter()
                .any(|e| version_text(&e.version) == locked.raw_version)
        {
            return Err(Failure::new(
                99,
                "in_use",
                format!(
                    "{name} ({}) is used by the lockfile in this directory; \
                     pass --force to remove it anyway",
                    locked.raw_version
                ),
            ));
        }
    }
    let mut removed = Vec::new();
    for entry in entries {
        let version = version_text(&entry.version);
        if store.remove(name, &version)? {
            if !output.is_json() {
                output.line(&format!("Successfully uninstalled {name} ({version})"));
            }
            removed.push(version);
        }
    }
    if output.is_json() {
        output.json(&serde_json::json!({"name": name, "removed": removed}));
    }
    Ok(())
}
