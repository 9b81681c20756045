//! The Berksfile: evaluates it with [`crate::dsl`] and turns its calls
//! (`source`, `metadata`, `cookbook`, `group`, `solver`) into a typed
//! [`Manifest`] of sources and dependencies.
//!
//! Differences from Berkshelf worth knowing: nested `group` blocks add up
//! (Berkshelf keeps only the innermost), `metadata` inside a `group` block
//! joins that group, unknown `cookbook` options are reported as warnings
//! instead of being silently ignored, and `extension` lines are ignored with
//! a warning (larder needs no extensions).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::dsl::{self, Call, Diagnostic, EnvLookup, Handler, Reply, Site, Value};
use crate::version::Constraint;

/// The methods a Berksfile may call, for messages and `respond_to?`.
const METHODS: [&str; 6] = [
    "source",
    "metadata",
    "cookbook",
    "group",
    "solver",
    "extension",
];

/// The group of dependencies declared outside any group.
pub const DEFAULT_GROUP: &str = "default";

/// Everything a Berksfile declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The Berksfile this was read from.
    pub path: PathBuf,
    /// Sources in the order written, duplicates removed.
    pub sources: Vec<SourceSpec>,
    /// Dependencies in the order written (a later entry that replaces an
    /// earlier one in disjoint groups takes its place).
    pub dependencies: Vec<DependencySpec>,
    /// The `solver` line, if any; larder has one solver and only records it.
    pub solver: Option<SolverSpec>,
    /// Things that were ignored, as `path:line: message`.
    pub warnings: Vec<String>,
}

/// Where cookbook versions are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A Supermarket-compatible API (`http`, `https` or `file` URL).
    Url(String),
    /// An Artifactory Chef repository; the key comes from `api_key:` or
    /// `$ARTIFACTORY_API_KEY`.
    Artifactory {
        url: String,
        api_key: Option<String>,
    },
    /// A directory of cookbooks (absolute).
    ChefRepo(PathBuf),
    /// A Chef Infra Server: `source :chef_server` (`None`: the server of the
    /// knife/credentials configuration) or `source chef_server: URL`.
    ChefServer(Option<String>),
}

/// One `cookbook` or `metadata` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencySpec {
    /// The cookbook name; `None` for a `metadata` line, whose name is whatever
    /// the metadata in its directory says (read it from `location`).
    pub name: Option<String>,
    pub constraint: Constraint,
    pub location: Location,
    /// Never empty: dependencies outside any group are in [`DEFAULT_GROUP`].
    pub groups: Vec<String>,
    /// The line of the Berksfile that declared it.
    pub line: usize,
}

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Any of the manifest's sources.
    Default,
    /// A directory on disk (absolute). `metadata` is true for the `metadata`
    /// line (and `metadata: true`).
    Path { path: PathBuf, metadata: bool },
    /// A git repository; `rel` is the cookbook's directory inside it.
    Git {
        url: String,
        branch: Option<String>,
        tag: Option<String>,
        reference: Option<String>,
        rel: Option<PathBuf>,
    },
}

/// The `solver` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolverSpec {
    pub engine: SolverEngine,
    /// `:required` rather than `:preferred`.
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverEngine {
    Ruby,
    Gecode,
}

/// Which groups a command works on (`--only` / `--except`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GroupFilter {
    #[default]
    All,
    Only(Vec<String>),
    Except(Vec<String>),
}

impl GroupFilter {
    /// The filter for `--only` and `--except`; giving both is an error.
    pub fn new(only: &[String], except: &[String]) -> Result<GroupFilter, BerksfileError> {
        match (only.is_empty(), except.is_empty()) {
            (true, true) => Ok(GroupFilter::All),
            (false, true) => Ok(GroupFilter::Only(only.to_vec())),
            (true, false) => Ok(GroupFilter::Except(except.to_vec())),
            (false, false) => Err(BerksfileError::OnlyAndExcept),
        }
    }

    /// Whether a dependency in `groups` passes the filter.
    pub fn allows(&self, groups: &[String]) -> bool {
        match self {
            GroupFilter::All => true,
            GroupFilter::Only(only) => groups.iter().any(|g| only.contains(g)),
            GroupFilter::Except(except) => !groups.iter().any(|g| except.contains(g)),
        }
    }
}

/// Why a Berksfile could not be read. [`BerksfileError::exit_code`] gives
/// the status Berkshelf exits with for the same problem.
#[derive(Debug, thiserror::Error)]
pub enum BerksfileError {
    #[error("No Berksfile found at '{}'! Create one, or point to it with --berksfile.", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read the Berksfile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A syntax error, a construct outside the evaluated subset, or a method
    /// or argument the Berksfile DSL does not accept.
    #[error("{0}")]
    Invalid(Diagnostic),
    /// A source URL whose scheme is not http, https or file.
    #[error("{0}")]
    InvalidSourceUri(Diagnostic),
    /// The same cookbook twice in overlapping groups.
    #[error("{diagnostic}")]
    DuplicateDependency {
        name: String,
        diagnostic: Diagnostic,
    },
    /// `solver :x, :required` with an engine that does not exist.
    #[error("{0}")]
    UnsupportedSolver(Diagnostic),
    #[error("Cannot specify both --only and --except; use one of them.")]
    OnlyAndExcept,
}

