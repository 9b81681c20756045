//! Reading cookbook universes: the JSON a Supermarket serves at `/universe`,
//! and the two shapes the `solve` gem's fixtures use.
//!
//! Three shapes are accepted:
//! - a Supermarket `/universe` body:
//!   `{name: {version: {"dependencies": {dep: constraint}, "download_url": ..., ...}}}`
//! - a pruned graph: `{name: {version: {dep: constraint}}}`
//! - an acceptance case: `{"demands": [[name, constraint]...], "graph": <pruned graph>}`
//!
//! Bad data never aborts the load: a version that cannot be ordered is left
//! out, and a version with a malformed constraint is kept but marked
//! unusable. Each such decision leaves a note on the index.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::index::{CookbookId, Index, Origin, Release, Requirement, check_cookbook_name};
use crate::shown::shown;
use crate::version::{Constraint, Version};

/// A demand stored in an acceptance case: a cookbook and a constraint text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDemand {
    pub name: String,
    pub constraint: String,
}

/// What a universe file holds.
#[derive(Debug, Default)]
pub struct UniverseFile {
    pub index: Index,
    /// The demands of an acceptance case (empty for the other shapes).
    pub demands: Vec<StoredDemand>,
}

/// A universe that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum UniverseError {
    #[error("cannot read universe {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{origin} is not a cookbook universe: {source} (expected a JSON object of cookbook \
         names to versions)"
    )]
    Json {
        origin: String,
        source: serde_json::Error,
    },
}

/// Reads a universe file in any of the three shapes.
pub fn load_file(path: &Path) -> Result<UniverseFile, UniverseError> {
    let bytes = std::fs::read(path).map_err(|source| UniverseError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut file = UniverseFile::default();
    file.demands = parse_into(
        &bytes,
        &path.display().to_string(),
        &mut file.index,
        |_, _| Origin::Listed,
    )?;
    Ok(file)
}

/// Parses a universe body into `index`, giving each release the origin
/// `origin_of(cookbook, download_url)` returns. Returns the acceptance
/// demands, if the body has any. `origin` names the body in errors.
///
/// Releases go into the index as the parser meets them, with no
/// intermediate document: loading is most of the time a resolve takes.
pub fn parse_into(
    bytes: &[u8],
    origin: &str,
    index: &mut Index,
    origin_of: impl Fn(&str, Option<&str>) -> Origin,
) -> Result<Vec<StoredDemand>, UniverseError> {
    // Checking UTF-8 once for the whole body is much cheaper than serde_json
    // checking every string of a slice on its own.
    let text = std::str::from_utf8(bytes).map_err(|e| UniverseError::Json {
        origin: origin.to_string(),
        source: de::Error::custom(format!("not UTF-8: {e}")),
    })?;
    let mut loader = Loader {
        index,
        origin,
        origin_of: &origin_of,
        demands: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    DocumentSeed(&mut loader)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|source| UniverseError::Json {
            origin: origin.to_string(),
            source,
        })?;
    Ok(loader.demands)
}

/// Where parsed releases go.
struct Loader<'a> {
    index: &'a mut Index,
    origin: &'a str,
    origin_of: &'a dyn Fn(&str, Option<&str>) -> Origin,
    demands: Vec<StoredDemand>,
}

impl Loader<'_> {
    /// Adds one version of `name`, or notes why it was left out.
    fn add(&mut self, name: &str, id: CookbookId, raw_version: &str, body: Body<'_>) {
        let origin = self.origin;
        let version = match raw_version.parse::<Version>() {
            Ok(v) => v,
            Err(err) => {
                self.index.note(format!(
                    "{origin}: {} {} left out: {err}",
                    shown(name),
                    shown(raw_version)
                ));
                return;
            }
        };
        if let Err(reason) = &body.dependencies {
            self.index.note(format!(
                "{origin}: {} {} is unusable: {reason}",
                shown(name),
                shown(raw_version)
            ));
        }
        let release = Release {
            version,
            raw_version: raw_version.to_string(),
            dependencies: body.dependencies,
            origin: (self.origin_of)(name, body.download_url.as_ref().map(|t| t.0.as_ref())),
        };
        if !self.index.add(id, release) {
            self.index.note(format!(
                "{origin}: {} {} left out: another spelling of version {version} is already \
                 listed",
                shown(name),
                shown(raw_version)
            ));
        }
    }
}

