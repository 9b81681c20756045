//! `Berksfile.lock`: reading and writing Berkshelf's lockfile byte for byte.
//!
//! The format is two sections, each opened by a header line:
//!
//! ```text
//! DEPENDENCIES
//!   apt (~> 2.0)
//!   jenkins-config
//!     path: ../cookbook-path/jenkins-config
//!
//! GRAPH
//!   apt (2.3.6)
//!   jenkins-config (0.1.0)
//!     apt (~> 2.0)
//! ```
//!
//! The parser follows Berkshelf's: the text is split on runs of LF/CRLF; a
//! 2-space line is an entry (`name[ (constraint)]` or `name (version)`), a
//! 4-space line belongs to the entry above (`key: value` under DEPENDENCIES,
//! `dep[ (constraint)]` under GRAPH); text in parentheses is cut at the
//! first `-`; lines matching nothing are skipped. Text before the first
//! header is an error. A blank file counts as no lockfile (the caller warns
//! with [`empty_lockfile_warning`]), and content starting with `{` is
//! Berkshelf 2's JSON, whose `locked_version`s become the graph.
//!
//! A Berksfile.lock records neither artifact digests nor registry URLs, so a
//! [`Lock`] made from one has no sha256 and [`LockedSource::Default`] for
//! registry cookbooks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Lock, LockedCookbook, LockedDependency, LockedLocation, LockedSource, short_ref};
use crate::version::{Constraint, Version};

/// The content of a Berksfile.lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BerksfileLock {
    /// The DEPENDENCIES section (groups are always empty).
    pub dependencies: Vec<LockedDependency>,
    /// The GRAPH section, by name.
    pub graph: BTreeMap<String, GraphEntry>,
}

/// One GRAPH entry: a cookbook's version and its dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphEntry {
    pub version: Version,
    /// The version as written (already cut at its first `-`).
    pub raw_version: String,
    /// Dependencies in file order; written sorted by name.
    pub dependencies: Vec<(String, Constraint)>,
}

/// A Berksfile.lock that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BerksfileLockError {
    #[error("cannot read the Berkshelf lockfile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Berkshelf's `LockfileParserError` (exit 136).
    #[error(
        "Error reading the Berkshelf lockfile {}{}: {message}. Fix or delete the lockfile and run \
         `larder install` again.",
        path.display(),
        line.map_or_else(String::new, |l| format!(" at line {l}"))
    )]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot write the Berkshelf lockfile {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The rendered lockfile does not parse (exit 136); nothing is written.
    #[error(
        "larder would write a Berkshelf lockfile {} that it cannot read back ({reason}); \
         nothing was written. A cookbook's metadata or a source names a cookbook in a way \
         larder cannot write; fix the name",
        path.display()
    )]
    WouldNotReadBack { path: PathBuf, reason: String },
}

impl BerksfileLockError {
    /// The exit code Berkshelf uses for the same condition.
    pub fn exit_code(&self) -> i32 {
        match self {
            BerksfileLockError::Read { .. }
            | BerksfileLockError::Parse { .. }
            | BerksfileLockError::WouldNotReadBack { .. } => 136,
            BerksfileLockError::Write { .. } => 47,
        }
    }
}

/// The warning Berkshelf prints for a blank lockfile.
pub fn empty_lockfile_warning(path: &Path) -> String {
    format!(
        "Your lockfile at '{}' is empty. I am going to parse it anyway...",
        path.display()
    )
}

const DEPENDENCIES: &str = "DEPENDENCIES";
const GRAPH: &str = "GRAPH";

/// The section the parser is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Dependencies,
    Graph,
}

impl BerksfileLock {
    /// Reads the lockfile at `path`. `Ok(None)` when it does not exist or is
    /// blank (warn with [`empty_lockfile_warning`] in the blank case: check
    /// that the file exists).
    pub fn read(path: &Path) -> Result<Option<BerksfileLock>, BerksfileLockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(BerksfileLockError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        BerksfileLock::parse(&text, path)
    }

