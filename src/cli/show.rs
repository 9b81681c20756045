//! `larder show NAME`: where a locked cookbook's files are.

use super::install::{ProjectArgs, locked};
use super::{Failure, Output};
use crate::cache::{CacheError, Store};

pub use super::install::CookbookArgs as Args;

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let (name, version, path) = installed_path(&args.project, &args.name, output)?;
    if output.is_json() {
        output.json(&serde_json::json!({"name": name, "version": version, "path": path}));
    } else {
        output.line(&path.display().to_string());
    }
    Ok(())
}

/// The locked version of `name` and its directory, which must exist: an
/// unknown name is exit 120, a cookbook not installed exit 103.
pub fn installed_path(
    project: &ProjectArgs,
    name: &str,
    output: &Output,
) -> Result<(String, String, std::path::PathBuf), Failure> {
    let project = locked(project, output)?;
    let cookbook = project.cookbook(name)?;
    let store = Store::open()?;
    let path = project.cookbook_path(&store, name, cookbook);
    if !path.is_dir() {
        return Err(CacheError::NotInstalled {
            name: name.to_string(),
            version: cookbook.raw_version.clone(),
        }
        .into());
    }
    Ok((name.to_string(), cookbook.raw_version.clone(), path))
}
