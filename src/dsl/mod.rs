//! Reads Ruby DSL files (Berksfile, metadata.rb) without executing them.
//!
//! The file is parsed with prism, Ruby's own parser, and then a
//! side-effect-free subset of Ruby is evaluated here: literals, local
//! variables, constants, methods defined with `def`, conditionals,
//! `defined?`, `ENV`, blocks over arrays and hashes, `begin`/`rescue`, and
//! read-only `File`/`Dir` queries confined to the file's directory. Every
//! receiver-less method call that is not part of that subset (`cookbook`,
//! `depends`, ...) is handed to a [`Handler`] supplied by the caller, which
//! decides what the call means. Anything else (`system`, backticks,
//! `require`, `class`, calls on unknown objects) is reported as a
//! [`Diagnostic`] naming file, line and column. Nothing in the file is ever
//! run.

mod builtins;
mod diagnostic;
mod eval;
mod glob;
mod value;

use std::path::{Component, Path, PathBuf};

pub use diagnostic::{Diagnostic, Site};
pub use value::Value;

/// Looks up an environment variable for `ENV[...]`.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Stack for the evaluation thread: prism and the evaluator recurse once per
/// nesting level, and prism allows 10,000 levels.
const STACK_SIZE: usize = 64 << 20;

/// The process environment, the usual [`EnvLookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One call of a DSL method, with its arguments already evaluated.
#[derive(Debug)]
pub struct Call<'a, C> {
    /// The method name, such as `cookbook`.
    pub name: &'a str,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments (`key: v` or `:key => v` without braces), in order.
    pub options: Vec<(Value, Value)>,
    /// Whether a `do ... end` or `{ ... }` block was passed.
    pub has_block: bool,
    /// Where the call is.
    pub site: Site,
    /// The context of the enclosing block (see [`Reply::EvaluateBlock`]).
    pub context: &'a C,
}

/// What the evaluator should do after a handler accepted a call.
#[derive(Debug)]
pub enum Reply<C> {
    /// The call is done and evaluates to this value.
    Value(Value),
    /// Evaluate the call's block now; calls inside it see this context.
    EvaluateBlock(C),
}

/// Gives meaning to the DSL methods of one kind of file.
pub trait Handler {
    /// State that blocks pass down to the calls inside them (for a Berksfile,
    /// the enclosing groups).
    type Context;
    /// The caller's error type; diagnostics found by the evaluator itself
    /// convert into it.
    type Error: From<Diagnostic>;

    /// Handles one receiver-less method call.
    fn call(&mut self, call: Call<'_, Self::Context>) -> Result<Reply<Self::Context>, Self::Error>;

    /// Whether `respond_to?(:name)` is true.
    fn responds_to(&self, name: &str) -> bool;
}

/// Evaluates the Ruby in `source` (read from `path`), handing DSL calls to
/// `handler`; top-level calls see `context`.
///
/// Evaluation runs on its own thread with a large stack, so that no nesting
/// a file can contain overflows the caller's stack.
pub fn evaluate<H>(
    path: &Path,
    source: &[u8],
    env: EnvLookup<'_>,
    handler: &mut H,
    context: H::Context,
) -> Result<(), H::Error>
where
    H: Handler + Send,
    H::Context: Send,
    H::Error: Send,
{
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("larder-dsl".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, move || {
                eval::evaluate(path, source, env, handler, context)
            });
        match worker {
            Ok(worker) => worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => Err(Diagnostic {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                source_line: String::new(),
                message: format!("could not start evaluating this file: {e}"),
            }
            .into()),
        }
    })
}

/// Resolves `path` against the directory `base` and removes `.` and `..`
/// components without touching the file system (like Ruby's
/// `File.expand_path`, minus `~`).
pub fn expand_path(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn expand_path_is_lexical() {
        assert_eq!(
            expand_path(Path::new("/a/b"), Path::new("../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            expand_path(Path::new("/a"), Path::new("/x/y")),
            PathBuf::from("/x/y")
        );
        assert_eq!(
            expand_path(Path::new("/"), Path::new("..")),
            PathBuf::from("/")
        );
    }
}