    /// Parses lockfile text; `path` is only used in errors. `Ok(None)` for
    /// blank text.
    pub fn parse(text: &str, path: &Path) -> Result<Option<BerksfileLock>, BerksfileLockError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.starts_with('{') {
            return parse_legacy_json(text, path).map(Some);
        }
        Parser::new(path).run(text).map(Some)
    }

    /// The lockfile's bytes, exactly as Berkshelf writes them; `None` when
    /// there are no dependencies (Berkshelf writes no lockfile then).
    pub fn render(&self) -> Option<String> {
        if self.dependencies.is_empty() {
            return None;
        }
        let mut out = String::new();
        out.push_str(DEPENDENCIES);
        out.push('\n');
        let mut dependencies: Vec<&LockedDependency> = self.dependencies.iter().collect();
        dependencies.sort_by(|a, b| a.name.cmp(&b.name));
        for dependency in dependencies {
            render_dependency(&mut out, dependency);
        }
        out.push('\n');
        out.push_str(GRAPH);
        out.push('\n');
        for (name, entry) in &self.graph {
            let _ = writeln!(out, "  {name} ({})", entry.raw_version);
            let mut deps: Vec<&(String, Constraint)> = entry.dependencies.iter().collect();
            deps.sort_by(|a, b| a.0.cmp(&b.0));
            for (dep, constraint) in deps {
                let _ = writeln!(out, "    {dep} ({constraint})");
            }
        }
        Some(out)
    }

    /// Writes the lockfile atomically, after checking that its text reads
    /// back as itself. Returns false, writing nothing, when there are no
    /// dependencies.
    pub fn write(&self, path: &Path) -> Result<bool, BerksfileLockError> {
        let Some(text) = self.render() else {
            return Ok(false);
        };
        // Berkshelf's format is read leniently, so a name that breaks it
        // may parse as something else: the text must read back as a lock
        // that renders to the same text.
        let reason = match BerksfileLock::parse(&text, path) {
            Ok(read) if read.as_ref().and_then(BerksfileLock::render).as_ref() == Some(&text) => {
                None
            }
            Ok(_) => Some("it reads back as a different lock".to_string()),
            Err(BerksfileLockError::Parse {
                line: Some(line),
                message,
                ..
            }) => Some(format!("line {line}: {message}")),
            Err(other) => Some(other.to_string()),
        };
        if let Some(reason) = reason {
            return Err(BerksfileLockError::WouldNotReadBack {
                path: path.to_path_buf(),
                reason: crate::shown::shown(&reason),
            });
        }
        crate::atomic_file::write(path, text.as_bytes()).map_err(|source| {
            BerksfileLockError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(true)
    }
}

fn render_dependency(out: &mut String, dependency: &LockedDependency) {
    let name = &dependency.name;
    if dependency.location == LockedLocation::Default && !dependency.constraint.is_any() {
        let _ = writeln!(out, "  {name} ({})", dependency.constraint);
    } else {
        let _ = writeln!(out, "  {name}");
    }
    match &dependency.location {
        LockedLocation::Default => {}
        LockedLocation::Path { path, metadata } => {
            let _ = writeln!(out, "    path: {path}");
            if *metadata {
                out.push_str("    metadata: true\n");
            }
        }
        LockedLocation::Git {
            url,
            revision,
            branch,
            tag,
            reference,
            rel,
        } => {
            let _ = writeln!(out, "    git: {url}");
            let _ = writeln!(out, "    revision: {revision}");
            let options = [
                ("ref", reference.as_deref().map(short_ref)),
                ("branch", branch.as_deref()),
                ("tag", tag.as_deref()),
                ("rel", rel.as_deref()),
            ];
            for (key, value) in options {
                if let Some(value) = value {
                    let _ = writeln!(out, "    {key}: {value}");
                }
            }
        }
    }
}

/// A DEPENDENCIES entry while it is being read: its options stay strings
/// until the section is complete.
struct RawDependency {
    name: String,
    line: usize,
    constraint: Option<String>,
    options: BTreeMap<String, String>,
}

/// Berkshelf's line-by-line lockfile parser.
struct Parser<'p> {
    path: &'p Path,
    dependencies: Vec<RawDependency>,
    graph: BTreeMap<String, GraphEntry>,
}

impl<'p> Parser<'p> {
    fn new(path: &'p Path) -> Self {
        Parser {
            path,
            dependencies: Vec::new(),
            graph: BTreeMap::new(),
        }
    }

    fn error(&self, line: usize, message: String) -> BerksfileLockError {
        BerksfileLockError::Parse {
            path: self.path.to_path_buf(),
            line: Some(line),
            message,
        }
    }

