//! Chef cookbook versions and version constraints, and their mapping onto
//! pubgrub's [`Ranges`].
//!
//! Versions are dotted non-negative integers. Chef itself only knows `x.y`
//! and `x.y.z`; real universes also carry `1`, `20140110` and `1.0.0.1`, so
//! one to four numeric parts are accepted (missing parts are zero, leading
//! zeros are ignored). Anything else (pre-releases, letters) cannot be ordered
//! against the rest without guessing and is rejected; callers treat such a
//! version as unusable. The spelling a universe used is kept by the caller,
//! never reconstructed from a [`Version`].
//!
//! Constraints follow Semverse, the library Berkshelf resolves with, rather
//! than Chef core: besides `= > < >= <= ~>` and a bare version (meaning `=`),
//! `!=` and `~` (a synonym of `~>`) are accepted, and `~> 1` is allowed and
//! means `>= 1.0.0, < 2.0.0`. Chef core rejects those three forms, but they
//! appear in real metadata and universes, and Berkshelf users rely on them.

use std::fmt;
use std::str::FromStr;

use pubgrub::Ranges;

/// A set of versions, as the resolver sees it.
pub type VersionSet = Ranges<Version>;

/// An orderable cookbook version: up to four numeric parts, missing parts 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    parts: [u64; 4],
}

impl Version {
    /// The version `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            parts: [major, minor, patch, 0],
        }
    }

    /// `0.0.0`, the lowest version there is.
    pub const ZERO: Version = Version::new(0, 0, 0);

    pub fn major(&self) -> u64 {
        self.parts[0]
    }

    pub fn minor(&self) -> u64 {
        self.parts[1]
    }

    pub fn patch(&self) -> u64 {
        self.parts[2]
    }

    /// Parses `text` (surrounding whitespace ignored) into its numeric parts.
    fn parse_parts(text: &str, max_parts: usize) -> Result<([u64; 4], usize), VersionError> {
        let invalid = || VersionError {
            text: text.to_string(),
        };
        // A byte scan rather than split/parse: universes hold tens of
        // thousands of versions and constraints, and this is their hot path.
        let bytes = text.trim_ascii().as_bytes();
        let mut parts = [0u64; 4];
        let mut count = 0;
        let mut digits = 0;
        for &byte in bytes {
            match byte {
                b'0'..=b'9' => {
                    if count == max_parts {
                        return Err(invalid());
                    }
                    let value = parts[count]
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                        .ok_or_else(invalid)?;
                    parts[count] = value;
                    digits += 1;
                }
                b'.' if digits > 0 => {
                    count += 1;
                    digits = 0;
                }
                _ => return Err(invalid()),
            }
        }
        if digits == 0 {
            return Err(invalid());
        }
        Ok((parts, count + 1))
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse_parts(text, 4).map(|(parts, _)| Version { parts })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch, extra] = self.parts;
        write!(f, "{major}.{minor}.{patch}")?;
        if extra != 0 {
            write!(f, ".{extra}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A version string that cannot be ordered against Chef versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a cookbook version (expected numbers separated by dots, such as 1.2.3)")]
pub struct VersionError {
    pub text: String,
}

/// The comparison a constraint makes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Operator {
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    /// `~>` (and its synonym `~`): at least this version, below the next
    /// minor (three parts given) or the next major (one or two parts given).
    Pessimistic,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::Greater => ">",
            Operator::Less => "<",
            Operator::GreaterEqual => ">=",
            Operator::LessEqual => "<=",
            Operator::Pessimistic => "~>",
        }
    }
}

/// One version constraint, such as `~> 2.7` or `>= 1.0.0`.
///
/// Two constraints are equal when they admit the same versions, however
/// they were spelled: `>= 1.0` equals `>= 1.0.0`, `~> 1` equals `~> 1.0`,
/// but `~> 1.0` (below 2.0) differs from `~> 1.0.0` (below 1.1).
#[derive(Clone)]
pub struct Constraint {
    operator: Operator,
    version: Version,
    /// How many parts the constraint's version was written with (1 to 3);
    /// `~>` depends on it.
    parts_given: u8,
}

/// Operators in the order they must be tried (longest first).
const OPERATORS: [(&str, Operator); 8] = [
    ("~>", Operator::Pessimistic),
    (">=", Operator::GreaterEqual),
    ("<=", Operator::LessEqual),
    ("!=", Operator::NotEqual),
    ("~", Operator::Pessimistic),
    (">", Operator::Greater),
    ("<", Operator::Less),
    ("=", Operator::Equal),
];

