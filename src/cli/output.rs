//! Where a command's words go: results to stdout in the chosen format,
//! progress and notes to stderr, nothing but errors with `--quiet`. The
//! `error:` and `warning:` labels are coloured on a terminal only, never
//! with `NO_COLOR` (anstream decides, as it does for clap's own messages).
//!
//! Every command's stdout goes through here, so that a lost output never
//! panics: a closed pipe (`larder list | head -1`) ends the output quietly,
//! and any other write error (a full disk, `> /dev/full`) fails the command
//! with a message once it is done ([`Output::finish`]).

use std::io::Write;
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use super::{Failure, GlobalArgs};

/// How results are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// The printing policy of one command run.
pub struct Output {
    pub format: Format,
    pub quiet: bool,
    pub verbose: bool,
    stdout: Mutex<Stdout>,
}

/// What has become of stdout.
enum Stdout {
    Open,
    /// The reader went away: nothing more is written, and that is fine.
    Closed,
    /// A write failed for another reason: the command fails.
    Failed(std::io::Error),
}

impl Stdout {
    /// The state after a failed write.
    fn after(error: std::io::Error) -> Stdout {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe => Stdout::Closed,
            _ => Stdout::Failed(error),
        }
    }
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Self {
        Output {
            format: global.format,
            quiet: global.quiet,
            verbose: global.verbose,
            stdout: Mutex::new(Stdout::Open),
        }
    }

    /// Writes `bytes` to stdout unless it is closed or has failed.
    pub fn write(&self, bytes: &[u8]) {
        let mut state = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        if let Stdout::Open = *state
            && let Err(e) = std::io::stdout().lock().write_all(bytes)
        {
            *state = Stdout::after(e);
        }
    }

    /// Flushes stdout; a write that failed (other than to a closed pipe)
    /// becomes the command's failure.
    pub fn finish(&self) -> Result<(), Failure> {
        let mut state = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        if let Stdout::Open = *state
            && let Err(e) = std::io::stdout().lock().flush()
        {
            *state = Stdout::after(e);
        }
        match &*state {
            Stdout::Failed(e) => Err(Failure::new(
                47,
                "io",
                format!("cannot write the output to stdout: {e}"),
            )),
            Stdout::Open | Stdout::Closed => Ok(()),
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// A line of the result (human format).
    pub fn line(&self, text: &str) {
        if !self.quiet {
            self.write(format!("{text}\n").as_bytes());
        }
    }

    /// Rows of the result (human format), columns padded to line up.
    pub fn table(&self, rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = Vec::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                let width = cell.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(width),
                    None => widths.push(width),
                }
            }
        }
        for row in rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                line.push_str(&format!("{cell:<width$}  "));
            }
            self.line(line.trim_end());
        }
    }

    /// The whole result as one JSON document on stdout.
    pub fn json(&self, value: &impl Serialize) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
            format!("{{\"error\": {{\"kind\": \"internal\", \"message\": \"{e}\"}}}}")
        });
        self.write(format!("{text}\n").as_bytes());
    }

    /// Progress for a person watching (stderr).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A warning for the user (stderr), unless `--quiet`.
    pub fn warning(&self, text: &str) {
        if !self.quiet {
            labelled("warning:", AnsiColor::Yellow, text);
        }
    }

    /// A progress bar on stderr when a person is watching it (a terminal,
    /// not `--quiet`); `None` means plain lines, as CI logs want.
    pub fn progress(&self) -> Option<indicatif::ProgressBar> {
        use std::io::IsTerminal;
        if self.quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        let style = indicatif::ProgressStyle::with_template("{spinner} [{pos}] {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }

    /// Detail shown only with `--verbose` (stderr).
    pub fn detail(&self, text: &str) {
        if self.verbose {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// Reports a failure: always on stderr, and as JSON on stdout when asked.
    pub fn failure(&self, failure: &Failure) {
        labelled("error:", AnsiColor::Red, &failure.message);
        if self.is_json() && !failure.reported {
            self.json(&serde_json::json!({
                "error": {"kind": failure.kind, "message": failure.message}
            }));
        }
    }
}

/// `label text` on stderr, the label bold and coloured where colour is
/// wanted.
fn labelled(label: &str, color: AnsiColor, text: &str) {
    let style = Style::new().bold().fg_color(Some(color.into()));
    let _ = writeln!(anstream::stderr().lock(), "{style}{label}{style:#} {text}");
}
