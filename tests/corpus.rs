//! The differential test against real Ruby: every Berksfile and metadata.rb
//! of `../shared/data/corpus/` is read by larder (`larder manifest`) and by
//! Debian's `ruby` running `tests/ruby/berks_standin.rb`, a stand-in for
//! the Berkshelf 7 and Chef DSLs, and both must agree: the same sources,
//! dependencies, constraints, locations and groups for a Berksfile; the
//! same name, version and dependencies for metadata; or a refusal by both.
//! There is no skip list. Each file is evaluated inside the project layout
//! its `SOURCES.tsv` row describes (the cookbook directory and the files
//! beside it), in a directory whose path has a space.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use larder::version::Constraint;
use serde_json::Value;

/// The environment both evaluators see (Berksfiles read `ENV`).
const ENV: [(&str, &str); 2] = [("HOME", "/home/corpus"), ("USER", "corpus")];

struct Row {
    file: String,
    cookbook_dir: String,
    aux_files: Vec<String>,
}

fn rows(corpus: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(corpus.join("SOURCES.tsv")).expect("read SOURCES.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("SOURCES.tsv has no {name} column"))
    };
    let (file, dir, aux) = (column("file"), column("cookbook_dir"), column("aux_files"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let field = |i: usize| fields.get(i).copied().unwrap_or("").trim().to_string();
            Row {
                file: field(file),
                cookbook_dir: field(dir),
                aux_files: field(aux)
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect()
}

/// Fails (never skips) when Debian's ruby is missing.
fn require_ruby() {
    let found = Command::new("ruby")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the corpus differential test needs Ruby: `apt-get install -y ruby` (.ci/run installs it)"
    );
}

/// What one evaluator made of a file: its document, or why it refused.
enum Reading {
    Read(Value),
    Refused(String),
}

fn reading(output: Output) -> Reading {
    if output.status.success() {
        match serde_json::from_slice(&output.stdout) {
            Ok(doc) => Reading::Read(doc),
            Err(e) => Reading::Refused(format!("unreadable output ({e})")),
        }
    } else {
        Reading::Refused(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

fn run(mut command: Command, dir: &Path) -> Output {
    command.current_dir(dir);
    for (key, value) in ENV {
        command.env(key, value);
    }
    command.env_remove("ARTIFACTORY_API_KEY");
    command.output().expect("run an evaluator")
}

/// A constraint in one canonical spelling, so `>= 1.0` and `>= 1.0.0` agree.
fn canonical_constraint(text: &str) -> String {
    match Constraint::parse(text) {
        Ok(c) => c.to_string(),
        Err(_) => format!("unreadable {text}"),
    }
}

/// The parts of a document both evaluators must agree on.
fn comparable(doc: &Value, berksfile: bool) -> Value {
    let dependencies: Vec<Value> =
        doc["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                .map(|d| {
                    let mut groups: Vec<String> = d["groups"]
                        .as_array()
                        .map(|g| g.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    groups.sort();
                    let mut entry = serde_json::json!({
                        "name": d["name"],
                        "constraint": canonical_constraint(d["constraint"].as_str().unwrap_or("")),
                    });
                    if berksfile {
                        entry["location"] = d["location"].clone();
                        entry["groups"] = serde_json::json!(groups);
                    }
                    entry
                })
                .collect()
            })
            .unwrap_or_default();
    if berksfile {
        serde_json::json!({"sources": doc["sources"], "dependencies": dependencies})
    } else {
        serde_json::json!({"name": doc["name"], "version": doc["version"], "dependencies": dependencies})
    }
}

/// Lays out the project a corpus file lives in; gives the file's new path.
fn layout(corpus: &Path, row: &Row, root: &Path) -> PathBuf {
    let source = std::fs::read(corpus.join(&row.file)).expect("read a corpus file");
    let berksfile = row.file.starts_with("berksfiles/");
    let dir = if row.cookbook_dir.is_empty() {
        root.join("project")
    } else {
        root.join(&row.cookbook_dir)
    };
    std::fs::create_dir_all(&dir).expect("create the project layout");
    for aux in &row.aux_files {
        std::fs::write(
            dir.join(aux),
            format!("{aux}: a file beside the corpus file\n"),
        )
        .expect("write an auxiliary file");
    }
    let path = dir.join(if berksfile {
        "Berksfile"
    } else {
        "metadata.rb"
    });
    std::fs::write(&path, source).expect("write the corpus file");
    path
}

/// Why a file was refused, in words both evaluators use.
fn refusal_kind(message: &str) -> &'static str {
    if message.contains("syntax error") || message.contains("SyntaxError") {
        "syntax"
    } else if message.contains("Berkshelf 2 syntax") {
        "berkshelf 2"
    } else if message.contains("does not name its cookbook")
        || message.contains("`name' attribute is required")
    {
        "no name"
    } else {
        "other"
    }
}

/// Reads the file at `path` (a Berksfile, or the metadata.rb of the
/// cookbook in its directory) with larder and with the Ruby stand-in.
/// `Ok(true)` when both read it alike, `Ok(false)` when both refuse it for
/// the same reason, `Err` with the difference otherwise.
fn compare(path: &Path, berksfile: bool) -> Result<bool, String> {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ruby/berks_standin.rb");
    let dir = path.parent().expect("the file's directory").to_path_buf();
    let mut larder = Command::new(env!("CARGO_BIN_EXE_larder"));
    larder.args(["manifest", "--format", "json"]);
    if berksfile {
        larder.arg("--berksfile").arg(path);
    } else {
        larder.arg("--metadata").arg(&dir);
    }
    let mut ruby = Command::new("ruby");
    ruby.arg(&standin)
        .arg(if berksfile { "berksfile" } else { "metadata" })
        .arg(path);
    match (reading(run(larder, &dir)), reading(run(ruby, &dir))) {
        (Reading::Read(ours), Reading::Read(theirs)) => {
            let (ours, theirs) = (comparable(&ours, berksfile), comparable(&theirs, berksfile));
            if ours == theirs {
                Ok(true)
            } else {
                Err(format!("larder read\n{ours:#}\nRuby read\n{theirs:#}"))
            }
        }
        (Reading::Refused(ours), Reading::Refused(theirs)) => {
            let shown = path.display().to_string();
            if refusal_kind(&ours) != refusal_kind(&theirs) {
                Err(format!(
                    "both refuse it, for different reasons:\nlarder: {ours}\nRuby: {theirs}"
                ))
            } else if !ours.contains(&shown) && !ours.contains("Berksfile") {
                Err(format!("larder's refusal does not name the file:\n{ours}"))
            } else {
                Ok(false)
            }
        }
        (Reading::Refused(ours), Reading::Read(_)) => {
            Err(format!("Ruby reads it, larder refuses:\n{ours}"))
        }
        (Reading::Read(ours), Reading::Refused(theirs)) => Err(format!(
            "Ruby refuses it ({theirs}), larder reads\n{ours:#}"
        )),
    }
}

#[test]
fn larder_reads_every_corpus_file_as_ruby_does() {
    require_ruby();
    let Some(corpus) = common::shared_data("corpus") else {
        return;
    };
    let mut disagreements = Vec::new();
    let (mut read, mut refused) = (0, 0);
    let rows = rows(&corpus);
    for row in &rows {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let root = temp.path().join("corpus project");
        let path = layout(&corpus, row, &root);
        match compare(&path, row.file.starts_with("berksfiles/")) {
            Ok(true) => read += 1,
            Ok(false) => refused += 1,
            Err(difference) => disagreements.push(format!("{}: {difference}", row.file)),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} corpus files disagree:\n\n{}",
        disagreements.len(),
        rows.len(),
        disagreements.join("\n\n")
    );
    eprintln!("corpus: {read} files read alike, {refused} refused by both");
    assert_eq!(read + refused, rows.len());
    // Most real files must be read, not merely refused by both.
    assert!(
        read * 4 >= rows.len() * 3,
        "only {read} of {} files were read",
        rows.len()
    );
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a fixture directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// The repository's own files in the dialect (helpers, constants, globs,
/// case, defined?), and files both must refuse, read by both evaluators.
#[test]
fn larder_reads_the_dialect_fixtures_as_ruby_does() {
    require_ruby();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dialect");
    let temp = tempfile::tempdir().expect("a temporary directory");
    let root = temp.path().join("dialect fixtures é");
    copy_tree(&fixtures, &root);
    let written = [
        (
            "chef-server/Berksfile",
            "source :chef_server\n\
             source chef_server: 'https://chef.example/organizations/ops'\n\
             cookbook 'web', '>= 1.0'\n",
        ),
        ("refused/site/Berksfile", "site :opscode\nmetadata\n"),
        (
            "refused/nameless/metadata.rb",
            "version '1.0.0'\ndepends 'apt'\n",
        ),
        (
            "refused/platform/metadata.rb",
            "name 'p'\ndepends 'windows' if platform?('windows')\n",
        ),
    ];
    for (file, text) in written {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("create a directory");
        std::fs::write(&path, text).expect("write a refused file");
    }
    let expected = [
        ("helpers/Berksfile", true, true),
        ("site-cookbooks/Berksfile", true, true),
        ("chef-server/Berksfile", true, true),
        ("metadata/metadata.rb", false, true),
        ("refused/site/Berksfile", true, false),
        ("refused/nameless/metadata.rb", false, false),
        ("refused/platform/metadata.rb", false, false),
    ];
    let mut disagreements = Vec::new();
    for (file, berksfile, read) in expected {
        match compare(&root.join(file), berksfile) {
            Ok(outcome) if outcome == read => {}
            Ok(outcome) => disagreements.push(format!(
                "{file}: both {}",
                if outcome { "read it" } else { "refuse it" }
            )),
            Err(difference) => disagreements.push(format!("{file}: {difference}")),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}
