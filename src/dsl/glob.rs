//! `Dir.glob` and `Dir[]` for the evaluator: Ruby's pattern language
//! (`*`, `?`, `[...]`, `{a,b}`, `**/`), matched read-only against the
//! directory tree under the project, never outside it.

use std::path::{Path, PathBuf};

/// Most directory entries one file may make the globs look at.
const MAX_VISITED: usize = 200_000;

/// Why a glob could not be answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GlobError {
    /// The pattern reaches outside `root`.
    Outside,
    /// The pattern walks too much of the tree.
    TooLarge,
}

/// The paths matching `pattern`, relative patterns resolved against
/// `base`; each result is spelled as Ruby spells it (relative stays
/// relative). Only paths under `root` may be examined.
pub(super) fn glob(root: &Path, base: &Path, pattern: &str) -> Result<Vec<String>, GlobError> {
    let mut out = Vec::new();
    let mut visited = 0;
    for alternative in expand_braces(pattern) {
        let absolute = alternative.starts_with('/');
        let segments: Vec<&str> = alternative.split('/').filter(|s| !s.is_empty()).collect();
        // The literal directories before the first wildcard must stay inside
        // the project; so must every `..` after it (refused outright).
        let literal: Vec<&str> = segments
            .iter()
            .take_while(|s| !has_magic(s))
            .copied()
            .collect();
        let start = if absolute {
            PathBuf::from("/")
        } else {
            base.to_path_buf()
        };
        let literal_dir = super::expand_path(&start, Path::new(&literal.join("/")));
        if !literal_dir.starts_with(root) || segments[literal.len()..].contains(&"..") {
            return Err(GlobError::Outside);
        }
        let walker = Walker {
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        };
        let mut shown = literal.join("/");
        if absolute {
            shown.insert(0, '/');
        }
        let rest = &segments[literal.len()..];
        let mut found = Vec::new();
        if rest.is_empty() {
            if literal_dir.symlink_metadata().is_ok() {
                found.push(shown);
            }
        } else if walker.may_enter(&literal_dir) {
            walker.walk(&literal_dir, &shown, rest, &mut found, &mut visited)?;
        }
        found.sort();
        found.dedup();
        out.extend(found);
    }
    Ok(out)
}

/// Whether a path segment holds glob syntax.
fn has_magic(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '\\'])
}

/// Walks directories for one pattern.
struct Walker {
    /// The project directory, with symbolic links resolved.
    root: PathBuf,
}

impl Walker {
    /// Whether the walk may descend into `dir`: a directory whose real path
    /// is inside the project (a symbolic link out of it is not followed).
    fn may_enter(&self, dir: &Path) -> bool {
        dir.is_dir()
            && dir
                .canonicalize()
                .is_ok_and(|real| real.starts_with(&self.root))
    }

    /// Matches `segments` below `dir` (whose spelling so far is `shown`).
    fn walk(
        &self,
        dir: &Path,
        shown: &str,
        segments: &[&str],
        out: &mut Vec<String>,
        visited: &mut usize,
    ) -> Result<(), GlobError> {
        let Some((segment, rest)) = segments.split_first() else {
            return Ok(());
        };
        let join = |name: &str| -> String {
            if shown.is_empty() || shown.ends_with('/') {
                format!("{shown}{name}")
            } else {
                format!("{shown}/{name}")
            }
        };
        if *segment == "**" {
            // Zero directories, then every (non-hidden) directory below;
            // like Ruby, `**` does not follow symbolic links.
            self.walk(dir, shown, rest, out, visited)?;
            for (name, path) in entries(dir, visited)? {
                let real_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
                if !name.starts_with('.') && real_dir && self.may_enter(&path) {
                    self.walk(&path, &join(&name), segments, out, visited)?;
                }
            }
            return Ok(());
        }
        if !has_magic(segment) {
            let path = dir.join(segment);
            if rest.is_empty() {
                if path.symlink_metadata().is_ok() {
                    out.push(join(segment));
                }
            } else if self.may_enter(&path) {
                self.walk(&path, &join(segment), rest, out, visited)?;
            }
            return Ok(());
        }
        for (name, path) in entries(dir, visited)? {
            if name.starts_with('.') && !segment.starts_with('.') {
                continue;
            }
            if !fnmatch(segment, &name) {
                continue;
            }
            if rest.is_empty() {
                out.push(join(&name));
            } else if self.may_enter(&path) {
                self.walk(&path, &join(&name), rest, out, visited)?;
            }
        }
        Ok(())
    }
}

