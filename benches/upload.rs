//! Upload benchmark: `larder upload` of 50 path cookbooks (12 files each)
//! to goiardi, a Chef Infra Server, on loopback: cold (an empty server:
//! every file goes through the sandbox) and again with nothing changed
//! (no file bytes sent). Each cold run gets a fresh goiardi.
//!
//! Run: `cargo bench --bench upload` (goiardi must be installed).

#[path = "support/timing.rs"]
mod timing;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use timing::{median, ms, time_command};

const COOKBOOKS: usize = 50;
const RUNS: usize = 5;

/// Writes `COOKBOOKS` path cookbooks and a Berksfile naming them all.
fn write_project(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let mut berksfile = String::new();
    for i in 0..COOKBOOKS {
        let cookbook = dir.join(format!("cookbooks/cb{i:02}"));
        for sub in [
            "recipes",
            "attributes",
            "templates/default",
            "files/default",
        ] {
            std::fs::create_dir_all(cookbook.join(sub)).unwrap();
        }
        let depends = if i > 0 {
            format!("depends 'cb{:02}'\n", i - 1)
        } else {
            String::new()
        };
        std::fs::write(
            cookbook.join("metadata.rb"),
            format!("name 'cb{i:02}'\nversion '1.0.0'\n{depends}"),
        )
        .unwrap();
        for r in 0..4 {
            let recipe: String = (0..100)
                .map(|n| format!("package 'pkg-{i}-{r}-{n}'\n"))
                .collect();
            std::fs::write(cookbook.join(format!("recipes/r{r}.rb")), recipe).unwrap();
        }
        for a in 0..2 {
            std::fs::write(
                cookbook.join(format!("attributes/a{a}.rb")),
                format!("default['cb{i}']['a{a}'] = {a}\n"),
            )
            .unwrap();
        }
        for t in 0..3 {
            std::fs::write(
                cookbook.join(format!("templates/default/t{t}.erb")),
                format!("# cb{i} template {t}\n<%= @value %>\n").repeat(20),
            )
            .unwrap();
        }
        std::fs::write(
            cookbook.join("files/default/blob.bin"),
            vec![i as u8; 16 * 1024],
        )
        .unwrap();
        std::fs::write(cookbook.join("README.md"), format!("# cb{i:02}\n")).unwrap();
        berksfile.push_str(&format!(
            "cookbook 'cb{i:02}', path: 'cookbooks/cb{i:02}'\n"
        ));
    }
    std::fs::write(dir.join("Berksfile"), berksfile).unwrap();
}

/// A goiardi on a free loopback port, with its data under `dir`.
fn goiardi(dir: &Path) -> (Child, String) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("lfs")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("goiardi")
        .args(["-I", "127.0.0.1", "-H", "127.0.0.1", "-A"])
        .args(["-P", &port.to_string()])
        .arg("--conf-root")
        .arg(dir)
        .arg("--local-filestore-dir")
        .arg(dir.join("lfs"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("goiardi is installed (apt-get install -y goiardi)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(dir.join("admin.pem").is_file()
        && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    {
        assert!(Instant::now() < deadline, "goiardi did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

fn main() {
    let larder = env!("CARGO_BIN_EXE_larder");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/upload");
    let project = data.join("project");
    let home = data.join("home");
    write_project(&project);
    let run = |args: &[&str], server: &str, key: &Path| {
        let mut command = Command::new(larder);
        command
            .args(args)
            .args(["-q", "--server-url", server, "--client-name", "admin"])
            .arg("--client-key")
            .arg(key)
            .current_dir(&project)
            .env("LARDER_HOME", &home)
            .env("HOME", &home);
        command
    };
    let status = Command::new(larder)
        .args(["install", "-q"])
        .current_dir(&project)
        .env("LARDER_HOME", &home)
        .status()
        .unwrap();
    assert!(status.success(), "larder install failed");

    let mut cold = Vec::new();
    let mut unchanged = Vec::new();
    for n in 0..RUNS {
        let dir = data.join(format!("goiardi-{n}"));
        let (mut child, url) = goiardi(&dir);
        let key = dir.join("admin.pem");
        cold.push(time_command(1, || {
            run(&["upload", "--no-freeze"], &url, &key)
        }));
        unchanged.push(time_command(1, || {
            run(&["upload", "--no-freeze"], &url, &key)
        }));
        let _ = child.kill();
        let _ = child.wait();
    }
    let files: usize = COOKBOOKS * 12;
    println!("| upload to goiardi on loopback | cookbooks | files | median of {RUNS} |");
    println!("|---|---|---|---|");
    println!(
        "| cold (empty server) | {COOKBOOKS} | {files} | {} |",
        ms(median(cold))
    );
    println!(
        "| again, nothing changed (no file bytes sent) | {COOKBOOKS} | {files} | {} |",
        ms(median(unchanged))
    );
}
