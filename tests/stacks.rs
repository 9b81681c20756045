//! Stacks end to end through the real `larder` binary, on a local
//! (`file://`) store, on a real S3-compatible server on loopback
//! (`s3s-fs`, signed requests) and, for the tests every store runs, on
//! Azurite (Azure Blob Storage, shared-key signed requests): publishing is
//! content-addressed and idempotent, stack pointers change by compare-and-swap (two racing
//! promotions: one wins, the other fails with 171 and the history stays
//! consistent), promote/rollback/history/diff, `pull --stack` refusing a
//! tampered bundle or a pointer to a deleted one with DIR unchanged, a
//! wrong secret key refused without printing it, a pull killed
//! mid-download through a read-only HTTP store, and the fixed-URL copy
//! accepted by `sha256sum -c`. Incremental updates: an update changing one
//! cookbook fetches that cookbook's byte range of the bundle and the record
//! only (JSON
//! figures, and the S3 server's request log), the assembled set equals
//! the whole bundle unpacked, old content is pruned, a file edited in
//! place is found by `verify-bundle --into` and never linked again, pulls
//! killed while fetching or assembling leave a complete set, and cold
//! instances and bundles published without cookbook ranges take the whole
//! bundle.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;
use tempfile::TempDir;

use common::azurite::{self, Azurite};
use common::files;
use common::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

/// The environment variables that could point a command elsewhere.
const SCRUBBED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "LARDER_STORE",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURITE_BLOB_STORAGE_URL",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "SOURCE_DATE_EPOCH",
];

enum Backend {
    File(TempDir),
    S3(S3Server),
    Azure(Azurite),
}

/// A bundle store for one test, with a private `$LARDER_HOME`.
struct Store {
    backend: Backend,
    url: String,
    home: TempDir,
    work: TempDir,
}

impl Store {
    fn file() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/store", dir.path().display());
        Store::with(Backend::File(dir), url)
    }

    fn s3() -> Store {
        Store::with(Backend::S3(S3Server::start()), format!("s3://{BUCKET}/ci"))
    }

    fn azure() -> Store {
        Store::with(
            Backend::Azure(Azurite::start()),
            format!("az://{}/ci", azurite::CONTAINER),
        )
    }

    fn with(backend: Backend, url: String) -> Store {
        Store {
            backend,
            url,
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// `larder ARGS` with the store in `LARDER_STORE` and, for S3, the
    /// endpoint and keys in the standard AWS variables; for Azure, the
    /// emulator's switch and address in object_store's variables.
    fn command(&self, args: &[&str]) -> StdCommand {
        let mut command = StdCommand::new(assert_cmd::cargo::cargo_bin("larder"));
        for name in SCRUBBED {
            command.env_remove(name);
        }
        command
            .args(args)
            .current_dir(self.work.path())
            .env("LARDER_HOME", self.home.path())
            .env("LARDER_STORE", &self.url)
            .env("USER", "ci-bot");
        match &self.backend {
            Backend::File(_) => {}
            Backend::S3(server) => {
                command
                    .env("AWS_ENDPOINT_URL", &server.endpoint)
                    .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                    .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
            }
            Backend::Azure(server) => {
                command
                    .env("AZURE_STORAGE_USE_EMULATOR", "true")
                    .env("AZURITE_BLOB_STORAGE_URL", &server.url);
            }
        }
        command
    }

    fn larder(&self, args: &[&str]) -> Command {
        Command::from_std(self.command(args))
    }

    /// Runs `larder ARGS -F json`, which must succeed, and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let output = self.larder(args).args(["-F", "json"]).output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The file holding the store object `key`, for the stores that keep
    /// objects as files.
    fn object_file(&self, key: &str) -> PathBuf {
        match &self.backend {
            Backend::File(dir) => dir.path().join("store").join(key),
            Backend::S3(server) => server.object_path(&format!("ci/{key}")),
            Backend::Azure(_) => panic!("Azurite keeps no object as a file"),
        }
    }

    /// The bytes of the store object `key`, which must exist.
    fn read(&self, key: &str) -> Vec<u8> {
        match &self.backend {
            Backend::Azure(server) => server
                .get(&format!("ci/{key}"))
                .unwrap_or_else(|| panic!("no object {key}")),
            _ => fs::read(self.object_file(key)).unwrap(),
        }
    }

    /// Replaces the store object `key` behind larder's back.
    fn write(&self, key: &str, bytes: &[u8]) {
        match &self.backend {
            Backend::Azure(server) => server.put(&format!("ci/{key}"), bytes),
            _ => fs::write(self.object_file(key), bytes).unwrap(),
        }
    }

    /// Deletes the store object `key` behind larder's back.
    fn remove(&self, key: &str) {
        match &self.backend {
            Backend::Azure(server) => server.delete(&format!("ci/{key}")),
            _ => fs::remove_file(self.object_file(key)).unwrap(),
        }
    }

    /// The names directly below `dir` in the store (objects, and the
    /// folders their keys imply), in order.
    fn objects(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = match &self.backend {
            Backend::Azure(server) => {
                let prefix = format!("ci/{dir}/");
                server
                    .list(&prefix)
                    .iter()
                    .filter_map(|key| key.strip_prefix(&prefix))
                    .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
                    .collect()
            }
            _ => fs::read_dir(self.object_file(dir))
                .map(|listing| {
                    listing
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
        };
        names.sort();
        names.dedup();
        names
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.work.path().join(relative)
    }
}

fn write(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// Three cookbook sets: `one` (app 1.0.0, base, web), `two` (app 1.1.0,
/// base, db; no web) and `three` (two with app's files changed but not its
/// version). Packed into a bundle; returns its path and sha256.
fn bundle(store: &Store, variant: &str) -> (PathBuf, String) {
    let from = store.path(&format!("vendored-{variant}"));
    let app_version = if variant == "one" { "1.0.0" } else { "1.1.0" };
    write(
        &from,
        "app/metadata.json",
        format!(r#"{{"name":"app","version":"{app_version}"}}"#).as_bytes(),
    );
    let recipe = if variant == "three" {
        "log 'changed'\n"
    } else {
        "log 'app'\n"
    };
    write(&from, "app/recipes/default.rb", recipe.as_bytes());
    write(
        &from,
        "base/metadata.json",
        br#"{"name":"base","version":"0.3.1"}"#,
    );
    write(&from, "base/attributes/default.rb", b"default['x'] = 1\n");
    if variant == "one" {
        write(
            &from,
            "web/metadata.json",
            br#"{"name":"web","version":"2.0.0"}"#,
        );
    } else {
        write(
            &from,
            "db/metadata.json",
            br#"{"name":"db","version":"1.0.0"}"#,
        );
    }
    let out = store.path(&format!("bundle-{variant}.tar.gz"));
    store
        .larder(&["package"])
        .arg(&out)
        .arg("--from")
        .arg(&from)
        .args(["--lock-digest", "abc123"])
        .assert()
        .success();
    let sidecar =
        fs::read_to_string(store.path(&format!("bundle-{variant}.tar.gz.sha256"))).unwrap();
    let digest = sidecar.split_whitespace().next().unwrap().to_string();
    (out, digest)
}

/// Publishes a bundle (optionally onto a stack) and returns its digest.
fn publish(store: &Store, variant: &str, stack: Option<&str>) -> String {
    let (path, digest) = bundle(store, variant);
    let mut command = store.larder(&["publish"]);
    command.arg(&path);
    if let Some(stack) = stack {
        command.args(["--stack", stack]);
    }
    command.assert().success().stdout(contains(&digest));
    digest
}

/// What `bundles/` holds after one bundle was published, by name.
fn objects_of_one_bundle(digest: &str) -> Vec<String> {
    vec![
        format!("{digest}.json"),
        format!("{digest}.tar.gz"),
        format!("{digest}.tar.gz.sha256"),
    ]
}

/// Everything visible through `dir`: its link target and every file.
fn snapshot(dir: &Path) -> (Option<PathBuf>, BTreeMap<String, Vec<u8>>) {
    let link = fs::read_link(dir).ok();
    let mut files = BTreeMap::new();
    if dir.exists() {
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let rel = entry.path().strip_prefix(dir).unwrap();
                files.insert(rel.display().to_string(), fs::read(entry.path()).unwrap());
            }
        }
    }
    (link, files)
}

/// Runs a test on a local store, on the S3 server and on Azurite.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn file() {
                super::$name(&super::Store::file());
            }
            #[test]
            fn s3() {
                super::$name(&super::Store::s3());
            }
            #[test]
            fn azure() {
                super::$name(&super::Store::azure());
            }
        }
    )*};
}

