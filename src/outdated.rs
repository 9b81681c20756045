//! Which locked cookbooks have newer versions in the Berksfile's sources:
//! for each, the locked version, the newest version every constraint on it
//! allows (the Berksfile's own, and those of the locked cookbooks that
//! depend on it), and the newest version at all, with the source that
//! supplies it.

use serde::Serialize;

use crate::berksfile::SourceSpec;
use crate::index::{Index, Origin, Release};
use crate::lock::{Lock, LockedSource};
use crate::version::Version;

/// One cookbook with a newer version somewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Newer {
    pub name: String,
    /// The locked version.
    pub locked: String,
    /// The newest version every constraint on the cookbook accepts.
    pub allowed: String,
    /// The newest version any source has.
    pub latest: String,
    /// Where `latest` comes from (a URL, or a directory).
    pub source: String,
    /// Whether the Berksfile names the cookbook itself.
    pub direct: bool,
}

impl Newer {
    /// Whether an update within the constraints would change the version.
    pub fn updatable(&self) -> bool {
        self.allowed != self.locked
    }
}

/// The cookbooks of `lock` that the index has newer versions of, by name.
/// Without `all`, only those whose constraints allow a newer version;
/// with it, also those whose constraints block the newest. `names`, when
/// not empty, limits the report to those cookbooks. Cookbooks from a path
/// are never outdated.
pub fn outdated(
    lock: &Lock,
    index: &Index,
    sources: &[SourceSpec],
    names: &[String],
    all: bool,
) -> Vec<Newer> {
    let mut report = Vec::new();
    for (name, cookbook) in &lock.cookbooks {
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        if matches!(cookbook.source, LockedSource::Path { .. }) {
            continue;
        }
        let Some(releases) = index.by_name(name).map(|c| &c.releases) else {
            continue;
        };
        let constraints: Vec<_> = lock
            .dependency(name)
            .map(|d| &d.constraint)
            .into_iter()
            .chain(lock.cookbooks.values().flat_map(|c| {
                c.dependencies
                    .iter()
                    .filter(|(dep, _)| dep == name)
                    .map(|(_, constraint)| constraint)
            }))
            .collect();
        let usable = |r: &&Release| r.dependencies.is_ok();
        let newest = |accept: &dyn Fn(&Version) -> bool| {
            releases
                .iter()
                .filter(usable)
                .filter(|r| accept(&r.version))
                .max_by_key(|r| r.version)
        };
        let Some(latest) = newest(&|_| true) else {
            continue;
        };
        let allowed = newest(&|v| constraints.iter().all(|c| c.matches(v)))
            .map(|r| r.version.max(cookbook.version))
            .unwrap_or(cookbook.version);
        let newer = allowed > cookbook.version || (all && latest.version > cookbook.version);
        if !newer {
            continue;
        }
        let raw = |version: Version| {
            releases
                .iter()
                .find(|r| r.version == version)
                .map_or_else(|| version.to_string(), |r| r.raw_version.clone())
        };
        report.push(Newer {
            name: name.clone(),
            locked: cookbook.raw_version.clone(),
            allowed: if allowed == cookbook.version {
                cookbook.raw_version.clone()
            } else {
                raw(allowed)
            },
            latest: latest.raw_version.clone(),
            source: origin_label(&latest.origin, sources),
            direct: lock.dependency(name).is_some(),
        });
    }
    report
}

/// The source a release comes from, as the Berksfile names it.
fn origin_label(origin: &Origin, sources: &[SourceSpec]) -> String {
    match origin {
        Origin::Registry { source, .. } => match sources.get(*source) {
            Some(SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. }) => {
                crate::http::redact(url)
            }
            Some(SourceSpec::ChefRepo(dir)) => dir.display().to_string(),
            Some(SourceSpec::ChefServer(url)) => url
                .as_deref()
                .map_or_else(|| "the Chef Server".to_string(), crate::http::redact),
            None => String::new(),
        },
        Origin::Directory { path } => path.display().to_string(),
        Origin::Git { url, .. } => crate::http::redact(url),
        Origin::Listed => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Release;
    use crate::lock::tests::{cookbook, dependency};

    fn index() -> Index {
        let mut index = Index::new();
        for (name, version) in [("base", "1.0.0"), ("base", "1.1.0"), ("base", "2.0.0")] {
            let id = index.intern(name);
            index.add(
                id,
                Release {
                    version: version.parse().unwrap(),
                    raw_version: version.to_string(),
                    dependencies: Ok(Vec::new()),
                    origin: Origin::Registry {
                        source: 0,
                        download_url: String::new(),
                    },
                },
            );
        }
        index
    }

    fn lock(constraint: &str) -> Lock {
        Lock {
            dependencies: vec![dependency("base", constraint)],
            cookbooks: [("base".to_string(), cookbook("1.0.0", &[]))].into(),
        }
    }

    #[test]
    fn allowed_respects_constraints_and_all_shows_blocked() {
        let sources = [SourceSpec::Url("https://r.example".into())];
        let report = outdated(&lock("~> 1.0"), &index(), &sources, &[], false);
        assert_eq!(report.len(), 1);
        assert_eq!(
            (report[0].allowed.as_str(), report[0].latest.as_str()),
            ("1.1.0", "2.0.0")
        );
        assert_eq!(report[0].source, "https://r.example/");
        assert!(report[0].updatable());

        let pinned = lock("= 1.0.0");
        assert!(outdated(&pinned, &index(), &sources, &[], false).is_empty());
        let report = outdated(&pinned, &index(), &sources, &[], true);
        assert_eq!(report[0].allowed, "1.0.0");
        assert!(!report[0].updatable());
        assert!(outdated(&pinned, &index(), &sources, &["other".into()], true).is_empty());
    }
}
