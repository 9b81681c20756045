//! The `larder` binary: parses the command line and hands it to `cli::run`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    larder::cli::run(larder::cli::Cli::parse())
}