    fn run(mut self, text: &str) -> Result<BerksfileLock, BerksfileLockError> {
        let mut section = None;
        // The dependency (index) or graph entry (name) 4-space lines attach to.
        let mut current_dependency: Option<usize> = None;
        let mut current_entry: Option<String> = None;
        for (index, line) in text.split('\n').enumerate() {
            let number = index + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            match line {
                DEPENDENCIES => {
                    section = Some(Section::Dependencies);
                    continue;
                }
                GRAPH => {
                    section = Some(Section::Graph);
                    continue;
                }
                _ => {}
            }
            match section {
                None => {
                    return Err(self.error(
                        number,
                        format!("unexpected text before the DEPENDENCIES section: '{line}'"),
                    ));
                }
                Some(Section::Dependencies) => {
                    if let Some((name, constraint)) = entry(line, 2) {
                        current_dependency = Some(self.dependency(name, constraint, number));
                    } else if let Some((key, value)) = option(line) {
                        let Some(current) = current_dependency else {
                            return Err(self.error(
                                number,
                                format!("option '{key}: {value}' does not follow a dependency"),
                            ));
                        };
                        self.dependencies[current]
                            .options
                            .insert(key.to_string(), value.to_string());
                    }
                }
                Some(Section::Graph) => {
                    if let Some((name, version)) = entry(line, 2) {
                        self.graph_entry(name, version, number)?;
                        current_entry = Some(name.to_string());
                    } else if let Some((name, constraint)) = entry(line, 4) {
                        let constraint = self.constraint(constraint, number)?;
                        let Some(entry) =
                            current_entry.as_ref().and_then(|c| self.graph.get_mut(c))
                        else {
                            return Err(self.error(
                                number,
                                format!("dependency '{name}' does not follow a GRAPH entry"),
                            ));
                        };
                        entry.dependencies.push((name.to_string(), constraint));
                    }
                }
            }
        }
        let dependencies = std::mem::take(&mut self.dependencies)
            .into_iter()
            .map(|raw| self.finish_dependency(raw))
            .collect::<Result<_, _>>()?;
        Ok(BerksfileLock {
            dependencies,
            graph: self.graph,
        })
    }

    /// Records a DEPENDENCIES entry, merging repeated names as Berkshelf
    /// does, and returns its index.
    fn dependency(&mut self, name: &str, constraint: Option<&str>, line: usize) -> usize {
        let index = match self.dependencies.iter().position(|d| d.name == name) {
            Some(index) => index,
            None => {
                self.dependencies.push(RawDependency {
                    name: name.to_string(),
                    line,
                    constraint: None,
                    options: BTreeMap::new(),
                });
                self.dependencies.len() - 1
            }
        };
        if let Some(constraint) = constraint {
            self.dependencies[index].constraint = Some(constraint.to_string());
        }
        index
    }

    /// Records a GRAPH entry; the first entry for a name wins.
    fn graph_entry(
        &mut self,
        name: &str,
        version: Option<&str>,
        line: usize,
    ) -> Result<(), BerksfileLockError> {
        let Some(raw) = version else {
            return Err(self.error(line, format!("GRAPH entry '{name}' has no version")));
        };
        let raw = raw.trim();
        let version: Version = raw
            .parse()
            .map_err(|e| self.error(line, format!("GRAPH entry '{name}': {e}")))?;
        self.graph.entry(name.to_string()).or_insert(GraphEntry {
            version,
            raw_version: raw.to_string(),
            dependencies: Vec::new(),
        });
        Ok(())
    }

    fn constraint(
        &self,
        text: Option<&str>,
        line: usize,
    ) -> Result<Constraint, BerksfileLockError> {
        text.map_or(Ok(Constraint::any()), |t| {
            Constraint::parse(t).map_err(|e| self.error(line, e.to_string()))
        })
    }

