//! `larder manifest`: how larder read the Berksfile (sources; every
//! dependency with its constraint, location and groups), or with
//! `--metadata` how it read a cookbook's metadata, without resolving or
//! touching the network.

use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use super::{Failure, Output};
use crate::berksfile::{DependencySpec, Location, Manifest, SourceSpec};
use crate::metadata::Metadata;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Berksfile to read.
    #[arg(long, short = 'b', default_value = "Berksfile", value_name = "PATH")]
    pub berksfile: PathBuf,
    /// Read this cookbook's metadata instead: a cookbook directory, a
    /// metadata.rb or a metadata.json (the current directory when no value
    /// is given).
    #[arg(
        long,
        value_name = "DIR_OR_FILE",
        conflicts_with = "berksfile",
        num_args = 0..=1,
        default_missing_value = "."
    )]
    pub metadata: Option<PathBuf>,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    match &args.metadata {
        Some(path) => metadata(path, output),
        None => berksfile(&args.berksfile, output),
    }
}

fn berksfile(path: &Path, output: &Output) -> Result<(), Failure> {
    let manifest = Manifest::load(path)?;
    for warning in &manifest.warnings {
        output.warning(warning);
    }
    let sources: Vec<Json> = manifest.sources.iter().map(source_json).collect();
    let dependencies: Vec<Json> = manifest.dependencies.iter().map(dependency_json).collect();
    if output.is_json() {
        output.json(&json!({
            "berksfile": manifest.path,
            "sources": sources,
            "dependencies": dependencies,
            "solver": manifest.solver.map(|s| json!({
                "engine": format!("{:?}", s.engine).to_lowercase(),
                "required": s.required,
            })),
            "warnings": manifest.warnings,
        }));
        return Ok(());
    }
    for source in &manifest.sources {
        output.line(&format!("source {}", source_text(source)));
    }
    for dependency in &manifest.dependencies {
        let name = match &dependency.name {
            Some(name) => format!("cookbook {name} ({})", dependency.constraint),
            None => "metadata".to_string(),
        };
        let location = match location_text(&dependency.location) {
            Some(text) => format!(" {text}"),
            None => String::new(),
        };
        output.line(&format!(
            "{name}{location} [{}]",
            dependency.groups.join(", ")
        ));
    }
    Ok(())
}

fn metadata(path: &Path, output: &Output) -> Result<(), Failure> {
    let read = |file: &Path| -> Result<Vec<u8>, Failure> {
        std::fs::read(file).map_err(|e| {
            Failure::new(
                107,
                "metadata",
                format!("cannot read {}: {e}", file.display()),
            )
        })
    };
    let metadata = if path.is_dir() {
        Metadata::load(path)?
    } else if path.extension().is_some_and(|e| e == "json") {
        Metadata::from_json(path, &read(path)?)?
    } else {
        Metadata::from_rb(path, &read(path)?)?
    };
    for warning in &metadata.warnings {
        output.warning(warning);
    }
    if output.is_json() {
        let dependencies: Vec<Json> = metadata
            .dependencies
            .iter()
            .map(|(name, constraint)| json!({"name": name, "constraint": constraint.to_string()}))
            .collect();
        output.json(&json!({
            "name": metadata.name,
            "version": metadata.raw_version,
            "dependencies": dependencies,
            "warnings": metadata.warnings,
        }));
        return Ok(());
    }
    output.line(&format!("{} ({})", metadata.name, metadata.raw_version));
    for (name, constraint) in &metadata.dependencies {
        output.line(&format!("  depends {name} ({constraint})"));
    }
    Ok(())
}

/// A URL as the Berksfile spells it, unless it carries credentials, which
/// are redacted.
fn shown(url: &str) -> String {
    if crate::http::without_credentials(url) == url {
        url.to_string()
    } else {
        crate::http::redact(url)
    }
}

fn source_json(source: &SourceSpec) -> Json {
    match source {
        SourceSpec::Url(url) => json!({"type": "url", "url": shown(url)}),
        // The key itself never leaves larder; whether there is one does.
        SourceSpec::Artifactory { url, api_key } => json!({
            "type": "artifactory",
            "url": shown(url),
            "api_key_set": api_key.is_some(),
        }),
        SourceSpec::ChefRepo(dir) => json!({"type": "chef_repo", "path": dir}),
        // `null`: the server of the knife/credentials configuration.
        SourceSpec::ChefServer(url) => json!({
            "type": "chef_server",
            "url": url.as_deref().map(shown),
        }),
    }
}

fn source_text(source: &SourceSpec) -> String {
    match source {
        SourceSpec::Url(url) => shown(url),
        SourceSpec::Artifactory { url, .. } => {
            format!("artifactory: {}", shown(url))
        }
        SourceSpec::ChefRepo(dir) => format!("chef_repo: {}", dir.display()),
        SourceSpec::ChefServer(None) => "chef_server (from the knife configuration)".into(),
        SourceSpec::ChefServer(Some(url)) => format!("chef_server: {}", shown(url)),
    }
}

fn dependency_json(dependency: &DependencySpec) -> Json {
    let location = match &dependency.location {
        Location::Default => json!({"type": "default"}),
        Location::Path { path, metadata } => {
            json!({"type": "path", "path": path, "metadata": metadata})
        }
        Location::Git {
            url,
            branch,
            tag,
            reference,
            rel,
        } => json!({
            "type": "git",
            "url": shown(url),
            "branch": branch,
            "tag": tag,
            "ref": reference,
            "rel": rel,
        }),
    };
    json!({
        "name": dependency.name,
        "constraint": dependency.constraint.to_string(),
        "location": location,
        "groups": dependency.groups,
        "line": dependency.line,
    })
}

fn location_text(location: &Location) -> Option<String> {
    match location {
        Location::Default => None,
        Location::Path { path, .. } => Some(format!("path: {}", path.display())),
        Location::Git {
            url,
            branch,
            tag,
            reference,
            rel,
        } => {
            let mut text = format!("git: {}", shown(url));
            for (key, value) in [("branch", branch), ("tag", tag), ("ref", reference)] {
                if let Some(value) = value {
                    text.push_str(&format!(", {key}: {value}"));
                }
            }
            if let Some(rel) = rel {
                text.push_str(&format!(", rel: {}", rel.display()));
            }
            Some(text)
        }
    }
}