/// Adds the dependency `dep` with constraint `text` to `requirements`; the
/// first malformed constraint makes the whole release unusable.
fn push_requirement(
    index: &mut Index,
    requirements: &mut Result<Vec<Requirement>, String>,
    dep: &str,
    text: ConstraintText<'_>,
) {
    let Ok(list) = requirements else { return };
    if let Err(reason) = check_cookbook_name(dep) {
        *requirements = Err(format!("a dependency is unusable: {reason}"));
        return;
    }
    let constraint = match text {
        ConstraintText::Any => Constraint::any(),
        ConstraintText::Text(t) => match Constraint::parse(&t) {
            Ok(c) => c,
            Err(e) => {
                *requirements = Err(format!("its dependency on {}: {e}", shown(dep)));
                return;
            }
        },
        ConstraintText::Invalid(what) => {
            *requirements = Err(format!(
                "its dependency on {} has {what} as a constraint",
                shown(dep)
            ));
            return;
        }
    };
    list.push(Requirement {
        cookbook: index.intern(dep),
        constraint,
    });
}

/// A string borrowed from the input when it has no escapes (almost always),
/// so that loading a large universe allocates little.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// One version's entry: its dependencies and where to download it.
struct Body<'de> {
    dependencies: Result<Vec<Requirement>, String>,
    download_url: Option<Text<'de>>,
}

/// A constraint as a universe writes it: a string, `[]`, `["c"]` or null.
enum ConstraintText<'de> {
    Any,
    Text(Cow<'de, str>),
    Invalid(&'static str),
}

/// The whole document, in whichever shape it came.
struct DocumentSeed<'l, 'a>(&'l mut Loader<'a>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "demands" => {
                    let demands: Vec<DemandEntry> = map.next_value()?;
                    self.0.demands = demands.into_iter().map(|d| d.0).collect();
                }
                "graph" => map.next_value_seed(GraphSeed(&mut *self.0))?,
                _ if key.starts_with('_') => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => map.next_value_seed(VersionsSeed {
                    loader: &mut *self.0,
                    name: &key,
                })?,
            }
        }
        Ok(())
    }
}

/// `[name, constraint]` (constraint optional) in an acceptance case.
struct DemandEntry(StoredDemand);

impl<'de> Deserialize<'de> for DemandEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts = Vec::<String>::deserialize(deserializer)?;
        let mut parts = parts.into_iter();
        let name = parts
            .next()
            .ok_or_else(|| de::Error::custom("a demand needs a cookbook name"))?;
        Ok(DemandEntry(StoredDemand {
            name,
            constraint: parts.next().unwrap_or_default(),
        }))
    }
}

/// The `graph` of an acceptance case: `{name: {version: deps}}`.
struct GraphSeed<'l, 'a>(&'l mut Loader<'a>);

impl<'de> DeserializeSeed<'de> for GraphSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GraphSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of cookbooks")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            map.next_value_seed(VersionsSeed {
                loader: &mut *self.0,
                name: &name,
            })?;
        }
        Ok(())
    }
}

/// `{version: body}` of one cookbook; anything that is not an object is
/// treated as no versions.
struct VersionsSeed<'l, 'a, 'n> {
    loader: &'l mut Loader<'a>,
    name: &'n str,
}

impl<'de> DeserializeSeed<'de> for VersionsSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for VersionsSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of versions")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let Err(reason) = check_cookbook_name(self.name) {
            let origin = self.loader.origin;
            self.loader
                .index
                .note(format!("{origin}: a cookbook is left out: {reason}"));
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let id = self.loader.index.intern(self.name);
        while let Some(Text(raw_version)) = map.next_key::<Text<'de>>()? {
            let body = map.next_value_seed(BodySeed(&mut *self.loader.index))?;
            self.loader.add(self.name, id, &raw_version, body);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fields of a Supermarket version entry that are not dependencies.
const ENTRY_FIELDS: [&str; 4] = [
    "location_type",
    "location_path",
    "endpoint_priority",
    "platforms",
];

/// One version's entry: a Supermarket entry with `dependencies` (and a
/// `download_url`), or a pruned graph's `{dep: constraint}`.
struct BodySeed<'i>(&'i mut Index);

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = Body<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Body<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = Body<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a version entry")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
        let mut listed = None;
        let mut pruned = Ok(Vec::new());
        let mut download_url = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "dependencies" => {
                    listed = Some(map.next_value_seed(DependenciesSeed(&mut *self.0))?)
                }
                "download_url" => download_url = map.next_value()?,
                field if ENTRY_FIELDS.contains(&field) => {
                    map.next_value::<IgnoredAny>()?;
                }
                dep => {
                    let text = map.next_value::<ConstraintText<'de>>()?;
                    push_requirement(self.0, &mut pruned, dep, text);
                }
            }
        }
        Ok(Body {
            dependencies: listed.unwrap_or(pruned),
            download_url,
        })
    }
    fn visit_unit<E>(self) -> Result<Body<'de>, E> {
        Ok(Body {
            dependencies: Ok(Vec::new()),
            download_url: None,
        })
    }
}

/// The `dependencies` object of a Supermarket entry.
struct DependenciesSeed<'i>(&'i mut Index);

