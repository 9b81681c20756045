//! The cookbook index: every known version of every cookbook with its
//! dependencies, the one data type that sources produce and the resolver
//! consumes.
//!
//! Names are interned into [`CookbookId`]s as they are added, including the
//! names that only appear as dependencies, so the resolver never hashes a
//! string. A cookbook that is only depended upon and never listed has no
//! releases; the resolver reports any version that needs it as unusable.

use std::path::PathBuf;

use rustc_hash::FxHashMap;

use crate::version::{Constraint, Version};

/// A cookbook name, interned in one [`Index`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CookbookId(u32);

impl CookbookId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a release comes from, so that it can be fetched once chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Only known from a universe file; there is nothing to fetch.
    Listed,
    /// From a registry: the source (by position in the Berksfile) and the
    /// URL of the artifact.
    Registry { source: usize, download_url: String },
    /// A cookbook directory on disk (a `path:` location, `metadata`, or a
    /// `chef_repo` source).
    Directory { path: PathBuf },
    /// A cookbook inside a git repository at one revision.
    Git {
        url: String,
        revision: String,
        rel: Option<String>,
    },
}

/// One dependency of a release: a cookbook and the versions it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub cookbook: CookbookId,
    pub constraint: Constraint,
}

/// One version of one cookbook.
#[derive(Clone, Debug)]
pub struct Release {
    pub version: Version,
    /// The version exactly as the source spells it.
    pub raw_version: String,
    /// The dependencies, or why this release cannot be used.
    pub dependencies: Result<Vec<Requirement>, String>,
    pub origin: Origin,
}

/// All releases of one cookbook, ascending by version.
#[derive(Clone, Debug, Default)]
pub struct Cookbook {
    pub name: String,
    pub releases: Vec<Release>,
}

impl Cookbook {
    /// The release with exactly this version.
    pub fn release(&self, version: &Version) -> Option<&Release> {
        self.releases
            .binary_search_by(|r| r.version.cmp(version))
            .ok()
            .map(|i| &self.releases[i])
    }
}

/// A note about data that was left out of the index (shown in `--verbose`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(pub String);

/// Every cookbook a resolution may choose from.
#[derive(Clone, Debug, Default)]
pub struct Index {
    cookbooks: Vec<Cookbook>,
    /// Name lookups are the hot path of loading a universe: a fast,
    /// non-cryptographic hash (the names come from the user's own sources).
    ids: FxHashMap<String, CookbookId>,
    notes: Vec<Note>,
}

/// The longest cookbook name larder accepts, in characters.
pub const MAX_NAME_LENGTH: usize = 255;

/// Checks a cookbook name from a universe, a lock or a Berksfile: it must
/// be non-empty, at most [`MAX_NAME_LENGTH`] characters, and hold no
/// whitespace, control characters, path separators, quotes, commas or
/// parentheses, so that every lockfile format can write it and read it
/// back. The error says what is wrong.
pub fn check_cookbook_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a cookbook name cannot be empty".into());
    }
    if name.chars().nth(MAX_NAME_LENGTH).is_some() {
        return Err(format!(
            "the cookbook name '{}' is longer than {MAX_NAME_LENGTH} characters",
            crate::shown::shown(name)
        ));
    }
    match name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/\\\"'(),".contains(*c))
    {
        Some(c) => Err(format!(
            "the cookbook name '{}' holds {}, which no cookbook name may",
            crate::shown::shown(name),
            c.escape_debug()
        )),
        None => Ok(()),
    }
}

impl Index {
    pub fn new() -> Self {
        Index::default()
    }

    /// The id for `name`, adding an empty cookbook if the name is new.
    pub fn intern(&mut self, name: &str) -> CookbookId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = CookbookId(self.cookbooks.len() as u32);
        self.cookbooks.push(Cookbook {
            name: name.to_string(),
            releases: Vec::new(),
        });
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The id for `name`, if the index has heard of it.
    pub fn id(&self, name: &str) -> Option<CookbookId> {
        self.ids.get(name).copied()
    }

    pub fn cookbook(&self, id: CookbookId) -> &Cookbook {
        &self.cookbooks[id.index()]
    }

    pub fn name(&self, id: CookbookId) -> &str {
        &self.cookbooks[id.index()].name
    }

    /// The cookbook called `name`, if any source lists a version of it.
    pub fn by_name(&self, name: &str) -> Option<&Cookbook> {
        self.id(name)
            .map(|id| self.cookbook(id))
            .filter(|c| !c.releases.is_empty())
    }

    /// Every cookbook that has at least one release.
    pub fn cookbooks(&self) -> impl Iterator<Item = (CookbookId, &Cookbook)> {
        self.cookbooks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.releases.is_empty())
            .map(|(i, c)| (CookbookId(i as u32), c))
    }

    /// How many releases the index holds.
    pub fn release_count(&self) -> usize {
        self.cookbooks.iter().map(|c| c.releases.len()).sum()
    }

    /// Adds a release unless the cookbook already has that version (the
    /// first source to list a version supplies it). Returns whether it was
    /// added.
    pub fn add(&mut self, cookbook: CookbookId, release: Release) -> bool {
        let releases = &mut self.cookbooks[cookbook.index()].releases;
        // Sources usually list versions in ascending order: try the end first.
        let position = match releases.last() {
            Some(last) if last.version < release.version => releases.len(),
            None => 0,
            _ => match releases.binary_search_by(|r| r.version.cmp(&release.version)) {
                Ok(_) => return false,
                Err(position) => position,
            },
        };
        releases.insert(position, release);
        true
    }

    /// Replaces every release of a cookbook by one: a path or git location
    /// pins the cookbook to what is on disk, whatever registries list.
    pub fn pin(&mut self, cookbook: CookbookId, release: Release) {
        self.cookbooks[cookbook.index()].releases = vec![release];
    }

    pub fn note(&mut self, text: String) {
        self.notes.push(Note(text));
    }

    /// What was left out while building the index, and why.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
}
