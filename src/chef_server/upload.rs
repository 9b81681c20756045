//! Uploading cookbooks to a Chef Server, as `knife` and Berkshelf do:
//!
//! 1. a cookbook version already on the server and frozen is skipped
//!    (or, with `halt_on_frozen`, stops the upload) unless `force`; one
//!    whose files and frozen state are already those being uploaded is left
//!    alone (one request, nothing sent);
//! 2. `POST /sandboxes` with the MD5 of every file; the server says which
//!    it lacks;
//! 3. `PUT` only those files (`Content-MD5`), so a second upload of the
//!    same cookbooks sends no file bytes;
//! 4. `PUT` the sandbox as completed, retried while the server answers
//!    that it is not ready (400/503);
//! 5. `PUT /cookbooks/NAME/VERSION` with the manifest (`?force=true` with
//!    `force`), frozen or not.
//!
//! Cookbooks go up several at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use super::source::SEGMENTS;
use super::{ChefServerError, Server};
use crate::bundle::vendor;
use crate::metadata::Metadata;

/// How many times the sandbox commit is tried.
const COMMIT_ATTEMPTS: u32 = 6;

/// One cookbook to upload.
#[derive(Clone, Debug)]
pub struct Cookbook {
    pub name: String,
    /// The version as locked.
    pub version: String,
    /// Its files (the store entry, or the path cookbook's directory).
    pub dir: PathBuf,
}

/// How to upload.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Replace frozen versions.
    pub force: bool,
    /// Freeze what is uploaded.
    pub freeze: bool,
    /// Stop at the first frozen version (exit 126) instead of skipping it.
    pub halt_on_frozen: bool,
    /// Cookbooks uploaded at once.
    pub jobs: usize,
}

/// What happened to one cookbook.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    pub name: String,
    pub version: String,
    /// `uploaded`, `unchanged` (the server already had exactly this) or
    /// `skipped_frozen`.
    pub status: &'static str,
    /// Files the server lacked and was sent.
    pub files_sent: usize,
    pub bytes_sent: u64,
}

/// Uploads `cookbooks` to `server`; `on_done` is told of each as it
/// finishes. The first error stops the upload (cookbooks already up stay).
pub fn upload_all(
    server: &Server,
    cookbooks: Vec<Cookbook>,
    options: Options,
    on_done: &(dyn Fn(&Uploaded) + Sync),
) -> Result<Vec<Uploaded>, ChefServerError> {
    let queue = Mutex::new(cookbooks);
    let results = Mutex::new(Vec::new());
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                while !failed.load(std::sync::atomic::Ordering::Relaxed) {
                    let next = queue.lock().ok().and_then(|mut q| q.pop());
                    let Some(cookbook) = next else { break };
                    let result = upload_one(server, &cookbook, options);
                    match &result {
                        Ok(done) => on_done(done),
                        Err(_) => failed.store(true, std::sync::atomic::Ordering::Relaxed),
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push(result);
                    }
                }
            });
        }
    });
    let mut done = Vec::new();
    for result in results.into_inner().unwrap_or_default() {
        done.push(result?);
    }
    done.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(done)
}

/// A file of the cookbook: its path in the cookbook, where it is, its MD5.
struct File {
    relative: String,
    source: PathBuf,
    md5: String,
}

fn upload_one(
    server: &Server,
    cookbook: &Cookbook,
    options: Options,
) -> Result<Uploaded, ChefServerError> {
    let target = format!("cookbooks/{}/{}", cookbook.name, cookbook.version);
    let mut report = Uploaded {
        name: cookbook.name.clone(),
        version: cookbook.version.clone(),
        status: "uploaded",
        files_sent: 0,
        bytes_sent: 0,
    };
    let files = cookbook_files(&cookbook.dir)?;
    if let Some(existing) = existing(server, &target)? {
        let frozen = existing["frozen?"] == Value::Bool(true);
        if frozen && !options.force {
            return skip_frozen(server, cookbook, options, report);
        }
        if !options.force && frozen == options.freeze && same_files(&existing, &files) {
            return Ok(Uploaded {
                status: "unchanged",
                ..report
            });
        }
    }
    let metadata = Metadata::load(&cookbook.dir).map_err(|e| ChefServerError::CookbookFiles {
        dir: cookbook.dir.clone(),
        reason: e.to_string(),
    })?;
    let checksums: Map<String, Value> =
        files.iter().map(|f| (f.md5.clone(), Value::Null)).collect();
    let sandbox = server.json(
        "POST",
        "sandboxes",
        &json!({ "checksums": checksums }),
        "the server has no sandboxes endpoint; check the server URL",
    )?;
    let sandbox_url = sandbox["uri"]
        .as_str()
        .ok_or_else(|| bad_sandbox(server, "it has no uri"))?
        .to_string();
    let by_md5: BTreeMap<&str, &File> = files.iter().map(|f| (f.md5.as_str(), f)).collect();
    if let Some(Value::Object(needed)) = sandbox.get("checksums") {
        for (md5, state) in needed {
            if state["needs_upload"] != Value::Bool(true) {
                continue;
            }
            let url = state["url"]
                .as_str()
                .ok_or_else(|| bad_sandbox(server, "a file to upload has no url"))?;
            let file = by_md5
                .get(md5.as_str())
                .ok_or_else(|| bad_sandbox(server, "it asks for a file larder did not offer"))?;
            let body = read(&file.source)?;
            let content_md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
            let answer = server.send(
                "PUT",
                url,
                &body,
                &[
                    ("Content-Type", "application/x-binary"),
                    ("Content-MD5", &content_md5),
                ],
            )?;
            if !(200..=299).contains(&answer.status) {
                return Err(server.failed("PUT", url, answer.status, &answer));
            }
            report.files_sent += 1;
            report.bytes_sent += body.len() as u64;
        }
    }
    commit(server, &sandbox_url)?;
    let manifest = manifest(cookbook, &metadata, &files, options.freeze);
    let put_target = if options.force {
        format!("{target}?force=true")
    } else {
        target.clone()
    };
    let body = manifest.to_string().into_bytes();
    let answer = server.send(
        "PUT",
        &put_target,
        &body,
        &[("Content-Type", "application/json")],
    )?;
    match answer.status {
        200..=299 => Ok(report),
        409 => skip_frozen(server, cookbook, options, report),
        status => Err(server.failed("PUT", &server.absolute(&target), status, &answer)),
    }
}

