//! Supermarket's search: `GET /api/v1/search?q=` for the names and
//! descriptions of matching cookbooks, then each hit's
//! `/api/v1/cookbooks/NAME` for its latest version (fetched a few at once).

use std::sync::Mutex;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::supermarket::SupermarketError;
use crate::http::{self, Client};

/// The most hits one search asks for (Supermarket's cap).
const MAX_HITS: usize = 100;

/// How many cookbook pages are fetched at once.
const PARALLEL: usize = 8;

/// One cookbook found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub name: String,
    pub description: String,
    pub maintainer: String,
    /// The latest version, when the registry says.
    pub latest_version: Option<String>,
}

#[derive(Deserialize)]
struct Listing {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    cookbook_name: String,
    #[serde(default)]
    cookbook_description: Option<String>,
    #[serde(default)]
    cookbook_maintainer: Option<String>,
}

#[derive(Deserialize)]
struct CookbookPage {
    #[serde(default)]
    latest_version: Option<String>,
}

/// Searches the registry at `source` (an `http(s)://` URL) for `query`.
pub fn search(client: &Client, source: &str, query: &str) -> Result<Vec<Hit>, SupermarketError> {
    let base = source.trim_end_matches('/');
    let invalid = |reason: &str| SupermarketError::InvalidSource {
        url: http::redact(source),
        reason: reason.to_string(),
    };
    let mut url =
        Url::parse(&http::join_path(base, "api/v1/search")).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("search needs a Supermarket API over http or https"));
    }
    url.query_pairs_mut()
        .append_pair("q", query)
        .append_pair("items", &MAX_HITS.to_string());
    let body = client.get(url.as_str(), &[])?.body;
    let listing: Listing =
        serde_json::from_slice(&body).map_err(|e| SupermarketError::BadAnswer {
            url: http::redact(url.as_str()),
            reason: e.to_string(),
        })?;
    let queue = Mutex::new(listing.items.into_iter().enumerate().collect::<Vec<_>>());
    let hits = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                while let Some((position, item)) = queue.lock().ok().and_then(|mut q| q.pop()) {
                    let latest = latest_version(client, base, &item.cookbook_name);
                    if let Ok(mut hits) = hits.lock() {
                        hits.push((position, item, latest));
                    }
                }
            });
        }
    });
    let mut hits = hits.into_inner().unwrap_or_default();
    hits.sort_by_key(|(position, _, _)| *position);
    hits.into_iter()
        .map(|(_, item, latest)| {
            Ok(Hit {
                name: item.cookbook_name,
                description: item.cookbook_description.unwrap_or_default(),
                maintainer: item.cookbook_maintainer.unwrap_or_default(),
                latest_version: latest?,
            })
        })
        .collect()
}

/// The latest version of `name`: the last part of the `latest_version` URL
/// of its cookbook page, underscores read as dots.
fn latest_version(
    client: &Client,
    base: &str,
    name: &str,
) -> Result<Option<String>, SupermarketError> {
    let url = http::join_path(base, &format!("api/v1/cookbooks/{name}"));
    let body = client.get(&url, &[])?.body;
    let page: CookbookPage =
        serde_json::from_slice(&body).map_err(|e| SupermarketError::BadAnswer {
            url: http::redact(&url),
            reason: e.to_string(),
        })?;
    Ok(page.latest_version.and_then(|latest| {
        latest
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .map(|v| v.replace('_', "."))
    }))
}
