//! Sources: where cookbook versions come from. One file per kind of source;
//! each produces releases for the [`crate::index::Index`].

pub mod git;
pub mod registry_dir;
pub mod search;
pub mod supermarket;
