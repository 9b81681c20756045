//! A real `larder serve` on loopback for integration tests: spawns the
//! binary on a free port, reads the URL from its first line of output, and
//! stops it when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `larder serve DIR --listen 127.0.0.1:0`.
pub struct Server {
    /// The registry's base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    pub child: Child,
}

impl Server {
    /// Starts serving `dir` and waits until the server prints its URL.
    /// Panics (failing the test) if it does not start.
    pub fn start(dir: impl AsRef<Path>) -> Server {
        Server::start_with(dir, &[], &[])
    }

    /// [`Server::start`] run through `wrapper` (such as `prlimit
    /// --nofile=256 --`), with `args` added to `larder serve`.
    pub fn start_with(dir: impl AsRef<Path>, wrapper: &[&str], args: &[&str]) -> Server {
        let dir = dir.as_ref();
        let larder = env!("CARGO_BIN_EXE_larder");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(larder);
                command
            }
            None => Command::new(larder),
        };
        let mut child = command
            .arg("serve")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("larder serve starts");
        let stdout = child.stdout.take().expect("larder serve has a stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let url = line
            .trim_end()
            .rsplit_once(" at ")
            .map(|(_, url)| url.to_string())
            .filter(|url| url.starts_with("http://127.0.0.1:"));
        match url {
            Some(url) if line.starts_with("Serving ") => Server { url, child },
            _ => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "larder serve {} did not print its URL (read {read:?}: {line:?}; exit {status:?})",
                    dir.display()
                );
            }
        }
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