fn skip_frozen(
    server: &Server,
    cookbook: &Cookbook,
    options: Options,
    report: Uploaded,
) -> Result<Uploaded, ChefServerError> {
    if options.halt_on_frozen {
        return Err(ChefServerError::Frozen {
            name: cookbook.name.clone(),
            version: cookbook.version.clone(),
            url: crate::http::redact(server.url()),
        });
    }
    Ok(Uploaded {
        status: "skipped_frozen",
        ..report
    })
}

/// The version's document on the server, if it is there.
fn existing(server: &Server, target: &str) -> Result<Option<Value>, ChefServerError> {
    let answer = server.send("GET", target, b"", &[])?;
    match answer.status {
        404 => Ok(None),
        200..=299 => Ok(Some(
            serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
        )),
        status => Err(server.failed("GET", &server.absolute(target), status, &answer)),
    }
}

/// Whether a server's cookbook version lists exactly `files` (paths and
/// checksums).
fn same_files(existing: &Value, files: &[File]) -> bool {
    let mut theirs: Vec<(&str, &str)> = Vec::new();
    for segment in SEGMENTS.iter().chain(&["all_files"]) {
        if let Some(Value::Array(entries)) = existing.get(*segment) {
            for entry in entries {
                match (entry["path"].as_str(), entry["checksum"].as_str()) {
                    (Some(path), Some(checksum)) => theirs.push((path, checksum)),
                    _ => return false,
                }
            }
        }
    }
    let mut ours: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.relative.as_str(), f.md5.as_str()))
        .collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    theirs == ours
}

/// Marks the sandbox complete, retrying while the server has not yet seen
/// every file.
fn commit(server: &Server, sandbox_url: &str) -> Result<(), ChefServerError> {
    let body = json!({ "is_completed": true }).to_string().into_bytes();
    let mut pause = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = server.send(
            "PUT",
            sandbox_url,
            &body,
            &[("Content-Type", "application/json")],
        )?;
        match answer.status {
            200..=299 => return Ok(()),
            400 | 503 if attempt < COMMIT_ATTEMPTS => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            status => return Err(server.failed("PUT", sandbox_url, status, &answer)),
        }
    }
}

fn bad_sandbox(server: &Server, reason: &str) -> ChefServerError {
    ChefServerError::BadAnswer {
        url: crate::http::redact(&server.absolute("sandboxes")),
        reason: format!("its sandbox answer is unusable: {reason}"),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ChefServerError> {
    std::fs::read(path).map_err(|source| ChefServerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The files vendoring would keep (chefignore applied), with their MD5.
fn cookbook_files(dir: &Path) -> Result<Vec<File>, ChefServerError> {
    let listed = vendor::cookbook_files(dir).map_err(|e| ChefServerError::CookbookFiles {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::with_capacity(listed.kept.len());
    for (relative, (source, _)) in listed.kept {
        let md5 = hex::encode(Md5::digest(read(&source)?));
        files.push(File {
            relative,
            source,
            md5,
        });
    }
    Ok(files)
}

/// The cookbook version document (API version 0/1: files by segment).
fn manifest(cookbook: &Cookbook, metadata: &Metadata, files: &[File], freeze: bool) -> Value {
    let mut document = Map::new();
    for segment in SEGMENTS {
        document.insert(segment.into(), Value::Array(Vec::new()));
    }
    for file in files {
        let parts: Vec<&str> = file.relative.split('/').collect();
        let segment = match parts.as_slice() {
            [first, _, ..] if SEGMENTS.contains(first) && *first != "root_files" => *first,
            _ => "root_files",
        };
        let specificity = match (segment, parts.as_slice()) {
            ("files" | "templates", [_, specific, _, ..]) => *specific,
            _ => "default",
        };
        let name = parts.last().copied().unwrap_or_default();
        if let Some(Value::Array(list)) = document.get_mut(segment) {
            list.push(json!({
                "name": name,
                "path": file.relative,
                "checksum": file.md5,
                "specificity": specificity,
            }));
        }
    }
    let metadata_json: Value = metadata
        .to_json_pretty()
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| json!({}));
    let mut metadata_json = match metadata_json {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    metadata_json.insert("version".into(), Value::String(cookbook.version.clone()));
    for key in [
        "attributes",
        "groupings",
        "recommendations",
        "suggestions",
        "conflicting",
        "replacing",
    ] {
        metadata_json.entry(key).or_insert_with(|| json!({}));
    }
    document.insert(
        "name".into(),
        Value::String(format!("{}-{}", cookbook.name, cookbook.version)),
    );
    document.insert("cookbook_name".into(), Value::String(cookbook.name.clone()));
    document.insert("version".into(), Value::String(cookbook.version.clone()));
    document.insert("json_class".into(), "Chef::CookbookVersion".into());
    document.insert("chef_type".into(), "cookbook_version".into());
    document.insert("frozen?".into(), Value::Bool(freeze));
    document.insert("metadata".into(), Value::Object(metadata_json));
    Value::Object(document)
}
