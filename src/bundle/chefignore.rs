//! chefignore: which files of a cookbook Chef leaves out.
//!
//! A chefignore file holds one glob per line (stripped; blank lines and
//! lines starting with `#` skipped). Each glob is matched with Ruby's
//! `File.fnmatch` and no flags against a file's path relative to the
//! cookbook root, which differs from shell and gitignore globs: `*` crosses
//! `/`, `**` is just two stars, a wildcard never matches a `.` at the very
//! start of the path, braces are literal, matching is case-sensitive,
//! `[a-z]`/`[!a-z]` classes work and `\` escapes the next character.
//! Only files are tested, never directories.
//!
//! The file is looked up in the cookbook directory, then in each parent up
//! to `/`; the first one found wins, and with none nothing is ignored.

use std::path::{Path, PathBuf};

use super::BundleError;

/// The parsed patterns of one chefignore file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chefignore {
    patterns: Vec<Vec<char>>,
    origin: Option<PathBuf>,
}

impl Chefignore {
    /// Parses chefignore text.
    pub fn parse(text: &str) -> Chefignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| line.chars().collect())
            .collect();
        Chefignore {
            patterns,
            origin: None,
        }
    }

    /// Finds and reads the chefignore that applies to `cookbook_dir`; with
    /// none, returns an empty set that ignores nothing.
    pub fn for_cookbook(cookbook_dir: &Path) -> Result<Chefignore, BundleError> {
        let start = std::path::absolute(cookbook_dir)
            .map_err(|e| BundleError::io("resolve", cookbook_dir, e))?;
        for dir in start.ancestors() {
            let candidate = dir.join("chefignore");
            if candidate.is_file() {
                let text = std::fs::read_to_string(&candidate)
                    .map_err(|e| BundleError::io("read", &candidate, e))?;
                let mut ignore = Chefignore::parse(&text);
                ignore.origin = Some(candidate);
                return Ok(ignore);
            }
        }
        Ok(Chefignore::default())
    }

    /// The file the patterns came from, if any.
    pub fn origin(&self) -> Option<&Path> {
        self.origin.as_deref()
    }

    /// Whether the file at `relative` (`/`-separated, relative to the
    /// cookbook root) is ignored.
    pub fn is_ignored(&self, relative: &str) -> bool {
        let path: Vec<char> = relative.chars().collect();
        self.patterns.iter().any(|p| fnmatch(p, &path))
    }
}

/// Ruby's `File.fnmatch(pattern, path)` with no flags.
pub fn fnmatch(pattern: &[char], path: &[char]) -> bool {
    let unescape = |p: usize| {
        if pattern.get(p) == Some(&'\\') {
            p + 1
        } else {
            p
        }
    };
    // A leading period must be matched by a literal period.
    if path.first() == Some(&'.') && pattern.get(unescape(0)) != Some(&'.') {
        return false;
    }
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the last `*`: pattern after the star, and the
    // path position the star currently stops at.
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        match pattern.get(p) {
            Some('*') => {
                while pattern.get(p) == Some(&'*') {
                    p += 1;
                }
                if unescape(p) >= pattern.len() {
                    return true;
                }
                if s >= path.len() {
                    return false;
                }
                backtrack = Some((p, s));
                continue;
            }
            Some('?') => {
                if s >= path.len() {
                    return false;
                }
                p += 1;
                s += 1;
                continue;
            }
            Some('[') => {
                if s < path.len() {
                    if let Some(next) = bracket(pattern, p + 1, path[s]) {
                        p = next;
                        s += 1;
                        continue;
                    }
                } else {
                    return false;
                }
            }
            _ => {
                let q = unescape(p);
                if s >= path.len() {
                    return q >= pattern.len();
                }
                if q < pattern.len() && pattern[q] == path[s] {
                    p = q + 1;
                    s += 1;
                    continue;
                }
            }
        }
        // Mismatch: let the last star swallow one more character.
        match backtrack {
            Some((bp, bs)) => {
                p = bp;
                s = bs + 1;
                backtrack = Some((bp, bs + 1));
                if s > path.len() {
                    return false;
                }
            }
            None => return false,
        }
    }
}

