//! `larder completions SHELL`: a completion script for bash, zsh, fish,
//! elvish or PowerShell on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "larder", &mut std::io::stdout());
    Ok(())
}