    /// Turns a dependency's options into its location.
    fn finish_dependency(
        &self,
        raw: RawDependency,
    ) -> Result<LockedDependency, BerksfileLockError> {
        let constraint = self.constraint(raw.constraint.as_deref(), raw.line)?;
        let mut options = raw.options;
        let location = if let Some(url) = options.remove("git") {
            let revision = options.remove("revision").ok_or_else(|| {
                self.error(
                    raw.line,
                    format!("git dependency '{}' has no revision", raw.name),
                )
            })?;
            if !super::is_full_revision(&revision) {
                return Err(self.error(
                    raw.line,
                    format!(
                        "git dependency '{}' has revision '{revision}'; expected 40 hex digits",
                        raw.name
                    ),
                ));
            }
            LockedLocation::Git {
                url,
                revision,
                branch: options.remove("branch"),
                tag: options.remove("tag"),
                reference: options.remove("ref"),
                rel: options.remove("rel"),
            }
        } else if let Some(path) = options.remove("path") {
            LockedLocation::Path {
                path,
                metadata: options.get("metadata").is_some_and(|v| v == "true"),
            }
        } else {
            LockedLocation::Default
        };
        Ok(LockedDependency {
            name: raw.name,
            constraint,
            location,
            groups: Vec::new(),
        })
    }
}

/// Matches Berkshelf's `^ {n}(?! )(.+?)(?: \(([^-]*)(?:-(.*))?\))?$`:
/// exactly `indent` spaces, a name, and optionally ` (text)` at the end of
/// the line, the text cut at its first `-`.
fn entry(line: &str, indent: usize) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix(&" ".repeat(indent)[..])?;
    if rest.is_empty() || rest.starts_with(' ') {
        return None;
    }
    if rest.ends_with(')') {
        // The name is lazy: the first ` (` after at least one character.
        let first = rest.chars().next().map_or(1, char::len_utf8);
        if let Some(open) = rest[first..].find(" (").map(|i| i + first) {
            let inner = &rest[open + 2..rest.len() - 1];
            let cut = inner.split('-').next().unwrap_or(inner);
            return Some((&rest[..open], Some(cut)));
        }
    }
    Some((rest, None))
}

/// Matches Berkshelf's `^ {4}(.+)\: (.+)`: the key is everything before the
/// last `: ` that still leaves a value.
fn option(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("    ")?;
    rest.rmatch_indices(": ")
        .map(|(at, _)| (&rest[..at], &rest[at + 2..]))
        .find(|(key, value)| !key.is_empty() && !value.is_empty())
}

/// Berkshelf 2's JSON lockfile: `{"dependencies": {name: {locked_version,
/// path | git, ref, branch, tag, rel, constraint}}}`.
fn parse_legacy_json(text: &str, path: &Path) -> Result<BerksfileLock, BerksfileLockError> {
    let error = |line: Option<usize>, message: String| BerksfileLockError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        error(
            Some(e.line()),
            format!("invalid Berkshelf 2 lockfile JSON: {e}"),
        )
    })?;
    let Some(entries) = json.get("dependencies").and_then(|d| d.as_object()) else {
        return Err(error(
            None,
            "the Berkshelf 2 lockfile has no \"dependencies\" object".to_string(),
        ));
    };
    let mut lock = BerksfileLock::default();
    for (name, options) in entries {
        let field = |key: &str| {
            options
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let constraint = match field("constraint") {
            Some(text) => Constraint::parse(&text)
                .map_err(|e| error(None, format!("dependency '{name}': {e}")))?,
            None => Constraint::any(),
        };
        // Berkshelf 2 locked git sources by `ref`, which was a full revision.
        let location = match (field("git"), field("path")) {
            (Some(url), _) => {
                let revision = field("ref")
                    .filter(|r| super::is_full_revision(r))
                    .ok_or_else(|| {
                        error(
                            None,
                            format!("git dependency '{name}' has no 40-hex \"ref\""),
                        )
                    })?;
                LockedLocation::Git {
                    url,
                    revision,
                    branch: field("branch"),
                    tag: field("tag"),
                    reference: None,
                    rel: field("rel"),
                }
            }
            (None, Some(path)) => LockedLocation::Path {
                path,
                metadata: false,
            },
            (None, None) => LockedLocation::Default,
        };
        if let Some(raw) = field("locked_version") {
            let version: Version = raw
                .parse()
                .map_err(|e| error(None, format!("dependency '{name}': {e}")))?;
            lock.graph.insert(
                name.clone(),
                GraphEntry {
                    version,
                    raw_version: raw,
                    dependencies: Vec::new(),
                },
            );
        }
        lock.dependencies.push(LockedDependency {
            name: name.clone(),
            constraint,
            location,
            groups: Vec::new(),
        });
    }
    Ok(lock)
}

