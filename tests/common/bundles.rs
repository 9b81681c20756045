//! Small bundles for pull tests: one cookbook packed by `larder package`,
//! published with its `.sha256` sidecar, and a bundle's entries read back.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` as `dir/name` with its `.sha256` sidecar.
pub fn publish(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{}  {name}\n", sha256_hex(bytes)),
    )
    .unwrap();
    path
}

/// A bundle of one small cookbook, packed by `larder package`; `variant`
/// changes its recipe.
pub fn bundle(root: &Path, variant: &str) -> Vec<u8> {
    let from = root.join(format!("vendored-{variant}"));
    fs::create_dir_all(from.join("app/recipes")).unwrap();
    fs::write(
        from.join("app/metadata.json"),
        br#"{"name":"app","version":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        from.join("app/recipes/default.rb"),
        format!("log '{variant}'\n"),
    )
    .unwrap();
    let out = root.join(format!("packed-{variant}"));
    fs::create_dir_all(&out).unwrap();
    assert_cmd::Command::cargo_bin("larder")
        .unwrap()
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(root)
        .arg("package")
        .arg(&out)
        .arg("--from")
        .arg(&from)
        .assert()
        .success();
    let packed = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    fs::read(packed).unwrap()
}

/// The entries of a `.tar.gz`, each header with its data.
pub fn entries(bytes: &[u8]) -> Vec<(tar::Header, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (e.header().clone(), data)
        })
        .collect()
}
