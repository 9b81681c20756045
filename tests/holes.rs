//! Holes in what larder trusts on the local side, through the binary: pull
//! errors never show a bundle URL's credentials, corrupt gzip streams are
//! refused by `install` and `pull` (exit 154, like any refused archive), a
//! lock cannot point a cookbook outside the project, no lock is written
//! beside a Berksfile that is not a regular file, links planted in store
//! entries are caught, and a lost stdout never panics.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;
use common::bundles::{bundle, entries, publish};
use common::files::serve;
use common::project::{Project, fixtures};
use common::server::Server;

fn larder() -> Command {
    let mut command = Command::cargo_bin("larder").unwrap();
    command.env_remove("SOURCE_DATE_EPOCH");
    command
}

/// A `.tar.gz` of the given entries.
fn tar_gz(entries: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (mut header, data) in entries {
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The same gzip stream with its CRC-32 (the first half of the 8-byte
/// trailer) wrong.
fn wrong_crc(bytes: &[u8]) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    let crc = damaged.len() - 8;
    damaged[crc] ^= 0xff;
    damaged
}

/// The same gzip stream without its trailer.
fn cut_trailer(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len() - 8].to_vec()
}

#[test]
fn pull_errors_never_show_the_credentials_in_the_bundle_url() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let good = bundle(tmp.path(), "a");
    publish(&site, "good.tar.gz", &good);
    fs::write(site.join("unsigned.tar.gz"), &good).unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_path("cookbooks/app/etc").unwrap();
    link.set_link_name("/etc").unwrap();
    link.set_mode(0o777);
    link.set_size(0);
    publish(&site, "hostile.tar.gz", &tar_gz(vec![(link, Vec::new())]));
    let forged: Vec<_> = entries(&good)
        .into_iter()
        .map(|(header, data)| {
            if header.path().unwrap().ends_with("recipes/default.rb") {
                (header, b"log 'z'\n".to_vec())
            } else {
                (header, data)
            }
        })
        .collect();
    publish(&site, "forged.tar.gz", &tar_gz(forged));
    let base = serve(site.clone(), None);
    let secret = "s3cret-token";
    let with_secret = base.replace("http://", &format!("http://deploy:{secret}@"));

    let cases: [(&str, &[&str], i32, &str); 4] = [
        ("unsigned.tar.gz", &[], 152, "no expected sha256"),
        ("good.tar.gz", &["--sha256", &"1".repeat(64)], 153, "but"),
        ("hostile.tar.gz", &[], 154, "links are not allowed"),
        ("forged.tar.gz", &[], 155, "does not match its manifest"),
    ];
    for (name, extra, code, message) in cases {
        for format in ["human", "json"] {
            let into = tmp.path().join(format!("into-{name}-{format}"));
            let output = larder()
                .args(["--format", format, "pull"])
                .arg(format!("{with_secret}/{name}"))
                .arg("--into")
                .arg(&into)
                .args(extra)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(code), "{name}: {stderr}");
            assert!(stderr.contains(message), "{name}: {stderr}");
            assert!(
                stderr.contains("127.0.0.1:") && stderr.contains(name),
                "{name}: the error should still name the URL: {stderr}"
            );
            assert!(
                !stderr.contains(secret) && !stdout.contains(secret),
                "{name} ({format}) shows the credentials: {stderr}{stdout}"
            );
        }
    }
}

#[test]
fn pull_refuses_a_bundle_whose_gzip_checksum_or_trailer_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let good = bundle(tmp.path(), "a");
    for (name, damaged) in [
        ("crc.tar.gz", wrong_crc(&good)),
        ("cut.tar.gz", cut_trailer(&good)),
    ] {
        let path = publish(&site, name, &damaged);
        let into = tmp.path().join(format!("into-{name}"));
        let output = larder()
            .arg("pull")
            .arg(&path)
            .arg("--into")
            .arg(&into)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(154), "{name}: {stderr}");
        assert!(stderr.contains("corrupt or truncated"), "{name}: {stderr}");
        assert!(!into.exists(), "{name} was switched to");
    }
    let path = publish(&site, "good.tar.gz", &good);
    larder()
        .arg("pull")
        .arg(&path)
        .arg("--into")
        .arg(tmp.path().join("into-good"))
        .assert()
        .success();
}

