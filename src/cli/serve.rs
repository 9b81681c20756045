//! `larder serve DIR`: serve a registry directory as a Supermarket-compatible
//! registry on loopback.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Failure, Output};
use crate::serve::Server;

/// How many requests are answered at once.
const THREADS: usize = 4;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory of cookbook folders and/or `.tar.gz` files (or holding a
    /// pre-built `universe.json`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The loopback address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:26310")]
    pub listen: SocketAddr,
    /// Print one line per request to stderr.
    #[arg(long)]
    pub log: bool,
    /// Seconds a client has to send its request headers before the
    /// connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// The URL clients reach the registry at, when that is not the address
    /// it listens on (a TLS proxy in front of it, say): the universe's
    /// download URLs and redirects start with it.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<reqwest::Url>,
}

/// Binds, prints `Serving N cookbook versions from DIR at URL` as the first
/// line of stdout, and answers requests until the process is stopped.
pub fn run(args: &Args, _output: &Output) -> Result<(), Failure> {
    let server = Server::bind(&args.dir, args.listen, args.public_url.as_ref())
        .map_err(|e| Failure::new(e.exit_code(), "serve", e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    // The line is the contract with scripts and tests: printed even with
    // --quiet, and flushed before the first request is answered.
    let _ = writeln!(
        stdout,
        "Serving {} cookbook versions from {} at {}",
        server.version_count(),
        args.dir.display(),
        server.url()
    );
    let _ = stdout.flush();
    drop(stdout);
    server
        .run(
            THREADS,
            args.log,
            std::time::Duration::from_secs(args.header_timeout),
        )
        .map_err(|e| Failure::new(e.exit_code(), "serve", e.to_string()))
}
