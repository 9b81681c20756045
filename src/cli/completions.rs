//! `larder completions SHELL`: a completion script for bash, zsh, fish,
//! elvish or PowerShell on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Failure, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "larder", &mut script);
    output.write(&script);
    Ok(())
}
