//! Bundles end to end through the real `larder` binary: `package` twice
//! gives the same bytes, `sha256sum -c` accepts the sidecar, `pull` from a
//! loopback HTTP server installs and switches, hostile or damaged bundles
//! are refused with the directory untouched, a pull killed mid-download
//! leaves the directory intact, and rollback restores the earlier set.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use common::files::serve;
use predicates::str::contains;
use sha2::{Digest, Sha256};

fn larder() -> Command {
    let mut cmd = Command::cargo_bin("larder").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn write(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A vendored folder with two cookbooks; `variant` changes one file.
fn cookbooks(root: &Path, variant: &str) -> PathBuf {
    let from = root.join(format!("vendored-{variant}"));
    write(
        &from,
        "app/metadata.json",
        br#"{"name":"app","version":"1.2.0"}"#,
    );
    write(
        &from,
        "app/recipes/default.rb",
        format!("log '{variant}'\n").as_bytes(),
    );
    write(&from, "app/files/run.sh", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(
        from.join("app/files/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(
        &from,
        "base/metadata.json",
        br#"{"name":"base","version":"0.3.1"}"#,
    );
    write(&from, "base/attributes/default.rb", b"default['x'] = 1\n");
    from
}

/// Packages `from` into `out` (run from `cwd`) and returns the bundle path.
fn package(from: &Path, out: &Path, cwd: &Path) -> PathBuf {
    fs::create_dir_all(out).unwrap();
    larder()
        .current_dir(cwd)
        .arg("package")
        .arg(out)
        .arg("--from")
        .arg(from)
        .arg("--lock-digest")
        .arg("abc123")
        .assert()
        .success()
        .stdout(contains("Cookbook(s) packaged to"));
    let mut bundles: Vec<PathBuf> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    bundles.remove(0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Everything visible through `dir`: its link target and every file.
fn snapshot(dir: &Path) -> (Option<PathBuf>, BTreeMap<String, Vec<u8>>) {
    let link = fs::read_link(dir).ok();
    let mut files = BTreeMap::new();
    if dir.exists() {
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, fs::read(entry.path()).unwrap());
            }
        }
    }
    (link, files)
}

/// A hand-made tar.gz with one hostile entry, and its sidecar.
fn hostile_bundle(
    dir: &Path,
    name: &str,
    entry: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) -> PathBuf {
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..entry.len()].copy_from_slice(entry.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
        builder.finish().unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar_bytes).unwrap();
    let bytes = gz.finish().unwrap();
    let path = dir.join(name);
    fs::write(&path, &bytes).unwrap();
    fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{}  {name}\n", sha256_hex(&bytes)),
    )
    .unwrap();
    path
}

#[test]
fn package_is_byte_identical_across_runs_and_working_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let from = cookbooks(tmp.path(), "a");
    fs::create_dir_all(tmp.path().join("cwd1/deeper")).unwrap();
    let one = package(&from, &tmp.path().join("out1"), &tmp.path().join("cwd1"));
    let two = package(
        &from,
        &tmp.path().join("out2"),
        &tmp.path().join("cwd1/deeper"),
    );
    assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
    assert_eq!(one.file_name(), two.file_name());
    let digest = sha256_hex(&fs::read(&one).unwrap());
    assert_eq!(
        one.file_name().unwrap().to_string_lossy(),
        format!("cookbooks-{}.tar.gz", &digest[..12])
    );
    let sidecar = fs::read_to_string(format!("{}.sha256", one.display())).unwrap();
    assert_eq!(
        sidecar,
        format!("{digest}  cookbooks-{}.tar.gz\n", &digest[..12])
    );

    // Anything else in the output folder is untouched and no temp files remain.
    let leftovers: Vec<_> = fs::read_dir(tmp.path().join("out1")).unwrap().collect();
    assert_eq!(leftovers.len(), 2);

    larder()
        .arg("verify-bundle")
        .arg(&one)
        .assert()
        .success()
        .stdout(contains("Verified"));
}