on_every_store!(
    an_update_fetches_only_the_changed_cookbook,
    bundles_without_cookbook_ranges_are_pulled_whole,
    publishing_twice_stores_one_bundle,
    stacks_are_pinned_promoted_and_rolled_back,
    of_two_racing_promotions_exactly_one_wins,
    a_tampered_bundle_is_refused_and_dir_is_unchanged,
    a_pointer_to_a_deleted_bundle_is_a_clear_error,
    the_fixed_url_copy_passes_sha256sum,
    diff_shows_added_removed_and_changed_cookbooks,
    a_refused_bundle_leaves_nothing_in_the_store,
    a_bundle_without_its_sha256_file_still_updates_by_cookbook,
    a_bundle_packed_here_is_published_on_the_checks_of_packing,
    a_record_changed_after_the_pointer_is_not_used,
    nonsense_ranges_in_a_record_no_pointer_names_are_not_used,
    a_large_bundle_in_one_request_is_stored_whole,
);

fn publishing_twice_stores_one_bundle(store: &Store) {
    let (path, digest) = bundle(store, "one");
    let first = store.json(&[
        "publish",
        path.to_str().unwrap(),
        "--note",
        "first",
        "--commit",
        "0123abc",
        "--pipeline",
        "https://ci.example/runs/7",
    ]);
    assert_eq!(first["sha256"], digest.as_str());
    assert_eq!(first["uploaded"], true);
    assert!(first["upload_seconds"].as_f64().unwrap() > 0.0, "{first}");
    assert_eq!(first["record"]["provenance"]["commit"], "0123abc");
    assert_eq!(first["record"]["provenance"]["by"], "ci-bot");
    assert_eq!(first["record"]["cookbooks"].as_array().unwrap().len(), 3);
    let again = store.json(&["publish", path.to_str().unwrap(), "--note", "second"]);
    assert_eq!(again["uploaded"], false);
    assert_eq!(again["upload_seconds"], Value::Null);
    // The first publish's record stays.
    assert_eq!(again["record"]["provenance"]["note"], "first");
    assert_eq!(store.objects("bundles"), objects_of_one_bundle(&digest));
    assert_eq!(
        store.read(&format!("bundles/{digest}.tar.gz")),
        fs::read(&path).unwrap()
    );
    // With --verbose, an upload reports how long it took.
    let (two, _) = bundle(store, "two");
    let verbose_publish = || {
        store
            .larder(&["publish", "-v"])
            .arg(&two)
            .assert()
            .success()
    };
    verbose_publish().stderr(contains("Uploaded in "));
    verbose_publish().stderr(contains("Uploaded in ").not());
}

fn stacks_are_pinned_promoted_and_rolled_back(store: &Store) {
    let one = publish(store, "one", Some("staging"));
    store
        .larder(&[
            "stack",
            "promote",
            "staging",
            "production",
            "--reason",
            "release 1",
        ])
        .assert()
        .success()
        .stdout(contains("Stack production now runs bundle"));
    let two = publish(store, "two", Some("staging"));
    store
        .larder(&["stack", "promote", "staging", "production"])
        .assert()
        .success();
    // Promoting again changes nothing.
    store
        .larder(&["stack", "promote", "staging", "production"])
        .assert()
        .success()
        .stdout(contains("nothing changed"));

    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains(format!("Pulled bundle {}", &two[..12])));
    assert!(dir.join("db/metadata.json").is_file());
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("already in place"));
    let again = store.json(&["pull", "--stack", "production", "--into", "live"]);
    assert_eq!(again["switched"], false);
    assert_eq!(again["sha256"], two.as_str());

    let rolled = store.json(&["stack", "rollback", "production", "--reason", "bad db"]);
    assert_eq!(rolled["pointer"]["bundle"], one.as_str());
    assert_eq!(rolled["pointer"]["previous"], two.as_str());
    assert_eq!(rolled["pointer"]["action"], "rollback");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    assert!(dir.join("web/metadata.json").is_file());
    assert!(!dir.join("db").exists());
    // Forward again by digest prefix.
    store
        .larder(&["stack", "rollback", "production", "--to", &two[..10]])
        .assert()
        .success();

    let history = store.json(&["stack", "history", "production"]);
    let entries: Vec<(u64, String, String)> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["bundle"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (4, two.clone(), "rollback".to_string()),
            (3, one.clone(), "rollback".to_string()),
            (2, two.clone(), "promote".to_string()),
            (1, one.clone(), "promote".to_string()),
        ]
    );
    assert_eq!(history["history"][3]["reason"], "release 1");
    assert_eq!(history["history"][3]["by"], "ci-bot");

    let shown = store.json(&["stack", "show", "production"]);
    assert_eq!(shown["pointer"]["bundle"], two.as_str());
    assert_eq!(shown["bundle"]["cookbooks"][0]["name"], "app");
    let listed = store.json(&["stack", "list"]);
    let names: Vec<&str> = listed["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stack"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "staging"]);

    // A bundle that was never published cannot be pinned.
    store
        .larder(&["stack", "pin", "production", &"e".repeat(64)])
        .assert()
        .code(172)
        .stderr(contains("publish it first"));
    store
        .larder(&["stack", "show", "nowhere"])
        .assert()
        .code(172)
        .stderr(contains("stack 'nowhere' is not in"));
    store
        .larder(&["stack", "rollback", "staging", "--to", "not-hex!"])
        .assert()
        .code(99);
}