/// A `.tar.gz` of the fixture cookbook `base 1.0.0`, in one `base/` folder
/// as Supermarket packs cookbooks.
fn base_tarball() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder
        .append_dir_all("base", fixtures().join("base-1.0.0"))
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn install_refuses_a_cookbook_tarball_whose_gzip_checksum_or_trailer_is_wrong() {
    let good = base_tarball();
    for (label, damaged) in [
        ("checksum", wrong_crc(&good)),
        ("trailer", cut_trailer(&good)),
    ] {
        let project = Project::new();
        let registry = project.path("registry");
        fs::create_dir_all(&registry).unwrap();
        fs::write(registry.join("base-1.0.0.tar.gz"), &damaged).unwrap();
        project.write(
            "Berksfile",
            &format!("source 'file://{}'\ncookbook 'base'\n", registry.display()),
        );
        let output = project.larder(&["install"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(154), "{label}: {stderr}");
        assert!(
            stderr.contains("base (1.0.0)") && stderr.contains("corrupt or truncated"),
            "{label}: {stderr}"
        );
        assert!(!project.path("larder.lock").exists(), "{label}");
        assert!(!project.stored("base", "1.0.0").exists(), "{label}");
    }
}

#[test]
fn a_lock_pointing_a_cookbook_outside_the_project_is_refused() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'packages', '= 1.0.0'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    let (head, base) = lock.split_once("[cookbook.base]").unwrap();
    let (base, rest) = base.split_once("\n\n").unwrap();
    let moved: String = base
        .lines()
        .map(|line| {
            if line.starts_with("source = ") {
                "path = \"/etc\"\n".to_string()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let hostile = format!("{head}[cookbook.base]{moved}\n{rest}");
    assert!(hostile.contains("path = \"/etc\""), "{hostile}");
    project.write("larder.lock", &hostile);

    for command in [&["install"][..], &["verify"], &["vendor", "out"]] {
        let output = project.larder(command).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(136), "{command:?}: {stderr}");
        assert!(
            stderr.contains("larder.lock") && stderr.contains("'base' has path '/etc'"),
            "{command:?}: {stderr}"
        );
    }
    assert_eq!(project.read("larder.lock"), hostile);
    assert!(!project.path("out").exists());
}

#[test]
fn a_lock_is_written_only_beside_a_regular_berksfile() {
    let project = Project::new();
    std::os::unix::fs::symlink("/dev/null", project.path("Berksfile")).unwrap();
    let output = project.larder(&["install"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(!project.path("larder.lock").exists());

    let beside_dev_null = Path::new("/dev/larder.lock");
    let _ = fs::remove_file(beside_dev_null);
    let output = project
        .larder(&["install", "--berksfile", "/dev/null"])
        .output()
        .unwrap();
    let written = beside_dev_null.exists();
    let _ = fs::remove_file(beside_dev_null);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !written,
        "install --berksfile /dev/null wrote /dev/larder.lock"
    );
}

#[test]
fn a_link_planted_in_a_store_entry_fails_install_verify_and_vendor() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'base', '= 1.0.0'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let planted = project.stored("base", "1.0.0").join("recipes/passwd.rb");
    std::os::unix::fs::symlink("/etc/passwd", &planted).unwrap();

    let output = project.larder(&["install"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.contains("passwd.rb") && stderr.contains("symbolic link"),
        "{stderr}"
    );

    let output = project.larder(&["verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(124), "{output:?}");
    assert!(
        stdout.contains("passwd.rb") && stdout.contains("symbolic link"),
        "{stdout}"
    );

    let output = project.larder(&["vendor", "out"]).output().unwrap();
    assert_eq!(output.status.code(), Some(124), "{output:?}");
    assert!(!project.path("out/base/recipes/passwd.rb").exists());
}

/// A project installed from `server`, bundles pulled into a directory
/// twice (so that it can roll back), and every command that prints a
/// result, each ready to run again: `pull` (a switch, then "already in
/// place"), `pull --rollback` (back and forth), `verify-bundle`, the
/// commands that read the lock or the store, `completions`, `version`.
fn printing_commands(project: &Project, server: &Server) -> Vec<Vec<String>> {
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'packages', '= 1.0.0'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let root = project.dir.path();
    let site = root.join("site");
    let first = publish(&site, "first.tar.gz", &bundle(root, "a"));
    let second = publish(&site, "second.tar.gz", &bundle(root, "b"));
    let rolled = root.join("rolled");
    for bundle in [&first, &second] {
        project
            .larder(&["pull"])
            .arg(bundle)
            .arg("--into")
            .arg(&rolled)
            .assert()
            .success();
    }
    let path = |p: &Path| p.display().to_string();
    let mut commands = vec![
        vec![
            "pull".to_string(),
            path(&first),
            "--into".into(),
            path(&root.join("pulled")),
        ],
        vec![
            "pull".into(),
            "--rollback".into(),
            "--into".into(),
            path(&rolled),
        ],
        vec!["verify-bundle".into(), path(&first)],
    ];
    for args in [
        &["list"][..],
        &["show", "base"],
        &["info", "base"],
        &["tree"],
        &["why", "base"],
        &["contingent", "base"],
        &["verify"],
        &["outdated", "--all"],
        &["config"],
        &["manifest"],
        &["shelf", "list"],
        &["shelf", "show", "base"],
        &["--format", "json", "list"],
        &["completions", "bash"],
        &["version"],
    ] {
        commands.push(args.iter().map(|a| a.to_string()).collect());
    }
    commands
}

/// `larder ARGS` in `project` with `stdout` as its standard output.
fn run_with_stdout(project: &Project, args: &[String], stdout: Stdio) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
        .args(args)
        .current_dir(project.dir.path())
        .env("LARDER_HOME", project.home.path())
        .stdout(stdout)
        .output()
        .unwrap()
}

#[test]
fn a_full_stdout_fails_every_printing_command_with_a_message() {
    let server = Server::start(fixtures());
    let project = Project::new();
    for args in printing_commands(&project, &server) {
        for _ in 0..2 {
            let full = fs::File::create("/dev/full").unwrap();
            let output = run_with_stdout(&project, &args, full.into());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(47), "{args:?}: {stderr}");
            assert!(
                stderr.contains("cannot write the output to stdout") && !stderr.contains("panic"),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let server = Server::start(fixtures());
    let project = Project::new();
    for args in printing_commands(&project, &server) {
        for _ in 0..2 {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let output = run_with_stdout(&project, &args, writer.into());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
            assert!(!stderr.contains("panic"), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn quiet_pull_prints_nothing_on_success() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let first = publish(&site, "first.tar.gz", &bundle(tmp.path(), "a"));
    let into = tmp.path().join("into");
    for _ in 0..2 {
        let output = larder()
            .arg("-q")
            .arg("pull")
            .arg(&first)
            .arg("--into")
            .arg(&into)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(output.stdout.is_empty(), "{output:?}");
        assert!(output.stderr.is_empty(), "{output:?}");
    }
}

/// `larder ARGS` in `dir` must finish within `limit`; returns its output.
fn finishes_within(dir: &Path, args: &[&str], limit: std::time::Duration) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("larder {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn long_berksfiles_and_metadata_are_read_in_linear_time() {
    // Quadratic evaluation took minutes at these sizes; linear takes a few
    // seconds even in a debug build on a busy machine.
    let limit = std::time::Duration::from_secs(60);
    let project = Project::new();
    let mut berksfile = String::from("source 'https://supermarket.chef.io'\n");
    for i in 0..100_000 {
        berksfile.push_str(&format!("cookbook 'c{i}', '>= 1.0'\n"));
    }
    project.write("Berksfile", &berksfile);
    let output = finishes_within(project.dir.path(), &["manifest"], limit);
    assert!(output.status.success(), "{output:?}");

    let depends: Vec<String> = (0..50_000).map(|i| format!("depends 'd{i}'")).collect();
    project.write(
        "cookbook/metadata.rb",
        &format!("name 'big'\nversion '1.0.0'\n{}\n", depends.join("; ")),
    );
    let output = finishes_within(
        project.dir.path(),
        &["manifest", "--metadata", "cookbook"],
        limit,
    );
    assert!(output.status.success(), "{output:?}");
}