impl Constraint {
    /// `>= 0.0.0`: any version at all.
    pub fn any() -> Self {
        Constraint {
            operator: Operator::GreaterEqual,
            version: Version::ZERO,
            parts_given: 3,
        }
    }

    /// Parses a constraint. Empty text and `[]` mean any version.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let trimmed = text.trim_ascii();
        // `>= 0.0.0` is most of the constraints in real universes.
        if trimmed.is_empty() || trimmed == "[]" || trimmed == ">= 0.0.0" {
            return Ok(Constraint::any());
        }
        let (operator, rest) = OPERATORS
            .iter()
            .find_map(|(symbol, op)| trimmed.strip_prefix(symbol).map(|rest| (*op, rest)))
            .unwrap_or((Operator::Equal, trimmed));
        let (parts, count) =
            Version::parse_parts(rest, 3).map_err(|_| ConstraintError::new(text))?;
        Ok(Constraint {
            operator,
            version: Version { parts },
            parts_given: count as u8,
        })
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// True for `>= 0.0.0`, the constraint that allows everything.
    pub fn is_any(&self) -> bool {
        self.operator == Operator::GreaterEqual && self.version == Version::ZERO
    }

    /// The exclusive upper bound of a `~>` constraint.
    fn pessimistic_ceiling(&self) -> Version {
        let v = self.version;
        if self.parts_given >= 3 {
            Version::new(v.major(), v.minor().saturating_add(1), 0)
        } else {
            Version::new(v.major().saturating_add(1), 0, 0)
        }
    }

    /// The set of versions this constraint allows.
    pub fn to_ranges(&self) -> VersionSet {
        let v = self.version;
        if self.is_any() {
            return Ranges::full();
        }
        match self.operator {
            Operator::Equal => Ranges::singleton(v),
            Operator::NotEqual => Ranges::singleton(v).complement(),
            Operator::Greater => Ranges::strictly_higher_than(v),
            Operator::Less => Ranges::strictly_lower_than(v),
            Operator::GreaterEqual => Ranges::higher_than(v),
            Operator::LessEqual => Ranges::lower_than(v),
            Operator::Pessimistic => Ranges::between(v, self.pessimistic_ceiling()),
        }
    }

    /// Whether `candidate` meets the constraint, read directly from its
    /// operator (the ranges from [`Constraint::to_ranges`] agree with this).
    pub fn matches(&self, candidate: &Version) -> bool {
        let v = &self.version;
        match self.operator {
            Operator::Equal => candidate == v,
            Operator::NotEqual => candidate != v,
            Operator::Greater => candidate > v,
            Operator::Less => candidate < v,
            Operator::GreaterEqual => candidate >= v,
            Operator::LessEqual => candidate <= v,
            Operator::Pessimistic => candidate >= v && *candidate < self.pessimistic_ceiling(),
        }
    }
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.to_ranges() == other.to_ranges()
    }
}

impl Eq for Constraint {}

impl std::hash::Hash for Constraint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_ranges().hash(state);
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Constraint::parse(text)
    }
}

/// Prints the constraint the way Berkshelf writes it: `~>` keeps the parts
/// it was given (`~> 2.7`), every other operator shows three parts
/// (`>= 1.0.0`, `= 1.2.0`).
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let symbol = self.operator.symbol();
        if self.operator == Operator::Pessimistic {
            let v = self.version;
            match self.parts_given {
                1 => write!(f, "{symbol} {}", v.major()),
                2 => write!(f, "{symbol} {}.{}", v.major(), v.minor()),
                _ => write!(f, "{symbol} {v}"),
            }
        } else {
            write!(f, "{symbol} {}", self.version)
        }
    }
}

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A constraint that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}' is not a version constraint; write an operator (=, !=, >, <, >=, <=, ~>) \
     followed by a version of one to three numbers, such as '~> 2.7' or '>= 1.0.0'"
)]
pub struct ConstraintError {
    pub text: String,
}

impl ConstraintError {
    fn new(text: &str) -> Self {
        ConstraintError {
            text: text.to_string(),
        }
    }
}