impl BerksfileError {
    /// Berkshelf's exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            BerksfileError::NotFound { .. } => 100,
            BerksfileError::Read { .. } | BerksfileError::Invalid(_) => 113,
            BerksfileError::InvalidSourceUri(_) => 137,
            BerksfileError::DuplicateDependency { .. } => 105,
            BerksfileError::UnsupportedSolver(_) | BerksfileError::OnlyAndExcept => 99,
        }
    }
}

impl From<Diagnostic> for BerksfileError {
    fn from(diagnostic: Diagnostic) -> Self {
        BerksfileError::Invalid(diagnostic)
    }
}

impl Manifest {
    /// Reads and evaluates the Berksfile at `path`, with `ENV` the process
    /// environment.
    pub fn load(path: &Path) -> Result<Manifest, BerksfileError> {
        Manifest::load_with_env(path, &dsl::process_env)
    }

    /// [`Manifest::load`] with `ENV` looked up through `env`.
    pub fn load_with_env(path: &Path, env: EnvLookup<'_>) -> Result<Manifest, BerksfileError> {
        let source = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BerksfileError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                BerksfileError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Manifest::parse(path, &source, env)
    }

    /// Evaluates `source` as the Berksfile at `path` (relative paths in it
    /// resolve against `path`'s directory).
    pub fn parse(
        path: &Path,
        source: &[u8],
        env: EnvLookup<'_>,
    ) -> Result<Manifest, BerksfileError> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        let mut reader = Reader {
            dir,
            env,
            positions: HashMap::new(),
            manifest: Manifest {
                path: path.to_path_buf(),
                sources: Vec::new(),
                dependencies: Vec::new(),
                solver: None,
                warnings: Vec::new(),
            },
        };
        dsl::evaluate(path, source, env, &mut reader, Vec::new())?;
        Ok(reader.manifest)
    }

    /// The dependencies `filter` lets through, in order.
    pub fn dependencies_for<'a>(
        &'a self,
        filter: &'a GroupFilter,
    ) -> impl Iterator<Item = &'a DependencySpec> + 'a {
        self.dependencies
            .iter()
            .filter(|d| filter.allows(&d.groups))
    }

    /// Every group named in the Berksfile (including `default` if used), in
    /// order of first appearance.
    pub fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for group in self.dependencies.iter().flat_map(|d| &d.groups) {
            if !groups.contains(&group.as_str()) {
                groups.push(group);
            }
        }
        groups
    }

    /// Gives Artifactory sources that have no API key (neither `api_key:`
    /// nor `$ARTIFACTORY_API_KEY`) the key configured for their URL.
    pub fn fill_api_keys(&mut self, keys: &std::collections::BTreeMap<String, String>) {
        for source in &mut self.sources {
            if let SourceSpec::Artifactory { url, api_key } = source
                && api_key.is_none()
            {
                *api_key = keys.get(url.trim_end_matches('/')).cloned();
            }
        }
    }
}

/// The [`Handler`] that builds a [`Manifest`]; its context is the groups of
/// the enclosing `group` blocks.
struct Reader<'e> {
    dir: PathBuf,
    env: EnvLookup<'e>,
    /// Where each dependency sits in `manifest.dependencies`, by
    /// [`dependency_key`], so that long Berksfiles are read in linear time.
    positions: HashMap<String, usize>,
    manifest: Manifest,
}

/// What makes two dependencies the same entry: the cookbook name, or for a
/// `metadata` line its directory.
fn dependency_key(spec: &DependencySpec) -> String {
    match (&spec.name, &spec.location) {
        (Some(name), _) => name.clone(),
        (None, Location::Path { path, .. }) => format!("\0metadata {}", path.display()),
        (None, _) => "\0metadata".to_string(),
    }
}

