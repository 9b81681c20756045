//! Fault injection through the binary: `larder install` against a registry
//! that misbehaves on command (tests/common/hostile.rs). Every fault ends
//! in a clear error naming the (redacted) URL, exit 123 for a registry
//! that cannot be read, and nothing half-written: no lock, no store entry.
//! Also here: the rules on where downloads may go and what credentials go
//! with them, and secrets kept out of every error that carries a URL.

mod common;

use std::time::{Duration, Instant};

use common::hostile::{Fault, Hostile, Script, cookbook_tarball, universe_with_download};
use common::project::Project;

/// The path the hostile registry serves its tarball at.
const TARBALL: &str = "/download/hostile-1.0.0.tar.gz";

/// A registry serving the `hostile` cookbook, its universe failing as
/// `universe_fault` says and its download as `download_fault` says.
fn registry(universe_fault: Option<Fault>, download_fault: Option<Fault>) -> Hostile {
    Hostile::start(Script {
        universe: universe_with_download(&format!("{{base}}{TARBALL}")),
        files: vec![(TARBALL.to_string(), cookbook_tarball(64 * 1024))],
        universe_fault,
        download_fault,
    })
}

/// A project installing `hostile` from `source`, with no retries so that
/// faults show quickly.
fn project(source: &str) -> Project {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{source}'\ncookbook 'hostile'\n"),
    );
    project.write(".larder/config.toml", "[api]\nretries = 0\n");
    project
}

/// [`project`] with a 2-second deadline per request, and a 3-second idle
/// timeout that only a server sending nothing at all trips.
fn project_with_deadline(source: &str) -> Project {
    let project = project(source);
    project.write(
        ".larder/config.toml",
        "[api]\ndeadline = 2\ntimeout = 3\nretries = 0\n",
    );
    project
}

/// Runs `larder install` and returns its exit code, stderr and duration.
fn install(project: &Project) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = project
        .larder(&["install"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("larder runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

/// Neither a lock nor a store entry for `hostile` was written, and no
/// staging directory was left behind.
fn assert_nothing_written(project: &Project) {
    assert!(!project.path("larder.lock").exists(), "a lock was written");
    assert!(
        !project.stored("hostile", "1.0.0").exists(),
        "a store entry was written"
    );
    let staged: Vec<_> = std::fs::read_dir(project.home.path().join("tmp"))
        .map(|dir| dir.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(staged.is_empty(), "staging left behind: {staged:?}");
}

/// Installs against a registry whose download fails with `fault` and checks
/// the failure: exit 123, `expected` and the tarball's URL in the message,
/// nothing written.
fn download_fails(fault: Fault, expected: &str) {
    let server = registry(None, Some(fault));
    let project = project_with_deadline(&server.url);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(
        stderr.contains(&format!("{}{TARBALL}", server.url)),
        "{stderr}"
    );
    assert_nothing_written(&project);
}

#[test]
fn a_truncated_download_fails_naming_the_url() {
    download_fails(Fault::Truncate, "cannot download hostile (1.0.0)");
}

#[test]
fn a_download_reset_mid_body_fails_naming_the_url() {
    download_fails(Fault::Reset, "cannot download hostile (1.0.0)");
}

#[test]
fn an_html_page_instead_of_a_tarball_is_refused() {
    download_fails(Fault::HtmlPage, "answered with an HTML page");
}

#[test]
fn a_download_redirect_loop_is_cut_short() {
    download_fails(Fault::RedirectLoop, "more than 10 redirects");
}

#[test]
fn a_download_redirected_to_a_local_file_is_refused() {
    download_fails(
        Fault::RedirectToFile,
        "a redirect may only keep its scheme or go from http up to https",
    );
}

#[test]
fn a_stalled_download_times_out() {
    let server = registry(None, Some(Fault::Stall));
    let project = project_with_deadline(&server.url);
    let (code, stderr, took) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_nothing_written(&project);
}

#[test]
fn a_trickled_download_times_out_at_the_deadline() {
    download_fails(
        Fault::Trickle,
        "timed out: no complete answer within the 2-second deadline",
    );
}

#[test]
fn a_slow_download_within_the_deadline_succeeds_past_the_idle_timeout() {
    let server = registry(None, Some(Fault::Slow));
    let project = project(&server.url);
    project.write(
        ".larder/config.toml",
        "[api]\ntimeout = 2\ndeadline = 60\nretries = 0\n",
    );
    let (code, stderr, took) = install(&project);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took > Duration::from_secs(4), "took {took:?}");
    assert!(project.stored("hostile", "1.0.0").is_dir());
}

#[test]
fn a_trickled_universe_times_out_instead_of_hanging() {
    let server = registry(Some(Fault::Trickle), None);
    let project = project_with_deadline(&server.url);
    let (code, stderr, took) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(
        stderr.contains("timed out: no complete answer within the 2-second deadline"),
        "{stderr}"
    );
    assert!(!stderr.contains("error decoding"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}/universe", server.url)),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_nothing_written(&project);
}

#[test]
fn a_stalled_universe_times_out() {
    let server = registry(Some(Fault::Stall), None);
    let project = project_with_deadline(&server.url);
    let (code, stderr, took) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_nothing_written(&project);
}

/// Install from a registry whose `/universe` misbehaves with `fault`:
/// exit 123 with `expected` and the registry's URL, nothing written.
fn universe_fails(fault: Fault, expected: &str) {
    let server = registry(Some(fault), None);
    let project = project(&server.url);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(stderr.contains(&server.url), "{stderr}");
    assert_nothing_written(&project);
}

#[test]
fn a_truncated_universe_fails_naming_the_url() {
    universe_fails(Fault::Truncate, "/universe");
}

#[test]
fn an_html_page_instead_of_a_universe_is_not_a_universe() {
    universe_fails(Fault::HtmlPage, "is not a cookbook universe");
}

#[test]
fn a_universe_redirect_loop_is_cut_short() {
    universe_fails(Fault::RedirectLoop, "more than 10 redirects");
}

#[test]
fn a_download_cut_to_a_wrong_length_is_refused_and_the_lock_kept() {
    let server = registry(None, None);
    let project = project(&server.url);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(0), "{stderr}");
    let lock = project.read("larder.lock");
    std::fs::remove_dir_all(project.home.path().join("cookbooks")).unwrap();
    server.set_download_fault(Some(Fault::WrongLength));

    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(154), "{stderr}");
    assert!(
        stderr.contains(&format!("{}{TARBALL}", server.url)),
        "{stderr}"
    );
    assert!(!project.stored("hostile", "1.0.0").exists());
    assert_eq!(project.read("larder.lock"), lock, "the lock changed");
}

#[test]
fn a_download_over_the_size_cap_is_refused() {
    let server = registry(None, None);
    let project = project(&server.url);
    project.write(
        ".larder/config.toml",
        "[api]\ndeadline = 10\nretries = 0\n[install]\nmax_download_size = 1000\n",
    );
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains("larger than 1000 bytes"), "{stderr}");
    assert!(stderr.contains("max_download_size"), "{stderr}");
    assert_nothing_written(&project);
}

#[test]
fn a_remote_universe_cannot_name_a_local_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("metadata.rb"),
        "name 'hostile'\nversion '1.0.0'\n",
    )
    .unwrap();
    let local = format!("file://{}/", dir.path().display());
    let server = Hostile::start(Script {
        universe: universe_with_download(&local),
        ..Script::default()
    });
    let project = project(&server.url);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "refusing to download hostile (1.0.0) from {local}"
        )),
        "{stderr}"
    );
    assert_nothing_written(&project);
}

