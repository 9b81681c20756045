//! The everyday loop on projects shaped like real ones, through the real
//! binary: a cookbook repository whose Berksfile says `metadata`, with
//! constraints written the way people write them (`>= 1.0`, `= 2.1`,
//! `< 3`). Installing twice gives the same lock byte for byte, `--locked`
//! passes on an unchanged project and writes nothing, packaging twice gives
//! the same bundle, lockfiles follow the umask, and the quickstart works
//! from a folder whose name has a space and a non-ASCII letter.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::project::{Project, fixtures};

/// A cookbook repository: its own cookbook (`metadata`) depending on two
/// local cookbooks with two-part constraints.
fn cookbook_repository() -> Project {
    let project = Project::new();
    project.write(
        "metadata.rb",
        "name 'shop'\nversion '1.2.0'\ndepends 'db', '>= 1.0'\ndepends 'cache', '< 3'\n",
    );
    project.write("recipes/default.rb", "include_recipe 'db'\n");
    project.write(
        "Berksfile",
        "metadata\n\
         cookbook 'db', '>= 1.0', path: 'deps/db'\n\
         cookbook 'cache', '= 2.1', path: 'deps/cache'\n",
    );
    project.write("deps/db/metadata.rb", "name 'db'\nversion '1.4.0'\n");
    project.write("deps/cache/metadata.rb", "name 'cache'\nversion '2.1'\n");
    project
}

