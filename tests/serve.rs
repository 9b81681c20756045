//! `larder serve` end to end: the real binary serving `registry-fixtures`
//! on loopback, read with a plain HTTP client and with larder's own
//! `http` and `source::supermarket` modules.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::project::fixtures;
use common::server::Server;
use larder::cache::Store;
use larder::http::{Client, HttpError, HttpSettings};
use larder::index::{Index, Origin};
use larder::metadata::Metadata;
use larder::source::supermarket;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A client that talks to loopback directly, whatever proxies the
/// environment names.
fn client() -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder().no_proxy()
}

fn get(url: &str) -> reqwest::blocking::Response {
    client().build().unwrap().get(url).send().unwrap()
}

fn get_json(url: &str) -> (u16, Value) {
    let response = get(url);
    let status = response.status().as_u16();
    (status, response.json().unwrap())
}

fn quick_client() -> Client {
    Client::new(HttpSettings {
        retries: 1,
        backoff: std::time::Duration::from_millis(10),
        ..HttpSettings::default()
    })
    .unwrap()
}

/// The files of a `.tar.gz`, by path.
fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.push((path, content));
    }
    files
}

#[test]
fn serves_the_universe_of_the_fixtures() {
    let server = Server::start(fixtures());
    let (status, universe) = get_json(&format!("{}/universe", server.url));
    assert_eq!(status, 200);
    let names: Vec<&String> = universe.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["app", "base", "database", "legacy", "nginx", "packages"]
    );
    let base: Vec<&String> = universe["base"].as_object().unwrap().keys().collect();
    assert_eq!(base, ["1.0.0", "1.1.0", "2.0.0"]);
    let nginx = &universe["nginx"]["2.0.0"];
    assert_eq!(nginx["location_type"], "opscode");
    assert_eq!(nginx["location_path"], format!("{}/api/v1", server.url));
    assert_eq!(
        nginx["download_url"],
        format!(
            "{}/api/v1/cookbooks/nginx/versions/2.0.0/download",
            server.url
        )
    );
    assert_eq!(
        nginx["dependencies"],
        serde_json::json!({"packages": ">= 1.2.0", "base": ">= 1.1.0"})
    );
    // The metadata.rb that reads its version from a VERSION file.
    assert_eq!(
        universe["database"]["1.1.0"]["dependencies"]["base"],
        "~> 1.1"
    );
    let (_, api) = get_json(&format!("{}/api/v1/universe", server.url));
    assert_eq!(api, universe);

    // What larder itself makes of it.
    let mut index = Index::new();
    let body = serde_json::to_vec(&universe).unwrap();
    supermarket::add_to_index(&body, &server.url, 0, &mut index).unwrap();
    assert_eq!(index.release_count(), 12);
}

#[test]
fn downloads_redirect_to_real_tarballs() {
    let server = Server::start(fixtures());
    let no_redirects = client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let download = format!(
        "{}/api/v1/cookbooks/nginx/versions/2.0.0/download",
        server.url
    );
    let response = no_redirects.get(&download).send().unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("{}/tarballs/nginx-2.0.0.tar.gz", server.url)
    );

    let bytes = get(&download).bytes().unwrap().to_vec();
    assert_eq!(&bytes[..2], [0x1f, 0x8b]);
    let files = unpack(&bytes);
    assert!(files.iter().all(|(path, _)| path.starts_with("nginx")));
    let (_, json) = files
        .iter()
        .find(|(path, _)| path == "nginx/metadata.json")
        .unwrap();
    let metadata = Metadata::from_json(Path::new("nginx/metadata.json"), json).unwrap();
    assert_eq!(
        (metadata.name.as_str(), metadata.raw_version.as_str()),
        ("nginx", "2.0.0")
    );
    assert!(files.iter().any(|(p, _)| p == "nginx/recipes/default.rb"));
    assert!(files.iter().any(|(p, _)| p == "nginx/README.md"));

    // `latest` and underscores, as Supermarket accepts them; a metadata.rb
    // cookbook; larder's client hashes what it streams, and the tarball is
    // the same each time.
    let latest = get(&format!(
        "{}/api/v1/cookbooks/base/versions/latest/download",
        server.url
    ))
    .bytes()
    .unwrap()
    .to_vec();
    assert!(
        unpack(&latest).iter().any(|(p, c)| p == "base/metadata.rb"
            && String::from_utf8_lossy(c).contains("version '2.0.0'"))
    );
    let mut streamed = Vec::new();
    let digest = quick_client()
        .download(
            &format!(
                "{}/api/v1/cookbooks/base/versions/2_0_0/download",
                server.url
            ),
            &[],
            &mut streamed,
        )
        .unwrap();
    assert_eq!(streamed, latest);
    assert_eq!(digest, hex::encode(Sha256::digest(&latest)));
}

