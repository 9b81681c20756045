//! Git cookbooks through the library API, against real repositories built
//! with the `git` command line and served over `file://` and by a real
//! `git daemon` on loopback.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::git::{Daemon, Repo, git_available, unused_port};
use larder::cache::Store;
use larder::source::git::{GitCache, GitError, GitSpec};

/// A remote `widget` whose default branch is `main` (there is no master):
///
/// - `c1`: widget 1.0.0, annotated tag `v1.0.0`, where `stable` starts;
/// - `c2`: widget 1.1.0 on `main`, lightweight tag `light`;
/// - `c3`: widget 1.0.1 on `stable`.
///
/// Every commit also holds `cookbooks/sub` (cookbook `subby`) and
/// `cookbooks/empty` (no metadata).
struct Fixture {
    _dir: tempfile::TempDir,
    /// The directory the daemon serves; the remote is `widget` in it.
    base: PathBuf,
    repo: Repo,
    store: Store,
    cache: GitCache,
    c1: String,
    c2: String,
    c3: String,
}

fn fixture() -> Option<Fixture> {
    if !git_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("served");
    let repo = Repo::init(&base.join("widget"), "main");
    repo.write("metadata.rb", "name 'widget'\nversion '1.0.0'\n")
        .write("recipes/default.rb", "package 'widget'\n")
        .write("files/run.sh", "#!/bin/sh\necho hi\n")
        .chmod("files/run.sh", 0o755)
        .write("docs/readme.md", "read me\n")
        .symlink("README.md", "docs/readme.md")
        .write(
            "cookbooks/sub/metadata.json",
            r#"{"name": "subby", "version": "0.3.0"}"#,
        )
        .write("cookbooks/sub/recipes/default.rb", "log 'sub'\n")
        .write("cookbooks/empty/README", "no cookbook here\n");
    let c1 = repo.commit("widget 1.0.0");
    repo.git(&["tag", "--annotate", "v1.0.0", "--message", "release 1.0.0"]);
    repo.git(&["branch", "stable"]);
    repo.write("metadata.rb", "name 'widget'\nversion '1.1.0'\n");
    let c2 = repo.commit("widget 1.1.0");
    repo.git(&["tag", "light"]);
    repo.git(&["checkout", "--quiet", "stable"]);
    repo.write("metadata.rb", "name 'widget'\nversion '1.0.1'\n");
    let c3 = repo.commit("widget 1.0.1");
    repo.git(&["checkout", "--quiet", "main"]);
    assert_eq!(repo.git(&["branch", "--list", "master"]), "");

    let store = Store::at(dir.path().join("home")).unwrap();
    let cache = GitCache::new(&store);
    Some(Fixture {
        _dir: dir,
        base,
        repo,
        store,
        cache,
        c1,
        c2,
        c3,
    })
}

fn spec(url: &str) -> GitSpec {
    GitSpec {
        url: url.to_string(),
        ..GitSpec::default()
    }
}

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

fn resolve(f: &Fixture, spec: &GitSpec, offline: bool) -> String {
    f.cache.resolve(spec, offline).unwrap().to_string()
}

/// Moves `stable` one commit on (widget `version`); returns the commit.
fn advance_stable(repo: &Repo, version: &str) -> String {
    repo.git(&["checkout", "--quiet", "stable"]);
    repo.write(
        "metadata.rb",
        &format!("name 'widget'\nversion '{version}'\n"),
    );
    let commit = repo.commit(&format!("widget {version}"));
    repo.git(&["checkout", "--quiet", "main"]);
    commit
}

fn assert_error(err: &GitError, kind: &str, mentions: &[&str]) {
    assert_eq!(err.kind(), kind, "{err}");
    let shown = err.to_string();
    for text in mentions {
        assert!(shown.contains(text), "{shown:?} does not mention {text:?}");
    }
}

