//! A real Azure Blob Storage server on loopback for the delivery tests:
//! Azurite's blob service (`azurite-blob`, installed by `.ci/run`, or named
//! by `$AZURITE_BLOB`), with its well-known development account, so every
//! request larder makes is signed with a shared key and checked. A missing
//! Azurite fails the test: it is never skipped.
//!
//! Azurite keeps blobs in its own database, not as plain files, so the
//! tests read, write and delete objects through its REST API, signed here
//! the same way (the Shared Key scheme of the Blob service).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Azurite's development account and its published key.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The container the tests' stores live in.
pub const CONTAINER: &str = "larder";
/// The Blob service version the requests here speak.
const API_VERSION: &str = "2021-08-06";

/// A running `azurite-blob` with one container, its data in a temporary
/// directory.
pub struct Azurite {
    /// `http://IP:PORT`, what `AZURITE_BLOB_STORAGE_URL` names for
    /// larder (with `AZURE_STORAGE_USE_EMULATOR=true`).
    pub url: String,
    _data: tempfile::TempDir,
    child: Child,
    http: reqwest::blocking::Client,
}

/// The `azurite-blob` program: `$AZURITE_BLOB`, else the one on PATH.
fn binary() -> PathBuf {
    super::required_program(
        "AZURITE_BLOB",
        "azurite-blob",
        "run `npm install azurite@3.35.0` and put its node_modules/.bin on PATH",
    )
}

impl Azurite {
    /// Starts Azurite on a free loopback port, waits until it answers and
    /// creates [`CONTAINER`].
    pub fn start() -> Azurite {
        let data = tempfile::tempdir().expect("a directory for Azurite");
        let (ip, port) = super::own_loopback_port(84);
        let child = Command::new(binary())
            .args([
                "--blobHost",
                &ip.to_string(),
                "--blobPort",
                &port.to_string(),
            ])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        let mut server = Azurite {
            url: format!("http://{ip}:{port}"),
            _data: data,
            child,
            http: reqwest::blocking::Client::new(),
        };
        // Node.js takes a second or more to start.
        super::wait_until_listening(
            &mut server.child,
            "azurite-blob",
            (ip, port),
            Duration::from_secs(60),
        );
        let (status, body) = server.request("PUT", "", &[("restype", "container")], &[], &[]);
        assert_eq!(status, 201, "create the container: {body:?}");
        server
    }

    /// The blob `key`'s bytes, `None` if there is none.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.request("GET", key, &[], &[], &[]) {
            (200, body) => Some(body),
            (404, _) => None,
            (status, body) => panic!("GET {key}: {status} {}", String::from_utf8_lossy(&body)),
        }
    }

    /// Writes the blob `key`, replacing any.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let (status, body) =
            self.request("PUT", key, &[], &[("x-ms-blob-type", "BlockBlob")], bytes);
        assert_eq!(status, 201, "PUT {key}: {}", String::from_utf8_lossy(&body));
    }

    /// Deletes the blob `key`, which must exist.
    pub fn delete(&self, key: &str) {
        let (status, body) = self.request("DELETE", key, &[], &[], &[]);
        assert_eq!(
            status,
            202,
            "DELETE {key}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// The names of the blobs whose keys begin with `prefix`, in order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let (status, body) = self.request(
            "GET",
            "",
            &[
                ("comp", "list"),
                ("prefix", prefix),
                ("restype", "container"),
            ],
            &[],
            &[],
        );
        let text = String::from_utf8(body).expect("a listing in UTF-8");
        assert_eq!(status, 200, "list {prefix}: {text}");
        text.split("<Name>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Name>").map(|(name, _)| name.to_string()))
            .collect()
    }

    /// One request on the container (`key` empty) or a blob, signed with
    /// the account key. `query` must be in name order and need no
    /// escaping.
    fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let path = if key.is_empty() {
            format!("/{ACCOUNT}/{CONTAINER}")
        } else {
            format!("/{ACCOUNT}/{CONTAINER}/{key}")
        };
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut ms_headers: Vec<(&str, &str)> = headers.to_vec();
        ms_headers.extend([("x-ms-date", date.as_str()), ("x-ms-version", API_VERSION)]);
        ms_headers.sort();
        let content_length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut to_sign = format!("{method}\n\n\n{content_length}\n\n\n\n\n\n\n\n\n");
        for (name, value) in &ms_headers {
            to_sign.push_str(&format!("{name}:{value}\n"));
        }
        // Path-style addressing: the account is named before the path too.
        to_sign.push_str(&format!("/{ACCOUNT}{path}"));
        for (name, value) in query {
            to_sign.push_str(&format!("\n{name}:{value}"));
        }
        let key_bytes = STANDARD.decode(ACCOUNT_KEY).expect("the account key");
        let signature = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes),
            to_sign.as_bytes(),
        );
        let mut request = self
            .http
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", self.url),
            )
            .query(query)
            .header(
                "Authorization",
                format!("SharedKey {ACCOUNT}:{}", STANDARD.encode(signature)),
            )
            .body(body.to_vec());
        for (name, value) in &ms_headers {
            request = request.header(*name, *value);
        }
        let response = request.send().expect("Azurite answers");
        let status = response.status().as_u16();
        (status, response.bytes().expect("a body").to_vec())
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