#[test]
fn the_api_key_goes_only_to_the_source_origin() {
    let elsewhere = Hostile::start(Script {
        files: vec![(TARBALL.to_string(), cookbook_tarball(16))],
        ..Script::default()
    });
    let source = Hostile::start(Script {
        universe: universe_with_download(&format!("{}{TARBALL}", elsewhere.url)),
        ..Script::default()
    });
    let project = project(&source.url);
    project.write(
        "Berksfile",
        &format!(
            "source artifactory: '{}', api_key: 'SECRET-KEY'\ncookbook 'hostile'\n",
            source.url
        ),
    );
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(0), "{stderr}");
    let universe = &source.seen()[0];
    assert_eq!(universe.header("x-jfrog-art-api"), Some("SECRET-KEY"));
    let downloads = elsewhere.seen();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!(downloads[0].header("x-jfrog-art-api"), None);
}

#[test]
fn source_credentials_go_with_downloads_from_the_same_origin() {
    let server = registry(None, None);
    let with_user = server.url.replace("http://", "http://deploy:s3cret@");
    let project = project(&with_user);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(0), "{stderr}");
    // base64("deploy:s3cret")
    let basic = Some("Basic ZGVwbG95OnMzY3JldA==");
    let seen = server.seen();
    let download = seen.iter().find(|s| s.path == TARBALL).expect("a download");
    assert_eq!(download.header("authorization"), basic, "{seen:?}");
    assert!(!project.read("larder.lock").contains("s3cret"));
}

#[test]
fn a_failed_download_does_not_print_the_source_password() {
    let server = registry(None, Some(Fault::Truncate));
    let with_user = server.url.replace("http://", "http://deploy:s3cret@");
    let project = project(&with_user);
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(stderr.contains("http://***@127.0.0.1"), "{stderr}");
}

#[test]
fn an_unsupported_scheme_does_not_print_the_password() {
    let project = project("ftp://user:PASSWORD@host/");
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(137), "{stderr}");
    assert!(!stderr.contains("PASSWORD"), "{stderr}");
    assert!(stderr.contains("ftp://***@host/"), "{stderr}");
}

#[test]
fn an_unreachable_source_keeps_its_query_token_secret_and_in_place() {
    let port = common::git::unused_port();
    let project = project(&format!("http://127.0.0.1:{port}/registry?token=SECRET"));
    let (code, stderr, _) = install(&project);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "http://127.0.0.1:{port}/registry/universe?token=***"
        )),
        "{stderr}"
    );
}