fn run(project: &Project, args: &[&str]) -> std::process::Output {
    let output = project.larder(args).output().unwrap();
    assert!(
        output.status.success(),
        "larder {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Sets every file's mtime under `dir` to a new time, contents unchanged.
fn touch_all(dir: &Path) {
    let status = Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-d", "2031-01-01 00:00", "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_metadata_project_gets_the_same_lock_every_time_and_passes_locked() {
    let project = cookbook_repository();
    run(&project, &["install"]);
    let first = project.read("larder.lock");
    assert!(first.contains("[cookbook.shop]"), "{first}");
    for _ in 0..3 {
        run(&project, &["install"]);
        assert_eq!(project.read("larder.lock"), first, "the lock moved");
    }
    run(&project, &["install", "--locked"]);
    run(&project, &["verify"]);
    // Vendoring into a folder of the project leaves its cookbook as it was.
    run(&project, &["vendor", "vendored"]);
    run(&project, &["install", "--locked"]);
    assert_eq!(project.read("larder.lock"), first);
}

#[test]
fn packaging_a_metadata_project_twice_gives_the_same_bytes() {
    if !common::require_tool("sha256sum", "--version") {
        return;
    }
    let project = cookbook_repository();
    run(&project, &["install"]);
    run(&project, &["package", "first.tar.gz"]);
    touch_all(project.dir.path());
    run(&project, &["install", "--locked"]);
    run(&project, &["package", "second.tar.gz"]);
    // The default name, in the project itself, twice.
    run(&project, &["package"]);
    run(&project, &["package"]);
    let first = sha256_of(&project.path("first.tar.gz"));
    assert_eq!(first, sha256_of(&project.path("second.tar.gz")));
    let defaults: BTreeSet<String> = std::fs::read_dir(project.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cookbooks-") && n.ends_with(".tar.gz"))
        .collect();
    assert_eq!(defaults.len(), 1, "{defaults:?}");
}

#[test]
fn locked_writes_nothing_in_a_read_only_checkout() {
    let project = cookbook_repository();
    run(&project, &["install"]);
    let lock = project.read("larder.lock");
    let chmod = |mode: &str| {
        let status = Command::new("chmod")
            .args(["-R", mode])
            .arg(project.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    };
    chmod("a-w");
    let output = project.larder(&["install", "--locked"]).output().unwrap();
    chmod("u+w");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(project.read("larder.lock"), lock);
}

#[test]
fn locked_refuses_a_path_cookbook_that_changed_and_leaves_the_lock() {
    let project = cookbook_repository();
    run(&project, &["install"]);
    let lock = project.read("larder.lock");
    project.write("recipes/default.rb", "include_recipe 'db::server'\n");
    let output = project.larder(&["install", "--locked"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(144), "{stderr}");
    assert!(stderr.contains("the files of shop changed"), "{stderr}");
    assert_eq!(project.read("larder.lock"), lock, "--locked wrote the lock");
    run(&project, &["install"]);
    assert_ne!(project.read("larder.lock"), lock);
}

#[test]
fn lockfiles_follow_the_umask_and_keep_an_existing_mode() {
    let project = cookbook_repository();
    let install_with_umask = |umask: &str| {
        let status = Command::new("sh")
            .args([
                "-c",
                &format!("umask {umask} && exec \"$0\" install", umask = umask),
                env!("CARGO_BIN_EXE_larder"),
            ])
            .current_dir(project.dir.path())
            .env("LARDER_HOME", project.home.path())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let mode = || {
        std::fs::metadata(project.path("larder.lock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    install_with_umask("022");
    assert_eq!(mode(), 0o644);
    std::fs::remove_file(project.path("larder.lock")).unwrap();
    install_with_umask("027");
    assert_eq!(mode(), 0o640);
    std::fs::set_permissions(
        project.path("larder.lock"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    project.write("deps/db/metadata.rb", "name 'db'\nversion '1.5.0'\n");
    install_with_umask("022");
    assert!(project.read("larder.lock").contains("1.5.0"));
    assert_eq!(mode(), 0o600, "an existing lock keeps its mode");
}

/// Copies a directory tree with `cp -a`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_quickstart_works_from_a_folder_with_a_space_and_an_accent() {
    let root = tempfile::tempdir().unwrap();
    let checkout = root.path().join("my larder caf\u{e9}");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_tree(&fixtures(), &checkout.join("registry-fixtures"));
    copy_tree(
        &repository.join("docs/quickstart"),
        &checkout.join("docs/quickstart"),
    );
    let _ = std::fs::remove_file(checkout.join("docs/quickstart/larder.lock"));
    let home = tempfile::tempdir().unwrap();
    let install = || {
        Command::new(env!("CARGO_BIN_EXE_larder"))
            .args(["install", "--berksfile", "docs/quickstart/Berksfile"])
            .current_dir(&checkout)
            .env("LARDER_HOME", home.path())
            .output()
            .unwrap()
    };
    let output = install();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lock = std::fs::read_to_string(checkout.join("docs/quickstart/larder.lock")).unwrap();
    assert!(lock.contains("[cookbook.app]"), "{lock}");
    assert!(install().status.success());
    let again = std::fs::read_to_string(checkout.join("docs/quickstart/larder.lock")).unwrap();
    assert_eq!(again, lock);
}

/// Every constraint spelling in the shared universes and corpus.
fn real_constraint_spellings() -> Option<BTreeSet<String>> {
    let mut spellings = BTreeSet::new();
    for dir in ["universe", "corpus/berksfiles", "corpus/metadata"] {
        let dir = common::shared_data(dir)?;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            collect_spellings(&text, &mut spellings);
        }
    }
    Some(spellings)
}

/// Quoted strings of `text` that read as a constraint with at least one
/// dot or an operator (a bare `2` in a corpus file is seldom a constraint).
fn collect_spellings(text: &str, into: &mut BTreeSet<String>) {
    for quote in ['"', '\''] {
        let mut parts = text.split(quote);
        parts.next();
        while let Some(inside) = parts.next() {
            parts.next();
            let candidate = inside.trim();
            let looks_like_one = !candidate.is_empty()
                && candidate.len() < 24
                && candidate
                    .chars()
                    .all(|c| c.is_ascii_digit() || " .=<>!~".contains(c))
                && candidate.chars().any(|c| c.is_ascii_digit())
                && (candidate.contains('.') || candidate.contains(['=', '<', '>', '~']));
            if looks_like_one && larder::version::Constraint::parse(candidate).is_ok() {
                into.insert(candidate.to_string());
            }
        }
    }
}

/// A version the constraint admits, as the cookbook's metadata spells it.
fn admitted_version(spelling: &str) -> Option<String> {
    let constraint = larder::version::Constraint::parse(spelling).ok()?;
    let v = constraint.version();
    let candidates = [
        format!("{}.{}.{}", v.major(), v.minor(), v.patch()),
        format!("{}.{}.{}", v.major(), v.minor(), v.patch() + 1),
        "0.0.0".to_string(),
        format!("{}.{}.{}", v.major(), v.minor().saturating_sub(1), 0),
        format!("{}.{}.{}", v.major().saturating_sub(1), 99, 0),
    ];
    candidates
        .into_iter()
        .find(|c| constraint.matches(&c.parse().unwrap()))
}

#[test]
fn every_real_constraint_spelling_survives_the_lock() {
    let Some(spellings) = real_constraint_spellings() else {
        return;
    };
    assert!(spellings.len() > 100, "{} spellings", spellings.len());
    assert!(spellings.contains(">= 1.0") || spellings.contains("< 3.0"));
    let project = Project::new();
    let mut berksfile = String::from("metadata\n");
    let mut metadata = String::from("name 'everything'\nversion '1.0.0'\n");
    for (i, spelling) in spellings.iter().enumerate() {
        let Some(version) = admitted_version(spelling) else {
            continue;
        };
        let name = format!("c{i:04}");
        berksfile.push_str(&format!(
            "cookbook '{name}', '{spelling}', path: 'deps/{name}'\n"
        ));
        metadata.push_str(&format!("depends '{name}', '{spelling}'\n"));
        project.write(
            &format!("deps/{name}/metadata.rb"),
            &format!("name '{name}'\nversion '{version}'\n"),
        );
    }
    project.write("Berksfile", &berksfile);
    project.write("metadata.rb", &metadata);
    run(&project, &["install"]);
    let lock = project.read("larder.lock");
    run(&project, &["install", "--locked"]);
    run(&project, &["install"]);
    assert_eq!(project.read("larder.lock"), lock);
}
