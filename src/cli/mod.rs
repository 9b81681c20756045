//! Command-line commands: one file per command, each an argument struct
//! (clap derive) and a `run` function that wires library calls together and
//! prints.

pub mod package;
pub mod pull;
pub mod verify_bundle;
