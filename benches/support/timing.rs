//! Small timing helpers shared by the benchmarks.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs a prepared command `runs` times; returns the median wall time.
/// Every run must succeed.
pub fn time_command(runs: usize, mut make: impl FnMut() -> Command) -> Duration {
    let samples = (0..runs)
        .map(|_| {
            let mut command = make();
            let started = Instant::now();
            let output = command.output().expect("the command starts");
            let elapsed = started.elapsed();
            assert!(
                output.status.success(),
                "benchmark command failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            elapsed
        })
        .collect();
    median(samples)
}
