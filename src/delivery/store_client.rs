//! The HTTP client a bundle store talks through: its timeouts, and the one
//! difference from `object_store`'s own client. A store reached over plain
//! `http://` (an S3-compatible endpoint given that way, or a read-only
//! `http://` prefix) has no use for TLS roots, and loading the system's
//! roots reads every file of the certificate directory: milliseconds
//! before the first request of every command. Such a store gets a client
//! without them; every other store gets `object_store`'s client, with the
//! system's roots.

use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{HttpClient, HttpConnector, ReqwestConnector};

/// How long one request may take in all: a large bundle on a slow link.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client options of every store: the timeouts, and whether plain
/// `http://` is allowed (only where the URL or the endpoint says so).
pub fn options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_allow_http(allow_http)
}

/// Builds a store's client: without TLS roots when the store is reached
/// over plain `http://`, as `object_store` does otherwise.
#[derive(Debug, Clone, Copy)]
pub struct StoreConnector {
    plain_http: bool,
}

impl StoreConnector {
    /// The connector for a store reached over plain `http://` or not.
    pub fn new(plain_http: bool) -> StoreConnector {
        StoreConnector { plain_http }
    }
}

impl HttpConnector for StoreConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        if !self.plain_http {
            return ReqwestConnector::default().connect(options);
        }
        // The same settings as `options` (see `options` above), built
        // directly: `object_store` keeps its own client builder private.
        let client = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_built_in_root_certs(false)
            .build()
            .map_err(|source| object_store::Error::Generic {
                store: "HTTP",
                source: Box::new(source),
            })?;
        Ok(HttpClient::new(client))
    }
}
