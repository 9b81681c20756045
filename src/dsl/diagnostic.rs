//! Diagnostics for Ruby files larder reads: where (file, line, column), the
//! offending source line, and what is wrong, printed compiler-style with a
//! caret under the column.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a file being evaluated, with the text of its line, so an
/// error can be reported without going back to the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The whole source line (without its line ending), shared by every
    /// site on that line.
    pub source_line: Arc<str>,
}

impl Site {
    /// A diagnostic at this site.
    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            source_line: self.source_line.to_string(),
            message: message.into(),
        }
    }

    /// `path:line`, for warnings that do not need the caret.
    pub fn short(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }
}

/// Something wrong at a place in a Ruby file (a syntax error, a construct
/// larder does not evaluate, a bad value handed to a DSL method).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub source_line: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )?;
        // Keep tabs so the caret lines up with what the terminal shows.
        let pad: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "    {}", self.source_line)?;
        write!(f, "    {pad}^")
    }
}

/// Maps byte offsets of one source file to lines and columns.
pub(crate) struct SourceMap<'a> {
    path: &'a Path,
    source: &'a [u8],
    /// Byte offset at which each line starts.
    line_starts: Vec<usize>,
    /// The last line asked about: its index and text, and the character
    /// column of the last offset on it. Calls come in file order, so
    /// columns are counted on from there instead of from the line's start
    /// (a file with 50,000 calls on one line stays linear).
    last: RefCell<Option<LastSite>>,
}

struct LastSite {
    line: usize,
    text: Arc<str>,
    offset: usize,
    column: usize,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(path: &'a Path, source: &'a [u8]) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            source
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceMap {
            path,
            source,
            line_starts,
            last: RefCell::new(None),
        }
    }

    /// The site of byte `offset` (clamped to the source).
    pub(crate) fn site(&self, offset: usize) -> Site {
        let offset = offset.min(self.source.len());
        let index = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let mut last = self.last.borrow_mut();
        let (text, from, column) = match last.as_ref() {
            Some(l) if l.line == index && l.offset <= offset => {
                (Arc::clone(&l.text), l.offset, l.column)
            }
            Some(l) if l.line == index => (Arc::clone(&l.text), start, 0),
            _ => {
                let end = self.source[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(self.source.len(), |p| start + p);
                let line_bytes = &self.source[start..end];
                let line_bytes = line_bytes.strip_suffix(b"\r").unwrap_or(line_bytes);
                (Arc::from(String::from_utf8_lossy(line_bytes)), start, 0)
            }
        };
        let column = column
            + String::from_utf8_lossy(&self.source[from..offset.max(from)])
                .chars()
                .count();
        *last = Some(LastSite {
            line: index,
            text: Arc::clone(&text),
            offset,
            column,
        });
        Site {
            path: self.path.to_path_buf(),
            line: index + 1,
            column: column + 1,
            source_line: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_name_line_and_character_column() {
        let map = SourceMap::new(Path::new("Berksfile"), "a\r\nbé x\n".as_bytes());
        let site = map.site(7);
        assert_eq!((site.line, site.column), (2, 4));
        assert_eq!(&*site.source_line, "bé x");
        assert_eq!(&*map.site(0).source_line, "a");
        assert_eq!(map.site(6).column, 3);
        assert_eq!(map.site(10_000).line, 3);
    }

    #[test]
    fn display_shows_the_line_and_a_caret() {
        let map = SourceMap::new(Path::new("Berksfile"), b"source 'x'\n  system 'ls'\n");
        let text = map.site(13).error("`system` is not allowed").to_string();
        assert_eq!(
            text,
            "Berksfile:2:3: `system` is not allowed\n      system 'ls'\n      ^"
        );
    }
}
