//! larder: resolves Chef cookbook dependencies from a Berksfile and bundles
//! them for the machines that run them.
//!
//! The modules follow the flow of one `install`: the Berksfile and cookbook
//! metadata are read without executing Ruby, sources build an [`index::Index`],
//! the resolver picks versions, the lockfile records them, and the cache and
//! bundle modules fetch, verify and pack the chosen cookbooks.

pub mod archive;
pub mod atomic_file;
pub mod berksfile;
pub mod bundle;
pub mod cache;
pub mod chef_server;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dsl;
pub mod file_url;
pub mod graph;
pub mod graphviz;
pub mod http;
pub mod index;
pub mod install;
pub mod lock;
pub mod mapped_file;
pub mod metadata;
pub mod outdated;
pub mod resolve;
pub mod serve;
pub mod shown;
pub mod source;
pub mod universe;
pub mod version;