#[test]
fn answers_supermarket_cookbook_and_search_endpoints() {
    let server = Server::start(fixtures());
    let (status, base) = get_json(&format!("{}/api/v1/cookbooks/base", server.url));
    assert_eq!(status, 200);
    assert_eq!(base["name"], "base");
    assert_eq!(base["maintainer"], "Larder Fixtures");
    let versions = format!("{}/api/v1/cookbooks/base/versions", server.url);
    assert_eq!(base["latest_version"], format!("{versions}/2_0_0"));
    assert_eq!(
        base["versions"],
        serde_json::json!([
            format!("{versions}/2_0_0"),
            format!("{versions}/1_1_0"),
            format!("{versions}/1_0_0")
        ])
    );
    let (_, version) = get_json(&format!("{versions}/1_1_0"));
    assert_eq!(version["version"], "1.1.0");
    assert_eq!(version["license"], "Apache-2.0");

    let (status, search) = get_json(&format!("{}/api/v1/search?q=DATA", server.url));
    assert_eq!(status, 200);
    assert_eq!(search["start"], 0);
    assert_eq!(
        search["total"], 6,
        "total counts every cookbook, as Supermarket's does"
    );
    let items = search["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["cookbook_name"], "database");
    assert_eq!(
        items[0]["cookbook_description"],
        "Installs a database server"
    );
    assert_eq!(
        items[0]["cookbook"],
        format!("{}/api/v1/cookbooks/database", server.url)
    );
    let (_, page) = get_json(&format!("{}/api/v1/search?q=&start=4&items=10", server.url));
    let names: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["cookbook_name"])
        .collect();
    assert_eq!(names, ["nginx", "packages"]);
}

#[test]
fn unknown_things_are_supermarket_404s() {
    let server = Server::start(fixtures());
    for path in [
        "/api/v1/cookbooks/nope",
        "/api/v1/cookbooks/base/versions/9.9.9/download",
        "/tarballs/base-9.9.9.tar.gz",
        "/elsewhere",
    ] {
        let (status, body) = get_json(&format!("{}{path}", server.url));
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error_code"], "NOT_FOUND", "{path}");
        assert!(body["error_messages"][0].is_string(), "{path}");
    }
    let err = quick_client()
        .get(&format!("{}/api/v1/cookbooks/nope", server.url), &[])
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&server.url));
}

#[test]
fn survives_garbage_requests() {
    let server = Server::start(fixtures());
    let address = server.url.trim_start_matches("http://");
    for request in [
        &b"\x00\xff\xfe garbage\r\n\r\n"[..],
        b"GET /%ff%00/../../etc/passwd?q=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /universe HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    let posted = client()
        .build()
        .unwrap()
        .post(format!("{}/universe", server.url))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(posted.status().as_u16(), 405);
    let (status, _) = get_json(&format!("{}/universe", server.url));
    assert_eq!(status, 200);
}

#[test]
fn fetch_universe_caches_revalidates_and_works_offline() {
    let mut server = Server::start(fixtures());
    let home = tempfile::tempdir().unwrap();
    let store = Store::at(home.path()).unwrap();
    let client = quick_client();
    let headers = [(supermarket::ARTIFACTORY_HEADER, "key")];

    let first = supermarket::fetch_universe(&client, &store, &server.url, &headers, false).unwrap();
    let cache = store.universe_cache(&supermarket::universe_url(&server.url));
    assert!(cache.meta().unwrap().etag.is_some());
    assert_eq!(std::fs::read(cache.body_path()).unwrap(), first);

    // The server's ETag still matches, so the (doctored) cached copy is
    // what comes back: proof that the 304 path was taken.
    std::fs::write(cache.body_path(), b"{\"cached\": {}}").unwrap();
    let again = supermarket::fetch_universe(&client, &store, &server.url, &headers, false).unwrap();
    assert_eq!(again, b"{\"cached\": {}}");

    server.stop();
    let offline =
        supermarket::fetch_universe(&client, &store, &server.url, &headers, true).unwrap();
    assert_eq!(offline, again);
    let err =
        supermarket::fetch_universe(&client, &store, &server.url, &headers, false).unwrap_err();
    assert!(err.to_string().contains(&server.url), "{err}");
    assert_eq!(err.exit_code(), 123);
}

#[test]
fn file_sources_read_the_directory() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::at(home.path()).unwrap();
    let url = reqwest::Url::from_directory_path(fixtures()).unwrap();
    let body =
        supermarket::fetch_universe(&quick_client(), &store, url.as_str(), &[], false).unwrap();
    let mut index = Index::new();
    supermarket::add_to_index(&body, url.as_str(), 1, &mut index).unwrap();
    assert_eq!(index.release_count(), 12);
    let legacy = index.by_name("legacy").unwrap();
    let Origin::Registry { download_url, .. } = &legacy.releases[0].origin else {
        panic!("a registry origin");
    };
    assert_eq!(download_url, &format!("{url}legacy-1.0.0/"));
}