#[test]
fn resolves_branch_tag_ref_and_head_over_file_and_git_daemon() {
    let Some(f) = fixture() else { return };
    let daemon = Daemon::start(&f.base);
    for url in [f.repo.file_url(), daemon.url("widget")] {
        let with = |edit: fn(&mut GitSpec)| {
            let mut spec = spec(&url);
            edit(&mut spec);
            resolve(&f, &spec, false)
        };
        assert_eq!(with(|_| {}), f.c2, "the remote HEAD (main) via {url}");
        assert_eq!(with(|s| s.branch = some("stable")), f.c3);
        assert_eq!(with(|s| s.tag = some("v1.0.0")), f.c1, "annotated tag");
        assert_eq!(with(|s| s.tag = some("light")), f.c2, "lightweight tag");
        // Precedence: ref, then branch, then tag.
        assert_eq!(
            with(|s| {
                s.branch = some("stable");
                s.tag = some("v1.0.0");
            }),
            f.c3
        );
        let mut by_ref = spec(&url);
        by_ref.reference = Some(f.c1[..7].to_string());
        by_ref.branch = some("stable");
        assert_eq!(resolve(&f, &by_ref, false), f.c1, "abbreviated ref");
        by_ref.reference = Some(f.c3.to_uppercase());
        assert_eq!(resolve(&f, &by_ref, false), f.c3, "full ref");
        by_ref.reference = some("v1.0.0");
        assert_eq!(resolve(&f, &by_ref, false), f.c1, "a ref naming a tag");
    }
}

#[test]
fn the_default_branch_follows_the_remote_head() {
    let Some(f) = fixture() else { return };
    let url = f.repo.file_url();
    assert_eq!(resolve(&f, &spec(&url), false), f.c2);
    f.repo.git(&["symbolic-ref", "HEAD", "refs/heads/stable"]);
    assert_eq!(resolve(&f, &spec(&url), false), f.c3);
    // Recorded in the mirror, so offline resolution agrees.
    assert_eq!(resolve(&f, &spec(&url), true), f.c3);
}