/// The entries of `dir`, sorted by name (nothing when it cannot be read, as
/// Ruby's glob ignores unreadable directories).
fn entries(dir: &Path, visited: &mut usize) -> Result<Vec<(String, PathBuf)>, GlobError> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in read.flatten() {
        *visited += 1;
        if *visited > MAX_VISITED {
            return Err(GlobError::TooLarge);
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push((name, entry.path()));
        }
    }
    names.sort();
    Ok(names)
}

/// `{a,b}` alternatives, expanded left to right as Ruby does (nested braces
/// included); an unbalanced brace is literal.
fn expand_braces(pattern: &str) -> Vec<String> {
    let bytes = pattern.as_bytes();
    let mut depth = 0usize;
    let mut open = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(start) = open
                {
                    let head = &pattern[..start];
                    let tail = &pattern[i + 1..];
                    let mut cuts = vec![start];
                    cuts.extend(&commas);
                    cuts.push(i);
                    let mut out = Vec::new();
                    for pair in cuts.windows(2) {
                        let middle = &pattern[pair[0] + 1..pair[1]];
                        out.extend(expand_braces(&format!("{head}{middle}{tail}")));
                    }
                    return out;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![pattern.to_string()]
}

/// Ruby's `File.fnmatch` without flags for one path segment: `*`, `?`,
/// `[...]` (with ranges and `!`/`^`), backslash escapes.
pub(super) fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: (pattern index, name index).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&p[pi..], n[ni]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(c) => (*c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(width) => {
                pi += width;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the bracket expression at the start of `p`; the
/// width of the expression when it matches.
fn class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negated = matches!(p.get(1), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (first || p[i] != ']') {
        first = false;
        let mut low = p[i];
        if low == '\\' && i + 1 < p.len() {
            i += 1;
            low = p[i];
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|h| *h != ']') {
            let high = p[i + 2];
            matched |= low <= c && c <= high;
            i += 3;
        } else {
            matched |= low == c;
            i += 1;
        }
    }
    if i >= p.len() {
        // No closing bracket: the `[` is literal.
        return (c == '[').then_some(1);
    }
    (matched != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_ruby() {
        assert!(fnmatch("*.rb", "metadata.rb"));
        assert!(!fnmatch("*.rb", "metadata.rbx"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(!fnmatch("[!a-c]x", "bx"));
        assert!(fnmatch("*a*b*", "xxaxxbxx"));
        assert!(fnmatch("\\*", "*"));
        assert!(fnmatch("[", "["));
        assert!(fnmatch("*", ""));
    }

    #[test]
    fn braces_expand_in_order() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(expand_braces("x{y"), ["x{y"]);
    }

    #[test]
    fn globs_walk_the_project_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("my project");
        for d in [
            "cookbooks/b",
            "cookbooks/a",
            "cookbooks/.hidden",
            "site/x/y",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("cookbooks/a/metadata.rb"), "").unwrap();
        std::fs::write(root.join("site/x/y/metadata.rb"), "").unwrap();
        let g = |p: &str| glob(&root, &root, p);
        assert_eq!(
            g("cookbooks/*"),
            Ok(vec!["cookbooks/a".into(), "cookbooks/b".into()])
        );
        assert_eq!(
            g("cookbooks/*/metadata.rb"),
            Ok(vec!["cookbooks/a/metadata.rb".into()])
        );
        assert_eq!(
            g("**/metadata.rb"),
            Ok(vec![
                "cookbooks/a/metadata.rb".into(),
                "site/x/y/metadata.rb".into()
            ])
        );
        assert_eq!(
            g("{site,cookbooks}/*"),
            Ok(vec![
                "site/x".into(),
                "cookbooks/a".into(),
                "cookbooks/b".into()
            ])
        );
        let absolute = format!("{}/cookbooks/a", root.display());
        assert_eq!(g(&absolute), Ok(vec![absolute.clone()]));
        assert_eq!(g("../*"), Err(GlobError::Outside));
        assert_eq!(g("/etc/*"), Err(GlobError::Outside));
        assert_eq!(g("cookbooks/*/../../.."), Err(GlobError::Outside));
        // A link out of the project is listed, never walked into.
        std::os::unix::fs::symlink(dir.path(), root.join("cookbooks/out")).unwrap();
        assert_eq!(g("cookbooks/out/*"), Ok(vec![]));
        assert_eq!(g("cookbooks/*/my project"), Ok(vec![]));
        assert_eq!(
            g("cookbooks/*"),
            Ok(vec![
                "cookbooks/a".into(),
                "cookbooks/b".into(),
                "cookbooks/out".into()
            ])
        );
    }
}
