//! The command line: argument structs (clap derive), one file per command,
//! and the conversion of every failure into a message and Berkshelf's exit
//! code.

mod apply;
mod completions;
mod config;
mod contingent;
mod failure;
mod info;
mod install;
mod list;
mod manifest;
mod outdated;
mod output;
pub mod package;
mod publish;
pub mod pull;
mod resolve;
mod search;
mod serve;
mod shelf;
mod show;
mod stack;
mod tree;
mod upload;
mod vendor;
mod verify;
pub mod verify_bundle;
mod version;
mod viz;
mod why;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use failure::Failure;
pub use output::{Format, Output};

/// Resolve Chef cookbook dependencies and bundle them, fast and verified.
#[derive(Parser, Debug)]
#[command(name = "larder", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Without a command, larder installs, as `berks` does.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Output format for results.
    #[arg(long, short = 'F', global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print only errors.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Explain more: data left out of indexes, timings, decisions.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Resolve the Berksfile, write the lockfile and fill the cookbook store.
    #[command(visible_alias = "in")]
    Install(install::InstallArgs),
    /// Resolve again: everything, or only the named cookbooks (and what only
    /// they needed); every other lock stays.
    #[command(visible_alias = "up")]
    Update(install::UpdateArgs),
    /// Pick versions for demands from a cookbook universe file.
    Resolve(resolve::Args),
    /// Install, then copy every resolved cookbook into PATH/<name>/.
    Vendor(vendor::Args),
    /// Install and pack the cookbooks into a reproducible, checksummed bundle.
    Package(package::Args),
    /// Fetch a bundle, verify it and switch a cookbook directory to it.
    Pull(pull::Args),
    /// Check a bundle against its .sha256 file and its manifest.
    VerifyBundle(verify_bundle::Args),
    /// Serve a directory of cookbooks as a Supermarket-compatible registry.
    Serve(serve::Args),
    /// Locked cookbooks with newer versions in the Berksfile's sources.
    Outdated(outdated::Args),
    /// Every locked cookbook with its version and source.
    #[command(visible_alias = "ls")]
    List(list::Args),
    /// Where a locked cookbook's files are.
    Show(show::Args),
    /// A locked cookbook's metadata.
    Info(info::Args),
    /// The locked cookbooks that depend on a cookbook.
    Contingent(contingent::Args),
    /// Every chain of dependencies that leads to a cookbook.
    Why(why::Args),
    /// The locked dependency tree.
    Tree(tree::Args),
    /// Search a Supermarket for cookbooks.
    Search(search::Args),
    /// Check the installed cookbooks against the lock.
    Verify(verify::Args),
    /// Draw the locked dependency graph (DOT, SVG or PNG).
    Viz(viz::Args),
    /// What the global cookbook store holds; remove entries.
    Shelf(shelf::Args),
    /// Pin the locked versions in a Chef environment file, or with --server
    /// in an environment on a Chef Server.
    Apply(apply::Args),
    /// Upload the locked cookbooks to a Chef Server.
    Upload(upload::Args),
    /// The effective configuration and where each value came from.
    Config(config::Args),
    /// How larder reads the Berksfile (or, with --metadata, a cookbook's
    /// metadata), without resolving or touching the network.
    Manifest(manifest::Args),
    /// Print larder's version.
    #[command(visible_alias = "ver")]
    Version,
    /// A shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Upload a bundle to a bundle store (packing the lock when none is
    /// given), and optionally point a stack at it.
    Publish(publish::Args),
    /// The stacks of a bundle store: list, show, pin, promote, diff,
    /// history, rollback.
    Stack(stack::Args),
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let output = Output::new(&cli.global);
    let command = match cli.command {
        Some(command) => command,
        None => match install::InstallArgs::defaults() {
            Ok(args) => Command::Install(args),
            Err(failure) => {
                output.failure(&failure);
                return ExitCode::from(failure.code);
            }
        },
    };
    let result = match &command {
        Command::Install(args) => install::run_install(args, &output),
        Command::Update(args) => install::run_update(args, &output),
        Command::Resolve(args) => resolve::run(args, &output),
        Command::Vendor(args) => vendor::run(args, &output),
        Command::Package(args) => package::run(args, &output),
        Command::Pull(args) => pull::run(args, &output),
        Command::VerifyBundle(args) => verify_bundle::run(args, &output).map_err(Failure::from),
        Command::Serve(args) => serve::run(args, &output),
        Command::Outdated(args) => outdated::run(args, &output),
        Command::List(args) => list::run(args, &output),
        Command::Show(args) => show::run(args, &output),
        Command::Info(args) => info::run(args, &output),
        Command::Contingent(args) => contingent::run(args, &output),
        Command::Why(args) => why::run(args, &output),
        Command::Tree(args) => tree::run(args, &output),
        Command::Search(args) => search::run(args, &output),
        Command::Verify(args) => verify::run(args, &output),
        Command::Viz(args) => viz::run(args, &output),
        Command::Shelf(args) => shelf::run(args, &output),
        Command::Apply(args) => apply::run(args, &output),
        Command::Upload(args) => upload::run(args, &output),
        Command::Config(args) => config::run(args, &output),
        Command::Manifest(args) => manifest::run(args, &output),
        Command::Version => version::run(&output),
        Command::Completions(args) => completions::run(args, &output),
        Command::Publish(args) => publish::run(args, &output),
        Command::Stack(args) => stack::run(args, &output),
    };
    match result.and_then(|()| output.finish()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output.failure(&failure);
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
