//! Bundle benchmark: generates a ~200 MB cookbook tree deterministically
//! (half generated Ruby-like text, half incompressible bytes), then times
//! `package` (all cores and one thread, checking that every run gives the
//! same bytes) against `tar czf` of the same tree, and `pull` of the bundle
//! from a loopback HTTP server.
//!
//! Run: `cargo run --release --example bench_bundle [-- SIZE_MB]`

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use larder::bundle::package::{self, CookbookInfo, Destination, PackageRequest};
use larder::bundle::pull::{self, PullOptions};

const WORDS: &[&str] = &[
    "package",
    "service",
    "template",
    "node",
    "default",
    "action",
    "notifies",
    "restart",
    "cookbook_file",
    "execute",
    "only_if",
    "not_if",
    "attribute",
    "recipe",
    "include_recipe",
    "user",
    "group",
    "mode",
    "owner",
    "variables",
    "source",
    "directory",
    "recursive",
    "true",
    "false",
    "do",
    "end",
    "'/etc/app'",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let word = WORDS[(rng.next() % WORDS.len() as u64) as usize];
        out.extend_from_slice(word.as_bytes());
        out.push(if rng.next().is_multiple_of(8) {
            b'\n'
        } else {
            b' '
        });
    }
    out
}

fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes 20 cookbooks totalling about `total` bytes; returns their names.
fn generate(root: &Path, total: usize) -> std::io::Result<Vec<CookbookInfo>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let per_cookbook = total / 20;
    let mut cookbooks = Vec::new();
    for c in 0..20 {
        let name = format!("cookbook{c:02}");
        let dir = root.join(&name);
        fs::create_dir_all(dir.join("recipes"))?;
        fs::create_dir_all(dir.join("files/default"))?;
        fs::write(
            dir.join("metadata.rb"),
            format!("name '{name}'\nversion '1.0.{c}'\n"),
        )?;
        // Half text in 4-64 KiB files, half binary in 1-4 MiB files.
        let mut written = 0;
        let mut i = 0;
        while written < per_cookbook / 2 {
            let len = 4096 + (rng.next() % 60_000) as usize;
            fs::write(dir.join(format!("recipes/r{i:04}.rb")), text(&mut rng, len))?;
            written += len;
            i += 1;
        }
        let mut j = 0;
        while written < per_cookbook {
            let len = ((1 << 20) + (rng.next() % (3 << 20)) as usize).min(per_cookbook - written);
            fs::write(
                dir.join(format!("files/default/blob{j:02}.bin")),
                noise(&mut rng, len),
            )?;
            written += len;
            j += 1;
        }
        cookbooks.push(CookbookInfo {
            name,
            version: format!("1.0.{c}"),
            source: "https://supermarket.chef.io".into(),
        });
    }
    Ok(cookbooks)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size_mb: usize = std::env::args().nth(1).map_or(Ok(200), |s| s.parse())?;
    let work = tempfile::tempdir()?;
    let tree = work.path().join("vendored");
    let started = Instant::now();
    let cookbooks = generate(&tree, size_mb << 20)?;
    let tree_bytes: u64 = walkdir::WalkDir::new(&tree)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "generated {:.1} MB in {}",
        tree_bytes as f64 / 1e6,
        secs(started.elapsed())
    );

    // Flush the fresh tree to disk so that writeback does not land in the
    // first timing.
    Command::new("sync").status()?;
    let threads = package::available_threads();
    let mut runs = Vec::new();
    for (label, t) in [
        ("package (all cores)", threads),
        ("package (1 thread)", 1),
        ("package (all cores, again)", threads),
    ] {
        let out = work.path().join(format!("out-{}", runs.len()));
        fs::create_dir_all(&out)?;
        let request = PackageRequest {
            cookbooks_dir: &tree,
            cookbooks: &cookbooks,
            lock_digest: "bench",
            destination: Destination::Dir(out),
            mtime: package::DEFAULT_EPOCH,
            threads: t,
        };
        let started = Instant::now();
        let packaged = package::package(&request)?;
        let elapsed = started.elapsed();
        let size = fs::metadata(&packaged.archive)?.len();
        println!(
            "{label}: {} ({} threads), {:.1} MB, sha256 {}",
            secs(elapsed),
            t,
            size as f64 / 1e6,
            &packaged.sha256[..12]
        );
        runs.push(packaged);
    }
    let reproducible = runs.iter().all(|r| r.sha256 == runs[0].sha256);
    println!("reproducible across runs and thread counts: {reproducible}");

    let tar_out = work.path().join("tar.tar.gz");
    let started = Instant::now();
    let ok = Command::new("tar")
        .arg("czf")
        .arg(&tar_out)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()?
        .success();
    let tar_time = started.elapsed();
    println!(
        "tar czf: {} (succeeded: {ok}), {:.1} MB",
        secs(tar_time),
        fs::metadata(&tar_out)?.len() as f64 / 1e6
    );

    let bundle = &runs[0];
    let dir = bundle
        .archive
        .parent()
        .ok_or("bundle has no parent")?
        .to_path_buf();
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = server.server_addr().to_ip().ok_or("no port")?.port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let path = dir.join(request.url().trim_start_matches('/'));
            match fs::File::open(&path) {
                Ok(file) => drop(request.respond(tiny_http::Response::from_file(file))),
                Err(_) => drop(request.respond(tiny_http::Response::empty(404))),
            }
        }
    });
    let name = bundle
        .archive
        .file_name()
        .ok_or("no name")?
        .to_string_lossy()
        .into_owned();
    let url = format!("http://127.0.0.1:{port}/{name}");
    let into = work.path().join("srv/cookbooks");
    fs::create_dir_all(into.parent().ok_or("no parent")?)?;
    let started = Instant::now();
    pull::pull(&url, &into, &PullOptions::default())?;
    println!(
        "pull (loopback http, sidecar, verify, unpack, switch): {}",
        secs(started.elapsed())
    );
    let started = Instant::now();
    let again = pull::pull(&url, &into, &PullOptions::default())?;
    let in_place = matches!(again, pull::PullOutcome::AlreadyInPlace { .. });
    println!(
        "pull again (already in place: {in_place}): {}",
        secs(started.elapsed())
    );
    Ok(())
}
