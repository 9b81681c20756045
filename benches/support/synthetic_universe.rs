//! A deterministic generator of cookbook universes at today's Supermarket
//! scale, shared by the benchmarks.
//!
//! The shape follows the 2014 capture in `../shared/data/universe`: a few
//! popular base cookbooks (think apt, yum, build-essential) that most others
//! depend on, version counts with a long tail (most cookbooks have a
//! handful, a few have a hundred), about two dependencies per version, and
//! the constraint mix seen there: mostly `>= 0.0.0`, then `~>`, `>=`, `=`,
//! `<`. Later versions of a cookbook ask for later versions of their
//! dependencies, as real cookbooks do.

use std::fmt::Write;

/// splitmix64: small, fast, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Skewed towards 0: the minimum of two uniform draws.
    pub fn skewed(&mut self, n: u64) -> u64 {
        self.below(n).min(self.below(n))
    }
}

/// One generated cookbook: its name and its versions (ascending).
pub struct Cookbook {
    pub name: String,
    pub versions: Vec<(u64, u64, u64)>,
}

pub struct Universe {
    pub cookbooks: Vec<Cookbook>,
    /// The universe as a Supermarket `/universe` body.
    pub json: String,
}

impl Universe {
    pub fn release_count(&self) -> usize {
        self.cookbooks.iter().map(|c| c.versions.len()).sum()
    }

    /// `count` demands on popular-to-middling cookbooks, as a Berksfile
    /// would hold: mostly open, some pessimistic.
    pub fn demands(&self, count: usize, seed: u64) -> Vec<String> {
        let mut rng = Rng::new(seed);
        let mut names: Vec<String> = Vec::new();
        let mut demands = Vec::new();
        while demands.len() < count {
            let index = 20 + rng.skewed(self.cookbooks.len() as u64 / 2) as usize;
            let cookbook = &self.cookbooks[index];
            if names.contains(&cookbook.name) {
                continue;
            }
            names.push(cookbook.name.clone());
            let (major, minor, _) = cookbook.versions[cookbook.versions.len() / 2];
            demands.push(if rng.below(3) == 0 {
                format!("{} ~> {major}.{minor}", cookbook.name)
            } else {
                cookbook.name.clone()
            });
        }
        demands
    }
}

/// Generates `cookbooks` cookbooks with about `releases` versions in all.
pub fn generate(cookbooks: usize, releases: usize, seed: u64) -> Universe {
    let mut rng = Rng::new(seed);
    let mean = releases as f64 / cookbooks as f64;
    let mut list: Vec<Cookbook> = (0..cookbooks)
        .map(|i| {
            // Long tail: popular (low-index) cookbooks have many versions.
            let weight = if i < 50 {
                6.0
            } else {
                0.25 + rng.below(100) as f64 / 55.0
            };
            let count = ((mean * weight).round() as usize).max(1);
            let mut versions = Vec::with_capacity(count);
            let (mut major, mut minor, mut patch) = (0u64, 1u64, 0u64);
            for _ in 0..count {
                versions.push((major, minor, patch));
                match rng.below(20) {
                    0 => (major, minor, patch) = (major + 1, 0, 0),
                    1..=6 => (minor, patch) = (minor + 1, 0),
                    _ => patch += 1,
                }
            }
            Cookbook {
                name: format!("{}-{i}", ["app", "base", "svc", "db", "web", "ops"][i % 6]),
                versions,
            }
        })
        .collect();
    // Trim or pad to land on the requested total.
    let mut total: usize = list.iter().map(|c| c.versions.len()).sum();
    let mut i = list.len() - 1;
    while total > releases && i > 50 {
        if list[i].versions.len() > 1 {
            list[i].versions.pop();
            total -= 1;
        }
        i = if i == 51 { list.len() - 1 } else { i - 1 };
    }

    let mut json = String::with_capacity(releases * 260);
    json.push('{');
    for (ci, cookbook) in list.iter().enumerate() {
        if ci > 0 {
            json.push(',');
        }
        write!(json, "\"{}\":{{", cookbook.name).unwrap();
        for (vi, &(major, minor, patch)) in cookbook.versions.iter().enumerate() {
            if vi > 0 {
                json.push(',');
            }
            let version = format!("{major}.{minor}.{patch}");
            write!(
                json,
                "\"{version}\":{{\"location_type\":\"opscode\",\"location_path\":\"https://supermarket.example/api/v1\",\
                 \"download_url\":\"https://supermarket.example/api/v1/cookbooks/{}/versions/{version}/download\",\
                 \"dependencies\":{{",
                cookbook.name
            )
            .unwrap();
            // Only depend on more popular cookbooks: no cycles, as in practice.
            let dep_count = if ci == 0 { 0 } else { rng.below(5) };
            let progress = vi as f64 / cookbook.versions.len() as f64;
            let mut chosen: Vec<usize> = Vec::new();
            for _ in 0..dep_count {
                let target = rng.skewed(ci as u64) as usize;
                if chosen.contains(&target) {
                    continue;
                }
                chosen.push(target);
                let dep = &list[target];
                let at =
                    ((progress * dep.versions.len() as f64) as usize).min(dep.versions.len() - 1);
                let (major, minor, patch) = dep.versions[at];
                let constraint = match rng.below(100) {
                    0..=77 => ">= 0.0.0".to_string(),
                    78..=89 => format!("~> {major}.{minor}"),
                    90..=94 => format!(">= {major}.{minor}.{patch}"),
                    95..=97 => format!("= {major}.{minor}.{patch}"),
                    _ => format!("< {}.0", major + 1),
                };
                if chosen.len() > 1 {
                    json.push(',');
                }
                write!(json, "\"{}\":\"{constraint}\"", dep.name).unwrap();
            }
            json.push_str("}}");
        }
        json.push('}');
    }
    json.push('}');
    Universe {
        cookbooks: list,
        json,
    }
}
