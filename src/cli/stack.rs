//! `larder stack`: the stacks of a bundle store and the bundle each one
//! runs: list, show, pin, promote, diff, history, rollback. Also the store
//! flags and the store opening that `publish` and `pull --stack` share.

use std::path::Path;

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::config::{Config, Overrides};
use crate::delivery::DeliveryError;
use crate::delivery::record::Pointer;
use crate::delivery::stack::{self, Change, Changed, Difference, Held, Side};
use crate::delivery::store::{Store, StoreSettings};

/// Which store, and whether changes keep the fixed-URL copy.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// The bundle store: s3://bucket/prefix, gs://, az://, file:///dir or a
    /// read-only http(s):// prefix [default: $LARDER_STORE, or [store] url].
    #[arg(long, value_name = "URL", global = true)]
    pub store: Option<String>,
}

/// Who makes a change, and why.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ChangeArgs {
    /// Who makes the change, recorded in the pointer [default: $USER, else
    /// $LOGNAME, else the account name].
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Why, recorded in the pointer and its history.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Also keep stacks/<name>/cookbooks.tar.gz (+ .sha256) a copy of the
    /// stack's bundle [default: [store] fixed_copy].
    #[arg(long)]
    pub fixed_copy: bool,
}

/// Arguments of `larder stack`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: StackCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum StackCommand {
    /// Every stack and the bundle it runs.
    List,
    /// A stack's bundle, its last change and its cookbooks.
    Show { name: String },
    /// Point a stack at a published bundle.
    Pin {
        name: String,
        /// The bundle's sha256 (or a unique prefix of 7 or more digits).
        digest: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Point stack TO at exactly the bundle stack FROM runs.
    Promote {
        from: String,
        to: String,
        /// Only if TO still runs this bundle (digest or prefix).
        #[arg(long, value_name = "DIGEST")]
        expect: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Cookbooks added, removed and changed from A to B (stacks or digests),
    /// or from A to the local lockfile with --lock.
    Diff {
        a: String,
        #[arg(required_unless_present = "lock")]
        b: Option<String>,
        /// Compare A with the project's lockfile.
        #[arg(long, conflicts_with = "b")]
        lock: bool,
        /// Exit with 1 when there are differences.
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// A stack's changes, newest first.
    History {
        name: String,
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Point a stack back at its previous bundle, or at --to DIGEST.
    Rollback {
        name: String,
        #[arg(long, value_name = "DIGEST")]
        to: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

/// The effective configuration for delivery commands.
fn config() -> Result<Config, Failure> {
    let home = crate::cache::home()?;
    Ok(Config::load(&home, Path::new("."), &Overrides::default())?)
}

/// Opens the store named by the flag, `LARDER_STORE` or `[store] url`; a
/// local store is created when `create` is set.
pub fn open_store(flag: Option<&str>, create: bool) -> Result<Store, Failure> {
    let config = config()?;
    let url = flag
        .map(str::to_string)
        .or_else(|| std::env::var("LARDER_STORE").ok().filter(|s| !s.is_empty()))
        .or(config.store_url.value)
        .ok_or(DeliveryError::NoStore)?;
    let settings = StoreSettings {
        endpoint: config.store_endpoint.value,
        multipart_threshold: config.multipart_threshold.value,
    };
    Ok(Store::open(&url, &settings, create)?)
}

/// The change's author, reason and fixed-copy choice.
pub fn change_of(args: &ChangeArgs) -> Result<Change, Failure> {
    let by = args
        .by
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(login_name)
        .unwrap_or_else(|| "unknown".to_string());
    Ok(Change {
        by,
        reason: args.reason.clone(),
        fixed_copy: args.fixed_copy || config()?.fixed_copy.value,
    })
}

/// Who runs larder: `$USER` or `$LOGNAME`, else the name the account
/// database gives this process's user (as `whoami` prints it), which is
/// all a container or a service often has.
fn login_name() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .or_else(account_name)
}

/// This process's user's name in the account database.
fn account_name() -> Option<String> {
    // SAFETY (all three blocks): `passwd` is plain data, for which zeroes
    // are a valid value; getpwuid_r writes the entry's strings into
    // `buffer`, whose length it is given, and sets `found` to `&mut entry`
    // or null; the name is read, as a C string getpwuid_r ended, only
    // while `buffer` lives.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0u8; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let status = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    name.to_str()
        .ok()
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// The first 12 hex digits of a digest.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Runs `larder stack`.
pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let flag = args.store.store.as_deref();
    match &args.command {
        StackCommand::List => {
            let store = open_store(flag, false)?;
            let stacks = stack::list(&store)?;
            if output.is_json() {
                output.json(&serde_json::json!({ "store": store.url(), "stacks": stacks }));
                return Ok(());
            }
            if stacks.is_empty() {
                output.line(&format!("No stacks in {}", store.url()));
                return Ok(());
            }
            let mut rows = vec![vec![
                "STACK".to_string(),
                "BUNDLE".to_string(),
                "CHANGED".to_string(),
                "BY".to_string(),
                "HOW".to_string(),
            ]];
            rows.extend(stacks.iter().map(|p| {
                vec![
                    p.stack.clone(),
                    short(&p.bundle).to_string(),
                    p.changed_at.clone(),
                    p.by.clone(),
                    how(p),
                ]
            }));
            output.table(&rows);
        }
        StackCommand::Show { name } => {
            let store = open_store(flag, false)?;
            let pointer = stack::show(&store, name)?;
            let record = stack::bundle_record(&store, &pointer.bundle)?;
            if output.is_json() {
                output.json(&serde_json::json!({ "pointer": pointer, "bundle": record }));
                return Ok(());
            }
            output.line(&format!("Stack {name} runs bundle {}", pointer.bundle));
            output.line(&format!(
                "  changed {} by {} ({})",
                pointer.changed_at,
                pointer.by,
                how(&pointer)
            ));
            if let Some(reason) = &pointer.reason {
                output.line(&format!("  reason: {reason}"));
            }
            if let Some(previous) = &pointer.previous {
                output.line(&format!("  previous bundle: {previous}"));
            }
            output.line(&format!(
                "  published {} by {}{}",
                record.published_at,
                record.provenance.by,
                record
                    .provenance
                    .commit
                    .as_deref()
                    .map_or_else(String::new, |c| format!(" from commit {c}"))
            ));
            let rows: Vec<Vec<String>> = record
                .cookbooks
                .iter()
                .map(|c| vec![format!("  * {}", c.name), format!("({})", c.version)])
                .collect();
            output.table(&rows);
        }
        StackCommand::Pin {
            name,
            digest,
            change,
        } => {
            let store = open_store(flag, false)?;
            let done = stack::pin(&store, name, digest, &change_of(change)?)?;
            report_change(output, &done);
        }
        StackCommand::Promote {
            from,
            to,
            expect,
            change,
        } => {
            let store = open_store(flag, false)?;
            let done = stack::promote(&store, from, to, expect.as_deref(), &change_of(change)?)?;
            report_change(output, &done);
        }
        StackCommand::Rollback { name, to, change } => {
            let store = open_store(flag, false)?;
            let done = stack::rollback(&store, name, to.as_deref(), &change_of(change)?)?;
            report_change(output, &done);
        }
        StackCommand::History { name, limit } => {
            let store = open_store(flag, false)?;
            let entries = stack::history(&store, name, *limit)?;
            if output.is_json() {
                output.json(&serde_json::json!({ "stack": name, "history": entries }));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|p| {
                    vec![
                        format!("#{}", p.seq),
                        p.changed_at.clone(),
                        short(&p.bundle).to_string(),
                        how(p),
                        p.by.clone(),
                        p.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output.table(&rows);
        }
        StackCommand::Diff {
            a,
            b,
            lock,
            exit_code,
            project,
        } => {
            let store = open_store(flag, false)?;
            let left = stack::side(&store, a)?;
            let right = match b {
                Some(b) if !lock => stack::side(&store, b)?,
                _ => lock_side(project, output)?,
            };
            let difference = stack::diff(&left, &right);
            print_diff(output, &left, &right, &difference);
            if *exit_code && !difference.is_empty() {
                return Err(Failure::new(
                    1,
                    "different",
                    format!("{} and {} differ", left.label, right.label),
                )
                .after_result());
            }
        }
    }
    Ok(())
}

/// The project's lockfile as a diff side (checked as `--locked` would).
fn lock_side(project: &ProjectArgs, output: &Output) -> Result<Side, Failure> {
    let locked = locked(project, output)?;
    Ok(Side {
        label: locked.lock_path.display().to_string(),
        bundle: None,
        cookbooks: locked
            .lock
            .cookbooks
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    Held {
                        version: c.raw_version.clone(),
                        tree: None,
                    },
                )
            })
            .collect(),
    })
}

/// How a pointer got its bundle, in a few words.
fn how(pointer: &Pointer) -> String {
    match &pointer.from {
        Some(from) => format!("{} from {from}", pointer.action),
        None => pointer.action.to_string(),
    }
}

/// Prints what a pin, promote or rollback did.
pub fn report_change(output: &Output, done: &Changed) {
    if output.is_json() {
        output.json(done);
        return;
    }
    let pointer = &done.pointer;
    if !done.changed {
        output.line(&format!(
            "Stack {} already runs bundle {}; nothing changed",
            pointer.stack,
            short(&pointer.bundle)
        ));
        return;
    }
    let was = pointer
        .previous
        .as_deref()
        .map_or_else(|| "nothing".to_string(), |p| short(p).to_string());
    output.line(&format!(
        "Stack {} now runs bundle {} (was {was}; change #{}, {})",
        pointer.stack,
        short(&pointer.bundle),
        pointer.seq,
        how(pointer)
    ));
}

fn print_diff(output: &Output, a: &Side, b: &Side, difference: &Difference) {
    if output.is_json() {
        output.json(&serde_json::json!({
            "from": a,
            "to": b,
            "added": difference.added,
            "removed": difference.removed,
            "changed": difference.changed,
            "unchanged": difference.unchanged,
        }));
        return;
    }
    let name = |side: &Side| match &side.bundle {
        Some(digest) if !side.label.starts_with("sha256:") => {
            format!("{} ({})", side.label, short(digest))
        }
        _ => side.label.clone(),
    };
    output.line(&format!("{} -> {}", name(a), name(b)));
    let mut rows = Vec::new();
    for c in &difference.added {
        rows.push(vec![format!("  + {}", c.name), c.version.clone()]);
    }
    for c in &difference.removed {
        rows.push(vec![format!("  - {}", c.name), c.version.clone()]);
    }
    for c in &difference.changed {
        let change = if c.content_only {
            format!("{} (same version, different files)", c.to)
        } else {
            format!("{} -> {}", c.from, c.to)
        };
        rows.push(vec![format!("  ~ {}", c.name), change]);
    }
    output.table(&rows);
    output.line(&format!(
        "{} added, {} removed, {} changed, {} unchanged",
        difference.added.len(),
        difference.removed.len(),
        difference.changed.len(),
        difference.unchanged
    ));
}