#[test]
fn sidecar_is_accepted_by_sha256sum() {
    if !common::require_tool("sha256sum", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let from = cookbooks(tmp.path(), "a");
    let bundle = package(&from, &tmp.path().join("out"), tmp.path());
    let status = StdCommand::new("sha256sum")
        .arg("-c")
        .arg(format!(
            "{}.sha256",
            bundle.file_name().unwrap().to_string_lossy()
        ))
        .current_dir(bundle.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn verify_bundle_lists_a_digest_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let from = cookbooks(tmp.path(), "a");
    let bundle = package(&from, &tmp.path().join("out"), tmp.path());
    fs::write(
        format!("{}.sha256", bundle.display()),
        format!("{}  x\n", "0".repeat(64)),
    )
    .unwrap();
    larder()
        .arg("verify-bundle")
        .arg(&bundle)
        .assert()
        .code(155)
        .stdout(contains("archive digest mismatch"));
}

#[test]
fn pull_over_http_installs_then_reports_already_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let from = cookbooks(tmp.path(), "a");
    let bundle = package(&from, &tmp.path().join("site"), tmp.path());
    let base = serve(tmp.path().join("site"), None);
    let url = format!("{base}/{}", bundle.file_name().unwrap().to_string_lossy());
    let dir = tmp.path().join("srv/cookbooks");
    fs::create_dir_all(dir.parent().unwrap()).unwrap();

    larder()
        .args(["pull", &url, "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("Pulled bundle"))
        .stdout(contains("app (1.2.0)"));
    assert!(fs::symlink_metadata(&dir).unwrap().file_type().is_symlink());
    assert_eq!(
        fs::read(dir.join("app/recipes/default.rb")).unwrap(),
        b"log 'a'\n"
    );
    let mode = fs::metadata(dir.join("app/files/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    larder()
        .args(["pull", &url, "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("already in place"));
}

#[test]
fn damaged_and_hostile_bundles_are_refused_with_the_directory_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let from = cookbooks(tmp.path(), "a");
    let good = package(&from, &site, tmp.path());
    let other = package(
        &cookbooks(tmp.path(), "b"),
        &tmp.path().join("other"),
        tmp.path(),
    );
    let dir = tmp.path().join("cookbooks");
    larder()
        .arg("pull")
        .arg(&other)
        .arg("--into")
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);

    // One flipped byte, sidecar kept.
    let mut bytes = fs::read(&good).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let tampered = site.join("tampered.tar.gz");
    fs::write(&tampered, &bytes).unwrap();
    fs::copy(
        format!("{}.sha256", good.display()),
        site.join("tampered.tar.gz.sha256"),
    )
    .unwrap();
    let refused = larder()
        .arg("pull")
        .arg(&tampered)
        .arg("--into")
        .arg(&dir)
        .assert()
        .code(153);
    refused.stderr(contains("tampered.tar.gz has sha256"));
    assert_eq!(snapshot(&dir), before);

    // The right file with a wrong --sha256.
    larder()
        .arg("pull")
        .arg(&good)
        .arg("--into")
        .arg(&dir)
        .args(["--sha256", &"1".repeat(64)])
        .assert()
        .code(153);
    assert_eq!(snapshot(&dir), before);

    let regular = tar::EntryType::Regular;
    let cases = [
        hostile_bundle(
            &site,
            "dotdot.tar.gz",
            "cookbooks/../../evil",
            regular,
            "",
            b"x",
        ),
        hostile_bundle(
            &site,
            "absolute.tar.gz",
            "/tmp/larder-evil",
            regular,
            "",
            b"x",
        ),
        hostile_bundle(
            &site,
            "symlink.tar.gz",
            "cookbooks/app/etc",
            tar::EntryType::Symlink,
            "/etc",
            b"",
        ),
    ];
    let messages = ["'..' component", "absolute path", "links are not allowed"];
    for (bundle, message) in cases.iter().zip(messages) {
        larder()
            .arg("pull")
            .arg(bundle)
            .arg("--into")
            .arg(&dir)
            .assert()
            .code(154)
            .stderr(contains(message));
        assert_eq!(snapshot(&dir), before, "{}", bundle.display());
    }
    assert!(!Path::new("/tmp/larder-evil").exists());

    // 8 MiB of zeros compress to a few KiB; the cap is 1 MiB.
    let zeros = vec![0u8; 8 << 20];
    let bomb = hostile_bundle(
        &site,
        "bomb.tar.gz",
        "cookbooks/app/zeros",
        regular,
        "",
        &zeros,
    );
    assert!(fs::metadata(&bomb).unwrap().len() < 64 * 1024);
    larder()
        .arg("pull")
        .arg(&bomb)
        .arg("--into")
        .arg(&dir)
        .args(["--max-bytes", "1048576"])
        .assert()
        .code(154)
        .stderr(contains("decompression bomb"));
    assert_eq!(snapshot(&dir), before);

    // A valid archive whose contents differ from its manifest.
    let forged = forge_manifest(&other, &good, &site);
    larder()
        .arg("pull")
        .arg(&forged)
        .arg("--into")
        .arg(&dir)
        .assert()
        .code(155)
        .stderr(contains("changed: cookbooks/app/recipes/default.rb"));
    assert_eq!(snapshot(&dir), before);
}

/// Rebuilds `contents` with the manifest of `manifest_from`, with a fresh
/// sidecar, so only the manifest check can catch it.
fn forge_manifest(contents: &Path, manifest_from: &Path, dir: &Path) -> PathBuf {
    let read_entries = |path: &Path| common::bundles::entries(&fs::read(path).unwrap());
    let donor = read_entries(manifest_from);
    let manifest = donor
        .iter()
        .find(|(h, _)| h.path().unwrap().ends_with(".larder-manifest.json"))
        .unwrap();
    let mut out = Vec::new();
    {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            &mut out,
            flate2::Compression::fast(),
        ));
        for (header, data) in read_entries(contents) {
            let (header, data) = if header.path().unwrap().ends_with(".larder-manifest.json") {
                (manifest.0.clone(), manifest.1.clone())
            } else {
                (header, data)
            };
            builder.append(&header, &data[..]).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }
    let path = dir.join("forged.tar.gz");
    fs::write(&path, &out).unwrap();
    fs::write(
        dir.join("forged.tar.gz.sha256"),
        format!("{}  forged.tar.gz\n", sha256_hex(&out)),
    )
    .unwrap();
    path
}

#[test]
fn a_pull_killed_mid_download_leaves_the_directory_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let first = package(
        &cookbooks(tmp.path(), "a"),
        &tmp.path().join("first"),
        tmp.path(),
    );
    // A second bundle big enough to take a while when served slowly.
    let from = cookbooks(tmp.path(), "big");
    let mut noise = Vec::with_capacity(3 << 20);
    let mut state: u64 = 1;
    while noise.len() < 3 << 20 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        noise.extend_from_slice(&state.to_le_bytes());
    }
    write(&from, "app/files/blob.bin", &noise);
    let site = tmp.path().join("site");
    let big = package(&from, &site, tmp.path());
    let name = big.file_name().unwrap().to_string_lossy().into_owned();

    let dir = tmp.path().join("cookbooks");
    larder()
        .arg("pull")
        .arg(&first)
        .arg("--into")
        .arg(&dir)
        .assert()
        .success();
    let before = snapshot(&dir);

    let (tx, rx) = mpsc::channel();
    let slow_base = serve(site.clone(), Some((name.clone(), tx)));
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("larder"))
        .args(["pull", &format!("{slow_base}/{name}"), "--into"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(60))
        .expect("download started");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(snapshot(&dir), before);

    let fast_base = serve(site, None);
    larder()
        .args(["pull", &format!("{fast_base}/{name}"), "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("Pulled bundle"));
    assert_eq!(fs::read(dir.join("app/files/blob.bin")).unwrap(), noise);
    let tmp_left: Vec<_> = fs::read_dir(tmp.path().join("cookbooks.larder/tmp"))
        .unwrap()
        .collect();
    assert!(tmp_left.is_empty(), "{tmp_left:?}");
}

#[test]
fn rollback_restores_the_earlier_set_including_a_plain_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let a = package(
        &cookbooks(tmp.path(), "a"),
        &tmp.path().join("a"),
        tmp.path(),
    );
    let b = package(
        &cookbooks(tmp.path(), "b"),
        &tmp.path().join("b"),
        tmp.path(),
    );
    let dir = tmp.path().join("cookbooks");
    write(&dir, "legacy/recipes/default.rb", b"log 'legacy'\n");
    let legacy = snapshot(&dir);

    larder()
        .arg("pull")
        .arg(&a)
        .arg("--into")
        .arg(&dir)
        .assert()
        .success();
    let with_a = snapshot(&dir);
    assert_eq!(
        fs::read(dir.join("app/recipes/default.rb")).unwrap(),
        b"log 'a'\n"
    );

    larder()
        .arg("pull")
        .arg(&b)
        .arg("--into")
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        fs::read(dir.join("app/recipes/default.rb")).unwrap(),
        b"log 'b'\n"
    );

    larder()
        .args(["pull", "--rollback", "--into"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("Rolled back"));
    assert_eq!(snapshot(&dir), with_a);

    // The legacy plain directory was the previous set of the first pull; it
    // was dropped once two newer sets existed, so only a and b remain.
    larder()
        .args(["pull", "--rollback", "--into"])
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        fs::read(dir.join("app/recipes/default.rb")).unwrap(),
        b"log 'b'\n"
    );

    // A fresh directory: the plain folder is kept and restored by rollback.
    let dir2 = tmp.path().join("second");
    write(&dir2, "legacy/recipes/default.rb", b"log 'legacy'\n");
    larder()
        .arg("pull")
        .arg(&a)
        .arg("--into")
        .arg(&dir2)
        .assert()
        .success();
    larder()
        .args(["pull", "--rollback", "--into"])
        .arg(&dir2)
        .assert()
        .success();
    assert_eq!(snapshot(&dir2).1, legacy.1);

    let never = tmp.path().join("never");
    larder()
        .args(["pull", "--rollback", "--into"])
        .arg(&never)
        .assert()
        .code(157);
}