impl From<BerksfileLock> for Lock {
    /// Cookbooks that are path or git dependencies take their location as
    /// source; every other cookbook comes from the default sources.
    fn from(berks: BerksfileLock) -> Lock {
        let cookbooks = berks
            .graph
            .into_iter()
            .map(|(name, entry)| {
                let source = match berks.dependencies.iter().find(|d| d.name == name) {
                    Some(LockedDependency {
                        location: LockedLocation::Path { path, .. },
                        ..
                    }) => LockedSource::Path { path: path.clone() },
                    Some(LockedDependency {
                        location:
                            LockedLocation::Git {
                                url, revision, rel, ..
                            },
                        ..
                    }) => LockedSource::Git {
                        url: url.clone(),
                        revision: revision.clone(),
                        rel: rel.clone(),
                    },
                    _ => LockedSource::Default,
                };
                let mut dependencies = entry.dependencies;
                dependencies.sort_by(|a, b| a.0.cmp(&b.0));
                let cookbook = LockedCookbook {
                    version: entry.version,
                    raw_version: entry.raw_version,
                    source,
                    dependencies,
                    sha256: None,
                };
                (name, cookbook)
            })
            .collect();
        Lock {
            dependencies: berks.dependencies,
            cookbooks,
        }
    }
}

impl From<&Lock> for BerksfileLock {
    /// Drops what a Berksfile.lock cannot hold: sources, digests, groups.
    fn from(lock: &Lock) -> BerksfileLock {
        BerksfileLock {
            dependencies: lock
                .dependencies
                .iter()
                .map(|d| LockedDependency {
                    groups: Vec::new(),
                    ..d.clone()
                })
                .collect(),
            graph: lock
                .cookbooks
                .iter()
                .map(|(name, cookbook)| {
                    let entry = GraphEntry {
                        version: cookbook.version,
                        raw_version: cookbook.raw_version.clone(),
                        dependencies: cookbook.dependencies.clone(),
                    };
                    (name.clone(), entry)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockfile_that_would_not_read_back_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Berksfile.lock");
        let lock = crate::lock::Lock {
            dependencies: vec![crate::lock::tests::dependency("bad\n(name", ">= 0.0.0")],
            ..crate::lock::Lock::default()
        };
        let err = BerksfileLock::from(&lock).write(&path).unwrap_err();
        assert!(
            matches!(err, BerksfileLockError::WouldNotReadBack { .. }),
            "{err}"
        );
        assert_eq!(err.exit_code(), 136);
        assert!(!path.exists());
    }

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/berkshelf-lockfiles"
    );

    /// Every fixture lockfile, or `None` (with a note) when the shared data
    /// is not there.
    fn fixtures() -> Option<Vec<(PathBuf, String)>> {
        let Ok(dir) = std::fs::read_dir(FIXTURES) else {
            // The one switch `.ci/run` sets turns a skip into a failure.
            assert!(
                std::env::var_os("LARDER_REQUIRE_TOOLS").is_none(),
                "no Berkshelf lockfiles at {FIXTURES} (LARDER_REQUIRE_TOOLS is set)"
            );
            eprintln!("skipping: no Berkshelf lockfiles at {FIXTURES}");
            return None;
        };
        let mut files: Vec<(PathBuf, String)> = dir
            .map(|e| e.unwrap().path())
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p, text)
            })
            .collect();
        files.sort();
        assert!(!files.is_empty());
        Some(files)
    }

    fn parse(text: &str) -> Result<Option<BerksfileLock>, BerksfileLockError> {
        BerksfileLock::parse(text, Path::new("/project/Berksfile.lock"))
    }

    #[test]
    fn every_fixture_parses_and_text_ones_round_trip() {
        let Some(files) = fixtures() else { return };
        for (path, text) in files {
            let lock = BerksfileLock::read(&path)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{} parsed as empty", path.display()));
            assert!(!lock.dependencies.is_empty(), "{}", path.display());
            if text.starts_with('{') {
                continue;
            }
            assert_eq!(
                lock.render().as_deref(),
                Some(text.as_str()),
                "{}",
                path.display()
            );
            // And through the format-independent model.
            let through = BerksfileLock::from(&Lock::from(lock));
            assert_eq!(
                through.render().as_deref(),
                Some(text.as_str()),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn legacy_json_imports_locked_versions() {
        let Some(files) = fixtures() else { return };
        let (path, _) = files
            .iter()
            .find(|(_, text)| text.starts_with('{'))
            .expect("a JSON fixture");
        let lock = Lock::from(BerksfileLock::read(path).unwrap().unwrap());
        let versions: Vec<(&str, String)> = lock.pins().map(|(n, v)| (n, v.to_string())).collect();
        assert_eq!(
            versions,
            [
                ("apt", "2.3.6".to_string()),
                ("jenkins", "2.0.3".to_string()),
                ("runit", "1.5.8".to_string()),
                ("yum", "3.0.6".to_string()),
            ]
        );
        assert_eq!(
            lock.dependency("jenkins").unwrap().location,
            LockedLocation::Path {
                path: ".".into(),
                metadata: false
            }
        );
        assert_eq!(
            lock.cookbooks["jenkins"].source,
            LockedSource::Path { path: ".".into() }
        );
        assert_eq!(lock.cookbooks["apt"].source, LockedSource::Default);
    }

    #[test]
    fn git_fixture_becomes_a_git_source() {
        let text = "DEPENDENCIES\n  fixture\n    git: https://example.com/f.git\n    revision: \
                    93f5768b7d14df45e10d16c8bf6fe98ba3ff809a\n    ref: 919afa0c\n    rel: cb/f\n\n\
                    GRAPH\n  fixture (1.0.0)\n";
        let lock = Lock::from(parse(text).unwrap().unwrap());
        assert_eq!(
            lock.cookbooks["fixture"].source,
            LockedSource::Git {
                url: "https://example.com/f.git".into(),
                revision: "93f5768b7d14df45e10d16c8bf6fe98ba3ff809a".into(),
                rel: Some("cb/f".into()),
            }
        );
        // The ref is written with its first 7 characters.
        let written = BerksfileLock::from(&lock).render().unwrap();
        assert!(
            written.contains("    ref: 919afa0\n    rel: cb/f\n"),
            "{written}"
        );
    }

    #[test]
    fn parser_follows_berkshelf_line_rules() {
        let text = "DEPENDENCIES\r\n  a (>= 1.0.0-rc1)\r\n\r\n\r\n  b\n    path: x\n    junk\n\
                    GRAPH\n  a (1.0.0-rc1)\n    b\n    c (~> 1.2)\n  b (2)\n  a (9.9.9)\n    d (= 1)\n";
        let lock = parse(text).unwrap().unwrap();
        assert_eq!(lock.dependencies[0].constraint.to_string(), ">= 1.0.0");
        assert_eq!(
            lock.dependencies[1].location,
            LockedLocation::Path {
                path: "x".into(),
                metadata: false
            }
        );
        let a = &lock.graph["a"];
        assert_eq!(a.raw_version, "1.0.0");
        // The first entry for a name wins; later lines attach to it.
        let deps: Vec<String> = a
            .dependencies
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        assert_eq!(deps, ["b (>= 0.0.0)", "c (~> 1.2)", "d (= 1.0.0)"]);
        assert_eq!(lock.graph["b"].version, Version::new(2, 0, 0));
        assert_eq!(lock.graph["b"].raw_version, "2");
    }

    #[test]
    fn entry_pattern_matches_the_regex() {
        assert_eq!(entry("  apt (~> 2.0)", 2), Some(("apt", Some("~> 2.0"))));
        assert_eq!(entry("  apt", 2), Some(("apt", None)));
        assert_eq!(entry("  a b (1.0-x)", 2), Some(("a b", Some("1.0"))));
        assert_eq!(entry("  apt (1.0", 2), Some(("apt (1.0", None)));
        assert_eq!(entry("    apt (1.0)", 2), None);
        assert_eq!(entry("   apt", 2), None);
        assert_eq!(entry("  ", 2), None);
        assert_eq!(entry("  é (1.0)", 2), Some(("é", Some("1.0"))));
        assert_eq!(
            entry("    dep (>= 0.0.0)", 4),
            Some(("dep", Some(">= 0.0.0")))
        );
        assert_eq!(option("    git: https://x"), Some(("git", "https://x")));
        // The key is greedy: everything before the last ': ' with a value.
        assert_eq!(option("    path: x: y"), Some(("path: x", "y")));
        assert_eq!(option("    a: b: "), Some(("a", "b: ")));
        assert_eq!(option("    novalue: "), None);
    }

    #[test]
    fn blank_files_are_absent() {
        assert!(parse("").unwrap().is_none());
        assert!(parse(" \n\r\n").unwrap().is_none());
        let warning = empty_lockfile_warning(Path::new("/p/Berksfile.lock"));
        assert_eq!(
            warning,
            "Your lockfile at '/p/Berksfile.lock' is empty. I am going to parse it anyway..."
        );
        let missing = BerksfileLock::read(Path::new("/nonexistent/Berksfile.lock")).unwrap();
        assert!(missing.is_none());
    }

    #[test]
    fn malformed_lockfiles_name_the_file_and_line() {
        let cases = [
            ("junk\nDEPENDENCIES\n  a\n", 1, "before the DEPENDENCIES"),
            (
                "DEPENDENCIES\n    path: x\n",
                2,
                "does not follow a dependency",
            ),
            (
                "DEPENDENCIES\n  a (~> x)\n",
                2,
                "'~> x' is not a version constraint",
            ),
            ("DEPENDENCIES\n  a\nGRAPH\n  a\n", 4, "has no version"),
            (
                "DEPENDENCIES\n  a\nGRAPH\n  a (x.y)\n",
                4,
                "'x.y' is not a cookbook version",
            ),
            (
                "DEPENDENCIES\n  a\nGRAPH\n    b (1.0)\n",
                4,
                "does not follow a GRAPH entry",
            ),
            (
                "DEPENDENCIES\n  a\n    git: u\n    revision: abc\n",
                2,
                "expected 40 hex",
            ),
            ("DEPENDENCIES\n  a\n    git: u\n", 2, "has no revision"),
            (
                "{\"dependencies\": [",
                1,
                "invalid Berkshelf 2 lockfile JSON",
            ),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.exit_code(), 136);
            let BerksfileLockError::Parse { line: got, .. } = &err else {
                panic!("{err}");
            };
            assert_eq!(*got, Some(line), "{text:?}: {err}");
            let shown = err.to_string();
            assert!(shown.contains("/project/Berksfile.lock"), "{shown}");
            assert!(shown.contains(message), "{shown}");
        }
        let err = parse("{\"other\": {}}").unwrap_err();
        assert!(err.to_string().contains("no \"dependencies\""));
    }

    #[test]
    fn writer_follows_berkshelf_rules() {
        let mut lock = Lock::default();
        assert_eq!(BerksfileLock::from(&lock).render(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Berksfile.lock");
        assert!(!BerksfileLock::from(&lock).write(&path).unwrap());
        assert!(!path.exists());

        let c = |t: &str| Constraint::parse(t).unwrap();
        let dep = |name: &str, constraint: &str, location| LockedDependency {
            name: name.into(),
            constraint: c(constraint),
            location,
            groups: vec!["test".into()],
        };
        lock.dependencies = vec![
            dep("zed", "1.0", LockedLocation::Default),
            dep("any", ">= 0.0.0", LockedLocation::Default),
            dep(
                "local",
                "~> 1.0",
                LockedLocation::Path {
                    path: "../local".into(),
                    metadata: true,
                },
            ),
            dep(
                "remote",
                ">= 0.0.0",
                LockedLocation::Git {
                    url: "https://example.com/r.git".into(),
                    revision: "70a527e17d91f01f031204562460ad1c17f972ee".into(),
                    branch: Some("main".into()),
                    tag: Some("v1".into()),
                    reference: Some("70a527e17d91".into()),
                    rel: Some("cookbooks/r".into()),
                },
            ),
        ];
        lock.cookbooks.insert(
            "zed".into(),
            LockedCookbook {
                version: Version::new(1, 0, 0),
                raw_version: "1.0.0".into(),
                source: LockedSource::Registry {
                    url: "https://supermarket.chef.io".into(),
                },
                dependencies: vec![("b".into(), c(">= 0.0.0")), ("a".into(), c("~> 2.7"))],
                sha256: Some("ab".repeat(32)),
            },
        );
        BerksfileLock::from(&lock).write(&path).unwrap();
        let expected = "DEPENDENCIES\n  any\n  local\n    path: ../local\n    metadata: true\n  \
                        remote\n    git: https://example.com/r.git\n    revision: \
                        70a527e17d91f01f031204562460ad1c17f972ee\n    ref: 70a527e\n    branch: \
                        main\n    tag: v1\n    rel: cookbooks/r\n  zed (= 1.0.0)\n\nGRAPH\n  zed \
                        (1.0.0)\n    a (~> 2.7)\n    b (>= 0.0.0)\n";
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }
}
