//! The command line: argument structs (clap derive), one file per command,
//! and the conversion of every failure into a message and Berkshelf's exit
//! code.

mod failure;
mod install;
mod output;
pub mod package;
pub mod pull;
mod resolve;
mod serve;
mod vendor;
pub mod verify_bundle;

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
    #[command(subcommand)]
    pub command: Command,
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
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let output = Output::new(&cli.global);
    let result = match &cli.command {
        Command::Install(args) => install::run_install(args, &output),
        Command::Update(args) => install::run_update(args, &output),
        Command::Resolve(args) => resolve::run(args, &output),
        Command::Vendor(args) => vendor::run(args, &output),
        Command::Package(args) => package::run(args, &output),
        Command::Pull(args) => pull::run(args).map_err(Failure::from),
        Command::VerifyBundle(args) => verify_bundle::run(args).map_err(Failure::from),
        Command::Serve(args) => serve::run(args, &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output.failure(&failure);
            ExitCode::from(failure.code)
        }
    }
}