#[test]
fn installs_a_revision_as_plain_files() {
    let Some(f) = fixture() else { return };
    let url = f.repo.file_url();
    let cookbook = f.cache.fetch_cookbook(&spec(&url), false).unwrap();
    assert_eq!(cookbook.revision.as_str(), f.c2);
    assert_eq!(cookbook.metadata.name, "widget");
    assert_eq!(cookbook.metadata.raw_version, "1.1.0");
    assert_eq!(cookbook.path, f.store.entry_path("widget", &f.c2));
    assert!(!cookbook.already_present && cookbook.warnings.is_empty());

    let path = &cookbook.path;
    assert!(!path.join(".git").exists());
    let readme = std::fs::symlink_metadata(path.join("README.md")).unwrap();
    assert!(readme.file_type().is_file(), "links become files");
    assert_eq!(
        std::fs::read_to_string(path.join("README.md")).unwrap(),
        "read me\n"
    );
    let mode = |rel: &str| {
        std::fs::metadata(path.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("files/run.sh"), 0o755);
    assert_eq!(mode("recipes/default.rb"), 0o644);
    assert!(path.join("cookbooks/sub/metadata.json").is_file());
    f.store.verify_entry("widget", &f.c2, None).unwrap();

    let again = f.cache.fetch_cookbook(&spec(&url), false).unwrap();
    assert!(again.already_present);
    assert_eq!(again.path, cookbook.path);
    let staging = std::fs::read_dir(f.store.root().join("tmp")).unwrap();
    assert_eq!(staging.count(), 0, "exports are cleaned up");
}

#[test]
fn installs_a_cookbook_from_a_subdirectory() {
    let Some(f) = fixture() else { return };
    let url = f.repo.file_url();
    let mut sub = spec(&url);
    sub.tag = some("v1.0.0");
    sub.rel = some("./cookbooks/sub/");
    let cookbook = f.cache.fetch_cookbook(&sub, false).unwrap();
    assert_eq!(cookbook.revision.as_str(), f.c1);
    assert_eq!(cookbook.metadata.name, "subby");
    assert_eq!(cookbook.path, f.store.entry_path("subby", &f.c1));
    assert!(cookbook.path.join("metadata.json").is_file());
    assert!(cookbook.path.join("recipes/default.rb").is_file());
    assert!(!cookbook.path.join("metadata.rb").exists());
    assert!(!cookbook.path.join("cookbooks").exists());

    assert_eq!(
        (
            cookbook.metadata.name.as_str(),
            cookbook.metadata.raw_version.as_str()
        ),
        ("subby", "0.3.0")
    );
    let locked = f
        .cache
        .fetch_locked("subby", &url, &f.c1, Some("cookbooks/sub"), true)
        .unwrap();
    assert!(locked.already_present);
}

#[test]
fn a_locked_revision_stays_while_the_branch_moves() {
    let Some(f) = fixture() else { return };
    let daemon = Daemon::start(&f.base);
    let url = daemon.url("widget");
    let mut stable = spec(&url);
    stable.branch = some("stable");
    let first = f.cache.fetch_cookbook(&stable, false).unwrap();
    assert_eq!(first.revision.as_str(), f.c3);

    let c4 = advance_stable(&f.repo, "1.0.2");
    assert_eq!(resolve(&f, &stable, false), c4, "resolving again moves");
    let locked = f
        .cache
        .fetch_locked("widget", &url, &f.c3, None, false)
        .unwrap();
    assert_eq!(locked.revision.as_str(), f.c3, "the lock stays");
    assert_eq!(locked.metadata.raw_version, "1.0.1");
    assert!(locked.already_present);
    let moved = f
        .cache
        .fetch_locked("widget", &url, &c4, None, false)
        .unwrap();
    assert_eq!(moved.metadata.raw_version, "1.0.2");
    assert!(!moved.already_present);

    // Deleted branches are pruned from the mirror.
    f.repo
        .git(&["branch", "--quiet", "--delete", "--force", "stable"]);
    let err = f.cache.resolve(&stable, false).unwrap_err();
    assert_error(&err, "unknown-branch", &[&url, "'stable'"]);
}

#[test]
fn works_offline_from_a_warm_mirror() {
    let Some(f) = fixture() else { return };
    let mut daemon = Daemon::start(&f.base);
    let url = daemon.url("widget");
    f.cache.fetch_cookbook(&spec(&url), false).unwrap();
    daemon.stop();

    // A revision in the store needs no network, offline or not.
    for offline in [true, false] {
        let cookbook = f
            .cache
            .fetch_locked("widget", &url, &f.c2, None, offline)
            .unwrap();
        assert!(cookbook.already_present);
        assert_eq!(cookbook.metadata.raw_version, "1.1.0");
    }
    // Resolution offline reads the mirror.
    let mut stable = spec(&url);
    stable.branch = some("stable");
    assert_eq!(resolve(&f, &stable, true), f.c3);
    assert_eq!(resolve(&f, &spec(&url), true), f.c2);
    // A revision in the mirror but not in the store installs offline.
    let old = f
        .cache
        .fetch_locked("widget", &url, &f.c1, None, true)
        .unwrap();
    assert!(!old.already_present);
    assert_eq!(old.metadata.raw_version, "1.0.0");

    // Online with the remote gone fails, naming it, and leaves the mirror.
    let err = f.cache.resolve(&spec(&url), false).unwrap_err();
    assert_error(&err, "unreachable", &[&url]);
    assert_eq!(resolve(&f, &spec(&url), true), f.c2);

    let absent = "0123456789abcdef0123456789abcdef01234567";
    let err = f
        .cache
        .fetch_locked("widget", &url, absent, None, true)
        .unwrap_err();
    assert_error(
        &err,
        "offline-missing",
        &[&url, absent, "without --offline"],
    );
    let err = f
        .cache
        .fetch_locked("widget", &url, absent, None, false)
        .unwrap_err();
    assert_error(&err, "unreachable", &[&url]);

    let never = f.repo.file_url() + "-never-fetched";
    let err = f.cache.resolve(&spec(&never), true).unwrap_err();
    assert_error(&err, "offline-no-mirror", &[&never]);
}

#[test]
fn errors_name_the_url_and_what_was_asked() {
    let Some(f) = fixture() else { return };
    let url = f.repo.file_url();
    let fetch = |edit: fn(&mut GitSpec)| {
        let mut spec = spec(&url);
        edit(&mut spec);
        f.cache.fetch_cookbook(&spec, false).unwrap_err()
    };
    assert_error(
        &fetch(|s| s.branch = some("nope")),
        "unknown-branch",
        &[&url, "'nope'"],
    );
    assert_error(
        &fetch(|s| s.tag = some("v9")),
        "unknown-tag",
        &[&url, "'v9'"],
    );
    assert_error(
        &fetch(|s| s.reference = some("deadbeef")),
        "unknown-ref",
        &[&url, "'deadbeef'"],
    );
    assert_error(
        &fetch(|s| s.rel = some("cookbooks/missing")),
        "rel-missing",
        &[&url, "'cookbooks/missing'"],
    );
    assert_error(
        &fetch(|s| s.rel = some("recipes/default.rb")),
        "rel-missing",
        &[&url, "'recipes/default.rb'"],
    );
    assert_error(
        &fetch(|s| s.rel = some("cookbooks/empty")),
        "no-metadata",
        &[&url, "'cookbooks/empty'"],
    );
    assert_error(
        &fetch(|s| s.rel = some("../outside")),
        "invalid-rel",
        &[&url, "../outside"],
    );
    let err = f
        .cache
        .fetch_locked("other", &url, &f.c2, None, false)
        .unwrap_err();
    assert_error(&err, "name-mismatch", &[&url, "'widget'", "'other'"]);
    let err = f
        .cache
        .fetch_locked("widget", &url, "abc123", None, false)
        .unwrap_err();
    assert_error(&err, "invalid-revision", &[&url, "'abc123'"]);
    assert!(
        f.store.entries().unwrap().is_empty(),
        "nothing was installed"
    );

    let nobody = format!("git://127.0.0.1:{}/widget", unused_port());
    let err = f.cache.resolve(&spec(&nobody), false).unwrap_err();
    assert_error(&err, "unreachable", &[&nobody]);
    assert!(
        !f.cache.mirror_path(&nobody).exists(),
        "a failed first fetch leaves no mirror"
    );
}

#[test]
fn credentials_in_urls_are_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path()).unwrap();
    let cache = GitCache::new(&store);
    let url = "https://user:secret@127.0.0.1:1/x.git";
    let errors = [
        cache.resolve(&spec(url), false).unwrap_err(),
        cache
            .fetch_locked("x", url, &"a".repeat(40), None, false)
            .unwrap_err(),
        cache.resolve(&spec(url), true).unwrap_err(),
    ];
    for err in errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("https://***@127.0.0.1:1/x.git"), "{shown}");
    }
}