impl<'de> DeserializeSeed<'de> for DependenciesSeed<'_> {
    type Value = Result<Vec<Requirement>, String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DependenciesSeed<'_> {
    type Value = Result<Vec<Requirement>, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of dependencies")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut requirements = Ok(Vec::with_capacity(map.size_hint().unwrap_or(4)));
        while let Some(Text(dep)) = map.next_key::<Text<'de>>()? {
            let text = map.next_value::<ConstraintText<'de>>()?;
            push_requirement(self.0, &mut requirements, &dep, text);
        }
        Ok(requirements)
    }
    /// An empty list is read as no dependencies (as some JSON writers spell
    /// an empty object); any other list makes the release unusable.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            items += 1;
        }
        Ok(if items == 0 {
            Ok(Vec::new())
        } else {
            Err("its dependencies are a list, not an object of names to constraints".into())
        })
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(Vec::new()))
    }
}

impl<'de> Deserialize<'de> for ConstraintText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConstraintVisitor;
        impl<'de> Visitor<'de> for ConstraintVisitor {
            type Value = ConstraintText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a constraint")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Text(Cow::Owned(text.to_string())))
            }
            fn visit_unit<E>(self) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Any)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ConstraintText<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<serde_json::Value>()? {
                    items.push(item);
                }
                Ok(match items.as_slice() {
                    [] => ConstraintText::Any,
                    [serde_json::Value::String(text)] => {
                        ConstraintText::Text(Cow::Owned(text.clone()))
                    }
                    _ => ConstraintText::Invalid("a list"),
                })
            }
            fn visit_bool<E>(self, _: bool) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Invalid("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Invalid("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Invalid("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ConstraintText<'de>, E> {
                Ok(ConstraintText::Invalid("a number"))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ConstraintText<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ConstraintText::Invalid("an object"))
            }
        }
        deserializer.deserialize_any(ConstraintVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> (Index, Vec<StoredDemand>) {
        let mut index = Index::new();
        let demands = parse_into(json.as_bytes(), "test", &mut index, |_, url| match url {
            Some(url) => Origin::Registry {
                source: 0,
                download_url: url.to_string(),
            },
            None => Origin::Listed,
        })
        .unwrap();
        (index, demands)
    }

    #[test]
    fn reads_a_supermarket_body() {
        let (index, _) = parse(
            r#"{"apt": {"2.0.0": {"location_type": "opscode", "location_path": "x",
                "download_url": "https://s/apt/2.0.0", "dependencies": {"yum": "~> 3.0"}}}}"#,
        );
        let apt = index.by_name("apt").unwrap();
        let release = &apt.releases[0];
        assert_eq!(release.raw_version, "2.0.0");
        let deps = release.dependencies.as_ref().unwrap();
        assert_eq!(index.name(deps[0].cookbook), "yum");
        assert_eq!(deps[0].constraint.to_string(), "~> 3.0");
        assert!(
            matches!(&release.origin, Origin::Registry { download_url, .. } if download_url == "https://s/apt/2.0.0")
        );
        assert!(index.by_name("yum").is_none());
    }

    #[test]
    fn reads_a_pruned_graph_and_an_acceptance_case() {
        let (index, demands) = parse(
            r#"{"_source": "x", "demands": [["a", "= 1.0.0"], ["b"]],
                "graph": {"a": {"1.0.0": {"b": "[]"}, "1.1": {}}, "b": {"1.0.0": {}}}}"#,
        );
        assert_eq!(demands.len(), 2);
        assert_eq!(demands[1].constraint, "");
        let a = index.by_name("a").unwrap();
        assert_eq!(a.releases.len(), 2);
        assert_eq!(a.releases[1].raw_version, "1.1");
        assert!(
            a.releases[0].dependencies.as_ref().unwrap()[0]
                .constraint
                .is_any()
        );
    }

    #[test]
    fn bad_versions_and_constraints_only_spoil_themselves() {
        let (index, _) = parse(
            r#"{"a": {"1.0.0-rc1": {}, "1.0.0": {"b": "apache2>= 1.0.8"}, "0.9.0": {"b": [">= 1", "< 2"]},
                      "0.8.0": {"b": []}}, "b": {"1.0": {}, "1.0.0": {}}}"#,
        );
        let a = index.by_name("a").unwrap();
        assert_eq!(a.releases.len(), 3);
        assert!(a.releases[2].dependencies.is_err());
        assert!(a.releases[1].dependencies.is_err());
        assert!(a.releases[0].dependencies.is_ok());
        assert_eq!(index.by_name("b").unwrap().releases.len(), 1);
        assert_eq!(index.notes().len(), 4);
    }

    #[test]
    fn rejects_what_is_not_a_universe() {
        let mut index = Index::new();
        let err = parse_into(b"[1, 2]", "u.json", &mut index, |_, _| Origin::Listed).unwrap_err();
        assert!(
            err.to_string()
                .contains("u.json is not a cookbook universe")
        );
    }
}
