//! The `larder` binary: parses the command line and dispatches to `cli/`.
//! (Bundle commands only on this branch; the full dispatch is merged with
//! the other commands.)

use clap::{Parser, Subcommand};
use larder::cli;

#[derive(Parser)]
#[command(name = "larder", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack vendored cookbooks into a reproducible, checksummed bundle.
    Package(cli::package::Args),
    /// Fetch a bundle, verify it and switch a cookbook directory to it.
    Pull(cli::pull::Args),
    /// Check a bundle against its .sha256 file and its manifest.
    VerifyBundle(cli::verify_bundle::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Package(args) => cli::package::run(args),
        Command::Pull(args) => cli::pull::run(args),
        Command::VerifyBundle(args) => cli::verify_bundle::run(args),
    };
    if let Err(error) = result {
        eprintln!("larder: {error}");
        std::process::exit(error.kind().exit_code());
    }
}