#[test]
fn submodules_are_reported_not_fetched() {
    let Some(f) = fixture() else { return };
    f.repo.write(
        ".gitmodules",
        "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n",
    );
    let gitlink = format!("160000,{},lib", f.c1);
    f.repo
        .git(&["update-index", "--add", "--cacheinfo", &gitlink]);
    let commit = f.repo.commit("add a submodule");
    let url = f.repo.file_url();
    let cookbook = f.cache.fetch_cookbook(&spec(&url), false).unwrap();
    assert_eq!(cookbook.revision.as_str(), commit);
    assert_eq!(
        cookbook.warnings,
        [format!("submodules in {url} are not fetched")]
    );
    assert!(!cookbook.path.join("lib").exists());
    let locked = f
        .cache
        .fetch_locked("widget", &url, &commit, None, true)
        .unwrap();
    assert_eq!(locked.warnings, cookbook.warnings);
}

#[test]
fn links_leaving_the_cookbook_are_refused() {
    let Some(f) = fixture() else { return };
    let url = f.repo.file_url();
    let cases = [
        (
            "cookbooks/sub/escape",
            "../../docs/readme.md",
            "points outside the cookbook",
        ),
        (
            "cookbooks/sub/absolute",
            "/etc/passwd",
            "points outside the cookbook",
        ),
        ("cookbooks/sub/dir", "recipes", "points to a directory"),
        ("cookbooks/sub/dangling", "nothing-here", "dangles"),
    ];
    for (link, target, reason) in cases {
        f.repo.symlink(link, target);
        f.repo.commit(&format!("link {link}"));
        let mut sub = spec(&url);
        sub.rel = some("cookbooks/sub");
        let err = f.cache.fetch_cookbook(&sub, false).unwrap_err();
        assert_error(
            &err,
            "unsafe-symlink",
            &[
                &url,
                link.trim_start_matches("cookbooks/sub/"),
                target,
                reason,
            ],
        );
        std::fs::remove_file(f.repo.path.join(link)).unwrap();
        f.repo.commit(&format!("drop {link}"));
    }
    // A chain of links inside the cookbook is followed.
    f.repo
        .symlink("cookbooks/sub/a", "b")
        .symlink("cookbooks/sub/b", "recipes/default.rb");
    f.repo.commit("chained links");
    let mut sub = spec(&url);
    sub.rel = some("cookbooks/sub");
    let cookbook = f.cache.fetch_cookbook(&sub, false).unwrap();
    assert_eq!(
        std::fs::read_to_string(cookbook.path.join("a")).unwrap(),
        "log 'sub'\n"
    );
}

#[test]
fn concurrent_fetches_share_one_mirror_and_one_entry() {
    let Some(f) = fixture() else { return };
    let daemon = Daemon::start(&f.base);
    let url = daemon.url("widget");
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| f.cache.fetch_cookbook(&spec(&url), false)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let installed: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(installed.iter().all(|c| c.revision.as_str() == f.c2));
    assert_eq!(installed.iter().filter(|c| !c.already_present).count(), 1);
    f.store.verify_entry("widget", &f.c2, None).unwrap();
    let mirrors: Vec<_> = std::fs::read_dir(f.store.root().join("git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(mirrors.len(), 1, "{mirrors:?}");
}