/// Describes a set of versions in Chef's words: `~> 2.7`, `>= 1.0.0, < 3.0.0`,
/// `= 1.2.3`, `!= 1.0.0`, or `any version`.
pub fn describe_set(set: &VersionSet) -> String {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    if set.is_empty() {
        return "no version".to_string();
    }
    if set == &Ranges::full() {
        return "any version".to_string();
    }
    if let Some(v) = set.as_singleton() {
        return format!("= {v}");
    }
    let complement = set.complement();
    if let Some(v) = complement.as_singleton() {
        return format!("!= {v}");
    }
    let segments: Vec<String> = set
        .iter()
        .map(|(low, high)| match (low, high) {
            (Included(a), Excluded(b)) => {
                pessimistic_form(a, b).unwrap_or_else(|| format!(">= {a}, < {b}"))
            }
            (Included(a), Included(b)) if a == b => format!("= {a}"),
            (low, high) => {
                let lower = match low {
                    Included(a) if *a == Version::ZERO => None,
                    Included(a) => Some(format!(">= {a}")),
                    Excluded(a) => Some(format!("> {a}")),
                    Unbounded => None,
                };
                let upper = match high {
                    Included(b) => Some(format!("<= {b}")),
                    Excluded(b) => Some(format!("< {b}")),
                    Unbounded => None,
                };
                match (lower, upper) {
                    (Some(l), Some(u)) => format!("{l}, {u}"),
                    (Some(l), None) => l,
                    (None, Some(u)) => u,
                    (None, None) => ">= 0.0.0".to_string(),
                }
            }
        })
        .collect();
    segments.join(" or ")
}

