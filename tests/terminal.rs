//! Colour on a terminal only: the `error:` label is red where a person
//! reads it, plain in pipes and logs, and plain on a terminal with
//! `NO_COLOR`. The terminal is a real pseudo-terminal from `script(1)`.

mod common;

use std::process::Command;

use common::project::Project;

/// Runs `larder ARGS` on a pseudo-terminal in `project`; `None` when
/// `script` is not installed.
fn on_terminal(project: &Project, args: &str, no_color: bool) -> Option<String> {
    let mut command = Command::new("script");
    command
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_larder")),
            "/dev/null",
        ])
        .current_dir(project.dir.path())
        .env("LARDER_HOME", project.home.path())
        .env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let output = command.output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_error_label_is_coloured_only_on_a_terminal_without_no_color() {
    let project = Project::new();
    project.write("Berksfile", "cookbook 'x', '~> nope'\n");
    let Some(coloured) = on_terminal(&project, "install", false) else {
        common::require(false, "`script` (util-linux)");
        return;
    };
    assert!(
        coloured.contains("\u{1b}[1m\u{1b}[31merror:"),
        "{coloured:?}"
    );
    let plain = on_terminal(&project, "install", true).unwrap();
    assert!(
        plain.contains("error: ") && !plain.contains("\u{1b}[31m"),
        "{plain:?}"
    );
    let piped = project.larder(&["install"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        stderr.contains("error: ") && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
}
