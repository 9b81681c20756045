//! TLS to a registry: a certificate from a private CA is refused until
//! `SSL_CERT_FILE` names that CA, and `--insecure` skips verification; an
//! `https` registry may not send downloads over plain `http`.
//! A TLS front (rustls, the test CA in tests/fixtures/tls) forwards to a
//! real `larder serve`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::project::{Project, fixtures};
use common::server::Server;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A free loopback port for a TLS front, and its `https://` URL.
fn tls_port() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("https://127.0.0.1:{port}"))
}

/// Accepts TLS on `listener` and forwards each connection to `backend`,
/// until the test ends.
fn tls_front(listener: std::net::TcpListener, backend: &str) {
    let backend = backend.trim_start_matches("http://").to_string();
    let certs = CertificateDer::pem_file_iter(tls_fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
    });
}

#[test]
fn a_private_ca_is_trusted_through_ssl_cert_file_or_skipped_with_insecure() {
    let (listener, url) = tls_port();
    let server = Server::start_with(fixtures(), &[], &["--public-url", &url]);
    tls_front(listener, &server.url);
    let project = Project::new();
    project.write("Berksfile", &format!("source '{url}'\ncookbook 'legacy'\n"));

    let untrusted = project
        .larder(&["install"])
        .env_remove("SSL_CERT_FILE")
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(123));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.contains(&url) && stderr.to_lowercase().contains("certificate"),
        "{stderr}"
    );
    assert!(!project.path("larder.lock").exists());

    project
        .larder(&["install"])
        .env("SSL_CERT_FILE", tls_fixture("ca.pem"))
        .assert()
        .success();
    assert!(
        project
            .read("larder.lock")
            .contains(&format!("source = \"{url}\""))
    );

    std::fs::remove_file(project.path("larder.lock")).unwrap();
    let fresh_store = Project::new();
    project
        .larder(&["install", "--insecure"])
        .env_remove("SSL_CERT_FILE")
        .env("LARDER_HOME", fresh_store.home.path())
        .assert()
        .success();
}

#[test]
fn an_https_registry_naming_plain_http_downloads_is_refused() {
    let (listener, url) = tls_port();
    let server = Server::start(fixtures());
    tls_front(listener, &server.url);
    let project = Project::new();
    project.write("Berksfile", &format!("source '{url}'\ncookbook 'legacy'\n"));

    let output = project
        .larder(&["install"])
        .env("SSL_CERT_FILE", tls_fixture("ca.pem"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(123), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is read over https, and its downloads must be too"),
        "{stderr}"
    );
    assert!(!project.path("larder.lock").exists());
}