impl Handler for Reader<'_> {
    type Context = Vec<String>;
    type Error = BerksfileError;

    fn call(&mut self, call: Call<'_, Vec<String>>) -> Result<Reply<Vec<String>>, BerksfileError> {
        match call.name {
            "source" => self.source(&call)?,
            "metadata" => self.metadata(&call)?,
            "cookbook" => self.cookbook(call)?,
            "group" => return group(&call).map(Reply::EvaluateBlock),
            "solver" => self.solver(&call)?,
            "extension" => {
                let name = call.args.first().map_or_else(String::new, Value::to_ruby_s);
                self.warn(
                    &call.site,
                    format!("`extension '{name}'` ignored: larder needs no Berkshelf extensions"),
                );
            }
            "site" | "chef_api" => {
                return Err(call
                    .site
                    .error(format!(
                        "`{}` is Berkshelf 2 syntax and no longer supported; \
                         write `source 'https://supermarket.chef.io'` instead",
                        call.name
                    ))
                    .into());
            }
            other => {
                return Err(call
                    .site
                    .error(format!(
                        "`{other}` is not a Berksfile method; a Berksfile may call {}",
                        METHODS.join(", ")
                    ))
                    .into());
            }
        }
        Ok(Reply::Value(Value::Nil))
    }

    fn responds_to(&self, name: &str) -> bool {
        METHODS.contains(&name)
    }
}

/// The names of a `group`'s arguments (symbols, strings, arrays of them).
fn group_names(value: &Value, site: &Site, out: &mut Vec<String>) -> Result<(), BerksfileError> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| group_names(v, site, out)),
        other => match other.as_name() {
            Some(name) => {
                if !out.iter().any(|g| g == name) {
                    out.push(name.to_string());
                }
                Ok(())
            }
            None => Err(site
                .error(format!(
                    "a group name must be a symbol or a string, not {}",
                    other.type_name()
                ))
                .into()),
        },
    }
}

fn group(call: &Call<'_, Vec<String>>) -> Result<Vec<String>, BerksfileError> {
    if call.args.is_empty() {
        return Err(call
            .site
            .error("`group` needs a name, such as `group :test do ... end`")
            .into());
    }
    let mut groups = call.context.clone();
    for arg in &call.args {
        group_names(arg, &call.site, &mut groups)?;
    }
    Ok(groups)
}

fn option_key(key: &Value) -> &str {
    key.as_name().unwrap_or("")
}

fn string_option(
    call: &Call<'_, Vec<String>>,
    key: &str,
    value: &Value,
) -> Result<String, BerksfileError> {
    match value.as_name() {
        Some(s) => Ok(s.to_string()),
        None => Err(call
            .site
            .error(format!(
                "`{key}:` must be a string, not {}",
                value.type_name()
            ))
            .into()),
    }
}

/// Checks that a source URL uses a scheme Berkshelf accepts.
fn check_url(url: &str, site: &Site) -> Result<(), BerksfileError> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    let shown = crate::shown::shown(&crate::http::redact(url));
    let message = match scheme.as_deref() {
        Some("http" | "https" | "file") => return Ok(()),
        Some(other) => format!(
            "'{shown}' is not a valid source URI: invalid URI scheme '{}'. \
             Valid schemes: http, https, file",
            crate::shown::shown(other)
        ),
        None => format!(
            "'{shown}' is not a valid source URI: it has no scheme. \
             Write it in full, such as 'https://supermarket.chef.io'"
        ),
    };
    // The quoted line would repeat the URL's secrets.
    let mut diagnostic = site.error(message);
    diagnostic.source_line = crate::http::redact_message(&diagnostic.source_line, url);
    Err(BerksfileError::InvalidSourceUri(diagnostic))
}

