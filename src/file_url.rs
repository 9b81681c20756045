//! The one conversion between `file://` URLs and local paths, used by every
//! module that meets one (sources, downloads, pulls).
//!
//! A `file://` URL is a URL: a space is `%20`, a non-ASCII letter is its
//! UTF-8 bytes percent-encoded, and reading the URL back decodes them.
//! Turning such a URL into a path by cutting off `file://` would keep the
//! escapes, so nothing else in larder does that.

use std::path::{Path, PathBuf};

use reqwest::Url;

/// The local path a `file://` URL names; `None` when `url` is not a
/// `file://` URL or does not name an absolute local path.
pub fn to_path(url: &Url) -> Option<PathBuf> {
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

/// [`to_path`] for URL text; `None` for text that is not a `file://` URL.
pub fn text_to_path(text: &str) -> Option<PathBuf> {
    Url::parse(text).ok().as_ref().and_then(to_path)
}

/// The `file://` URL of a file; `None` unless `path` is absolute.
pub fn from_file(path: &Path) -> Option<Url> {
    Url::from_file_path(path).ok()
}

/// The `file://` URL of a directory, ending in `/`; `None` unless `path`
/// is absolute.
pub fn from_dir(path: &Path) -> Option<Url> {
    Url::from_directory_path(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let path = Path::new("/srv/my regis\u{e9}try/a-1.0.0.tar.gz");
        let url = from_file(path).unwrap();
        assert_eq!(
            url.as_str(),
            "file:///srv/my%20regis%C3%A9try/a-1.0.0.tar.gz"
        );
        assert_eq!(text_to_path(url.as_str()).unwrap(), path);
        let dir = from_dir(Path::new("/srv/a b")).unwrap();
        assert_eq!(dir.as_str(), "file:///srv/a%20b/");
        assert_eq!(to_path(&dir).unwrap(), Path::new("/srv/a b"));
    }

    #[test]
    fn only_file_urls_with_local_paths_convert() {
        assert_eq!(text_to_path("https://example.com/a"), None);
        assert_eq!(text_to_path("/plain/path"), None);
        assert_eq!(from_file(Path::new("relative")), None);
    }
}