#[test]
fn serves_a_prebuilt_registry() {
    let dir = tempfile::tempdir().unwrap();
    let universe = r#"{"solo": {"0.1.0": {"location_type": "opscode",
        "download_url": "pkgs/solo-0.1.0.tar.gz", "dependencies": {}}}}"#;
    std::fs::write(dir.path().join("universe.json"), universe).unwrap();
    std::fs::create_dir(dir.path().join("pkgs")).unwrap();
    std::fs::write(dir.path().join("pkgs/solo-0.1.0.tar.gz"), b"bytes").unwrap();
    let server = Server::start(dir.path());
    let (_, body) = get_json(&format!("{}/universe", server.url));
    let download = body["solo"]["0.1.0"]["download_url"].as_str().unwrap();
    assert_eq!(
        download,
        format!("{}/files/pkgs/solo-0.1.0.tar.gz", server.url)
    );
    assert_eq!(get(download).bytes().unwrap().as_ref(), b"bytes");
    let escape = get(&format!("{}/files/..%2Funiverse.json", server.url));
    assert_eq!(escape.status().as_u16(), 404);
}

/// Idle and half-sent connections, more than the server has file
/// descriptors for, do not stop it: the header timeout closes them and the
/// connection cap keeps descriptors free, so a real request is answered.
#[test]
fn idle_connections_do_not_stop_the_server() {
    if !common::require_tool("prlimit", "--version") {
        return;
    }
    let server = Server::start_with(
        fixtures(),
        &["prlimit", "--nofile=256:256", "--"],
        &["--header-timeout", "2"],
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(&addr).ok()?;
            let _ = stream.write_all(b"GET /universe HTTP/1.1\r\nHost: x");
            Some(stream)
        })
        .collect();
    assert!(idle.len() > 250, "only {} connections opened", idle.len());
    let answer = client()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/universe", server.url))
        .send()
        .expect("the server still answers");
    assert_eq!(answer.status().as_u16(), 200);
    drop(idle);
}

/// The peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Reading a tarball's metadata keeps only the metadata in memory: a small
/// tarball holding 320 MB of top-level files leaves serve's peak resident
/// memory far below that.
#[test]
fn reading_a_tarball_with_large_files_keeps_memory_small() {
    if !common::require_tool("tar", "--version") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cookbook = work.path().join("big");
    std::fs::create_dir(&cookbook).unwrap();
    std::fs::write(
        cookbook.join("metadata.rb"),
        "name 'big'\nversion '1.0.0'\n",
    )
    .unwrap();
    for n in 0..20 {
        let file = std::fs::File::create(cookbook.join(format!("blob{n}.bin"))).unwrap();
        file.set_len(16 * 1000 * 1000).unwrap();
    }
    let registry = work.path().join("registry");
    std::fs::create_dir(&registry).unwrap();
    let status = std::process::Command::new("tar")
        .arg("czf")
        .arg(registry.join("big-1.0.0.tar.gz"))
        .arg("-C")
        .arg(work.path())
        .arg("big")
        .status()
        .unwrap();
    assert!(status.success());
    let tarball_size = std::fs::metadata(registry.join("big-1.0.0.tar.gz"))
        .unwrap()
        .len();
    assert!(tarball_size < 2_000_000, "{tarball_size} bytes");

    let server = Server::start(&registry);
    let (status, universe) = get_json(&format!("{}/universe", server.url));
    assert_eq!(status, 200);
    assert!(universe["big"]["1.0.0"].is_object(), "{universe}");
    let peak = peak_rss(server.child.id());
    assert!(peak < 100 * 1000 * 1000, "peak RSS {peak} bytes");
}