#[test]
fn a_git_error_does_not_print_the_password() {
    let port = common::git::unused_port();
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "cookbook 'hostile', git: 'http://user:PASSWORD@127.0.0.1:{port}/r.git?token=QUERYSECRET'\n"
        ),
    );
    let (code, stderr, _) = install(&project);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("PASSWORD"), "{stderr}");
    assert!(!stderr.contains("QUERYSECRET"), "{stderr}");
    assert!(stderr.contains("***@127.0.0.1"), "{stderr}");
}

#[test]
fn a_universe_name_with_a_newline_never_reaches_the_lock() {
    let server = Hostile::start(Script {
        universe: r#"{"hostile": {"1.0.0": {"download_url": "{base}/download/hostile-1.0.0.tar.gz",
                        "dependencies": {"evil\n[cookbook.x]": ">= 0.0.0"}}},
                      "evil\n[cookbook.x]": {"1.0.0": {"download_url": "{base}/download/evil.tar.gz",
                        "dependencies": {}}}}"#
            .to_string(),
        files: vec![(TARBALL.to_string(), cookbook_tarball(16))],
        ..Script::default()
    });
    let project = project(&server.url);
    let output = project.larder(&["install", "-v"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(106), "{stderr}");
    assert!(stderr.contains(r"evil\n[cookbook.x]"), "{stderr}");
    assert!(!stderr.contains("evil\n"), "{stderr}");
    assert_nothing_written(&project);
    let again = project.larder(&["install"]).output().unwrap();
    assert_eq!(again.status.code(), Some(106), "{again:?}");
}

#[test]
fn a_berksfile_cookbook_name_with_a_newline_is_refused() {
    let project = project("http://127.0.0.1:9");
    project.write(
        "Berksfile",
        "source 'http://127.0.0.1:9'\ncookbook \"evil\\nname\"\n",
    );
    let output = project.larder(&["install"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(113), "{stderr}");
    assert!(stderr.contains("Berksfile:2:1"), "{stderr}");
    assert!(stderr.contains(r"holds \n,"), "{stderr}");
}

#[test]
fn a_lock_naming_a_cookbook_with_a_control_character_is_refused() {
    let project = project("http://127.0.0.1:9");
    project.write(
        "larder.lock",
        "version = 1\n\n[[dependency]]\nname = \"hostile\"\n\n[cookbook.\"hostile\\u0007\"]\nversion = \"1.0.0\"\n",
    );
    let output = project.larder(&["list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(136), "{stderr}");
    assert!(stderr.contains("larder.lock:7"), "{stderr}");
    assert!(stderr.contains(r"hostile\u{7}"), "{stderr}");
}

#[test]
fn a_list_of_dependencies_makes_the_release_unusable() {
    let server = Hostile::start(Script {
        universe: universe_with_download(&format!("{{base}}{TARBALL}"))
            .replace(r#""dependencies": {}"#, r#""dependencies": ["missing"]"#),
        files: vec![(TARBALL.to_string(), cookbook_tarball(16))],
        ..Script::default()
    });
    let project = project(&server.url);
    let output = project.larder(&["install", "-v"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(106), "{stderr}");
    assert!(
        stderr.contains("its dependencies are a list, not an object"),
        "{stderr}"
    );
    assert_nothing_written(&project);
}

#[test]
fn a_megabyte_name_gives_a_short_error_line() {
    let huge = "x".repeat(1024 * 1024);
    let server = Hostile::start(Script {
        universe: universe_with_download(&format!("{{base}}{TARBALL}")).replace(
            r#""dependencies": {}"#,
            &format!(r#""dependencies": {{"{huge}": ">= 1.0"}}"#),
        ),
        files: vec![(TARBALL.to_string(), cookbook_tarball(16))],
        ..Script::default()
    });
    let project = project(&server.url);
    let output = project.larder(&["install", "-v"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(106), "{stderr}");
    assert!(stderr.len() < 4096, "{} bytes of stderr", stderr.len());
    assert!(stderr.contains("more characters)"), "{stderr}");
    assert_nothing_written(&project);
}

#[test]
fn search_does_not_print_source_secrets() {
    let port = common::git::unused_port();
    let source = format!("http://user:PASSWORD@127.0.0.1:{port}/?token=QUERYSECRET");
    let project = project(&source);
    let search = project
        .larder(&["search", "nginx", "--source", &source])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&search.stderr);
    assert_eq!(search.status.code(), Some(123), "{stderr}");
    assert!(!stderr.contains("PASSWORD"), "{stderr}");
    assert!(!stderr.contains("QUERYSECRET"), "{stderr}");
    assert!(stderr.contains("api/v1/search?token=***"), "{stderr}");
}

#[test]
fn a_lock_that_would_not_read_back_is_never_written() {
    let project = project("http://127.0.0.1:9");
    project.write("Berksfile", "metadata\n");
    project.write("metadata.rb", "name \"evil\\nname\"\nversion '1.0.0'\n");
    let output = project.larder(&["install"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(136), "{stderr}");
    assert!(stderr.contains("cannot read back"), "{stderr}");
    assert!(!project.path("larder.lock").exists(), "a lock was written");
}