/// Matches `c` against the class starting after `[` at `start`; returns the
/// pattern position after `]`, or `None` if it does not match or the class
/// is unterminated.
fn bracket(pattern: &[char], start: usize, c: char) -> Option<usize> {
    let mut p = start;
    let negate = matches!(pattern.get(p), Some('!' | '^'));
    if negate {
        p += 1;
    }
    let mut ok = false;
    while pattern.get(p)? != &']' {
        let mut t1 = p;
        if pattern[t1] == '\\' {
            t1 += 1;
        }
        let low = *pattern.get(t1)?;
        p = t1 + 1;
        if pattern.get(p) == Some(&'-') && pattern.get(p + 1).is_some_and(|&n| n != ']') {
            let mut t2 = p + 1;
            if pattern[t2] == '\\' {
                t2 += 1;
            }
            let high = *pattern.get(t2)?;
            p = t2 + 1;
            if low <= c && c <= high {
                ok = true;
            }
        } else if low == c {
            ok = true;
        }
    }
    (ok != negate).then_some(p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let s: Vec<char> = path.chars().collect();
        fnmatch(&p, &s)
    }

    #[test]
    fn star_crosses_slashes() {
        assert!(m("*.turd", "recipes/foo.turd"));
        assert!(m("spec/*", "spec/unit/recipes/default_spec.rb"));
        assert!(m("*", "a/b/c"));
        assert!(!m("*.turd", "recipes/foo.turd.rb"));
    }

    #[test]
    fn double_star_is_two_stars() {
        assert!(m("**/*.rb", "a/b.rb"));
        // `**/` needs a literal slash, so a top-level file does not match.
        assert!(!m("**/*.rb", "b.rb"));
        assert!(m("a/**", "a/b"));
    }

    #[test]
    fn wildcards_skip_a_leading_dot_only_at_the_start() {
        assert!(!m("*", ".kitchen.yml"));
        assert!(!m("?kitchen.yml", ".kitchen.yml"));
        assert!(!m("[.]kitchen.yml", ".kitchen.yml"));
        assert!(m(".kitchen*", ".kitchen.yml"));
        assert!(m("\\.kitchen*", ".kitchen.yml"));
        assert!(m("*", "a/.x"));
        assert!(m("a/*", "a/.hidden"));
    }

    #[test]
    fn braces_are_literal() {
        assert!(!m("*.{rb,md}", "x.rb"));
        assert!(m("*.{rb,md}", "x.{rb,md}"));
    }

    #[test]
    fn case_sensitive() {
        assert!(!m("README*", "readme.md"));
        assert!(m("README*", "README.md"));
    }

    #[test]
    fn classes() {
        assert!(m("*.sw[a-z]", "recipes/.default.rb.swp"));
        assert!(!m("*.sw[a-z]", "x.sw1"));
        assert!(m("*.sw[!a-z]", "x.sw1"));
        assert!(m("*.sw[^a-z]", "x.sw1"));
        assert!(m("[abc]", "b"));
        assert!(!m("[]", "a"));
        assert!(m("x[a-]", "x-"));
        // An unterminated class matches nothing, not even literally.
        assert!(!m("[ab", "[ab"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\#*", "#notes#"));
        assert!(!m("\\#*", "notes"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("[\\]]", "]"));
    }

    #[test]
    fn question_mark_and_literals() {
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "a/c"));
        assert!(!m("a?c", "ac"));
        assert!(m("Berksfile", "Berksfile"));
        assert!(!m("Berksfile", "Berksfile.lock"));
        assert!(m("*~", "recipes/default.rb~"));
    }

    #[test]
    fn parse_skips_blanks_and_comments() {
        let ignore = Chefignore::parse("# comment\n\n  *.bak  \n\\#*\ntest/*\n");
        assert!(ignore.is_ignored("x.bak"));
        assert!(ignore.is_ignored("#x"));
        assert!(ignore.is_ignored("test/integration/default.rb"));
        assert!(!Chefignore::parse("# comment\n").is_ignored("# comment"));
        assert!(!ignore.is_ignored("recipes/default.rb"));
    }

    #[test]
    fn lookup_walks_up_and_first_wins() {
        let root = tempfile::tempdir().unwrap();
        let cookbook = root.path().join("repo/cookbooks/app");
        std::fs::create_dir_all(&cookbook).unwrap();
        std::fs::write(root.path().join("repo/chefignore"), "*.bak\n").unwrap();
        let found = Chefignore::for_cookbook(&cookbook).unwrap();
        assert_eq!(
            found.origin(),
            Some(root.path().join("repo/chefignore").as_path())
        );
        assert!(found.is_ignored("a.bak"));
        std::fs::write(cookbook.join("chefignore"), "*.tmp\n").unwrap();
        let own = Chefignore::for_cookbook(&cookbook).unwrap();
        assert!(own.is_ignored("a.tmp"));
        assert!(!own.is_ignored("a.bak"));
    }
}
