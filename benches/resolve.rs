//! Resolver benchmark: universe load time, resolve time and peak memory on a
//! synthetic universe at today's Supermarket scale and on the real 2014
//! data, whole-process `larder resolve` times, and the `solve` gem (the
//! resolver inside Berkshelf) on the same files when Ruby has it.
//!
//! Run: `cargo bench --bench resolve` (prints a Markdown table).

#[path = "support/synthetic_universe.rs"]
mod synthetic_universe;
#[path = "support/timing.rs"]
mod timing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use larder::resolve::{Demand, resolve};
use larder::universe;
use larder::version::Constraint;
use timing::{median, ms};

fn parse_demands(texts: &[String]) -> Vec<Demand> {
    texts
        .iter()
        .map(|t| {
            let (name, c) = t.split_once(' ').unwrap_or((t, ""));
            Demand::new(name, Constraint::parse(c).unwrap())
        })
        .collect()
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".to_string())
}

struct Case {
    label: String,
    path: PathBuf,
    demands: Vec<String>,
}

fn in_process(case: &Case) -> (Duration, Duration, usize) {
    let loads: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let file = universe::load_file(&case.path).unwrap();
            std::hint::black_box(file);
            t.elapsed()
        })
        .collect();
    let file = universe::load_file(&case.path).unwrap();
    let demands = if case.demands.is_empty() {
        file.demands
            .iter()
            .map(|d| Demand::new(d.name.clone(), Constraint::parse(&d.constraint).unwrap()))
            .collect()
    } else {
        parse_demands(&case.demands)
    };
    let none = HashMap::new();
    let mut picked = 0;
    let resolves: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let result = resolve(&file.index, &demands, &none);
            let elapsed = t.elapsed();
            picked = result.map(|r| r.picks.len()).unwrap_or(0);
            elapsed
        })
        .collect();
    (median(loads), median(resolves), picked)
}

fn whole_process(case: &Case) -> Duration {
    let runs: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_larder"))
                .args(["resolve", "-q", "--universe"])
                .arg(&case.path)
                .args(&case.demands)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.code() == Some(0) || status.code() == Some(106));
            t.elapsed()
        })
        .collect();
    median(runs)
}

/// The solve gem on the same case: (graph build, solve) in ms, as it reports.
fn solve_gem(case: &Case) -> Option<(f64, f64)> {
    let anchor = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/solve_anchor.rb");
    let demands: Vec<String> = case
        .demands
        .iter()
        .map(|d| d.replacen(' ', "@", 1))
        .collect();
    let output = Command::new("ruby")
        .arg(&anchor)
        .arg(&case.path)
        .args(&demands)
        .args(["--repeat", "5"])
        .output()
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    Some((json["graph_build_ms"].as_f64()?, json["solve_ms"].as_f64()?))
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let synthetic = synthetic_universe::generate(5_000, 50_000, 2026);
    let synthetic_path = dir.join("universe-5k-50k.json");
    std::fs::write(&synthetic_path, &synthetic.json).unwrap();
    println!(
        "synthetic universe: {} cookbooks, {} versions, {:.1} MB",
        synthetic.cookbooks.len(),
        synthetic.release_count(),
        synthetic.json.len() as f64 / 1e6
    );

    let mut cases = vec![Case {
        label: "synthetic 5,000 cookbooks / 50,000 versions, 30 demands".into(),
        path: synthetic_path,
        demands: synthetic.demands(30, 7),
    }];
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/universe");
    if shared.exists() {
        cases.push(Case {
            label: "supermarket-2014-07 (6,277 versions), 8 demands".into(),
            path: shared.join("supermarket-2014-07.json"),
            demands: [
                "nginx",
                "mysql",
                "database",
                "php",
                "jenkins",
                "java",
                "postgresql",
                "chef-client",
            ]
            .map(String::from)
            .to_vec(),
        });
        cases.push(Case {
            label: "solve acceptance opscode-ci (5,577 versions), 27 demands".into(),
            path: shared.join("solve-acceptance-opscode-ci.json"),
            demands: Vec::new(),
        });
        cases.push(Case {
            label: "solve acceptance no-solution (5,613 versions), 50 demands".into(),
            path: shared.join("solve-acceptance-no-solution.json"),
            demands: Vec::new(),
        });
    }

    println!();
    println!(
        "| case | larder load | larder resolve | larder whole process | solve gem graph build | solve gem solve | cookbooks picked |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in &cases {
        let (load, resolve_time, picked) = in_process(case);
        let process = whole_process(case);
        let (build, solve) = solve_gem(case)
            .map(|(b, s)| (format!("{b:.2} ms"), format!("{s:.2} ms")))
            .unwrap_or(("n/a".into(), "n/a".into()));
        println!(
            "| {} | {} | {} | {} | {build} | {solve} | {picked} |",
            case.label,
            ms(load),
            ms(resolve_time),
            ms(process)
        );
    }
    println!();
    println!(
        "peak memory of the benchmark process (all universes loaded in turn): {}",
        peak_memory()
    );
}