fn of_two_racing_promotions_exactly_one_wins(store: &Store) {
    let base = publish(store, "one", Some("production"));
    let two = publish(store, "two", Some("staging"));
    let three = publish(store, "three", Some("canary"));
    for round in 0..3 {
        let current = store.json(&["stack", "show", "production"])["pointer"]["bundle"]
            .as_str()
            .unwrap()
            .to_string();
        let children: Vec<_> = ["staging", "canary"]
            .iter()
            .map(|from| {
                store
                    .command(&["stack", "promote", from, "production", "--expect", &current])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<usize> = (0..2).filter(|&i| outputs[i].status.success()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outputs:?}");
        let loser = &outputs[1 - winners[0]];
        assert_eq!(loser.status.code(), Some(171), "round {round}: {loser:?}");
        let message = String::from_utf8_lossy(&loser.stderr);
        assert!(
            message.contains("production") && message.contains("nothing"),
            "{message}"
        );
        // Back to a known state for the next round.
        let expected = if winners[0] == 0 { &two } else { &three };
        let pointer = store.json(&["stack", "show", "production"])["pointer"].clone();
        assert_eq!(pointer["bundle"], expected.as_str());
        store
            .larder(&["stack", "pin", "production", &base])
            .assert()
            .success();
    }
    // Every change is in the history exactly once, in order.
    let history = store.json(&["stack", "history", "production", "--limit", "100"]);
    let seqs: Vec<u64> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(store.objects("stacks/production/history").len(), 7);
}

fn a_tampered_bundle_is_refused_and_dir_is_unchanged(store: &Store) {
    publish(store, "one", Some("production"));
    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);
    let two = publish(store, "two", Some("production"));
    let object = format!("bundles/{two}.tar.gz");
    let good = store.read(&object);
    let mut bytes = good.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    store.write(&object, &bytes);
    // A cold instance fetches the whole bundle, and refuses it.
    let cold = store.path("cold");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&cold)
        .assert()
        .code(153)
        .stderr(contains("Nothing was changed"));
    assert_eq!(snapshot(&cold), (None, BTreeMap::new()));
    // A warm one fetches only the changed cookbooks' ranges; a damaged
    // byte in one of them is refused as well.
    let app = cookbook_range(store, &two, "app");
    let mut bytes = good;
    bytes[(app.start + app.end) as usize / 2] ^= 0xff;
    store.write(&object, &bytes);
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .code(173)
        .stderr(contains("does not match its digest"))
        .stderr(contains(format!(
            "bytes {}-{}, cookbook app",
            app.start, app.end
        )));
    assert_eq!(snapshot(&dir), before);
    // Publishing the same bundle again finds the damaged object.
    let (path, _) = bundle(store, "two");
    store
        .larder(&["publish"])
        .arg(&path)
        .assert()
        .code(173)
        .stderr(contains("does not match its digest"));
}

fn a_pointer_to_a_deleted_bundle_is_a_clear_error(store: &Store) {
    publish(store, "one", Some("production"));
    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);
    let two = publish(store, "two", Some("production"));
    store.remove(&format!("bundles/{two}.tar.gz"));
    // A cold instance needs the whole bundle.
    let cold = store.path("cold");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&cold)
        .assert()
        .code(172)
        .stderr(contains(format!(
            "stack 'production' points at bundle {two}, which is not in {}",
            store.url
        )));
    assert_eq!(snapshot(&cold), (None, BTreeMap::new()));
    assert_eq!(snapshot(&dir), before);
    // Nor can it be promoted, or pinned again.
    store
        .larder(&["stack", "promote", "production", "staging"])
        .assert()
        .code(172)
        .stderr(contains("which is not in"));
    store
        .larder(&["stack", "pin", "staging", &two])
        .assert()
        .code(172)
        .stderr(contains("publish it first"));
}

fn the_fixed_url_copy_passes_sha256sum(store: &Store) {
    let one = publish(store, "one", None);
    store
        .larder(&["stack", "pin", "production", &one[..12], "--fixed-copy"])
        .assert()
        .success();
    let two = publish(store, "two", None);
    store
        .larder(&["stack", "pin", "production", &two, "--fixed-copy"])
        .assert()
        .success();
    // The two objects as a consumer downloads them, side by side.
    let copy_dir = store.path("fixed copy");
    fs::create_dir_all(&copy_dir).unwrap();
    for name in ["cookbooks.tar.gz", "cookbooks.tar.gz.sha256"] {
        fs::write(
            copy_dir.join(name),
            store.read(&format!("stacks/production/{name}")),
        )
        .unwrap();
    }
    let check = StdCommand::new("sha256sum")
        .args(["-c", "cookbooks.tar.gz.sha256"])
        .current_dir(&copy_dir)
        .output()
        .expect("sha256sum runs");
    assert!(check.status.success(), "{check:?}");
    assert_eq!(
        fs::read_to_string(copy_dir.join("cookbooks.tar.gz.sha256")).unwrap(),
        format!("{two}  cookbooks.tar.gz\n")
    );
    let out = store.path("unpacked");
    fs::create_dir_all(&out).unwrap();
    let untar = StdCommand::new("tar")
        .arg("xzf")
        .arg(copy_dir.join("cookbooks.tar.gz"))
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar runs");
    assert!(untar.success());
    assert!(out.join("cookbooks/db/metadata.json").is_file());
    assert!(out.join("cookbooks/.larder-manifest.json").is_file());
}

fn diff_shows_added_removed_and_changed_cookbooks(store: &Store) {
    publish(store, "one", Some("production"));
    let two = publish(store, "two", Some("staging"));
    publish(store, "three", Some("canary"));
    let text = |args: &[&str]| {
        let output = store.larder(args).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    insta::assert_snapshot!(
        "diff_production_staging",
        text(&["stack", "diff", "production", "staging"])
    );
    insta::assert_snapshot!(
        "diff_staging_canary",
        text(&["stack", "diff", "staging", "canary"])
    );
    insta::assert_json_snapshot!(
        "diff_json",
        store.json(&["stack", "diff", "production", &two[..12]])
    );
    store
        .larder(&["stack", "diff", "staging", "staging", "--exit-code"])
        .assert()
        .success();
    store
        .larder(&["stack", "diff", "production", "staging", "--exit-code"])
        .assert()
        .code(1);
}

/// `stack show` on `store` with the secret in `variable` replaced by
/// `wrong`: refused (175) naming the object and the variables to check,
/// without the secret. Returns what it printed.
fn refused_with_a_wrong_secret(store: &Store, variable: &str, wrong: &str) -> String {
    publish(store, "one", Some("production"));
    let output = store
        .larder(&["stack", "show", "production"])
        .env(variable, wrong)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(175), "{output:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains(&format!("{}/stacks/production.json", store.url)),
        "{all}"
    );
    assert!(all.contains("credentials were not accepted"), "{all}");
    assert!(all.contains(variable), "{all}");
    assert!(!all.contains(wrong), "{all}");
    all
}

#[test]
fn a_wrong_secret_key_is_refused_naming_the_store_without_the_secret() {
    let all = refused_with_a_wrong_secret(
        &Store::s3(),
        "AWS_SECRET_ACCESS_KEY",
        "wrong-secret-key-4242424242",
    );
    assert!(
        !all.contains(SECRET_KEY) && !all.contains("AZURE_"),
        "{all}"
    );
}

#[test]
fn a_wrong_azure_account_key_is_refused_naming_the_store_without_the_key() {
    // A well-formed key that is not the account's.
    let all = refused_with_a_wrong_secret(
        &Store::azure(),
        "AZURE_STORAGE_ACCOUNT_KEY",
        "d3JvbmctYWNjb3VudC1rZXktNDI0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI=",
    );
    assert!(!all.contains("AWS_"), "{all}");
}

#[test]
fn a_change_without_user_or_logname_is_by_the_accounts_name() {
    let store = Store::file();
    let one = publish(&store, "one", None);
    let two = publish(&store, "two", None);
    let whoami = StdCommand::new("id").arg("-un").output().unwrap();
    assert!(whoami.status.success(), "{whoami:?}");
    let account = String::from_utf8(whoami.stdout).unwrap().trim().to_string();
    for (digest, empty) in [(&one, None), (&two, Some(""))] {
        let mut pin = store.larder(&["stack", "pin", "production", digest]);
        pin.env_remove("LOGNAME");
        match empty {
            None => pin.env_remove("USER"),
            Some(value) => pin.env("USER", value),
        };
        pin.assert().success();
        let shown = store.json(&["stack", "show", "production"]);
        assert_eq!(shown["pointer"]["bundle"], digest.as_str(), "{shown}");
        assert_eq!(shown["pointer"]["by"], account.as_str(), "{shown}");
    }
}

