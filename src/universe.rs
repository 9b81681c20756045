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
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::index::{Index, Origin, Release, Requirement};
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
pub fn parse_into(
    bytes: &[u8],
    origin: &str,
    index: &mut Index,
    mut origin_of: impl FnMut(&str, Option<&str>) -> Origin,
) -> Result<Vec<StoredDemand>, UniverseError> {
    // Checking UTF-8 once for the whole body is much cheaper than serde_json
    // checking every string of a slice on its own.
    let text = std::str::from_utf8(bytes).map_err(|e| UniverseError::Json {
        origin: origin.to_string(),
        source: serde::de::Error::custom(format!("not UTF-8: {e}")),
    })?;
    let document: Document = serde_json::from_str(text).map_err(|source| UniverseError::Json {
        origin: origin.to_string(),
        source,
    })?;
    for (Text(name), versions) in document.cookbooks {
        let id = index.intern(&name);
        for (Text(raw_version), body) in versions {
            let version = match raw_version.parse::<Version>() {
                Ok(v) => v,
                Err(err) => {
                    index.note(format!("{origin}: {name} {raw_version} left out: {err}"));
                    continue;
                }
            };
            let dependencies = read_dependencies(index, &body.dependencies);
            if let Err(reason) = &dependencies {
                index.note(format!(
                    "{origin}: {name} {raw_version} is unusable: {reason}"
                ));
            }
            let release = Release {
                version,
                raw_version: raw_version.to_string(),
                dependencies,
                origin: origin_of(&name, body.download_url.as_ref().map(|t| t.0.as_ref())),
            };
            if !index.add(id, release) {
                index.note(format!(
                    "{origin}: {name} {raw_version} left out: another spelling of version \
                     {version} is already listed"
                ));
            }
        }
    }
    Ok(document
        .demands
        .into_iter()
        .map(|(name, constraint)| StoredDemand { name, constraint })
        .collect())
}

fn read_dependencies(
    index: &mut Index,
    dependencies: &[(Text, ConstraintText)],
) -> Result<Vec<Requirement>, String> {
    let mut requirements = Vec::with_capacity(dependencies.len());
    for (Text(dep), text) in dependencies {
        let constraint = match text {
            ConstraintText::Any => Constraint::any(),
            ConstraintText::Text(t) => {
                Constraint::parse(t).map_err(|e| format!("its dependency on {dep}: {e}"))?
            }
            ConstraintText::Invalid(what) => {
                return Err(format!(
                    "its dependency on {dep} has {what} as a constraint"
                ));
            }
        };
        requirements.push(Requirement {
            cookbook: index.intern(dep),
            constraint,
        });
    }
    Ok(requirements)
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

type Listing<'de> = Vec<(Text<'de>, Vec<(Text<'de>, VersionBody<'de>)>)>;

/// The whole document, in whichever shape it came.
struct Document<'de> {
    cookbooks: Listing<'de>,
    demands: Vec<(String, String)>,
}

/// One version's entry: its dependencies and where to download it.
#[derive(Default)]
struct VersionBody<'de> {
    dependencies: Vec<(Text<'de>, ConstraintText<'de>)>,
    download_url: Option<Text<'de>>,
}

/// A constraint as a universe writes it: a string, `[]`, `["c"]` or null.
enum ConstraintText<'de> {
    Any,
    Text(Cow<'de, str>),
    Invalid(&'static str),
}

impl<'de> Deserialize<'de> for Document<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Document<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document<'de>, A::Error> {
                let mut document = Document {
                    cookbooks: Vec::new(),
                    demands: Vec::new(),
                };
                let mut graph = None;
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    match key.as_ref() {
                        "demands" => {
                            let demands: Vec<DemandEntry> = map.next_value()?;
                            document.demands = demands.into_iter().map(|d| (d.0, d.1)).collect();
                        }
                        "graph" => graph = Some(map.next_value::<Cookbooks>()?.0),
                        _ if key.starts_with('_') => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            let versions = map.next_value::<Versions>()?.0;
                            document.cookbooks.push((Text(key), versions));
                        }
                    }
                }
                if let Some(graph) = graph {
                    document.cookbooks = graph;
                }
                Ok(document)
            }
        }
        deserializer.deserialize_map(DocumentVisitor)
    }
}

