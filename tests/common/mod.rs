//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod azurite;
pub mod bundles;
pub mod files;
pub mod git;
pub mod hostile;
pub mod project;
pub mod s3;
pub mod server;
pub mod strace;

use std::path::PathBuf;

/// The switch `.ci/run` sets: with it, everything a test would otherwise
/// skip for (a missing tool, the missing shared data folder) is a failure.
pub const REQUIRE_SWITCH: &str = "LARDER_REQUIRE_TOOLS";

/// Whether a test that needs `what` may run: `true` when `present`;
/// otherwise a failure under [`REQUIRE_SWITCH`], or a skip message.
pub fn require(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os(REQUIRE_SWITCH).is_some() {
        panic!("{what} is required ({REQUIRE_SWITCH} is set; .ci/run installs it)");
    }
    eprintln!("skipped: {what} is not available");
    false
}

/// Whether `program` runs here, checked with `program ARG`.
pub fn tool_runs(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// A program a test cannot do without: the path in `$variable`, else
/// `name` on the PATH. Neither is a failure that says how to install it
/// (`install`), never a skip.
pub fn required_program(variable: &str, name: &str, install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} is required and is not installed; {install} (as .ci/run does), or set \
             {variable} to its path"
        )
    })
}

/// A loopback address of its own and a free port on it, for a server a
/// test starts, so that no other server started at the same time can take
/// the port between here and its start. `net` (the address's second
/// byte) keeps each kind of server apart.
pub fn own_loopback_port(net: u8) -> (std::net::Ipv4Addr, u16) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SERVERS: AtomicU32 = AtomicU32::new(0);
    let n = SERVERS.fetch_add(1, Ordering::Relaxed);
    let ip = std::net::Ipv4Addr::new(127, net, (n / 250 % 250) as u8, (n % 250 + 1) as u8);
    let port = std::net::TcpListener::bind((ip, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    (ip, port)
}

/// Waits up to `patience` until `child`, the server `name`, accepts
/// connections on `ip:port`; its exit or the wait running out is a failure.
pub fn wait_until_listening(
    child: &mut std::process::Child,
    name: &str,
    (ip, port): (std::net::Ipv4Addr, u16),
    patience: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + patience;
    while std::net::TcpStream::connect((ip, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited before it listened: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} did not listen on {ip}:{port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// [`require`] for a program on the PATH.
pub fn require_tool(program: &str, arg: &str) -> bool {
    require(tool_runs(program, arg), &format!("`{program}`"))
}

/// A file under `../shared/data` (the shared data folder sits beside the
/// repository), or `None` after [`require`] when it is not present.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    require(path.exists(), &path.display().to_string()).then_some(path)
}
