//! Reading long Berksfiles and metadata.rb files: `larder manifest` on
//! generated files of growing size, to show that evaluation stays linear
//! (twice the lines, about twice the time): 80,000 `cookbook` lines, 50,000
//! `depends` on one line, and 20,000 calls of a helper method defined in
//! the file.
//!
//! Run: `cargo bench --bench dsl`.

#[path = "support/timing.rs"]
mod timing;

use std::path::Path;
use std::process::Command;

use timing::{ms, time_command};

/// A generated file: its name, what it holds at size `n`, and how larder
/// reads it.
struct Case {
    label: &'static str,
    sizes: [usize; 2],
    file: &'static str,
    text: fn(usize) -> String,
    metadata: bool,
}

fn cookbook_lines(n: usize) -> String {
    let mut text = String::from("source 'https://supermarket.chef.io'\n");
    for i in 0..n {
        text.push_str(&format!("cookbook 'c{i}', '~> 1.{}'\n", i % 7));
    }
    text
}

fn depends_on_one_line(n: usize) -> String {
    let mut text = String::from("name 'big'\n");
    for i in 0..n {
        text.push_str(&format!("depends 'c{i}'; "));
    }
    text.push('\n');
    text
}

fn helper_calls(n: usize) -> String {
    let mut text = String::from(
        "def fixture(name, extra = {})\n  cookbook \"x_#{name}\", { path: \"test/fixtures/#{name}\" }.merge(extra)\nend\n",
    );
    for i in 0..n {
        text.push_str(&format!("fixture 'f{i}', group: :integration\n"));
    }
    text
}

fn main() {
    let larder = env!("CARGO_BIN_EXE_larder");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/dsl");
    let cases = [
        Case {
            label: "`cookbook` lines in a Berksfile",
            sizes: [40_000, 80_000],
            file: "Berksfile",
            text: cookbook_lines,
            metadata: false,
        },
        Case {
            label: "`depends` calls on one line of metadata.rb",
            sizes: [25_000, 50_000],
            file: "metadata.rb",
            text: depends_on_one_line,
            metadata: true,
        },
        Case {
            label: "calls of a helper method (def, default argument, merge)",
            sizes: [10_000, 20_000],
            file: "Berksfile",
            text: helper_calls,
            metadata: false,
        },
    ];
    println!("| file | size | bytes | larder manifest (median of 5) |");
    println!("|---|---|---|---|");
    for case in &cases {
        for n in case.sizes {
            let dir = data.join(format!("{}-{n}", case.file));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the bench directory");
            let text = (case.text)(n);
            std::fs::write(dir.join(case.file), &text).expect("write the file");
            let elapsed = time_command(5, || {
                let mut command = Command::new(larder);
                command.args(["manifest", "-q", "-F", "json"]);
                if case.metadata {
                    command.arg("--metadata").arg(&dir);
                } else {
                    command.arg("--berksfile").arg(dir.join(case.file));
                }
                command
            });
            println!(
                "| {} | {n} | {} | {} |",
                case.label,
                text.len(),
                ms(elapsed)
            );
        }
    }
}