/// `[name, constraint]` (constraint optional) in an acceptance case.
struct DemandEntry(String, String);

impl<'de> Deserialize<'de> for DemandEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts = Vec::<String>::deserialize(deserializer)?;
        let mut parts = parts.into_iter();
        let name = parts
            .next()
            .ok_or_else(|| de::Error::custom("a demand needs a cookbook name"))?;
        Ok(DemandEntry(name, parts.next().unwrap_or_default()))
    }
}

struct Cookbooks<'de>(Listing<'de>);

impl<'de> Deserialize<'de> for Cookbooks<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CookbooksVisitor;
        impl<'de> Visitor<'de> for CookbooksVisitor {
            type Value = Cookbooks<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of cookbooks")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cookbooks<'de>, A::Error> {
                let mut cookbooks = Vec::new();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    cookbooks.push((key, map.next_value::<Versions<'de>>()?.0));
                }
                Ok(Cookbooks(cookbooks))
            }
        }
        deserializer.deserialize_map(CookbooksVisitor)
    }
}

/// `{version: body}`; anything that is not an object is treated as empty.
struct Versions<'de>(Vec<(Text<'de>, VersionBody<'de>)>);

impl<'de> Deserialize<'de> for Versions<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionsVisitor;
        impl<'de> Visitor<'de> for VersionsVisitor {
            type Value = Versions<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of versions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Versions<'de>, A::Error> {
                let mut versions = Vec::new();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    versions.push((key, map.next_value::<VersionBody<'de>>()?));
                }
                Ok(Versions(versions))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Versions<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Versions(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Versions<'de>, E> {
                Ok(Versions(Vec::new()))
            }
        }
        deserializer.deserialize_any(VersionsVisitor)
    }
}

/// Fields of a Supermarket version entry that are not dependencies.
const ENTRY_FIELDS: [&str; 5] = [
    "location_type",
    "location_path",
    "endpoint_priority",
    "platforms",
    "download_url",
];

impl<'de> Deserialize<'de> for VersionBody<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = VersionBody<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a version entry")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<VersionBody<'de>, A::Error> {
                let mut body = VersionBody::default();
                let mut listed = None;
                let mut pruned = Vec::new();
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    match key.as_ref() {
                        "dependencies" => {
                            listed = Some(map.next_value::<Dependencies>()?.0);
                        }
                        "download_url" => body.download_url = map.next_value()?,
                        field if ENTRY_FIELDS.contains(&field) => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => pruned.push((Text(key), map.next_value::<ConstraintText<'de>>()?)),
                    }
                }
                body.dependencies = listed.unwrap_or(pruned);
                Ok(body)
            }
            fn visit_unit<E>(self) -> Result<VersionBody<'de>, E> {
                Ok(VersionBody::default())
            }
        }
        deserializer.deserialize_any(BodyVisitor)
    }
}

struct Dependencies<'de>(Vec<(Text<'de>, ConstraintText<'de>)>);

impl<'de> Deserialize<'de> for Dependencies<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependenciesVisitor;
        impl<'de> Visitor<'de> for DependenciesVisitor {
            type Value = Dependencies<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of dependencies")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Dependencies<'de>, A::Error> {
                let mut deps = Vec::new();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    deps.push((key, map.next_value::<ConstraintText<'de>>()?));
                }
                Ok(Dependencies(deps))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Dependencies<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Dependencies(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Dependencies<'de>, E> {
                Ok(Dependencies(Vec::new()))
            }
        }
        deserializer.deserialize_any(DependenciesVisitor)
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
