//! `larder info NAME`: a locked cookbook's metadata, read from its files.

use std::collections::BTreeMap;

use super::show::installed_path;
use super::{Failure, Output};
use crate::metadata::Metadata;

pub use super::install::CookbookArgs as Args;

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let (_, _, path) = installed_path(&args.project, &args.name, output)?;
    let metadata = Metadata::load(&path).map_err(|e| {
        Failure::new(
            super::failure::code_of(e.exit_code()),
            "metadata",
            format!("cannot read the metadata in {}: {e}", path.display()),
        )
    })?;
    let dependencies: BTreeMap<&str, String> = metadata
        .dependencies
        .iter()
        .map(|(name, constraint)| (name.as_str(), constraint.to_string()))
        .collect();
    let platforms: BTreeMap<&str, &str> = metadata
        .platforms
        .iter()
        .map(|(name, constraint)| (name.as_str(), constraint.as_str()))
        .collect();
    if output.is_json() {
        output.json(&serde_json::json!({
            "name": metadata.name,
            "version": metadata.raw_version,
            "maintainer": metadata.maintainer,
            "maintainer_email": metadata.maintainer_email,
            "license": metadata.license,
            "description": metadata.description,
            "dependencies": dependencies,
            "platforms": platforms,
            "path": path,
        }));
        return Ok(());
    }
    let join = |map: &BTreeMap<&str, String>| {
        map.iter()
            .map(|(name, constraint)| format!("{name} ({constraint})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let platforms = platforms
        .iter()
        .map(|(name, constraint)| (*name, constraint.to_string()))
        .collect();
    let maintainer = if metadata.maintainer_email.is_empty() {
        metadata.maintainer.clone()
    } else {
        format!("{} <{}>", metadata.maintainer, metadata.maintainer_email)
    };
    let rows = [
        ("Name:", metadata.name.clone()),
        ("Version:", metadata.raw_version.clone()),
        ("Description:", metadata.description.clone()),
        ("Maintainer:", maintainer),
        ("License:", metadata.license.clone()),
        ("Depends:", join(&dependencies)),
        ("Platforms:", join(&platforms)),
    ];
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(label, value)| vec![label.to_string(), value])
        .collect();
    output.table(&rows);
    Ok(())
}