/// `~> a` when `[a, b)` is exactly what that constraint means.
fn pessimistic_form(low: &Version, high: &Version) -> Option<String> {
    let short = Constraint {
        operator: Operator::Pessimistic,
        version: *low,
        parts_given: 2,
    };
    let long = Constraint {
        parts_given: 3,
        ..short.clone()
    };
    if low.parts[3] != 0 {
        return None;
    }
    if low.patch() == 0 && short.pessimistic_ceiling() == *high {
        Some(short.to_string())
    } else if long.pessimistic_ceiling() == *high {
        Some(long.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    fn c(text: &str) -> Constraint {
        Constraint::parse(text).unwrap()
    }

    #[test]
    fn versions_accept_one_to_four_numeric_parts() {
        assert_eq!(v("1.2"), Version::new(1, 2, 0));
        assert_eq!(v("1"), Version::new(1, 0, 0));
        assert_eq!(v("01.002.3"), Version::new(1, 2, 3));
        assert_eq!(v("20140110"), Version::new(20140110, 0, 0));
        assert!(v("1.0.0.1") > v("1.0.0"));
        assert!(v("1.0.0.1") < v("1.0.1"));
        assert_eq!(v(" 1.2.3\n"), Version::new(1, 2, 3));
        for bad in [
            "",
            "1.2.3-rc1",
            "1..2",
            "a.b",
            "1.2.3.4.5",
            "v1.0",
            "1.2.",
            "-1",
        ] {
            assert!(
                bad.parse::<Version>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn versions_order_numerically() {
        assert!(v("1.10.0") > v("1.9.0"));
        assert!(v("10.0") > v("9.99.99"));
    }

    #[test]
    fn pessimistic_bounds_follow_semverse() {
        let two_parts = c("~> 1.2");
        assert!(two_parts.matches(&v("1.2.0")) && two_parts.matches(&v("1.99.0")));
        assert!(!two_parts.matches(&v("2.0.0")) && !two_parts.matches(&v("1.1.9")));
        let three_parts = c("~> 1.2.3");
        assert!(three_parts.matches(&v("1.2.9")) && !three_parts.matches(&v("1.3.0")));
        assert!(!three_parts.matches(&v("1.2.2")));
        let one_part = c("~> 1");
        assert!(one_part.matches(&v("1.9.9")) && !one_part.matches(&v("2.0.0")));
        assert_eq!(c("~ 1.2"), two_parts);
    }

    #[test]
    fn every_operator_parses() {
        assert_eq!(c("= 1.2").to_ranges(), Ranges::singleton(v("1.2.0")));
        assert_eq!(c("1.2.3"), c("= 1.2.3"));
        assert_eq!(c("=1.2.3"), c("= 1.2.3"));
        assert!(c("!= 1.0").matches(&v("1.0.1")) && !c("!= 1.0").matches(&v("1.0.0")));
        assert!(c("> 1.0").matches(&v("1.0.1")) && !c("> 1.0").matches(&v("1.0.0")));
        assert!(c("< 1.0").matches(&v("0.9.9")) && !c("< 1.0").matches(&v("1.0.0")));
        assert!(c("<= 1.0").matches(&v("1.0.0")));
        assert!(c(">=1.0").matches(&v("1.0.0")));
        assert!(c("").is_any() && c("[]").is_any() && c(">= 0.0.0").is_any());
    }

    #[test]
    fn malformed_constraints_name_the_text() {
        for bad in [
            "apache2>= 1.0.8",
            ">= 1.0, < 2.0",
            "~> 1.2.3.4",
            ">= x",
            "=> 1.0",
            "1.0-rc",
        ] {
            let err = Constraint::parse(bad).unwrap_err();
            assert_eq!(err.text, bad);
            assert!(err.to_string().contains("~> 2.7"));
        }
    }

    #[test]
    fn constraints_are_equal_when_they_admit_the_same_versions() {
        use std::collections::HashSet;
        let same = [
            (">= 1.0", ">= 1.0.0"),
            (">=1", ">= 1.0.0"),
            ("= 2.1", "2.1.0"),
            ("< 3", "< 3.0.0"),
            ("~> 1", "~> 1.0"),
            ("~ 2.7", "~> 2.7"),
            ("!= 1.0", "!= 1.0.0"),
        ];
        for (a, b) in same {
            assert_eq!(c(a), c(b), "{a} and {b}");
            let set: HashSet<Constraint> = [c(a), c(b)].into_iter().collect();
            assert_eq!(set.len(), 1, "{a} and {b} hash alike");
        }
        assert_ne!(c("~> 1.0"), c("~> 1.0.0"));
        assert_ne!(c(">= 1.0"), c("> 1.0"));
    }

    #[test]
    fn display_matches_berkshelf() {
        assert_eq!(c("~> 1.2").to_string(), "~> 1.2");
        assert_eq!(c("~>1").to_string(), "~> 1");
        assert_eq!(c(">=1.0").to_string(), ">= 1.0.0");
        assert_eq!(c("1.0").to_string(), "= 1.0.0");
    }

    #[test]
    fn sets_are_described_in_chef_words() {
        assert_eq!(describe_set(&c("~> 2.7").to_ranges()), "~> 2.7");
        assert_eq!(describe_set(&c("~> 2.7.1").to_ranges()), "~> 2.7.1");
        assert_eq!(describe_set(&c(">= 3.0").to_ranges()), ">= 3.0.0");
        assert_eq!(describe_set(&c("< 3.0").to_ranges()), "< 3.0.0");
        assert_eq!(describe_set(&c("= 1.2.3").to_ranges()), "= 1.2.3");
        assert_eq!(describe_set(&c("!= 1.2.3").to_ranges()), "!= 1.2.3");
        assert_eq!(describe_set(&Ranges::full()), "any version");
        let both = c(">= 1.0")
            .to_ranges()
            .intersection(&c("< 1.5").to_ranges());
        assert_eq!(describe_set(&both), ">= 1.0.0, < 1.5.0");
    }

    fn version_strategy() -> impl Strategy<Value = Version> {
        (0u64..4, 0u64..4, 0u64..4, prop_oneof![Just(0u64), 0u64..3]).prop_map(|(a, b, c, d)| {
            Version {
                parts: [a, b, c, d],
            }
        })
    }

    fn constraint_strategy() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just(""),
            Just("= "),
            Just("!= "),
            Just("> "),
            Just("< "),
            Just(">= "),
            Just("<= "),
            Just("~> "),
            Just("~"),
        ];
        let version = prop_oneof![
            (0u64..4).prop_map(|a| a.to_string()),
            (0u64..4, 0u64..4).prop_map(|(a, b)| format!("{a}.{b}")),
            (0u64..4, 0u64..4, 0u64..4).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        ];
        (op, version).prop_map(|(op, version)| format!("{op}{version}"))
    }

    proptest! {
        #[test]
        fn ranges_agree_with_a_direct_reading(text in constraint_strategy(), candidate in version_strategy()) {
            let constraint = c(&text);
            prop_assert_eq!(constraint.to_ranges().contains(&candidate), constraint.matches(&candidate));
        }

        #[test]
        fn display_round_trips(text in constraint_strategy()) {
            let constraint = c(&text);
            prop_assert_eq!(c(&constraint.to_string()), constraint);
        }
    }
}