impl Reader<'_> {
    fn warn(&mut self, site: &Site, message: String) {
        self.manifest
            .warnings
            .push(format!("{}: {message}", site.short()));
    }

    fn groups_for(context: &[String], extra: Vec<String>) -> Vec<String> {
        let mut groups = context.to_vec();
        for group in extra {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        if groups.is_empty() {
            groups.push(DEFAULT_GROUP.to_string());
        }
        groups
    }

    fn source(&mut self, call: &Call<'_, Vec<String>>) -> Result<(), BerksfileError> {
        let spec = match (call.args.as_slice(), call.options.as_slice()) {
            ([Value::String(url)], []) => {
                check_url(url, &call.site)?;
                SourceSpec::Url(url.clone())
            }
            ([Value::Symbol(s)], []) if s == "chef_server" => SourceSpec::ChefServer(None),
            ([], [(key, value), rest @ ..]) => match option_key(key) {
                "chef_server" => {
                    let url = string_option(call, "chef_server", value)?;
                    check_url(&url, &call.site)?;
                    SourceSpec::ChefServer(Some(url))
                }
                "artifactory" => {
                    let url = string_option(call, "artifactory", value)?;
                    check_url(&url, &call.site)?;
                    let mut api_key = None;
                    for (key, value) in rest {
                        match option_key(key) {
                            "api_key" => api_key = Some(string_option(call, "api_key", value)?),
                            other => self.warn(
                                &call.site,
                                format!("unknown source option `{other}` ignored"),
                            ),
                        }
                    }
                    SourceSpec::Artifactory {
                        url,
                        api_key: api_key.or_else(|| (self.env)("ARTIFACTORY_API_KEY")),
                    }
                }
                "chef_repo" => {
                    let dir = string_option(call, "chef_repo", value)?;
                    SourceSpec::ChefRepo(dsl::expand_path(&self.dir, Path::new(&dir)))
                }
                other => {
                    return Err(call
                        .site
                        .error(format!(
                            "unknown source `{other}:`; write a URL, `artifactory: URL, api_key: KEY` or `chef_repo: DIR`"
                        ))
                        .into());
                }
            },
            _ => {
                return Err(call
                    .site
                    .error(
                        "`source` takes one URL (such as 'https://supermarket.chef.io'), \
                         `artifactory: URL, api_key: KEY` or `chef_repo: DIR`",
                    )
                    .into());
            }
        };
        if !self.manifest.sources.contains(&spec) {
            self.manifest.sources.push(spec);
        }
        Ok(())
    }

    fn metadata(&mut self, call: &Call<'_, Vec<String>>) -> Result<(), BerksfileError> {
        if !call.args.is_empty() {
            return Err(call
                .site
                .error("`metadata` takes no arguments except `path: DIR`")
                .into());
        }
        let mut dir = self.dir.clone();
        for (key, value) in &call.options {
            match option_key(key) {
                "path" => {
                    dir =
                        dsl::expand_path(&self.dir, Path::new(&string_option(call, "path", value)?))
                }
                other => self.warn(
                    &call.site,
                    format!("unknown metadata option `{other}` ignored"),
                ),
            }
        }
        let spec = DependencySpec {
            name: None,
            constraint: Constraint::any(),
            location: Location::Path {
                path: dir,
                metadata: true,
            },
            groups: Reader::groups_for(call.context, Vec::new()),
            line: call.site.line,
        };
        self.add(spec, &call.site, "metadata")
    }

    fn cookbook(&mut self, call: Call<'_, Vec<String>>) -> Result<(), BerksfileError> {
        let mut args = call.args.clone();
        let mut options = call.options.clone();
        if let (true, Some(Value::Hash(hash))) = (options.is_empty(), args.last()) {
            options = hash.clone();
            args.pop();
        }
        let (name, constraint_text) = match args.as_slice() {
            [name] => (name, None),
            [name, constraint] => (name, Some(constraint)),
            _ => {
                return Err(call
                    .site
                    .error("`cookbook` takes a name, an optional constraint and options, such as `cookbook 'nginx', '~> 2.7', git: URL`")
                    .into());
            }
        };
        let Some(name) = name.as_name().filter(|n| !n.is_empty()).map(str::to_string) else {
            return Err(call
                .site
                .error(format!(
                    "a cookbook name must be a non-empty string, not {}",
                    crate::shown::shown(&name.to_string())
                ))
                .into());
        };
        if let Err(reason) = crate::index::check_cookbook_name(&name) {
            return Err(call.site.error(reason).into());
        }
        let constraint = match constraint_text {
            None => Constraint::any(),
            Some(Value::String(text)) => Constraint::parse(text).map_err(|e| {
                call.site.error(format!(
                    "cookbook '{name}' has an invalid version constraint: {e}"
                ))
            })?,
            Some(other) => {
                return Err(call
                    .site
                    .error(format!(
                        "cookbook '{name}': the constraint must be a string such as '~> 1.0', not {other}"
                    ))
                    .into());
            }
        };
        let mut location = Location::Default;
        let mut location_key: Option<String> = None;
        let (mut branch, mut tag, mut reference, mut rel) = (None, None, None, None);
        let mut metadata = false;
        let mut protocol = "https".to_string();
        let mut github = None;
        let mut groups = Vec::new();
        for (key, value) in &options {
            let key = option_key(key);
            let claims_location = matches!(key, "path" | "git" | "github");
            if claims_location {
                if let Some(first) = &location_key {
                    self.warn(
                        &call.site,
                        format!(
                            "cookbook '{name}': `{key}:` ignored because `{first}:` comes first"
                        ),
                    );
                    continue;
                }
                location_key = Some(key.to_string());
            }
            match key {
                "group" => group_names(value, &call.site, &mut groups)?,
                "path" => {
                    let path = string_option(&call, key, value)?;
                    location = Location::Path {
                        path: dsl::expand_path(&self.dir, Path::new(&path)),
                        metadata: false,
                    };
                }
                "git" => {
                    location = Location::Git {
                        url: string_option(&call, key, value)?,
                        branch: None,
                        tag: None,
                        reference: None,
                        rel: None,
                    };
                }
                "github" => github = Some(string_option(&call, key, value)?),
                "branch" => branch = Some(string_option(&call, key, value)?),
                "tag" => tag = Some(string_option(&call, key, value)?),
                "ref" => reference = Some(string_option(&call, key, value)?),
                "rel" => rel = Some(PathBuf::from(string_option(&call, key, value)?)),
                "protocol" => protocol = string_option(&call, key, value)?,
                "metadata" => metadata = value.is_truthy(),
                other => self.warn(
                    &call.site,
                    format!("cookbook '{name}': unknown option `{other}` ignored"),
                ),
            }
        }
        if let Some(repo) = github {
            let valid = repo.split('/').filter(|p| !p.is_empty()).count() == 2
                && repo.matches('/').count() == 1;
            let url = match (valid, protocol.as_str()) {
                (false, _) => None,
                (true, "https") => Some(format!("https://github.com/{repo}.git")),
                (true, "ssh") => Some(format!("git@github.com:{repo}.git")),
                (true, "git") => Some(format!("git://github.com/{repo}.git")),
                (true, _) => {
                    return Err(call
                        .site
                        .error(format!("cookbook '{name}': unknown github protocol '{protocol}'; use https, ssh or git"))
                        .into());
                }
            };
            let Some(url) = url else {
                return Err(call
                    .site
                    .error(format!(
                        "cookbook '{name}': `github:` must be 'owner/repository', not '{repo}'"
                    ))
                    .into());
            };
            location = Location::Git {
                url,
                branch: None,
                tag: None,
                reference: None,
                rel: None,
            };
        }
        match &mut location {
            Location::Git {
                branch: b,
                tag: t,
                reference: r,
                rel: l,
                ..
            } => {
                (*b, *t, *r, *l) = (branch, tag, reference, rel);
            }
            Location::Path { metadata: m, .. } => *m = metadata,
            Location::Default => {}
        }
        if !matches!(location, Location::Git { .. }) {
            let stray: Vec<&str> = options
                .iter()
                .map(|(k, _)| option_key(k))
                .filter(|k| matches!(*k, "branch" | "tag" | "ref" | "rel"))
                .collect();
            if !stray.is_empty() {
                self.warn(
                    &call.site,
                    format!(
                        "cookbook '{name}': `{}:` only applies to git locations and was ignored",
                        stray.join(":`, `")
                    ),
                );
            }
        }
        let spec = DependencySpec {
            name: Some(name.clone()),
            constraint,
            location,
            groups: Reader::groups_for(call.context, groups),
            line: call.site.line,
        };
        self.add(spec, &call.site, &name)
    }

    /// Adds a dependency; the same cookbook again is an error unless the
    /// groups are disjoint, in which case the later one replaces it.
    fn add(&mut self, spec: DependencySpec, site: &Site, what: &str) -> Result<(), BerksfileError> {
        let key = dependency_key(&spec);
        match self.positions.get(&key) {
            None => {
                self.positions.insert(key, self.manifest.dependencies.len());
                self.manifest.dependencies.push(spec);
            }
            Some(&index) => {
                let earlier = &self.manifest.dependencies[index];
                if earlier.groups.iter().any(|g| spec.groups.contains(g)) {
                    return Err(BerksfileError::DuplicateDependency {
                        name: what.to_string(),
                        diagnostic: site.error(format!(
                            "Your Berksfile contains multiple entries named '{what}' (the first is on line {}). \
                             Remove the duplicate, or put them in different groups.",
                            earlier.line
                        )),
                    });
                }
                self.manifest.dependencies[index] = spec;
            }
        }
        Ok(())
    }

    fn solver(&mut self, call: &Call<'_, Vec<String>>) -> Result<(), BerksfileError> {
        let usage = || -> BerksfileError {
            call.site
                .error("`solver` takes an engine and an optional precedence, such as `solver :ruby, :required`")
                .into()
        };
        let (engine, precedence) = match call.args.as_slice() {
            [engine] => (engine, None),
            [engine, precedence] => (engine, Some(precedence)),
            _ => return Err(usage()),
        };
        let required = match precedence.map(|p| p.as_name()) {
            None => false,
            Some(Some("preferred")) => false,
            Some(Some("required")) => true,
            Some(_) => return Err(usage()),
        };
        let engine = match engine.as_name() {
            Some("ruby") => SolverEngine::Ruby,
            Some("gecode") => SolverEngine::Gecode,
            Some(other) if required => {
                return Err(BerksfileError::UnsupportedSolver(call.site.error(format!(
                    "Engine `{other}` is not supported. Valid values are `:ruby`, `:gecode`"
                ))));
            }
            Some(other) => {
                self.warn(
                    &call.site,
                    format!("solver `{other}` is unknown; larder uses its own solver"),
                );
                return Ok(());
            }
            None => return Err(usage()),
        };
        self.manifest.solver = Some(SolverSpec { engine, required });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(source: &str) -> Result<Manifest, BerksfileError> {
        Manifest::parse(Path::new("/work/app/Berksfile"), source.as_bytes(), &no_env)
    }

    fn manifest(source: &str) -> Manifest {
        match parse(source) {
            Ok(m) => m,
            Err(e) => panic!("unexpected error:\n{e}"),
        }
    }

    fn error(source: &str) -> BerksfileError {
        match parse(source) {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(e) => e,
        }
    }

    fn constraint(text: &str) -> Constraint {
        match Constraint::parse(text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn git(url: &str) -> Location {
        Location::Git {
            url: url.into(),
            branch: None,
            tag: None,
            reference: None,
            rel: None,
        }
    }

    fn dep(
        name: &str,
        c: &str,
        location: Location,
        groups: &[&str],
        line: usize,
    ) -> DependencySpec {
        DependencySpec {
            name: Some(name.into()),
            constraint: constraint(c),
            location,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            line,
        }
    }

    /// The example file uses every supported form; this is the test that
    /// they all come through as intended.
    #[test]
    fn the_example_berksfile_round_trips() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let env = |name: &str| (name == "ARTIFACTORY_API_KEY").then(|| "unused".to_string());
        let m = match Manifest::load_with_env(&root.join("Berksfile.example"), &env) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            m.sources,
            [
                SourceSpec::Url("https://supermarket.chef.io".into()),
                SourceSpec::Artifactory {
                    url: "https://artifactory.example.com/api/chef/chef-virtual".into(),
                    api_key: Some("not-set".into()),
                },
                SourceSpec::ChefRepo(dsl::expand_path(root, Path::new("../chef-repo"))),
                SourceSpec::ChefServer(None),
                SourceSpec::ChefServer(Some("https://chef.example.com/organizations/ops".into())),
            ]
        );
        assert_eq!(
            m.solver,
            Some(SolverSpec {
                engine: SolverEngine::Ruby,
                required: false
            })
        );
        let git_with = |url: &str,
                        branch: Option<&str>,
                        tag: Option<&str>,
                        reference: Option<&str>,
                        rel: Option<&str>| Location::Git {
            url: url.into(),
            branch: branch.map(Into::into),
            tag: tag.map(Into::into),
            reference: reference.map(Into::into),
            rel: rel.map(PathBuf::from),
        };
        let path = |p: &str| Location::Path {
            path: root.join(p),
            metadata: false,
        };
        let expected = vec![
            DependencySpec {
                name: None,
                constraint: Constraint::any(),
                location: Location::Path {
                    path: root.to_path_buf(),
                    metadata: true,
                },
                groups: vec!["default".into()],
                line: 18,
            },
            dep("apt", "~> 7.0", Location::Default, &["legacy"], 59),
            dep("nginx", "~> 2.7", Location::Default, &["default"], 22),
            dep(
                "build-essential",
                ">= 8.0.0",
                Location::Default,
                &["default"],
                23,
            ),
            dep("java", "= 1.50.0", Location::Default, &["default"], 24),
            dep(
                "site_config",
                ">= 0.0.0",
                path("site-cookbooks/site_config"),
                &["default"],
                27,
            ),
            dep(
                "mysql",
                ">= 0.0.0",
                git_with(
                    "https://git.example.com/cookbooks/mysql.git",
                    Some("release-8"),
                    None,
                    None,
                    None,
                ),
                &["default"],
                30,
            ),
            dep(
                "postgresql",
                ">= 0.0.0",
                git_with(
                    "https://git.example.com/cookbooks/postgresql.git",
                    None,
                    Some("v7.1.3"),
                    None,
                    None,
                ),
                &["default"],
                31,
            ),
            dep(
                "redis",
                ">= 0.0.0",
                git_with(
                    "git@git.example.com:ops/redis.git",
                    None,
                    None,
                    Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
                    None,
                ),
                &["default"],
                32,
            ),
            dep(
                "monitoring",
                ">= 0.0.0",
                git_with(
                    "https://git.example.com/ops/cookbooks.git",
                    None,
                    None,
                    None,
                    Some("cookbooks/monitoring"),
                ),
                &["default"],
                33,
            ),
            dep(
                "docker",
                ">= 0.0.0",
                git_with(
                    "https://github.com/sous-chefs/docker.git",
                    None,
                    Some("v11.0.0"),
                    None,
                    None,
                ),
                &["default"],
                36,
            ),
            dep(
                "test_helpers",
                ">= 0.0.0",
                path("test/fixtures/cookbooks/test_helpers"),
                &["integration"],
                40,
            ),
            dep(
                "kitchen_tools",
                "~> 1.0",
                Location::Default,
                &["integration", "ci"],
                41,
            ),
            dep(
                "app",
                ">= 3.0.0",
                Location::Default,
                &["dev", "staging"],
                48,
            ),
            dep("debug_tools", ">= 0.0.0", Location::Default, &["dev"], 50),
            dep("users", ">= 1.0", Location::Default, &["base"], 54),
            dep("sudo", ">= 1.0", Location::Default, &["base"], 54),
            dep("ntp", ">= 1.0", Location::Default, &["base"], 54),
            dep(
                "haproxy",
                ">= 1.0",
                git_with(
                    "https://git.example.com/cookbooks/haproxy.git",
                    Some("main"),
                    None,
                    None,
                    None,
                ),
                &["default"],
                70,
            ),
        ];
        assert_eq!(m.dependencies.len(), expected.len());
        for (got, want) in m.dependencies.iter().zip(&expected) {
            assert_eq!(got, want);
        }
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
        assert!(
            m.warnings[0].ends_with(
                "Berksfile.example:76: `extension 'halite'` ignored: larder needs no Berkshelf extensions"
            ),
            "{:?}",
            m.warnings
        );
        assert_eq!(
            m.groups(),
            [
                "default",
                "legacy",
                "integration",
                "ci",
                "dev",
                "staging",
                "base"
            ]
        );

        let production = |name: &str| match name {
            "CHEF_STAGE" => Some("production".to_string()),
            "CI" => Some("true".to_string()),
            "ARTIFACTORY_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let m = match Manifest::load_with_env(&root.join("Berksfile.example"), &production) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let app = m
            .dependencies
            .iter()
            .find(|d| d.name.as_deref() == Some("app"));
        assert_eq!(
            app,
            Some(&dep("app", "= 3.2.1", Location::Default, &["default"], 46))
        );
        assert!(
            !m.dependencies
                .iter()
                .any(|d| d.name.as_deref() == Some("debug_tools"))
        );
        assert!(m.sources.contains(&SourceSpec::Artifactory {
            url: "https://artifactory.example.com/api/chef/chef-virtual".into(),
            api_key: Some("secret".into()),
        }));
    }

    #[test]
    fn group_filters_select_dependencies() {
        let m = manifest(
            "cookbook 'a'\ncookbook 'b', group: :test\ngroup :test, :ci do\n cookbook 'c'\nend",
        );
        let names = |filter: &GroupFilter| -> Vec<String> {
            m.dependencies_for(filter)
                .filter_map(|d| d.name.clone())
                .collect()
        };
        assert_eq!(names(&GroupFilter::All), ["a", "b", "c"]);
        let only = GroupFilter::new(&["ci".into()], &[]).unwrap_or_default();
        assert_eq!(names(&only), ["c"]);
        let except = GroupFilter::new(&[], &["test".into()]).unwrap_or_default();
        assert_eq!(names(&except), ["a"]);
        let both = GroupFilter::new(&["a".into()], &["b".into()]);
        assert!(matches!(both, Err(ref e) if e.exit_code() == 99));
    }

    #[test]
    fn artifactory_key_falls_back_to_the_environment() {
        let env = |name: &str| (name == "ARTIFACTORY_API_KEY").then(|| "from-env".to_string());
        let m = Manifest::parse(
            Path::new("/b/Berksfile"),
            b"source artifactory: 'https://a.example/api/chef/x'",
            &env,
        );
        assert_eq!(
            m.ok().map(|m| m.sources),
            Some(vec![SourceSpec::Artifactory {
                url: "https://a.example/api/chef/x".into(),
                api_key: Some("from-env".into()),
            }])
        );
    }

    #[test]
    fn locations_options_and_warnings() {
        let m = manifest(
            "cookbook 'a', path: '../lib/a', metadata: true, git: 'ignored'\n\
             cookbook 'b', github: 'o/b', protocol: :ssh, frobnicate: 1\n\
             cookbook 'c', branch: 'main'\n\
             cookbook :d, '1.2.3', { 'group' => [:x, 'y'] }",
        );
        assert_eq!(
            m.dependencies[0].location,
            Location::Path {
                path: PathBuf::from("/work/lib/a"),
                metadata: true
            }
        );
        assert_eq!(m.dependencies[1].location, git("git@github.com:o/b.git"));
        assert_eq!(m.dependencies[2].location, Location::Default);
        assert_eq!(
            m.dependencies[3],
            dep("d", "= 1.2.3", Location::Default, &["x", "y"], 4)
        );
        assert_eq!(m.warnings.len(), 3, "{:?}", m.warnings);
        assert!(m.warnings[0].starts_with("/work/app/Berksfile:1: cookbook 'a': `git:` ignored"));
        assert!(m.warnings[1].contains("unknown option `frobnicate`"));
        assert!(m.warnings[2].contains("`branch:` only applies to git"));
    }

    #[test]
    fn duplicate_sources_collapse_and_bad_schemes_are_137() {
        let m = manifest(
            "source 'https://s.example'\nsource 'https://s.example'\nsource 'file:///srv/x'",
        );
        assert_eq!(m.sources.len(), 2);
        for bad in ["source 'ftp://s.example'", "source 's.example'"] {
            let e = error(bad);
            assert_eq!(e.exit_code(), 137, "{e}");
            assert!(matches!(e, BerksfileError::InvalidSourceUri(_)));
            assert!(e.to_string().contains("Valid schemes") || e.to_string().contains("no scheme"));
        }
    }

    #[test]
    fn repeated_cookbooks_are_105_unless_groups_are_disjoint() {
        let e = error("cookbook 'a'\ncookbook 'a', '~> 1.0'");
        assert_eq!(e.exit_code(), 105);
        assert!(e.to_string().starts_with(
            "/work/app/Berksfile:2:1: Your Berksfile contains multiple entries named 'a'"
        ));
        let e = error("cookbook 'a', group: [:x, :y]\ngroup :y do\n  cookbook 'a'\nend");
        assert_eq!(e.exit_code(), 105);
        let m =
            manifest("cookbook 'a', group: :x\ncookbook 'b'\ncookbook 'a', '= 2.0.0', group: :y");
        assert_eq!(
            m.dependencies[0],
            dep("a", "= 2.0.0", Location::Default, &["y"], 3)
        );
        assert_eq!(error("metadata\nmetadata").exit_code(), 105);
    }

    #[test]
    fn chef_server_sources() {
        let m = manifest(
            "source :chef_server\nsource chef_server: 'https://c.example/organizations/o'",
        );
        assert_eq!(
            m.sources,
            [
                SourceSpec::ChefServer(None),
                SourceSpec::ChefServer(Some("https://c.example/organizations/o".into()))
            ]
        );
    }

    #[test]
    fn unsupported_and_invalid_lines_are_113_with_a_location() {
        for (source, message) in [
            (
                "cookbook 'a', 'not a version'",
                "cookbook 'a' has an invalid version constraint: 'not a version'",
            ),
            ("site :opscode", "Berkshelf 2 syntax"),
            ("chef_api :config", "Berkshelf 2 syntax"),
            (
                "cookbooks 'a'",
                "a Berksfile may call source, metadata, cookbook, group, solver",
            ),
            (
                "source 'https://a.example', verify: false",
                "`source` takes one URL",
            ),
            ("cookbook 'a', '1.0', '2.0'", "`cookbook` takes a name"),
            ("cookbook 'a', github: 'nope'", "'owner/repository'"),
            (
                "cookbook 'a', group: 1",
                "group name must be a symbol or a string",
            ),
            ("system 'id'", "`system` is not allowed"),
        ] {
            let e = error(&format!("source 'https://s.example'\n{source}\n"));
            assert_eq!(e.exit_code(), 113, "{source}: {e}");
            let shown = e.to_string();
            assert!(shown.starts_with("/work/app/Berksfile:2:1: "), "{shown}");
            assert!(shown.contains(message), "{source}: {shown}");
        }
    }

    #[test]
    fn the_dialect_of_real_berksfiles() {
        let m = manifest(
            "source 'https://supermarket.chef.io/'\n\
             extension 'halite'\n\
             Encoding.default_external = Encoding::UTF_8\n\
             def fixture(name)\n  cookbook \"x_#{name}\", path: \"test/fixtures/cookbooks/#{name}\"\nend\n\
             group :integration do\n  fixture 'a'\nend\n\
             cookbook 'poise', gem: 'poise'\n",
        );
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(m.warnings[0].starts_with("/work/app/Berksfile:2: `extension 'halite'` ignored: larder needs no Berkshelf extensions"));
        assert!(m.warnings[1].contains("cookbook 'poise': unknown option `gem` ignored"));
        assert_eq!(
            m.dependencies[0],
            dep(
                "x_a",
                ">= 0.0.0",
                Location::Path {
                    path: PathBuf::from("/work/app/test/fixtures/cookbooks/a"),
                    metadata: false
                },
                &["integration"],
                5
            )
        );
    }

    #[test]
    fn solvers() {
        let m = manifest("solver 'gecode', :required");
        assert_eq!(
            m.solver,
            Some(SolverSpec {
                engine: SolverEngine::Gecode,
                required: true
            })
        );
        let m = manifest("solver :mystery");
        assert_eq!((m.solver, m.warnings.len()), (None, 1));
        let e = error("solver :mystery, :required");
        assert_eq!(e.exit_code(), 99);
        assert!(e.to_string().contains("Engine `mystery` is not supported"));
    }

    proptest::proptest! {
        #[test]
        fn berksfile_like_text_never_panics(source in "((cookbook|source|group|metadata|solver) |'[a-z/:.~>= 0-9]{0,12}'|:[a-z_]{1,8}|[a-z_]{1,6}: |, |do|end|\\n|%w\\[a b\\]|\\[|\\]){0,40}") {
            let _ = parse(&source);
        }
    }

    #[test]
    fn missing_berksfile_is_100() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let e = Manifest::load(&dir.path().join("Berksfile"));
        assert!(matches!(e, Err(BerksfileError::NotFound { .. })));
        assert_eq!(e.err().map(|e| e.exit_code()), Some(100));
    }
}
