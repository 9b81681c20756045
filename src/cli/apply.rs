//! `larder apply ENVIRONMENT_FILE`: pins every locked cookbook as
//! `= VERSION` in a Chef environment JSON file. The file is created if
//! absent; its other keys are kept, its `cookbook_versions` replaced.
//!
//! `larder apply ENVIRONMENT --server` sets the same pins on the
//! environment of a Chef Server ([`crate::chef_server::environment`]); it
//! is created only with `--create`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::install::{FetchArgs, ProjectArgs, locked};
use super::upload::ServerArgs;
use super::{Failure, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment file (JSON), e.g. environments/production.json; with
    /// --server, the environment's name on the server.
    #[arg(value_name = "ENVIRONMENT_FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Pin the environment on a Chef Server instead of in a file.
    #[arg(long)]
    pub server: bool,
    /// With --server: create the environment if the server lacks it.
    #[arg(long, requires = "server")]
    pub create: bool,
    #[command(flatten)]
    pub server_args: ServerArgs,
    /// With --server: do not verify the server's TLS certificate.
    #[arg(long, requires = "server")]
    pub insecure: bool,
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let project = locked(&args.project, output)?;
    let pins: Map<String, Value> = project
        .lock
        .cookbooks
        .iter()
        .map(|(name, c)| (name.clone(), Value::String(format!("= {}", c.raw_version))))
        .collect();
    if args.server {
        return apply_on_server(args, &pins, output);
    }
    let mut environment = read_environment(&args.file)?;
    environment.insert("cookbook_versions".into(), Value::Object(pins.clone()));
    let text = serde_json::to_string_pretty(&Value::Object(environment))
        .map_err(|e| io_failure(&args.file, "encode", &e.to_string()))?;
    if let Some(dir) = args.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_failure(dir, "create the directory of", &e.to_string()))?;
    }
    crate::atomic_file::write(&args.file, format!("{text}\n").as_bytes())
        .map_err(|e| io_failure(&args.file, "write", &e.to_string()))?;
    if output.is_json() {
        output.json(&serde_json::json!({"path": args.file, "cookbook_versions": pins}));
    } else {
        output.line(&format!(
            "Pinned {} cookbook(s) in {}",
            pins.len(),
            args.file.display()
        ));
    }
    Ok(())
}

fn apply_on_server(args: &Args, pins: &Map<String, Value>, output: &Output) -> Result<(), Failure> {
    let name = args.file.to_string_lossy();
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || !name.chars().all(valid) {
        return Err(Failure::usage(format!(
            "'{name}' is not a Chef environment name: use letters, digits, '_', '-' and '.'"
        )));
    }
    let server = args.server_args.connect(&FetchArgs {
        offline: false,
        insecure: args.insecure,
        jobs: None,
    })?;
    let created = crate::chef_server::environment::apply(&server, &name, pins, args.create)?;
    let shown = crate::http::redact(server.url());
    if output.is_json() {
        output.json(&serde_json::json!({
            "server": shown,
            "environment": name,
            "created": created,
            "cookbook_versions": pins,
        }));
    } else {
        output.line(&format!(
            "Pinned {} cookbook(s) in the environment '{name}' on {shown}{}",
            pins.len(),
            if created { " (created)" } else { "" }
        ));
    }
    Ok(())
}

fn io_failure(path: &Path, action: &str, reason: &str) -> Failure {
    Failure::new(
        150,
        "environment_file",
        format!(
            "cannot {action} the environment file {}: {reason}",
            path.display()
        ),
    )
}

/// The environment's JSON object, or a new environment named after the
/// file when it does not exist.
fn read_environment(path: &Path) -> Result<Map<String, Value>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = path
                .file_stem()
                .map_or_else(|| "_default".into(), |s| s.to_string_lossy().into_owned());
            let mut environment = Map::new();
            environment.insert("name".into(), Value::String(name));
            environment.insert("description".into(), Value::String(String::new()));
            environment.insert("json_class".into(), "Chef::Environment".into());
            environment.insert("chef_type".into(), "environment".into());
            return Ok(environment);
        }
        Err(e) => return Err(io_failure(path, "read", &e.to_string())),
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(environment)) => Ok(environment),
        Ok(_) => Err(io_failure(
            path,
            "use",
            "it is not a JSON object; a Chef environment file holds one object",
        )),
        Err(e) => Err(io_failure(path, "parse", &format!("{e}; fix the JSON"))),
    }
}