#[test]
fn publish_packs_the_lock_and_refuses_one_out_of_sync() {
    let store = Store::file();
    write(
        store.work.path(),
        "cookbooks/app/metadata.json",
        br#"{"name":"app","version":"1.0.0"}"#,
    );
    write(
        store.work.path(),
        "cookbooks/app/recipes/default.rb",
        b"log 'app'\n",
    );
    write(
        store.work.path(),
        "Berksfile",
        b"cookbook 'app', path: 'cookbooks/app'\n",
    );
    store.larder(&["install"]).assert().success();
    let published = store.json(&["publish", "--stack", "staging", "--commit", "abc"]);
    assert_eq!(published["record"]["cookbooks"][0]["name"], "app");
    // It packed the bundle itself: nothing to check again.
    assert_eq!(published["rechecked"], false);
    assert_eq!(published["stack"]["pointer"]["stack"], "staging");
    let diff = store.json(&["stack", "diff", "staging", "--lock"]);
    assert_eq!(diff["unchanged"], 1);
    write(
        store.work.path(),
        "Berksfile",
        b"cookbook 'app', path: 'cookbooks/app'\ncookbook 'other', path: 'cookbooks/other'\n",
    );
    write(
        store.work.path(),
        "cookbooks/other/metadata.json",
        br#"{"name":"other","version":"1.0.0"}"#,
    );
    store.larder(&["publish"]).assert().code(144);
}

#[test]
fn a_pull_killed_mid_download_from_an_http_store_leaves_dir_intact_and_pulls_again() {
    let store = Store::file();
    publish(&store, "one", Some("production"));
    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);
    // A bigger bundle, slow to serve.
    let from = store.path("vendored-two");
    bundle(&store, "two");
    let noise = blob(2 << 20, 7);
    write(&from, "db/files/blob.bin", &noise);
    let big = store.path("big.tar.gz");
    store
        .larder(&["package"])
        .arg(&big)
        .arg("--from")
        .arg(&from)
        .assert()
        .success();
    store
        .larder(&["publish", "--stack", "production"])
        .arg(&big)
        .assert()
        .success();
    let Backend::File(root) = &store.backend else {
        unreachable!()
    };
    let (tx, rx) = mpsc::channel();
    let slow = files::serve(root.path().join("store"), Some((".tar.gz".into(), tx))) + "/";
    let mut child = store
        .command(&["pull", "--stack", "production", "--store", &slow, "--into"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("the download did not start: {:?}", child.wait_with_output());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(snapshot(&dir), before);

    let fast = files::serve(root.path().join("store"), None) + "/";
    store
        .larder(&["pull", "--stack", "production", "--store", &fast, "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("Pulled bundle"));
    assert_eq!(fs::read(dir.join("db/files/blob.bin")).unwrap(), noise);
    // A plain HTTP store is read-only.
    store
        .larder(&["stack", "--store", &fast, "pin", "staging", "abcdef0"])
        .assert()
        .code(174);
}

#[test]
fn s3_credentials_come_from_the_shared_credentials_file_too() {
    let store = Store::s3();
    publish(&store, "one", Some("production"));
    let credentials = store.path("aws-credentials");
    fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing-at-all\n\n\
             [ci]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let from_profile = |profile: &str| {
        let mut command = store.larder(&["stack", "show", "production"]);
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", store.path("no-aws-config"))
            .env("AWS_PROFILE", profile);
        command
    };
    from_profile("ci").assert().success();
    from_profile("default").assert().code(175);
}

#[test]
fn a_damaged_pointer_is_an_error_naming_it() {
    let store = Store::file();
    publish(&store, "one", Some("production"));
    // A plain absolute path names the same local store.
    let dir = store.object_file("").display().to_string();
    store
        .larder(&["stack", "show", "production", "--store", &dir])
        .assert()
        .success();
    store.write("stacks/production.json", b"{\"bundle\": 7");
    for args in [
        &["stack", "show", "production"][..],
        &["pull", "--stack", "production", "--into", "live"][..],
    ] {
        store
            .larder(args)
            .assert()
            .code(173)
            .stderr(contains("stacks/production.json cannot be read"));
    }
}

/// A bundle of one cookbook holding `blob`, packed by hand without
/// compression (fast to make at any size), with a correct manifest.
fn stored_bundle(path: &Path, blob: &[u8]) {
    use sha2::{Digest, Sha256};
    let metadata = br#"{"name":"big","version":"1.0.0"}"#;
    let manifest = serde_json::json!({
        "cookbooks": [{
            "files": {
                "files/blob.bin": hex::encode(Sha256::digest(blob)),
                "metadata.json": hex::encode(Sha256::digest(metadata)),
            },
            "name": "big",
            "source": "vendor",
            "version": "1.0.0",
        }],
        "format": 1,
        "lock_digest": "",
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let gz =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::none());
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, data).unwrap();
    };
    add("cookbooks/.larder-manifest.json", &manifest);
    add("cookbooks/big/files/blob.bin", blob);
    add("cookbooks/big/metadata.json", metadata);
    tar.into_inner().unwrap().finish().unwrap();
}

/// A blob of `len` bytes that gzip cannot shrink, from `seed`.
fn blob(len: usize, seed: u64) -> Vec<u8> {
    let mut blob = Vec::with_capacity(len);
    let mut state = seed;
    while blob.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        blob.extend_from_slice(&state.to_le_bytes());
    }
    blob
}

#[test]
fn a_multipart_upload_with_a_failed_part_is_aborted_and_leaves_nothing() {
    let store = Store::with(
        Backend::S3(S3Server::start_failing_part(2)),
        format!("s3://{BUCKET}/ci"),
    );
    fs::write(
        store.home.path().join("config.toml"),
        "[store]\nmultipart_threshold = 16777216\n",
    )
    .unwrap();
    let path = store.path("large.tar.gz");
    stored_bundle(&path, &blob(40_000_000, 11));
    store
        .larder(&["publish", path.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(contains("refused by the test"));
    let Backend::S3(server) = &store.backend else {
        unreachable!()
    };
    let requests = server.take_requests();
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with("DELETE ") && line.contains("uploadId=")),
        "the upload was aborted: {requests:?}"
    );
    let leftovers: Vec<String> = fs::read_dir(server.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".upload"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "parts left on the server");
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
}

#[test]
fn a_large_bundle_goes_up_in_parts_and_comes_back_whole() {
    let store = Store::s3();
    // Bundles from 32 MiB on go up in parts, and this one is just over.
    fs::write(
        store.home.path().join("config.toml"),
        "[store]\nmultipart_threshold = 33554432\n",
    )
    .unwrap();
    let blob = blob(34_000_000, 11);
    let path = store.path("large.tar.gz");
    stored_bundle(&path, &blob);
    let Backend::S3(server) = &store.backend else {
        unreachable!()
    };
    server.take_requests();
    let published = store.json(&["publish", path.to_str().unwrap(), "--stack", "production"]);
    let digest = published["sha256"].as_str().unwrap();
    let bundle = format!("/{BUCKET}/ci/bundles/{digest}.tar.gz");
    let parts = server
        .take_requests()
        .iter()
        .filter(|line| line.starts_with(&format!("PUT {bundle}?")) && line.contains("partNumber="))
        .count();
    assert_eq!(parts, 3, "34 MB in parts of 16 MiB");
    // Packed by hand, not cut by cookbook: published without ranges.
    assert_eq!(published["record"]["cookbooks"][0]["range"], Value::Null);
    assert_eq!(
        store.read(&format!("bundles/{digest}.tar.gz")),
        fs::read(&path).unwrap()
    );
    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    assert!(fs::read(dir.join("big/files/blob.bin")).unwrap() == blob);
}

/// A bundle big enough to be uploaded over many tens of milliseconds in
/// one request, packed here so that publish has no checks to make and lets
/// go of the pages it has sent as the upload goes: the store must still get
/// every byte of it.
fn a_large_bundle_in_one_request_is_stored_whole(store: &Store) {
    grow(store, "one", "app", 0, 64_000_000);
    let (path, digest) = bundle(store, "one");
    let published = store.json(&["publish", path.to_str().unwrap()]);
    assert_eq!(published["uploaded"], true);
    assert_eq!(published["rechecked"], false);
    assert!(
        store.read(&format!("bundles/{digest}.tar.gz")) == fs::read(&path).unwrap(),
        "the stored bundle differs from the file"
    );
}

#[test]
fn a_pull_killed_mid_download_from_s3_leaves_dir_intact_and_pulls_again() {
    let (tx, rx) = mpsc::channel();
    let store = Store::with(
        Backend::S3(S3Server::start_slow(tx)),
        format!("s3://{BUCKET}/ci"),
    );
    publish(&store, "one", Some("production"));
    let dir = store.path("live");
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);
    let blob = blob(3 << 20, 5);
    let path = store.path("large.tar.gz");
    stored_bundle(&path, &blob);
    store
        .larder(&["publish", "--stack", "production"])
        .arg(&path)
        .assert()
        .success();
    while rx.try_recv().is_ok() {}
    let mut child = store
        .command(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("the download did not start: {:?}", child.wait_with_output());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(snapshot(&dir), before);
    store
        .larder(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("Pulled bundle"));
    assert!(fs::read(dir.join("big/files/blob.bin")).unwrap() == blob);
}

#[test]
fn a_bundle_over_the_size_limit_is_refused_while_downloading() {
    let store = Store::s3();
    let path = store.path("large.tar.gz");
    stored_bundle(&path, &vec![7u8; 4 << 20]);
    store
        .larder(&["publish", "--stack", "production"])
        .arg(&path)
        .assert()
        .success();
    store
        .larder(&[
            "pull",
            "--stack",
            "production",
            "--into",
            "live",
            "--max-bytes",
            "1000",
            "--max-entries",
            "10",
        ])
        .assert()
        .code(154)
        .stderr(contains("(download)"));
    assert!(!store.path("live").exists());
}

/// The byte range of cookbook `name` in bundle `digest`, as its record
/// gives it.
fn cookbook_range(store: &Store, digest: &str, name: &str) -> std::ops::Range<u64> {
    let record: Value =
        serde_json::from_slice(&store.read(&format!("bundles/{digest}.json"))).unwrap();
    let cookbook = record["cookbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {record}"));
    let range = &cookbook["range"];
    range["start"].as_u64().unwrap()..range["end"].as_u64().unwrap()
}

