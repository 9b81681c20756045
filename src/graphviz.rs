//! Writing a DOT graph as a file: DOT itself, or SVG and PNG drawn by
//! Graphviz's `dot` program when it is installed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The program that draws DOT graphs.
pub const DOT_PROGRAM: &str = "dot";

/// A file format for a graph.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Svg,
    Png,
}

impl GraphFormat {
    /// The format a file name's extension names (`.dot`/`.gv`, `.svg`,
    /// `.png`).
    pub fn from_path(path: &Path) -> Option<GraphFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "dot" | "gv" => Some(GraphFormat::Dot),
            "svg" => Some(GraphFormat::Svg),
            "png" => Some(GraphFormat::Png),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            GraphFormat::Dot => "dot",
            GraphFormat::Svg => "svg",
            GraphFormat::Png => "png",
        }
    }
}

/// Why a graph could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GraphvizError {
    /// Berkshelf's `GraphvizNotInstalled` (exit 147).
    #[error(
        "Graphviz is not installed: `{DOT_PROGRAM}` was not found on PATH. Install it (on Debian \
         and Ubuntu: `apt-get install graphviz`), or write DOT with --graph-format dot"
    )]
    NotInstalled,
    /// Berkshelf's `GraphvizCommandFailed` (exit 148).
    #[error("`{DOT_PROGRAM} -T{format}` failed to write {}: {reason}", path.display())]
    Failed {
        format: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl GraphvizError {
    pub fn exit_code(&self) -> i32 {
        match self {
            GraphvizError::NotInstalled => 147,
            GraphvizError::Failed { .. } => 148,
            GraphvizError::Write { .. } => 47,
        }
    }
}

/// Writes the graph `dot` to `path` in `format`.
pub fn write(dot: &str, format: GraphFormat, path: &Path) -> Result<(), GraphvizError> {
    if format == GraphFormat::Dot {
        return std::fs::write(path, dot).map_err(|source| GraphvizError::Write {
            path: path.to_path_buf(),
            source,
        });
    }
    let failed = |reason: String| GraphvizError::Failed {
        format: format.extension(),
        path: path.to_path_buf(),
        reason,
    };
    let mut child = Command::new(DOT_PROGRAM)
        .arg(format!("-T{}", format.extension()))
        .arg("-o")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GraphvizError::NotInstalled,
            _ => failed(e.to_string()),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let done = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if done.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "{} ({})",
            String::from_utf8_lossy(&done.stderr).trim(),
            done.status
        )))
    }
}
