//! `larder resolve`: pick versions for demands from a universe file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use super::{Failure, Output};
use crate::resolve::{Demand, resolve};
use crate::universe;
use crate::version::Constraint;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A universe file: a Supermarket `/universe` body, a pruned graph, or
    /// an acceptance case with its own demands.
    #[arg(long, value_name = "FILE")]
    pub universe: PathBuf,
    /// `NAME` or `NAME CONSTRAINT` as one argument (`'apt ~> 2.0'`).
    /// Without demands, the file's own demands are used.
    #[arg(value_name = "DEMAND")]
    pub demands: Vec<String>,
}

/// Reads `NAME` or `NAME CONSTRAINT` (`apt ~> 2.0`, `apt >=1.0`, `apt 1.2.3`).
pub fn parse_demand(text: &str) -> Result<Demand, Failure> {
    let trimmed = text.trim();
    let (name, constraint) = match trimmed.find(|c: char| c.is_whitespace() || "=<>~!".contains(c))
    {
        Some(split) => (&trimmed[..split], trimmed[split..].trim()),
        None => (trimmed, ""),
    };
    if name.is_empty() {
        return Err(Failure::usage(format!(
            "'{text}' is not a demand; write a cookbook name, optionally followed by a \
             constraint, such as 'apt' or 'apt ~> 2.0'"
        )));
    }
    let constraint = Constraint::parse(constraint)
        .map_err(|e| Failure::usage(format!("in demand '{text}': {e}")))?;
    Ok(Demand::new(name, constraint))
}

pub fn run(args: &Args, output: &Output) -> Result<(), Failure> {
    let started = Instant::now();
    let file = universe::load_file(&args.universe)?;
    let loaded = started.elapsed();
    for note in file.index.notes() {
        output.detail(&format!("note: {}", note.0));
    }
    let demands = if args.demands.is_empty() {
        file.demands
            .iter()
            .map(|d| {
                Constraint::parse(&d.constraint)
                    .map(|c| Demand::new(d.name.clone(), c))
                    .map_err(|e| {
                        Failure::new(
                            99,
                            "bad_universe",
                            format!("{}: demand on {}: {e}", args.universe.display(), d.name),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.demands
            .iter()
            .map(|d| parse_demand(d))
            .collect::<Result<Vec<_>, _>>()?
    };
    if demands.is_empty() {
        return Err(Failure::usage(format!(
            "nothing to resolve: {} holds no demands; name cookbooks on the command line, \
             such as `larder resolve --universe {} 'apt ~> 2.0'`",
            args.universe.display(),
            args.universe.display()
        )));
    }
    let resolving = Instant::now();
    let resolution = resolve(&file.index, &demands, &HashMap::new())?;
    output.detail(&format!(
        "loaded {} versions of {} cookbooks in {:.1} ms; resolved {} demands in {:.2} ms",
        file.index.release_count(),
        file.index.cookbooks().count(),
        loaded.as_secs_f64() * 1e3,
        demands.len(),
        resolving.elapsed().as_secs_f64() * 1e3
    ));
    if output.is_json() {
        let solution: BTreeMap<&str, &str> = resolution
            .picks
            .iter()
            .map(|(name, pick)| (name.as_str(), pick.raw_version.as_str()))
            .collect();
        output.json(&serde_json::json!({ "solution": solution }));
    } else {
        for (name, pick) in &resolution.picks {
            output.line(&format!("{name} {}", pick.raw_version));
        }
    }
    // The process ends here: handing a large index back to the allocator
    // piece by piece would cost more than the resolution itself.
    std::mem::forget(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demands_read_with_or_without_spaces() {
        assert_eq!(
            parse_demand("apt").unwrap(),
            Demand::new("apt", Constraint::any())
        );
        let expected = Demand::new("apt", Constraint::parse("~> 2.0").unwrap());
        assert_eq!(parse_demand("apt ~> 2.0").unwrap(), expected);
        assert_eq!(parse_demand("apt~>2.0").unwrap(), expected);
        assert!(parse_demand("apt ~> two").is_err());
        assert!(parse_demand(">= 1.0").is_err());
    }
}