/// Every folder and file below `dir` (following `dir` itself if it is a
/// link): folders as `None`, files as their bytes and executable bit.
fn tree(dir: &Path) -> BTreeMap<String, Option<(Vec<u8>, bool)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        let value = entry.file_type().is_file().then(|| {
            let mode = entry.metadata().unwrap().permissions().mode();
            (fs::read(entry.path()).unwrap(), mode & 0o111 != 0)
        });
        found.insert(rel, value);
    }
    found
}

/// The set the whole bundle unpacks to, pulled by path into a fresh
/// directory (the path `larder pull` has always taken).
fn whole_bundle_tree(store: &Store, variant: &str) -> BTreeMap<String, Option<(Vec<u8>, bool)>> {
    let reference = store.path(&format!("whole-{variant}"));
    store
        .larder(&["pull"])
        .arg(store.path(&format!("bundle-{variant}.tar.gz")))
        .arg("--into")
        .arg(&reference)
        .assert()
        .success();
    tree(&reference)
}

/// `pull --stack production --into DIR -F json`, which must succeed.
fn pull_json(store: &Store, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "pull",
        "--stack",
        "production",
        "--into",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    store.json(&args)
}

fn names(moved: &Value) -> Vec<String> {
    moved
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// The local store's entries beside `dir`.
fn local_entries(dir: &Path) -> Vec<String> {
    let mut state = dir.as_os_str().to_owned();
    state.push(".larder");
    let mut names: Vec<String> = fs::read_dir(PathBuf::from(state).join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The tree digests of a bundle's cookbooks, by name, from its record.
fn trees_of(store: &Store, digest: &str) -> BTreeMap<String, String> {
    let record: Value =
        serde_json::from_slice(&store.read(&format!("bundles/{digest}.json"))).unwrap();
    record["cookbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn an_update_fetches_only_the_changed_cookbook(store: &Store) {
    let two = publish(store, "two", Some("production"));
    let dir = store.path("live");
    // A cold instance takes the whole bundle.
    let first = pull_json(store, &dir, &[]);
    assert_eq!(first["transfer"]["mode"], "full", "{first}");
    assert_eq!(
        first["transfer"]["bundle_bytes"],
        fs::metadata(store.path("bundle-two.tar.gz")).unwrap().len()
    );
    // `three` changes app's files and nothing else.
    let three = publish(store, "three", Some("production"));
    let app = cookbook_range(store, &three, "app");
    if let Backend::S3(server) = &store.backend {
        server.take_requests();
    }
    let update = pull_json(store, &dir, &[]);
    let transfer = &update["transfer"];
    assert_eq!(transfer["mode"], "incremental", "{update}");
    assert_eq!(names(&transfer["fetched"]), ["app"]);
    assert_eq!(names(&transfer["reused"]), ["base", "db"]);
    // app's range, widened to the 64-byte blocks that check it.
    assert_eq!(
        transfer["fetched_bytes"],
        app.end.div_ceil(64) * 64 - app.start / 64 * 64
    );
    assert_eq!(transfer["bundle_bytes"], 0);
    assert_eq!(
        transfer["record_bytes"],
        store.read(&format!("bundles/{three}.json")).len()
    );
    if let Backend::S3(server) = &store.backend {
        // What the server saw: the pointer, the record, app's range of
        // the bundle.
        let key = |k: &str| format!("GET /{BUCKET}/ci/{k}");
        assert_eq!(
            server.take_requests(),
            [
                key("stacks/production.json"),
                key(&format!("bundles/{three}.json")),
                key(&format!("bundles/{three}.tar.gz")),
            ]
        );
    }
    // The same set, byte for byte, as the whole bundle unpacked.
    assert_eq!(tree(&dir), whole_bundle_tree(store, "three"));
    store
        .larder(&["verify-bundle", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let text = store
        .larder(&["-v", "pull", "--stack", "production", "--into"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stderr).contains("Fetched only the stack's pointer"),
        "{text:?}"
    );

    // Two sets are kept, and the local store holds what they use.
    let (two_trees, three_trees) = (trees_of(store, &two), trees_of(store, &three));
    let mut expected: Vec<String> = two_trees
        .values()
        .chain(three_trees.values())
        .cloned()
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(local_entries(&dir), expected);
    // Going to `one` (app 1.0.0, base, web) drops what only `two` used.
    let one = publish(store, "one", Some("production"));
    let back = pull_json(store, &dir, &[]);
    assert_eq!(names(&back["transfer"]["fetched"]), ["app", "web"]);
    assert_eq!(names(&back["transfer"]["reused"]), ["base"]);
    let mut expected: Vec<String> = trees_of(store, &one)
        .values()
        .chain(three_trees.values())
        .cloned()
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(local_entries(&dir), expected);
    assert_eq!(tree(&dir), whole_bundle_tree(store, "one"));
    // With --keep 3, the set before the previous one stays too.
    store
        .larder(&["stack", "pin", "production", &two])
        .assert()
        .success();
    let kept = pull_json(store, &dir, &["--keep", "3"]);
    // db is still used by `three`, the previous set, so it is still here.
    assert_eq!(names(&kept["transfer"]["fetched"]), ["app"]);
    assert_eq!(names(&kept["transfer"]["reused"]), ["base", "db"]);
    let mut state = dir.as_os_str().to_owned();
    state.push(".larder/sets");
    assert_eq!(fs::read_dir(PathBuf::from(state)).unwrap().count(), 3);
    assert_eq!(tree(&dir), whole_bundle_tree(store, "two"));
}

fn bundles_without_cookbook_ranges_are_pulled_whole(store: &Store) {
    publish(store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(store, &dir, &[]);
    // A bundle whose record has no ranges (one that was not cut by
    // cookbook, or a record written before ranges): no manifest digest.
    // The stack is pinned to it afterwards, so the pointer vouches for
    // that record.
    let three = publish(store, "three", None);
    let record_key = format!("bundles/{three}.json");
    let mut record: Value = serde_json::from_slice(&store.read(&record_key)).unwrap();
    record.as_object_mut().unwrap().remove("manifest_sha256");
    for cookbook in record["cookbooks"].as_array_mut().unwrap() {
        cookbook.as_object_mut().unwrap().remove("range");
    }
    store.write(&record_key, &serde_json::to_vec_pretty(&record).unwrap());
    store
        .larder(&["stack", "pin", "production", &three])
        .assert()
        .success();
    let update = pull_json(store, &dir, &[]);
    assert_eq!(update["transfer"]["mode"], "full", "{update}");
    assert_eq!(update["transfer"]["fetched"], serde_json::json!([]));
    assert_eq!(tree(&dir), whole_bundle_tree(store, "three"));
    store
        .larder(&["stack", "show", "production"])
        .assert()
        .success();
}

#[test]
fn a_file_edited_in_place_is_found_and_never_linked_into_a_new_set() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let store = Store::file();
    let two = publish(&store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(&store, &dir, &[]);
    publish(&store, "three", Some("production"));
    pull_json(&store, &dir, &[]);
    // base was reused: its live file is a link to the local store's copy,
    // and read-only.
    let edited = dir.join("base/attributes/default.rb");
    let meta = fs::metadata(&edited).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    assert!(meta.nlink() >= 2, "{meta:?}");
    store
        .larder(&["verify-bundle", "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("3 cookbook(s)"));
    // Edited in place, through the link.
    fs::set_permissions(&edited, fs::Permissions::from_mode(0o644)).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&edited)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"default['x'] = 2\n"))
        .unwrap();
    store
        .larder(&["verify-bundle", "--into"])
        .arg(&dir)
        .assert()
        .code(155)
        .stdout(contains("changed: cookbooks/base/attributes/default.rb"));
    // The next update (back to two: app changes) must not reuse that file:
    // base is fetched again, app and db come from the local store.
    store
        .larder(&["stack", "pin", "production", &two])
        .assert()
        .success();
    let update = pull_json(&store, &dir, &[]);
    assert_eq!(names(&update["transfer"]["fetched"]), ["base"], "{update}");
    assert_eq!(names(&update["transfer"]["reused"]), ["app", "db"]);
    let fresh = dir.join("base/attributes/default.rb");
    assert_eq!(fs::read(&fresh).unwrap(), b"default['x'] = 1\n");
    assert_ne!(fs::metadata(&fresh).unwrap().ino(), meta.ino());
    assert_eq!(tree(&dir), whole_bundle_tree(&store, "two"));
    store
        .larder(&["verify-bundle", "--into"])
        .arg(&dir)
        .assert()
        .success();
}

/// Writes `count` small files into cookbook `name` of the folder a bundle
/// variant is packed from, and `big` bytes of noise (at least a few MB
/// make it slow to serve).
fn grow(store: &Store, variant: &str, name: &str, count: usize, big: usize) {
    let from = store.path(&format!("vendored-{variant}"));
    for i in 0..count {
        write(
            &from,
            &format!("{name}/files/f{i:05}.txt"),
            format!("{i}\n").as_bytes(),
        );
    }
    let noise = blob(big, big as u64 + 11);
    write(&from, &format!("{name}/files/blob.bin"), &noise);
}

/// Packs and publishes a grown variant onto production; returns its digest.
fn publish_grown(store: &Store, variant: &str) -> String {
    let out = store.path(&format!("bundle-{variant}.tar.gz"));
    store
        .larder(&["package"])
        .arg(&out)
        .arg("--from")
        .arg(store.path(&format!("vendored-{variant}")))
        .assert()
        .success();
    let json = store.json(&["publish", out.to_str().unwrap(), "--stack", "production"]);
    json["sha256"].as_str().unwrap().to_string()
}

/// The set id DIR links to.
fn live_set(dir: &Path) -> String {
    let target = fs::read_link(dir).unwrap();
    target
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_pull_killed_while_fetching_cookbooks_leaves_a_complete_set_and_pulls_again() {
    let (tx, rx) = mpsc::channel();
    let store = Store::with(
        Backend::S3(S3Server::start_slow(tx)),
        format!("s3://{BUCKET}/ci"),
    );
    bundle(&store, "two");
    bundle(&store, "three");
    let old = publish_grown(&store, "two");
    let dir = store.path("live");
    pull_json(&store, &dir, &[]);
    while rx.try_recv().is_ok() {}
    let before = snapshot(&dir);
    // db's range becomes a few MB the server sends slowly.
    grow(&store, "three", "db", 0, 3 << 20);
    let new = publish_grown(&store, "three");
    while rx.try_recv().is_ok() {}
    let mut child = store
        .command(&["pull", "--stack", "production", "--into"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the cookbook download started");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(live_set(&dir), old);
    assert_eq!(snapshot(&dir), before);
    store
        .larder(&["verify-bundle", "--into"])
        .arg(&dir)
        .assert()
        .success();
    let again = pull_json(&store, &dir, &[]);
    assert_eq!(again["transfer"]["mode"], "incremental");
    assert_eq!(names(&again["transfer"]["fetched"]), ["app", "db"]);
    assert_eq!(live_set(&dir), new);
    assert_eq!(tree(&dir), whole_bundle_tree(&store, "three"));
}

#[test]
fn pulls_killed_at_any_point_leave_a_complete_set_and_pull_again() {
    let store = Store::file();
    bundle(&store, "two");
    bundle(&store, "three");
    // base has many files, so assembling a set takes a while.
    for variant in ["two", "three"] {
        grow(&store, variant, "base", 3000, 1 << 20);
    }
    let a = publish_grown(&store, "two");
    let b = publish_grown(&store, "three");
    let dir = store.path("live");
    pull_json(&store, &dir, &[]);
    let started = std::time::Instant::now();
    store
        .larder(&["stack", "pin", "production", &a])
        .assert()
        .success();
    pull_json(&store, &dir, &[]);
    let one_pull = started.elapsed();
    let mut state = dir.as_os_str().to_owned();
    state.push(".larder/tmp");
    let tmp = PathBuf::from(state);
    let mut killed_assembling = 0;
    for attempt in 0..30u32 {
        let live = live_set(&dir);
        let other = if live == a { &b } else { &a };
        store
            .larder(&["stack", "pin", "production", other])
            .assert()
            .success();
        let mut child = store
            .command(&["pull", "--stack", "production", "--into"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(one_pull * attempt / 20);
        let _ = child.kill();
        child.wait().unwrap();
        let assembling = fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .any(|e| e.path().join("cookbooks/base").is_dir());
        killed_assembling += usize::from(assembling);
        // Old or new, and complete either way.
        let now = live_set(&dir);
        assert!(now == a || now == b, "{now}");
        store
            .larder(&["verify-bundle", "--into"])
            .arg(&dir)
            .assert()
            .success();
    }
    assert!(
        killed_assembling > 0,
        "no kill landed while a set was assembled"
    );
    pull_json(&store, &dir, &[]);
    let live = live_set(&dir);
    let variant = if live == a { "two" } else { "three" };
    assert_eq!(tree(&dir), whole_bundle_tree(&store, variant));
}

#[test]
fn a_store_that_does_not_serve_ranges_gets_whole_bundle_pulls() {
    let store = Store::file();
    publish(&store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(&store, &dir, &[]);
    publish(&store, "three", Some("production"));
    // A static server that answers a range request with the whole file
    // (as `python3 -m http.server` does): the warm instance cannot fetch
    // app's range, and takes the whole bundle instead.
    let Backend::File(root) = &store.backend else {
        unreachable!()
    };
    let plain = files::serve(root.path().join("store"), None) + "/";
    let update = pull_json(&store, &dir, &["--store", &plain]);
    assert_eq!(update["transfer"]["mode"], "full", "{update}");
    assert_eq!(update["transfer"]["fetched"], serde_json::json!([]));
    assert_eq!(
        update["transfer"]["bundle_bytes"],
        fs::metadata(store.path("bundle-three.tar.gz"))
            .unwrap()
            .len()
    );
    assert_eq!(tree(&dir), whole_bundle_tree(&store, "three"));
}

/// Publishing refuses a bundle whose `.sha256` file or manifest does not
/// match its bytes, and leaves nothing in the store: the upload that ran
/// beside the checks is removed again.
fn a_refused_bundle_leaves_nothing_in_the_store(store: &Store) {
    let (path, _) = bundle(store, "one");
    let (_, other) = bundle(store, "two");
    let sidecar = store.path("bundle-one.tar.gz.sha256");
    let good_sidecar = fs::read_to_string(&sidecar).unwrap();
    fs::write(&sidecar, format!("{other}  bundle-one.tar.gz\n")).unwrap();
    store
        .larder(&["publish"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(contains(format!("the .sha256 file says {other}")));
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
    // A changed byte with a sidecar to match: the contents are refused.
    fs::write(&sidecar, &good_sidecar).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let app = bytes.len() / 2;
    bytes[app] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    fs::write(&sidecar, format!("{digest}  bundle-one.tar.gz\n")).unwrap();
    store.larder(&["publish"]).arg(&path).assert().failure();
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
    // Without a sidecar the bytes name themselves, and are checked too.
    fs::remove_file(&sidecar).unwrap();
    store.larder(&["publish"]).arg(&path).assert().failure();
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
}

/// Without its `.sha256` file a bundle is named by the digest publish
/// computes first, and the states that check each cookbook's range come
/// from that same pass: an update still fetches only the changed cookbook.
fn a_bundle_without_its_sha256_file_still_updates_by_cookbook(store: &Store) {
    publish(store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(store, &dir, &[]);
    let (path, digest) = bundle(store, "three");
    let expected = whole_bundle_tree(store, "three");
    fs::remove_file(store.path("bundle-three.tar.gz.sha256")).unwrap();
    store
        .larder(&["publish"])
        .arg(&path)
        .args(["--stack", "production"])
        .assert()
        .success()
        .stdout(contains(&digest));
    let update = pull_json(store, &dir, &[]);
    assert_eq!(update["transfer"]["mode"], "incremental", "{update}");
    assert_eq!(names(&update["transfer"]["fetched"]), ["app"]);
    assert_eq!(tree(&dir), expected);
}

/// The parts of a bundle's record that its bytes decide.
fn contents_of(record: &Value) -> Value {
    let mut record = record.clone();
    let fields = record.as_object_mut().unwrap();
    fields.remove("published_at");
    fields.remove("provenance");
    record
}

/// A bundle `package` wrote on this machine, unchanged since, is published
/// on what packing it showed, without being read again; its record is the
/// one a full check of the same bytes gives, and an update still fetches
/// only the changed cookbook.
fn a_bundle_packed_here_is_published_on_the_checks_of_packing(store: &Store) {
    publish(store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(store, &dir, &[]);
    let (path, digest) = bundle(store, "three");
    let published = store.json(&["publish", path.to_str().unwrap(), "--stack", "production"]);
    assert_eq!(published["rechecked"], false, "{published}");
    assert_eq!(published["sha256"], digest.as_str());
    // The same bytes, packed where no memo is kept, are checked in full.
    let reference = Store::file();
    let (reference_path, _) = bundle(&reference, "three");
    fs::remove_dir_all(reference.home.path().join("packaged")).unwrap();
    let checked = reference.json(&["publish", reference_path.to_str().unwrap()]);
    assert_eq!(checked["rechecked"], true, "{checked}");
    assert_eq!(
        contents_of(&published["record"]),
        contents_of(&checked["record"])
    );
    let update = pull_json(store, &dir, &[]);
    assert_eq!(update["transfer"]["mode"], "incremental", "{update}");
    assert_eq!(names(&update["transfer"]["fetched"]), ["app"]);
    assert_eq!(tree(&dir), whole_bundle_tree(store, "three"));
}

/// `publish BUNDLE -F json` on a file store, which must succeed: whether
/// the bundle was read again to check it.
fn rechecked(store: &Store, bundle: &Path) -> bool {
    let published = store.json(&["publish", bundle.to_str().unwrap()]);
    published["rechecked"].as_bool().unwrap()
}

#[test]
fn a_bundle_touched_or_copied_since_it_was_packed_is_checked_in_full() {
    let store = Store::file();
    let (path, _) = bundle(&store, "one");
    let touched = fs::File::options().write(true).open(&path).unwrap();
    touched
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert!(rechecked(&store, &path));
    let (path, _) = bundle(&store, "two");
    let copy = store.path("copy.tar.gz");
    fs::copy(&path, &copy).unwrap();
    fs::copy(
        store.path("bundle-two.tar.gz.sha256"),
        store.path("copy.tar.gz.sha256"),
    )
    .unwrap();
    assert!(rechecked(&store, &copy));
    // The bundle itself, untouched, is not read again.
    assert!(!rechecked(&store, &path));
}

/// The same bundle packed to two paths has a memo for each: neither is
/// read again.
#[test]
fn the_same_bundle_packed_to_two_paths_is_not_read_again_from_either() {
    let store = Store::file();
    let (first, digest) = bundle(&store, "one");
    let second = store.path("again.tar.gz");
    store
        .larder(&["package"])
        .arg(&second)
        .arg("--from")
        .arg(store.path("vendored-one"))
        .args(["--lock-digest", "abc123"])
        .assert()
        .success();
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    assert!(!rechecked(&store, &first));
    assert!(!rechecked(&store, &second));
    assert_eq!(store.objects("bundles"), objects_of_one_bundle(&digest));
}

/// A byte changed in place, with the modification time put back: the
/// change time still differs, so the bundle is checked, refused, and
/// nothing is left in the store.
#[test]
fn a_bundle_changed_in_place_since_it_was_packed_is_refused() {
    use std::os::unix::fs::FileExt;
    let store = Store::file();
    let (path, _) = bundle(&store, "one");
    let modified = fs::metadata(&path).unwrap().modified().unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    let middle = fs::metadata(&path).unwrap().len() / 2;
    let mut byte = [0u8];
    fs::File::open(&path)
        .unwrap()
        .read_exact_at(&mut byte, middle)
        .unwrap();
    file.write_all_at(&[byte[0] ^ 0x55], middle).unwrap();
    file.set_modified(modified).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
    store
        .larder(&["publish"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(contains("refusing").and(contains("bundle-one.tar.gz")));
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
}

/// Publishes the bundle at `path` from `store`, whose server tells
/// `paused` when it has paused the bundle's upload and resumes it when told
/// on `resume`; `change` changes the file in between. The publish must be
/// refused as changed, with nothing left in the store.
fn publish_changed_midway(
    store: &Store,
    path: &Path,
    paused: mpsc::Receiver<()>,
    resume: mpsc::Sender<()>,
    change: impl FnOnce(&Path),
) {
    let child = store
        .command(&["publish"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if paused.recv_timeout(Duration::from_secs(60)).is_err() {
        panic!(
            "the upload did not reach the server: {:?}",
            child.wait_with_output()
        );
    }
    change(path);
    resume.send(()).unwrap();
    // A retried upload is not paused again.
    drop(resume);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{:?} {stderr}", output.status);
    assert!(
        stderr.contains("changed while it was being published")
            && stderr.contains(&path.file_name().unwrap().to_string_lossy().into_owned()),
        "{:?} {stderr}",
        output.status
    );
    assert_eq!(store.objects("bundles"), Vec::<String>::new());
}

/// A bundle changed while it is being uploaded (here once its upload has
/// reached the server, before the server stores it) no longer has the
/// stamp that `package`'s memo vouches for: publish refuses it and removes
/// the object it has just created.
#[test]
fn a_bundle_changed_while_it_is_published_is_refused_and_removed() {
    use std::os::unix::fs::PermissionsExt;
    let (arrived, paused) = mpsc::channel();
    let (resume, go) = mpsc::channel();
    let store = Store::with(
        Backend::S3(S3Server::start_holding_bundle_uploads(arrived, go)),
        format!("s3://{BUCKET}/ci"),
    );
    let (path, _) = bundle(&store, "one");
    publish_changed_midway(&store, &path, paused, resume, |path| {
        // Any change to the file changes its change time; a new mode is one.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    });
}

/// A bundle cut short while its upload is under way: the upload fails
/// where the file now ends, and publish says that the bundle changed (not
/// a write error, and no crash); nothing is stored. Packed here, the bundle
/// is only read by the upload; packed elsewhere, it is also being checked
/// when it is cut, and reads past its new end must not kill the process.
#[test]
fn a_bundle_cut_short_while_it_is_published_is_refused() {
    for packed_here in [true, false] {
        let (stalled, paused) = mpsc::channel();
        let (resume, go) = mpsc::channel();
        let store = Store::with(
            Backend::S3(S3Server::start_stalling_bundle_uploads(stalled, go)),
            format!("s3://{BUCKET}/ci"),
        );
        let path = if packed_here {
            grow(&store, "one", "app", 0, 48_000_000);
            bundle(&store, "one").0
        } else {
            let path = store.path("bundle-one.tar.gz");
            stored_bundle(&path, &blob(48_000_000, 3));
            path
        };
        publish_changed_midway(&store, &path, paused, resume, |path| {
            // Far more of it is unsent than the sockets between hold.
            fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .set_len(1 << 20)
                .unwrap();
        });
    }
}

/// A memo that is not valid JSON, or whose states or ranges do not fit
/// the bundle, is not used: the bundle is checked in full and published.
#[test]
fn a_damaged_memo_is_not_used() {
    let store = Store::file();
    // The memo of the bundle file at `path`, as the README names it.
    let memo_of = |digest: &str, path: &Path| {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(path).unwrap();
        let name = format!("packaged/{digest}.{}.{}.json", meta.dev(), meta.ino());
        store.home.path().join(name)
    };
    let (path, digest) = bundle(&store, "one");
    fs::write(memo_of(&digest, &path), b"{not json").unwrap();
    assert!(rechecked(&store, &path));
    let damages: [fn(&mut Value); 3] = [
        |memo| {
            let first = memo["hashed"]["states"][0].clone();
            memo["hashed"]["states"].as_array_mut().unwrap().push(first);
        },
        |memo| memo["ranges"][0]["end"] = Value::from(u64::MAX),
        |memo| memo["ranges"].as_array_mut().unwrap().truncate(1),
    ];
    for (variant, damage) in ["two", "three", "one"].into_iter().zip(damages) {
        let (path, digest) = bundle(&store, variant);
        let mut memo: Value =
            serde_json::from_slice(&fs::read(memo_of(&digest, &path)).unwrap()).unwrap();
        damage(&mut memo);
        fs::write(memo_of(&digest, &path), serde_json::to_vec(&memo).unwrap()).unwrap();
        assert!(rechecked(&store, &path), "{variant}");
    }
}

/// The pointer names its record by sha256: a record changed afterwards
/// (its ranges pointed elsewhere) is not used, and the whole bundle, which
/// the pointer's digest checks, is fetched instead.
fn a_record_changed_after_the_pointer_is_not_used(store: &Store) {
    publish(store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(store, &dir, &[]);
    let three = publish(store, "three", Some("production"));
    let pointer: Value = serde_json::from_slice(&store.read("stacks/production.json")).unwrap();
    let record_key = format!("bundles/{three}.json");
    let record = store.read(&record_key);
    assert_eq!(
        pointer["record_sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&record))
    );
    let mut changed: Value = serde_json::from_slice(&record).unwrap();
    for cookbook in changed["cookbooks"].as_array_mut().unwrap() {
        cookbook["range"]["start"] = serde_json::json!(0);
    }
    store.write(&record_key, &serde_json::to_vec_pretty(&changed).unwrap());
    let update = pull_json(store, &dir, &[]);
    assert_eq!(update["transfer"]["mode"], "full", "{update}");
    assert_eq!(tree(&dir), whole_bundle_tree(store, "three"));
    // Rollback and promotion carry the record's sha256 along; a pin reads
    // the record as it is now.
    let record_of = |digest: &str| {
        let bytes = store.read(&format!("bundles/{digest}.json"));
        Value::from(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)))
    };
    let pointer = |stack: &str| -> Value {
        serde_json::from_slice(&store.read(&format!("stacks/{stack}.json"))).unwrap()
    };
    let two = pointer("production")["previous"]
        .as_str()
        .unwrap()
        .to_string();
    store
        .larder(&["stack", "rollback", "production"])
        .assert()
        .success();
    assert_eq!(pointer("production")["record_sha256"], record_of(&two));
    store
        .larder(&["stack", "promote", "production", "staging"])
        .assert()
        .success();
    assert_eq!(pointer("staging")["record_sha256"], record_of(&two));
    store
        .larder(&["stack", "pin", "production", &three])
        .assert()
        .success();
    assert_eq!(pointer("production")["record_sha256"], record_of(&three));
    assert_eq!(
        pointer("production")["previous_record_sha256"],
        record_of(&two)
    );
}

/// A pointer that names no record (one written before pointers did) and a
/// record whose ranges lie outside the bundle: the ranges are not used,
/// the whole bundle is.
fn nonsense_ranges_in_a_record_no_pointer_names_are_not_used(store: &Store) {
    publish(store, "two", Some("production"));
    let dir = store.path("live");
    pull_json(store, &dir, &[]);
    let three = publish(store, "three", Some("production"));
    let pointer_key = "stacks/production.json";
    let mut pointer: Value = serde_json::from_slice(&store.read(pointer_key)).unwrap();
    pointer.as_object_mut().unwrap().remove("record_sha256");
    store.write(pointer_key, &serde_json::to_vec_pretty(&pointer).unwrap());
    let record_key = format!("bundles/{three}.json");
    let mut record: Value = serde_json::from_slice(&store.read(&record_key)).unwrap();
    for (i, cookbook) in record["cookbooks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let range = &mut cookbook["range"];
        if i == 0 {
            range["start"] = serde_json::json!(u64::MAX);
        } else {
            range["end"] = serde_json::json!(u64::MAX);
        }
    }
    store.write(&record_key, &serde_json::to_vec_pretty(&record).unwrap());
    let update = pull_json(store, &dir, &[]);
    assert_eq!(update["transfer"]["mode"], "full", "{update}");
    assert_eq!(tree(&dir), whole_bundle_tree(store, "three"));
}
