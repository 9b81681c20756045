//! The evaluator: walks prism's tree and computes the safe subset of Ruby,
//! handing DSL calls to the [`Handler`]. Everything outside the subset stops
//! evaluation with a diagnostic; nothing is executed.
//!
//! Besides literals, locals and conditionals, the subset holds what real
//! Berksfiles and metadata.rb files are written with: methods defined with
//! `def` (positional, default and keyword parameters, `return`), constants
//! assigned in the file, blocks for `each`/`map`/`select`/`each_with_object`
//! and friends, `defined?`, and read-only `File`/`Dir` queries confined to
//! the file's directory.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ruby_prism::{BlockNode, CallNode, DefNode, Location, Node, StatementsNode};

use super::builtins::{self, MAX_STRING, MethodError};
use super::diagnostic::SourceMap;
use super::glob::{self, GlobError};
use super::{Call, Diagnostic, EnvLookup, Handler, Reply, Value};

/// Deepest nesting of expressions evaluated before giving up.
const MAX_DEPTH: usize = 200;
/// Evaluation steps allowed for one file, plus [`STEPS_PER_BYTE`] per byte
/// of it (guards against nested loops and runaway recursion, while long
/// files stay readable).
const MAX_STEPS: u64 = 1_000_000;
const STEPS_PER_BYTE: u64 = 16;
/// Bytes of arrays, hashes and strings a file may build in all (guards
/// against values that double in size on every line).
const MAX_BUILT: usize = 64 << 20;

/// What the subset contains, appended to every "not supported" message.
const SUPPORTED: &str = "larder reads this file without running it and understands only \
strings (with #{} interpolation), symbols, integers, arrays, %w[], hashes, nil/true/false, \
local variables, constants assigned in the file, methods defined with def, \
if/unless/elsif/else, case/when, the ternary, ==, !=, &&, ||, !, defined?, ENV['X'], ENV.fetch, \
File.expand_path/join/dirname/basename/read/exist?/directory?, IO.read, Dir.glob, Dir[], \
__FILE__, __dir__, blocks for each/map/select/reject/each_with_object, common String, Array \
and Hash methods, begin/rescue, and the file's own DSL methods";

/// Constants the evaluator itself provides.
const BUILTIN_CONSTANTS: &[&str] = &["ENV", "File", "IO", "Dir", "Encoding"];

/// Kernel methods that run code, load code, touch the process or print;
/// calling them is an error rather than a DSL call.
const FORBIDDEN: &[&str] = &[
    "system",
    "exec",
    "spawn",
    "fork",
    "`",
    "require",
    "require_relative",
    "load",
    "autoload",
    "eval",
    "instance_eval",
    "instance_exec",
    "class_eval",
    "module_eval",
    "send",
    "__send__",
    "public_send",
    "method",
    "define_method",
    "binding",
    "open",
    "exit",
    "exit!",
    "abort",
    "at_exit",
    "sleep",
    "trap",
    "syscall",
    "puts",
    "print",
    "p",
    "pp",
    "warn",
    "printf",
    "gets",
    "readlines",
    "loop",
    "proc",
    "lambda",
    "catch",
    "throw",
    "instance_variable_get",
    "instance_variable_set",
];

/// Why evaluation stopped: a Ruby exception (which `rescue` may catch), an
/// error that ends evaluation of the file, or a `return`/`next` on its way
/// to the method or block it leaves.
enum Stop<E> {
    Raise(Diagnostic),
    Fatal(E),
    Return(Value),
    Next(Value),
}

type Eval<T, E> = Result<T, Stop<E>>;

/// Positional arguments and keyword options of a call.
type Arguments = (Vec<Value>, Vec<(Value, Value)>);

/// One parameter of a block: a name, or `(a, b)` taking an array apart.
enum BlockParam {
    Name(String),
    Destructure(Vec<String>),
}

pub(super) fn evaluate<H: Handler>(
    path: &Path,
    source: &[u8],
    env: EnvLookup<'_>,
    handler: &mut H,
    context: H::Context,
) -> Result<(), H::Error> {
    let map = SourceMap::new(path, source);
    let result = ruby_prism::parse(source);
    if let Some(error) = result.errors().next() {
        let more = result.errors().count().saturating_sub(1);
        let mut message = format!("syntax error: {}", String::from_utf8_lossy(error.message()));
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        return Err(map
            .site(error.location().start() as usize)
            .error(message)
            .into());
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = absolute
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut evaluator = Evaluator {
        map,
        file: absolute,
        dir,
        env,
        handler,
        context,
        locals: HashMap::new(),
        constants: HashMap::new(),
        methods: HashMap::new(),
        in_method: 0,
        depth: 0,
        steps: 0,
        max_steps: MAX_STEPS.saturating_add(STEPS_PER_BYTE.saturating_mul(source.len() as u64)),
        built: 0,
    };
    match evaluator.eval(&result.node()) {
        Ok(_) => Ok(()),
        Err(Stop::Fatal(error)) => Err(error),
        Err(Stop::Raise(mut diagnostic)) => {
            diagnostic.message.push_str(" (the error was not rescued)");
            Err(diagnostic.into())
        }
        // `return` outside a method is refused where it is written, and
        // `next` ends the block it is in; one that gets here would end the
        // file early and skip the rest of it, so it is an error.
        Err(Stop::Return(_) | Stop::Next(_)) => Err(evaluator
            .map
            .site(0)
            .error("`next` outside a block ends this file early; larder refuses to skip the rest of it")
            .into()),
    }
}

struct Evaluator<'a, 'pr, H: Handler> {
    map: SourceMap<'a>,
    file: PathBuf,
    /// The file's directory: relative paths resolve against it, and file
    /// queries may not leave it.
    dir: PathBuf,
    env: EnvLookup<'a>,
    handler: &'a mut H,
    context: H::Context,
    locals: HashMap<String, Value>,
    constants: HashMap<String, Value>,
    methods: HashMap<String, DefNode<'pr>>,
    /// How many user-defined methods are running (for `return`).
    in_method: usize,
    depth: usize,
    steps: u64,
    max_steps: u64,
    /// Bytes of values built so far (see [`MAX_BUILT`]).
    built: usize,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What to call a construct outside the subset.
fn describe(node: &Node<'_>) -> &'static str {
    match node {
        Node::DefNode { .. } => "defining methods on an object (`def self.x` or `def obj.x`)",
        Node::ClassNode { .. } | Node::SingletonClassNode { .. } => "defining classes",
        Node::ModuleNode { .. } => "defining modules",
        Node::XStringNode { .. } | Node::InterpolatedXStringNode { .. } => {
            "running commands (backticks or %x)"
        }
        Node::GlobalVariableReadNode { .. }
        | Node::GlobalVariableWriteNode { .. }
        | Node::BackReferenceReadNode { .. }
        | Node::NumberedReferenceReadNode { .. } => "global variables",
        Node::InstanceVariableReadNode { .. } | Node::InstanceVariableWriteNode { .. } => {
            "instance variables"
        }
        Node::ClassVariableReadNode { .. } | Node::ClassVariableWriteNode { .. } => {
            "class variables"
        }
        Node::ConstantPathWriteNode { .. } => "assigning constants inside other constants",
        Node::ConstantReadNode { .. } | Node::ConstantPathNode { .. } => {
            "constants other than ENV, File, IO, Dir and those assigned in the file"
        }
        Node::WhileNode { .. } | Node::UntilNode { .. } | Node::ForNode { .. } => {
            "loops other than each, map and friends"
        }
        Node::LambdaNode { .. } => "lambdas",
        Node::FloatNode { .. } | Node::RationalNode { .. } | Node::ImaginaryNode { .. } => {
            "non-integer numbers (write versions as strings, such as '1.2.0')"
        }
        Node::RegularExpressionNode { .. } | Node::InterpolatedRegularExpressionNode { .. } => {
            "regular expressions"
        }
        Node::RangeNode { .. } => "ranges",
        Node::CaseMatchNode { .. } => "pattern matching (case ... in)",
        Node::SelfNode { .. } => "self",
        Node::YieldNode { .. } | Node::SuperNode { .. } | Node::ForwardingSuperNode { .. } => {
            "yield and super"
        }
        Node::AliasMethodNode { .. } | Node::AliasGlobalVariableNode { .. } => "alias",
        Node::UndefNode { .. } => "undef",
        Node::PreExecutionNode { .. } | Node::PostExecutionNode { .. } => "BEGIN and END blocks",
        Node::SplatNode { .. } | Node::AssocSplatNode { .. } => "splats (* and **)",
        Node::BlockArgumentNode { .. } => "passing blocks with &",
        Node::MultiWriteNode { .. } => "multiple assignment",
        Node::LocalVariableOperatorWriteNode { .. } => "operator assignment (+= and friends)",
        Node::ReturnNode { .. } => "return outside a method",
        Node::BreakNode { .. } => "break",
        Node::NextNode { .. } => "next outside a block",
        _ => "this Ruby construct",
    }
}

impl<'a, 'pr, H: Handler> Evaluator<'a, 'pr, H> {
    fn site_at(&self, location: &Location<'_>) -> super::Site {
        self.map.site(location.start() as usize)
    }

    fn fatal(&self, location: &Location<'_>, message: impl Into<String>) -> Stop<H::Error> {
        Stop::Fatal(self.site_at(location).error(message).into())
    }

    fn raise(&self, location: &Location<'_>, message: impl Into<String>) -> Stop<H::Error> {
        Stop::Raise(self.site_at(location).error(message))
    }

    fn unsupported(&self, location: &Location<'_>, what: &str) -> Stop<H::Error> {
        self.fatal(location, format!("{what} is not supported; {SUPPORTED}"))
    }

    fn check_len(&self, location: &Location<'_>, s: String) -> Eval<Value, H::Error> {
        if s.len() > MAX_STRING {
            return Err(self.fatal(location, "this string is too long (over 16 MiB)"));
        }
        Ok(Value::String(s))
    }

    /// Counts a newly built value against [`MAX_BUILT`].
    fn built(&mut self, location: &Location<'_>, value: Value) -> Eval<Value, H::Error> {
        let room = MAX_BUILT.saturating_sub(self.built);
        let weight = value.weight(room);
        if weight > room {
            return Err(self.fatal(
                location,
                "this file builds too much data to be a configuration file (over 64 MiB)",
            ));
        }
        self.built += weight;
        Ok(value)
    }

    fn eval(&mut self, node: &Node<'pr>) -> Eval<Value, H::Error> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(self.fatal(
                &node.location(),
                "this file does too much work to be a configuration file",
            ));
        }
        if self.depth >= MAX_DEPTH {
            return Err(self.fatal(&node.location(), "expressions are nested too deeply"));
        }
        self.depth += 1;
        let result = self.eval_node(node);
        self.depth -= 1;
        result
    }

    fn eval_statements(&mut self, statements: &StatementsNode<'pr>) -> Eval<Value, H::Error> {
        let mut last = Value::Nil;
        for node in &statements.body() {
            last = self.eval(&node)?;
        }
        Ok(last)
    }

    fn eval_optional_statements(
        &mut self,
        statements: Option<StatementsNode<'pr>>,
    ) -> Eval<Value, H::Error> {
        match statements {
            Some(statements) => self.eval_statements(&statements),
            None => Ok(Value::Nil),
        }
    }

    /// The value of `return x` / `next x`.
    fn jump_value(
        &mut self,
        arguments: Option<ruby_prism::ArgumentsNode<'pr>>,
    ) -> Eval<Value, H::Error> {
        let Some(arguments) = arguments else {
            return Ok(Value::Nil);
        };
        let mut values = Vec::new();
        for argument in &arguments.arguments() {
            values.push(self.eval(&argument)?);
        }
        Ok(match values.len() {
            1 => values.pop().unwrap_or(Value::Nil),
            _ => Value::Array(values),
        })
    }

    fn eval_node(&mut self, node: &Node<'pr>) -> Eval<Value, H::Error> {
        let location = node.location();
        if let Some(n) = node.as_program_node() {
            return self.eval_statements(&n.statements());
        }
        if let Some(n) = node.as_statements_node() {
            return self.eval_statements(&n);
        }
        if let Some(n) = node.as_call_node() {
            return self.eval_call(&n);
        }
        if let Some(n) = node.as_string_node() {
            return self.check_len(&location, text(n.unescaped()));
        }
        if let Some(n) = node.as_symbol_node() {
            return Ok(Value::Symbol(text(n.unescaped())));
        }
        if let Some(n) = node.as_interpolated_string_node() {
            let s = self.interpolate(&n.parts())?;
            return self.check_len(&location, s);
        }
        if let Some(n) = node.as_interpolated_symbol_node() {
            return Ok(Value::Symbol(self.interpolate(&n.parts())?));
        }
        if let Some(n) = node.as_integer_node() {
            let integer = n.value();
            let (negative, digits) = integer.to_u32_digits();
            let magnitude = match digits {
                [] => Some(0),
                [low] => Some(i64::from(*low)),
                [low, high] => i64::try_from(u64::from(*low) | (u64::from(*high) << 32)).ok(),
                _ => None,
            };
            return match magnitude {
                Some(m) => Ok(Value::Integer(if negative { -m } else { m })),
                None => Err(self.unsupported(&location, "integers this large")),
            };
        }
        if node.as_nil_node().is_some() {
            return Ok(Value::Nil);
        }
        if node.as_true_node().is_some() {
            return Ok(Value::Bool(true));
        }
        if node.as_false_node().is_some() {
            return Ok(Value::Bool(false));
        }
        if node.as_source_file_node().is_some() {
            return Ok(Value::String(self.file.to_string_lossy().into_owned()));
        }
        if node.as_source_line_node().is_some() {
            let line = self.site_at(&location).line;
            return Ok(Value::Integer(i64::try_from(line).unwrap_or(i64::MAX)));
        }
        if let Some(n) = node.as_array_node() {
            let mut items = Vec::new();
            for element in &n.elements() {
                if let Some(splat) = element.as_splat_node() {
                    items.extend(self.splat(&splat)?);
                } else {
                    items.push(self.eval(&element)?);
                }
            }
            return self.built(&location, Value::Array(items));
        }
        if let Some(n) = node.as_hash_node() {
            let hash = Value::Hash(self.eval_hash(&n.elements())?);
            return self.built(&location, hash);
        }
        if let Some(n) = node.as_keyword_hash_node() {
            let hash = Value::Hash(self.eval_hash(&n.elements())?);
            return self.built(&location, hash);
        }
        if let Some(n) = node.as_if_node() {
            return if self.eval(&n.predicate())?.is_truthy() {
                self.eval_optional_statements(n.statements())
            } else {
                match n.subsequent() {
                    Some(next) => self.eval(&next),
                    None => Ok(Value::Nil),
                }
            };
        }
        if let Some(n) = node.as_unless_node() {
            return if self.eval(&n.predicate())?.is_truthy() {
                self.eval_optional_statements(n.else_clause().and_then(|e| e.statements()))
            } else {
                self.eval_optional_statements(n.statements())
            };
        }
        if let Some(n) = node.as_else_node() {
            return self.eval_optional_statements(n.statements());
        }
        if let Some(n) = node.as_and_node() {
            let left = self.eval(&n.left())?;
            return if left.is_truthy() {
                self.eval(&n.right())
            } else {
                Ok(left)
            };
        }
        if let Some(n) = node.as_or_node() {
            let left = self.eval(&n.left())?;
            return if left.is_truthy() {
                Ok(left)
            } else {
                self.eval(&n.right())
            };
        }
        if let Some(n) = node.as_parentheses_node() {
            return match n.body() {
                Some(body) => self.eval(&body),
                None => Ok(Value::Nil),
            };
        }
        if let Some(n) = node.as_local_variable_write_node() {
            let value = self.eval(&n.value())?;
            self.locals.insert(text(n.name().as_slice()), value.clone());
            return Ok(value);
        }
        if let Some(n) = node.as_local_variable_or_write_node() {
            let name = text(n.name().as_slice());
            if let Some(current) = self.locals.get(&name).filter(|v| v.is_truthy()) {
                return Ok(current.clone());
            }
            let value = self.eval(&n.value())?;
            self.locals.insert(name, value.clone());
            return Ok(value);
        }
        if let Some(n) = node.as_local_variable_operator_write_node() {
            let name = text(n.name().as_slice());
            let operator = text(n.binary_operator().as_slice());
            let operand = self.eval(&n.value())?;
            let current = self.locals.get(&name).cloned().unwrap_or(Value::Nil);
            let value = self.value_method(current, &operator, &[operand], &location)?;
            self.locals.insert(name, value.clone());
            return Ok(value);
        }
        if let Some(n) = node.as_local_variable_read_node() {
            let name = text(n.name().as_slice());
            return Ok(self.locals.get(&name).cloned().unwrap_or(Value::Nil));
        }
        if let Some(n) = node.as_constant_write_node() {
            let value = self.eval(&n.value())?;
            self.constants
                .insert(text(n.name().as_slice()), value.clone());
            return Ok(value);
        }
        if let Some(n) = node.as_constant_or_write_node() {
            let name = text(n.name().as_slice());
            if let Some(current) = self.constants.get(&name).filter(|v| v.is_truthy()) {
                return Ok(current.clone());
            }
            let value = self.eval(&n.value())?;
            self.constants.insert(name, value.clone());
            return Ok(value);
        }
        if let Some(n) = node.as_constant_read_node() {
            let name = text(n.name().as_slice());
            if let Some(value) = self.constants.get(&name) {
                return Ok(value.clone());
            }
            if BUILTIN_CONSTANTS.contains(&name.as_str()) {
                return Err(self.unsupported(&location, &format!("using `{name}` as a value")));
            }
            return Err(self.raise(
                &location,
                format!(
                    "uninitialized constant {name}: larder knows only ENV, File, IO, Dir, \
                     Encoding and the constants this file assigns"
                ),
            ));
        }
        if let Some(n) = node.as_constant_path_node() {
            if let (Some(parent), Some(name)) = (n.parent(), n.name())
                && parent
                    .as_constant_read_node()
                    .is_some_and(|p| p.name().as_slice() == b"Encoding")
            {
                // Encoding::UTF_8 and friends: only ever handed to
                // Encoding.default_external=, which larder ignores.
                return Ok(Value::String(text(name.as_slice()).replace('_', "-")));
            }
            let shown = String::from_utf8_lossy(location.as_slice()).into_owned();
            return Err(self.raise(
                &location,
                format!(
                    "uninitialized constant {shown}: larder does not load Ruby libraries; \
                     write the value this file needs instead"
                ),
            ));
        }
        if let Some(n) = node.as_case_node() {
            return self.eval_case(&n);
        }
        if let Some(n) = node.as_index_or_write_node() {
            return self.index_or_write(&n);
        }
        if let Some(n) = node.as_def_node() {
            return self.define(n);
        }
        if let Some(n) = node.as_defined_node() {
            return self.defined(&n.value());
        }
        if let Some(n) = node.as_return_node() {
            if self.in_method == 0 {
                return Err(self.unsupported(&location, describe(node)));
            }
            let value = self.jump_value(n.arguments())?;
            return Err(Stop::Return(value));
        }
        if let Some(n) = node.as_next_node() {
            let value = self.jump_value(n.arguments())?;
            return Err(Stop::Next(value));
        }
        if let Some(n) = node.as_begin_node() {
            let mut result = self.eval_optional_statements(n.statements());
            if let (Err(Stop::Raise(diagnostic)), Some(rescue)) = (&result, n.rescue_clause()) {
                for exception in &rescue.exceptions() {
                    if exception.as_constant_read_node().is_none()
                        && exception.as_constant_path_node().is_none()
                    {
                        return Err(self.unsupported(
                            &exception.location(),
                            "rescuing anything but exception class names",
                        ));
                    }
                }
                if let Some(reference) = rescue.reference() {
                    let Some(target) = reference.as_local_variable_target_node() else {
                        return Err(self.unsupported(&reference.location(), describe(&reference)));
                    };
                    let message = Value::String(diagnostic.message.clone());
                    self.locals.insert(text(target.name().as_slice()), message);
                }
                result = self.eval_optional_statements(rescue.statements());
            } else if let (Ok(_), Some(otherwise)) = (&result, n.else_clause()) {
                result = self.eval_optional_statements(otherwise.statements());
            }
            if let Some(ensure) = n.ensure_clause() {
                self.eval_optional_statements(ensure.statements())?;
            }
            return result;
        }
        if let Some(n) = node.as_rescue_modifier_node() {
            return match self.eval(&n.expression()) {
                Err(Stop::Raise(_)) => self.eval(&n.rescue_expression()),
                other => other,
            };
        }
        Err(self.unsupported(&location, describe(node)))
    }

    /// `case x when a, b then ... else ... end`, comparing values with `==`
    /// (what `===` means for the values larder has); without `x`, the first
    /// truthy `when`.
    fn eval_case(&mut self, case: &ruby_prism::CaseNode<'pr>) -> Eval<Value, H::Error> {
        let subject = match case.predicate() {
            Some(predicate) => Some(self.eval(&predicate)?),
            None => None,
        };
        for clause in &case.conditions() {
            let Some(when) = clause.as_when_node() else {
                return Err(self.unsupported(&clause.location(), describe(&clause)));
            };
            for condition in &when.conditions() {
                let candidates = match condition.as_splat_node() {
                    Some(splat) => self.splat(&splat)?,
                    None => vec![self.eval(&condition)?],
                };
                let hit = candidates.iter().any(|c| match &subject {
                    Some(subject) => c == subject,
                    None => c.is_truthy(),
                });
                if hit {
                    return self.eval_optional_statements(when.statements());
                }
            }
        }
        match case.else_clause() {
            Some(otherwise) => self.eval_optional_statements(otherwise.statements()),
            None => Ok(Value::Nil),
        }
    }

    /// `hash[key] ||= value` on a local variable or a constant of the file.
    fn index_or_write(
        &mut self,
        node: &ruby_prism::IndexOrWriteNode<'pr>,
    ) -> Eval<Value, H::Error> {
        let location = node.location();
        let target = node
            .receiver()
            .and_then(|r| self.mutation_target(&r, "[]="));
        let (Some(target), Some(arguments)) = (target, node.arguments()) else {
            return Err(self.unsupported(&location, "`||=` on this kind of element"));
        };
        let mut keys = Vec::new();
        for argument in &arguments.arguments() {
            keys.push(self.eval(&argument)?);
        }
        let [key] = keys.as_slice() else {
            return Err(self.unsupported(&location, "`||=` with several indexes"));
        };
        let current = match &target {
            Target::Local(n) => self.locals.get(n),
            Target::Constant(n) => self.constants.get(n),
        };
        let existing = match current {
            Some(container @ Value::Hash(_)) => container.hash_get(key).cloned(),
            _ => {
                return Err(
                    self.unsupported(&location, "`||=` on an element of anything but a hash")
                );
            }
        };
        if let Some(existing) = existing.filter(Value::is_truthy) {
            return Ok(existing);
        }
        let value = self.eval(&node.value())?;
        let slot = match &target {
            Target::Local(n) => self.locals.get_mut(n),
            Target::Constant(n) => self.constants.get_mut(n),
        };
        if let Some(Value::Hash(entries)) = slot {
            builtins::hash_set(entries, key.clone(), value.clone());
        }
        Ok(value)
    }

    /// `def name(params) ... end`: remembered, run when called.
    fn define(&mut self, def: DefNode<'pr>) -> Eval<Value, H::Error> {
        if def.receiver().is_some() {
            return Err(self.unsupported(&def.location(), describe(&def.as_node())));
        }
        if let Some(parameters) = def.parameters()
            && (parameters.rest().is_some()
                || !parameters.posts().is_empty()
                || parameters.keyword_rest().is_some()
                || parameters.block().is_some()
                || parameters
                    .requireds()
                    .iter()
                    .any(|r| r.as_required_parameter_node().is_none()))
        {
            return Err(self.unsupported(
                &parameters.location(),
                "these method parameters (write `name`, `name = default`, `key:` or `key: default`)",
            ));
        }
        let name = text(def.name().as_slice());
        self.methods.insert(name.clone(), def);
        Ok(Value::Symbol(name))
    }

    /// `defined?(expr)`: what Ruby answers for what the evaluator knows,
    /// nil for everything else.
    fn defined(&mut self, node: &Node<'pr>) -> Eval<Value, H::Error> {
        let answer = |s: &str| Ok(Value::String(s.to_string()));
        if node.as_local_variable_read_node().is_some() {
            return answer("local-variable");
        }
        if let Some(n) = node.as_constant_read_node() {
            let name = text(n.name().as_slice());
            return if self.constants.contains_key(&name)
                || BUILTIN_CONSTANTS.contains(&name.as_str())
            {
                answer("constant")
            } else {
                Ok(Value::Nil)
            };
        }
        if let Some(n) = node.as_call_node() {
            let name = text(n.name().as_slice());
            let Some(receiver) = n.receiver() else {
                let known = self.methods.contains_key(&name)
                    || self.handler.responds_to(&name)
                    || matches!(name.as_str(), "__dir__" | "respond_to?" | "raise" | "fail");
                return if known {
                    answer("method")
                } else {
                    Ok(Value::Nil)
                };
            };
            if let Some(constant) = receiver
                .as_constant_read_node()
                .filter(|c| !self.constants.contains_key(&text(c.name().as_slice())))
            {
                let known = match constant.name().as_slice() {
                    b"File" => file_knows(&name),
                    b"ENV" => matches!(
                        name.as_str(),
                        "[]" | "fetch" | "key?" | "has_key?" | "include?"
                    ),
                    b"IO" => name == "read",
                    b"Dir" => matches!(name.as_str(), "glob" | "[]" | "exist?"),
                    _ => false,
                };
                return if known {
                    answer("method")
                } else {
                    Ok(Value::Nil)
                };
            }
            return match self.eval(&receiver) {
                Ok(_) if builtins::knows(&name) => answer("method"),
                Ok(_) | Err(Stop::Raise(_)) => Ok(Value::Nil),
                Err(other) => Err(other),
            };
        }
        if node.as_self_node().is_some() {
            return answer("self");
        }
        if node.as_local_variable_write_node().is_some()
            || node.as_constant_write_node().is_some()
            || node.as_local_variable_or_write_node().is_some()
            || node.as_local_variable_operator_write_node().is_some()
        {
            return answer("assignment");
        }
        if node.as_constant_path_node().is_some()
            || node.as_instance_variable_read_node().is_some()
            || node.as_class_variable_read_node().is_some()
            || node.as_global_variable_read_node().is_some()
            || node.as_yield_node().is_some()
            || node.as_super_node().is_some()
            || node.as_forwarding_super_node().is_some()
        {
            return Ok(Value::Nil);
        }
        answer("expression")
    }

    fn interpolate(&mut self, parts: &ruby_prism::NodeList<'pr>) -> Eval<String, H::Error> {
        let mut out = String::new();
        for part in parts {
            if let Some(s) = part.as_string_node() {
                out.push_str(&String::from_utf8_lossy(s.unescaped()));
            } else if let Some(embedded) = part.as_embedded_statements_node() {
                let value = self.eval_optional_statements(embedded.statements())?;
                out.push_str(&value.to_ruby_s());
            } else {
                return Err(self.unsupported(&part.location(), describe(&part)));
            }
            if out.len() > MAX_STRING {
                return Err(self.fatal(&part.location(), "this string is too long (over 16 MiB)"));
            }
        }
        Ok(out)
    }

    fn eval_hash(
        &mut self,
        elements: &ruby_prism::NodeList<'pr>,
    ) -> Eval<Vec<(Value, Value)>, H::Error> {
        let mut entries = Vec::new();
        for element in elements {
            if let Some(splat) = element.as_assoc_splat_node() {
                let Some(value) = splat.value() else {
                    return Err(self.unsupported(&element.location(), describe(&element)));
                };
                match self.eval(&value)? {
                    Value::Hash(more) => {
                        for (k, v) in more {
                            builtins::hash_set(&mut entries, k, v);
                        }
                    }
                    Value::Nil => {}
                    other => {
                        return Err(self.raise(
                            &element.location(),
                            format!("no implicit conversion of {} into Hash", other.type_name()),
                        ));
                    }
                }
                continue;
            }
            let Some(assoc) = element.as_assoc_node() else {
                return Err(self.unsupported(&element.location(), describe(&element)));
            };
            let key = self.eval(&assoc.key())?;
            let value = self.eval(&assoc.value())?;
            entries.push((key, value));
        }
        Ok(entries)
    }

    /// The elements of `*array` in an argument list or array literal.
    fn splat(&mut self, splat: &ruby_prism::SplatNode<'pr>) -> Eval<Vec<Value>, H::Error> {
        let Some(expression) = splat.expression() else {
            return Err(self.unsupported(&splat.location(), "anonymous splats"));
        };
        Ok(match self.eval(&expression)? {
            Value::Array(items) => items,
            Value::Nil => Vec::new(),
            other => vec![other],
        })
    }

    /// Positional arguments and the trailing keyword hash of a call.
    fn eval_arguments(&mut self, call: &CallNode<'pr>) -> Eval<Arguments, H::Error> {
        let mut args = Vec::new();
        let mut options = Vec::new();
        if let Some(arguments) = call.arguments() {
            for argument in &arguments.arguments() {
                if let Some(keywords) = argument.as_keyword_hash_node() {
                    options.extend(self.eval_hash(&keywords.elements())?);
                } else if let Some(splat) = argument.as_splat_node() {
                    args.extend(self.splat(&splat)?);
                } else {
                    args.push(self.eval(&argument)?);
                }
            }
        }
        Ok((args, options))
    }

    fn block_of(&self, call: &CallNode<'pr>) -> Eval<Option<BlockNode<'pr>>, H::Error> {
        match call.block() {
            None => Ok(None),
            Some(block) => match block.as_block_node() {
                Some(block) => Ok(Some(block)),
                None => Err(self.unsupported(&block.location(), describe(&block))),
            },
        }
    }

    fn eval_block_body(&mut self, block: &BlockNode<'pr>) -> Eval<Value, H::Error> {
        match block.body() {
            Some(body) => self.eval(&body),
            None => Ok(Value::Nil),
        }
    }

    fn eval_call(&mut self, call: &CallNode<'pr>) -> Eval<Value, H::Error> {
        let name = text(call.name().as_slice());
        let location = call.message_loc().unwrap_or_else(|| call.location());
        let Some(receiver) = call.receiver() else {
            return self.call_function(call, &name, &location);
        };
        if let Some(constant) = receiver.as_constant_read_node() {
            let constant_name = text(constant.name().as_slice());
            if !self.constants.contains_key(&constant_name) {
                return self.class_method(call, &constant_name, &name, &receiver, &location);
            }
        }
        if let Some(target) = self.mutation_target(&receiver, &name) {
            return self.mutate(call, target, &name, &location);
        }
        let value = self.eval(&receiver)?;
        if call.is_safe_navigation() && value == Value::Nil {
            return Ok(Value::Nil);
        }
        if let Some(block) = self.block_of(call)? {
            let result = self.block_method(call, &block, value, &name, &location)?;
            return match name.as_str() {
                "each" | "each_pair" | "each_with_index" => Ok(result),
                _ => self.built(&location, result),
            };
        }
        let (args, options) = self.eval_arguments(call)?;
        let args = with_options(args, options);
        let result = self.value_method(value, &name, &args, &location)?;
        self.built(&location, result)
    }

    /// Methods on ENV, File, IO, Dir and Encoding.
    fn class_method(
        &mut self,
        call: &CallNode<'pr>,
        constant: &str,
        name: &str,
        receiver: &Node<'pr>,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let block = self.block_of(call)?;
        let (args, options) = self.eval_arguments(call)?;
        let args = with_options(args, options);
        match constant {
            "ENV" => self.env_method(block, name, &args, location),
            "File" => self.file_method(name, &args, location),
            "IO" if name == "read" => self.read_file(&args, location),
            "IO" => Err(self.unsupported(location, &format!("IO.{name}"))),
            "Dir" => self.dir_method(block, name, &args, location),
            "Encoding" => match (name, args.as_slice()) {
                // Ruby's source encoding settings change nothing larder
                // reads: files are read as UTF-8 either way.
                ("default_external=" | "default_internal=", [value]) => Ok(value.clone()),
                ("default_external" | "default_internal", []) => {
                    Ok(Value::String("UTF-8".to_string()))
                }
                _ => Err(self.unsupported(location, &format!("Encoding.{name}"))),
            },
            _ => Err(self.raise(
                &receiver.location(),
                format!(
                    "uninitialized constant {constant}: larder knows only ENV, File, IO, Dir, \
                     Encoding and the constants this file assigns"
                ),
            )),
        }
    }

    /// A call without a receiver: a method defined in the file, a builtin,
    /// a forbidden Kernel method, or a DSL method for the handler.
    fn call_function(
        &mut self,
        call: &CallNode<'pr>,
        name: &str,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        if FORBIDDEN.contains(&name) {
            return Err(self.fatal(
                location,
                format!(
                    "`{name}` is not allowed: larder never runs code from this file; {SUPPORTED}"
                ),
            ));
        }
        let block = self.block_of(call)?;
        let (args, options) = self.eval_arguments(call)?;
        if let Some(def) = self
            .methods
            .get(name)
            .and_then(|d| d.as_node().as_def_node())
        {
            if block.is_some() {
                return Err(
                    self.unsupported(location, "passing a block to a method defined in the file")
                );
            }
            return self.call_user(&def, args, options, location);
        }
        match name {
            "__dir__" => return Ok(Value::String(self.dir.to_string_lossy().into_owned())),
            "block_given?" => return Ok(Value::Bool(false)),
            "Array" if args.len() == 1 && options.is_empty() => {
                return Ok(match args.into_iter().next() {
                    Some(Value::Array(items)) => Value::Array(items),
                    Some(Value::Nil) | None => Value::Array(Vec::new()),
                    Some(Value::Hash(entries)) => Value::Array(
                        entries
                            .into_iter()
                            .map(|(k, v)| Value::Array(vec![k, v]))
                            .collect(),
                    ),
                    Some(other) => Value::Array(vec![other]),
                });
            }
            "String" if args.len() == 1 && options.is_empty() => {
                return Ok(Value::String(
                    args.first().map(Value::to_ruby_s).unwrap_or_default(),
                ));
            }
            "respond_to?" => {
                return match args.first().and_then(Value::as_name) {
                    Some(method) => Ok(Value::Bool(
                        self.handler.responds_to(method) || self.methods.contains_key(method),
                    )),
                    None => Err(self.fatal(
                        location,
                        "respond_to? needs a method name, such as respond_to?(:source_url)",
                    )),
                };
            }
            "raise" | "fail" => {
                let message = args
                    .first()
                    .map_or_else(|| "unhandled exception".to_string(), Value::to_ruby_s);
                return Err(self.raise(location, format!("the file raised an error: {message}")));
            }
            _ => {}
        }
        let site = self.site_at(&call.location());
        let reply = self
            .handler
            .call(Call {
                name,
                args,
                options,
                has_block: block.is_some(),
                site,
                context: &self.context,
            })
            .map_err(Stop::Fatal)?;
        match reply {
            Reply::Value(value) => Ok(value),
            Reply::EvaluateBlock(context) => {
                let Some(block) = block else {
                    return Err(
                        self.fatal(location, format!("`{name}` needs a block (do ... end)"))
                    );
                };
                let outer = std::mem::replace(&mut self.context, context);
                let result = match self.eval_block_body(&block) {
                    Err(Stop::Next(_)) => Ok(Value::Nil),
                    other => other,
                };
                self.context = outer;
                result.map(|_| Value::Nil)
            }
        }
    }

    /// Runs a method defined in the file: its own local variables, the
    /// arguments bound to its parameters as Ruby binds them.
    fn call_user(
        &mut self,
        def: &DefNode<'pr>,
        mut args: Vec<Value>,
        mut options: Vec<(Value, Value)>,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let name = text(def.name().as_slice());
        let mut requireds = Vec::new();
        let mut optionals = Vec::new();
        let mut keywords = Vec::new();
        if let Some(parameters) = def.parameters() {
            for p in &parameters.requireds() {
                if let Some(p) = p.as_required_parameter_node() {
                    requireds.push(text(p.name().as_slice()));
                }
            }
            for p in &parameters.optionals() {
                if let Some(p) = p.as_optional_parameter_node() {
                    optionals.push((text(p.name().as_slice()), p.value()));
                }
            }
            for p in &parameters.keywords() {
                if let Some(k) = p.as_required_keyword_parameter_node() {
                    keywords.push((text(k.name().as_slice()), None));
                } else if let Some(k) = p.as_optional_keyword_parameter_node() {
                    keywords.push((text(k.name().as_slice()), Some(k.value())));
                }
            }
        }
        if keywords.is_empty() && !options.is_empty() {
            args.push(Value::Hash(std::mem::take(&mut options)));
        }
        let (low, high) = (requireds.len(), requireds.len() + optionals.len());
        if args.len() < low || args.len() > high {
            let expected = if low == high {
                low.to_string()
            } else {
                format!("{low}..{high}")
            };
            return Err(self.raise(
                location,
                format!(
                    "wrong number of arguments calling `{name}` (given {}, expected {expected})",
                    args.len()
                ),
            ));
        }
        let extra = args.len() - low;
        let outer = std::mem::take(&mut self.locals);
        self.in_method += 1;
        let result = (|| {
            let mut given = args.into_iter();
            for parameter in requireds {
                let value = given.next().unwrap_or(Value::Nil);
                self.locals.insert(parameter, value);
            }
            for (i, (parameter, default)) in optionals.into_iter().enumerate() {
                let value = match given.next() {
                    Some(value) if i < extra => value,
                    _ => self.eval(&default)?,
                };
                self.locals.insert(parameter, value);
            }
            for (parameter, default) in keywords {
                let key = Value::Symbol(parameter.clone());
                let value = match options.iter().position(|(k, _)| *k == key) {
                    Some(i) => options.remove(i).1,
                    None => match default {
                        Some(default) => self.eval(&default)?,
                        None => {
                            return Err(self.raise(
                                location,
                                format!("missing keyword calling `{name}`: :{parameter}"),
                            ));
                        }
                    },
                };
                self.locals.insert(parameter, value);
            }
            if let Some((key, _)) = options.first() {
                return Err(
                    self.raise(location, format!("unknown keyword calling `{name}`: {key}"))
                );
            }
            match def.body() {
                Some(body) => self.eval(&body),
                None => Ok(Value::Nil),
            }
        })();
        self.in_method -= 1;
        self.locals = outer;
        match result {
            Err(Stop::Return(value) | Stop::Next(value)) => Ok(value),
            other => other,
        }
    }

    fn env_method(
        &mut self,
        block: Option<BlockNode<'pr>>,
        name: &str,
        args: &[Value],
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let lookup = |key: &Value| key.as_name().and_then(|k| (self.env)(k));
        match (name, args) {
            ("[]", [key]) => Ok(lookup(key).map_or(Value::Nil, Value::String)),
            ("key?" | "has_key?" | "include?", [key]) => Ok(Value::Bool(lookup(key).is_some())),
            ("fetch", [key, rest @ ..]) if rest.len() <= 1 => {
                if let Some(value) = lookup(key) {
                    return Ok(Value::String(value));
                }
                if let Some(default) = rest.first() {
                    return Ok(default.clone());
                }
                match block {
                    Some(block) => match self.eval_block_body(&block) {
                        Err(Stop::Next(value)) => Ok(value),
                        other => other,
                    },
                    None => Err(self.raise(location, format!("key not found: {key}"))),
                }
            }
            _ => Err(self.unsupported(location, &format!("ENV.{name} with these arguments"))),
        }
    }

    fn file_method(
        &mut self,
        name: &str,
        args: &[Value],
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let strings: Option<Vec<&str>> = args.iter().map(Value::as_str).collect();
        let Some(strings) = strings else {
            if name == "join" {
                let mut flat = Vec::new();
                builtins::flatten(args, &mut flat);
                if let Some(parts) = flat.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>() {
                    return Ok(Value::String(builtins::ruby_join(&parts)));
                }
            }
            return Err(self.raise(location, format!("File.{name} needs strings as arguments")));
        };
        let string = |s: String| Ok(Value::String(s));
        match (name, strings.as_slice()) {
            ("expand_path" | "absolute_path", [path]) => string(self.expand(path, None)),
            ("expand_path" | "absolute_path", [path, base]) => {
                string(self.expand(path, Some(base)))
            }
            ("join", parts) => string(builtins::ruby_join(parts)),
            ("dirname", [path]) => string(builtins::ruby_dirname(path)),
            ("basename", [path]) => string(builtins::ruby_basename(path, None)),
            ("basename", [path, suffix]) => string(builtins::ruby_basename(path, Some(suffix))),
            ("extname", [path]) => {
                let base = builtins::ruby_basename(path, None);
                let ext = match base.rfind('.') {
                    Some(i) if i > 0 && i + 1 < base.len() => base[i..].to_string(),
                    _ => String::new(),
                };
                string(ext)
            }
            ("read", _) => self.read_file(args, location),
            ("exist?" | "exists?", [path]) => {
                let path = self.confined(path, &format!("File.{name}"), location)?;
                Ok(Value::Bool(path.exists()))
            }
            ("file?", [path]) => {
                let path = self.confined(path, "File.file?", location)?;
                Ok(Value::Bool(path.is_file()))
            }
            ("directory?", [path]) => {
                let path = self.confined(path, "File.directory?", location)?;
                Ok(Value::Bool(path.is_dir()))
            }
            _ => Err(self.unsupported(location, &format!("File.{name} with these arguments"))),
        }
    }

    /// `Dir.glob`, `Dir[]` and `Dir.exist?`, inside the file's directory.
    fn dir_method(
        &mut self,
        block: Option<BlockNode<'pr>>,
        name: &str,
        args: &[Value],
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let mut patterns = Vec::new();
        match (name, args) {
            ("glob", [pattern] | [pattern, Value::Integer(0)]) => {
                let mut flat = Vec::new();
                builtins::flatten(std::slice::from_ref(pattern), &mut flat);
                patterns = flat;
            }
            ("[]", list) if !list.is_empty() => builtins::flatten(list, &mut patterns),
            ("exist?" | "exists?", [Value::String(path)]) => {
                let path = self.confined(path, "Dir.exist?", location)?;
                return Ok(Value::Bool(path.is_dir()));
            }
            ("pwd" | "getwd", []) => {
                return Err(self.unsupported(
                    location,
                    "Dir.pwd (its answer depends on where larder runs; use __dir__)",
                ));
            }
            _ => {
                return Err(self.unsupported(location, &format!("Dir.{name} with these arguments")));
            }
        }
        let mut found = Vec::new();
        for pattern in &patterns {
            let Some(pattern) = pattern.as_str() else {
                return Err(self.raise(
                    location,
                    format!(
                        "Dir.{name} needs pattern strings, not {}",
                        pattern.type_name()
                    ),
                ));
            };
            match glob::glob(&self.dir, &self.dir, pattern) {
                Ok(paths) => found.extend(paths.into_iter().map(Value::String)),
                Err(GlobError::Outside) => {
                    return Err(self.fatal(
                        location,
                        format!(
                            "Dir.{name} may only look inside {}, the directory of this file; \
                             '{pattern}' reaches outside it",
                            self.dir.display()
                        ),
                    ));
                }
                Err(GlobError::TooLarge) => {
                    return Err(self.fatal(
                        location,
                        format!("Dir.{name}('{pattern}') walks too many files; narrow the pattern"),
                    ));
                }
            }
        }
        match block {
            Some(block) => {
                let params = self.block_parameters(&block)?;
                for path in found {
                    self.call_block(&block, &params, vec![path])?;
                }
                Ok(Value::Nil)
            }
            None => Ok(Value::Array(found)),
        }
    }

    /// A path from the file, relative to the file's directory.
    fn resolve(&self, path: &str) -> PathBuf {
        super::expand_path(&self.dir, Path::new(path))
    }

    /// `path` resolved, if it lies inside the file's directory (symbolic
    /// links followed); a path outside is an error, not a `false`.
    fn confined(&self, path: &str, what: &str, location: &Location<'_>) -> Eval<PathBuf, H::Error> {
        let resolved = self.resolve(path);
        let inside = resolved.starts_with(&self.dir)
            && match (resolved.canonicalize(), self.dir.canonicalize()) {
                (Ok(real), Ok(root)) => real.starts_with(root),
                _ => true,
            };
        if !inside {
            return Err(self.fatal(
                location,
                format!(
                    "{what} may only look inside {}, the directory of this file; '{path}' is \
                     outside it (keep the files it needs beside it)",
                    self.dir.display()
                ),
            ));
        }
        Ok(resolved)
    }

    /// `File.expand_path`: relative paths resolve against `base`, itself
    /// relative to the file's directory (not the working directory, so the
    /// result does not depend on where larder runs); `~` is `$HOME`.
    fn expand(&self, path: &str, base: Option<&str>) -> String {
        let home = || (self.env)("HOME").unwrap_or_default();
        let path = match path.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", home()),
            _ => path.to_string(),
        };
        let base = match base {
            Some(base) => self.resolve(base),
            None => self.dir.clone(),
        };
        super::expand_path(&base, Path::new(&path))
            .to_string_lossy()
            .into_owned()
    }

    /// `File.read`/`IO.read`: a regular file inside the file's directory
    /// (checked before opening, so a FIFO cannot block), UTF-8, at most
    /// 16 MiB.
    fn read_file(&self, args: &[Value], location: &Location<'_>) -> Eval<Value, H::Error> {
        let [Value::String(path)] = args else {
            return Err(self.raise(location, "File.read and IO.read take one path string"));
        };
        let resolved = self.confined(path, "File.read", location)?;
        let cannot = |why: String| {
            self.raise(
                location,
                format!("cannot read {}: {why}", resolved.display()),
            )
        };
        let metadata = std::fs::metadata(&resolved).map_err(|e| cannot(e.to_string()))?;
        if !metadata.is_file() {
            return Err(cannot("it is not a regular file".to_string()));
        }
        // Opened without blocking: a FIFO put in the file's place since the
        // check above is refused below instead of waiting for a writer.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&resolved)
            .map_err(|e| cannot(e.to_string()))?;
        let is_file = file
            .metadata()
            .map_err(|e| cannot(e.to_string()))?
            .is_file();
        if !is_file {
            return Err(cannot("it is not a regular file".to_string()));
        }
        let mut bytes = Vec::new();
        file.take(MAX_STRING as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| cannot(e.to_string()))?;
        if bytes.len() > MAX_STRING {
            return Err(cannot("the file is larger than 16 MiB".to_string()));
        }
        String::from_utf8(bytes)
            .map(Value::String)
            .map_err(|_| cannot("it is not UTF-8 text".to_string()))
    }

    /// The parameters of a block: `|a, b|`, `|(k, v), memo|`.
    fn block_parameters(&self, block: &BlockNode<'pr>) -> Eval<Vec<BlockParam>, H::Error> {
        let Some(parameters) = block.parameters() else {
            return Ok(Vec::new());
        };
        let unsupported = || {
            self.unsupported(
                &parameters.location(),
                "these block parameters (write |name|, |key, value| or |(key, value), memo|)",
            )
        };
        let Some(list) = parameters
            .as_block_parameters_node()
            .and_then(|p| p.parameters())
        else {
            return Err(unsupported());
        };
        if !list.optionals().is_empty()
            || list
                .rest()
                .is_some_and(|r| r.as_implicit_rest_node().is_none())
            || !list.posts().is_empty()
            || !list.keywords().is_empty()
            || list.keyword_rest().is_some()
            || list.block().is_some()
        {
            return Err(unsupported());
        }
        let mut params = Vec::new();
        for required in &list.requireds() {
            if let Some(p) = required.as_required_parameter_node() {
                params.push(BlockParam::Name(text(p.name().as_slice())));
            } else if let Some(m) = required.as_multi_target_node() {
                if m.rest().is_some() || !m.rights().is_empty() {
                    return Err(unsupported());
                }
                let mut names = Vec::new();
                for left in &m.lefts() {
                    match left.as_required_parameter_node() {
                        Some(p) => names.push(text(p.name().as_slice())),
                        None => return Err(unsupported()),
                    }
                }
                params.push(BlockParam::Destructure(names));
            } else {
                return Err(unsupported());
            }
        }
        if list.rest().is_some() && params.len() == 1 {
            // `|a, |` takes the first element apart like `|a, _|`.
            params.push(BlockParam::Name(String::new()));
        }
        Ok(params)
    }

    /// Runs a block with `args` yielded to it, as Ruby binds them (one
    /// array spread over several parameters). Gives the block's value and
    /// the final value of each plain parameter.
    fn call_block(
        &mut self,
        block: &BlockNode<'pr>,
        params: &[BlockParam],
        mut args: Vec<Value>,
    ) -> Eval<(Value, Vec<Value>), H::Error> {
        let spread = params.len() > 1 || matches!(params.first(), Some(BlockParam::Destructure(_)));
        if spread
            && args.len() == 1
            && let Some(Value::Array(items)) = args.pop()
        {
            args = items;
        }
        let mut given = args.into_iter();
        let mut bindings: Vec<(String, Value)> = Vec::new();
        for param in params {
            let value = given.next().unwrap_or(Value::Nil);
            match param {
                BlockParam::Name(name) => bindings.push((name.clone(), value)),
                BlockParam::Destructure(names) => {
                    let mut parts = match value {
                        Value::Array(items) => items.into_iter(),
                        other => vec![other].into_iter(),
                    };
                    for name in names {
                        bindings.push((name.clone(), parts.next().unwrap_or(Value::Nil)));
                    }
                }
            }
        }
        let mut saved = Vec::new();
        for (name, value) in bindings {
            saved.push((name.clone(), self.locals.insert(name, value)));
        }
        let result = match self.eval_block_body(block) {
            Err(Stop::Next(value)) => Ok(value),
            other => other,
        };
        let finals = params
            .iter()
            .map(|p| match p {
                BlockParam::Name(name) => self.locals.get(name).cloned().unwrap_or(Value::Nil),
                BlockParam::Destructure(_) => Value::Nil,
            })
            .collect();
        for (name, previous) in saved.into_iter().rev() {
            match previous {
                Some(v) => self.locals.insert(name, v),
                None => self.locals.remove(&name),
            };
        }
        result.map(|value| (value, finals))
    }

    /// Methods that take a block: each, map, select, each_with_object...
    fn block_method(
        &mut self,
        call: &CallNode<'pr>,
        block: &BlockNode<'pr>,
        value: Value,
        name: &str,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let (args, options) = self.eval_arguments(call)?;
        let args = with_options(args, options);
        let is_hash = matches!(value, Value::Hash(_));
        if name == "fetch" {
            // Hash#fetch(key) { default }.
            return match (&value, args.as_slice()) {
                (Value::Hash(_), [key]) => match value.hash_get(key) {
                    Some(found) => Ok(found.clone()),
                    None => Ok(self
                        .call_block(block, &self.block_parameters(block)?, vec![key.clone()])?
                        .0),
                },
                _ => Err(self.unsupported(location, "`fetch` with a block on this value")),
            };
        }
        let items: Vec<Value> = match value {
            Value::Array(ref items) => items.clone(),
            Value::Hash(ref entries) => entries
                .iter()
                .map(|(k, v)| Value::Array(vec![k.clone(), v.clone()]))
                .collect(),
            ref other => {
                return Err(self.raise(
                    location,
                    format!("undefined method `{name}` for {}", other.type_name()),
                ));
            }
        };
        let params = self.block_parameters(block)?;
        let no_args = |this: &Self| -> Eval<(), H::Error> {
            if args.is_empty() {
                Ok(())
            } else {
                Err(this.unsupported(location, &format!("`{name}` with arguments")))
            }
        };
        let rebuild = |kept: Vec<Value>| -> Value {
            if is_hash {
                Value::Hash(
                    kept.into_iter()
                        .filter_map(|pair| match pair {
                            Value::Array(mut kv) if kv.len() == 2 => {
                                let v = kv.pop()?;
                                let k = kv.pop()?;
                                Some((k, v))
                            }
                            _ => None,
                        })
                        .collect(),
                )
            } else {
                Value::Array(kept)
            }
        };
        match name {
            "each" | "each_pair" => {
                no_args(self)?;
                for item in items {
                    self.call_block(block, &params, vec![item])?;
                }
                Ok(value)
            }
            "each_with_index" => {
                no_args(self)?;
                for (i, item) in items.into_iter().enumerate() {
                    let index = Value::Integer(i64::try_from(i).unwrap_or(i64::MAX));
                    self.call_block(block, &params, vec![item, index])?;
                }
                Ok(value)
            }
            "map" | "collect" | "flat_map" => {
                no_args(self)?;
                let mut out = Vec::new();
                for item in items {
                    let (result, _) = self.call_block(block, &params, vec![item])?;
                    match (name, result) {
                        ("flat_map", Value::Array(parts)) => out.extend(parts),
                        (_, result) => out.push(result),
                    }
                }
                Ok(Value::Array(out))
            }
            "select" | "filter" | "reject" => {
                no_args(self)?;
                let mut kept = Vec::new();
                for item in items {
                    let (result, _) = self.call_block(block, &params, vec![item.clone()])?;
                    if result.is_truthy() == (name != "reject") {
                        kept.push(item);
                    }
                }
                Ok(rebuild(kept))
            }
            "find" | "detect" => {
                no_args(self)?;
                for item in items {
                    let (result, _) = self.call_block(block, &params, vec![item.clone()])?;
                    if result.is_truthy() {
                        return Ok(item);
                    }
                }
                Ok(Value::Nil)
            }
            "any?" | "all?" | "none?" | "count" => {
                no_args(self)?;
                let mut hits = 0usize;
                let total = items.len();
                for item in items {
                    let (result, _) = self.call_block(block, &params, vec![item])?;
                    if result.is_truthy() {
                        hits += 1;
                    }
                }
                Ok(match name {
                    "any?" => Value::Bool(hits > 0),
                    "all?" => Value::Bool(hits == total),
                    "none?" => Value::Bool(hits == 0),
                    _ => Value::Integer(i64::try_from(hits).unwrap_or(i64::MAX)),
                })
            }
            "each_with_object" => {
                let [memo] = args.as_slice() else {
                    return Err(self.raise(location, "each_with_object takes one object"));
                };
                let mut memo = memo.clone();
                for item in items {
                    let (_, finals) = self.call_block(block, &params, vec![item, memo])?;
                    memo = finals.into_iter().nth(1).unwrap_or(Value::Nil);
                }
                Ok(memo)
            }
            _ => Err(self.unsupported(location, &format!("passing a block to `{name}`"))),
        }
    }

    /// The variable a mutating method (`<<`, `[]=`, `merge!`...) changes,
    /// when its receiver is a local variable or a constant of the file.
    fn mutation_target(&self, receiver: &Node<'pr>, name: &str) -> Option<Target> {
        if !matches!(
            name,
            "[]=" | "<<" | "push" | "append" | "concat" | "merge!" | "update" | "store" | "delete"
        ) {
            return None;
        }
        if let Some(local) = receiver.as_local_variable_read_node() {
            return Some(Target::Local(text(local.name().as_slice())));
        }
        let constant = receiver.as_constant_read_node()?;
        let name = text(constant.name().as_slice());
        self.constants
            .contains_key(&name)
            .then_some(Target::Constant(name))
    }

    /// Changes a variable in place, as Ruby's mutating methods do.
    fn mutate(
        &mut self,
        call: &CallNode<'pr>,
        target: Target,
        name: &str,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let (args, options) = self.eval_arguments(call)?;
        let args = with_options(args, options);
        let args = match self.built(location, Value::Array(args))? {
            Value::Array(args) => args,
            _ => Vec::new(),
        };
        let slot = match &target {
            Target::Local(n) => self.locals.entry(n.clone()).or_insert(Value::Nil),
            Target::Constant(n) => self.constants.entry(n.clone()).or_insert(Value::Nil),
        };
        let outcome = match (name, &mut *slot, args.as_slice()) {
            ("[]=" | "store", Value::Hash(entries), [key, value]) => {
                builtins::hash_set(entries, key.clone(), value.clone());
                Some(value.clone())
            }
            ("[]=", Value::Array(items), [Value::Integer(i), value]) => {
                match usize::try_from(*i) {
                    Ok(i) if i < items.len() => items[i] = value.clone(),
                    Ok(i) if i == items.len() => items.push(value.clone()),
                    _ => return Err(self.unsupported(location, "assigning outside an array")),
                }
                Some(value.clone())
            }
            ("<<" | "push" | "append", Value::Array(items), values) if !values.is_empty() => {
                if items.len() + values.len() > MAX_STRING {
                    return Err(self.fatal(location, "this array is too long"));
                }
                items.extend(values.iter().cloned());
                None
            }
            ("<<" | "concat", Value::String(s), [Value::String(more)]) => {
                if s.len() + more.len() > MAX_STRING {
                    return Err(self.fatal(location, "this string is too long (over 16 MiB)"));
                }
                s.push_str(more);
                None
            }
            ("concat", Value::Array(items), lists) => {
                for list in lists {
                    match list {
                        Value::Array(more) => items.extend(more.iter().cloned()),
                        _ => return Err(self.raise(location, "concat takes arrays")),
                    }
                }
                None
            }
            ("merge!" | "update", Value::Hash(entries), others) => {
                for other in others {
                    match other {
                        Value::Hash(more) => {
                            for (k, v) in more {
                                builtins::hash_set(entries, k.clone(), v.clone());
                            }
                        }
                        _ => return Err(self.raise(location, "merge! takes hashes")),
                    }
                }
                None
            }
            ("delete", Value::Hash(entries), [key]) => {
                let position = entries.iter().position(|(k, _)| k == key);
                Some(position.map_or(Value::Nil, |i| entries.remove(i).1))
            }
            ("delete", Value::Array(items), [item]) => {
                let before = items.len();
                items.retain(|v| v != item);
                Some(if items.len() < before {
                    item.clone()
                } else {
                    Value::Nil
                })
            }
            (_, other, _) => {
                let type_name = other.type_name();
                return Err(self.raise(
                    location,
                    format!("undefined method `{name}` for {type_name} with these arguments"),
                ));
            }
        };
        Ok(match outcome {
            Some(value) => value,
            None => slot.clone(),
        })
    }

    /// Methods on values without a block.
    fn value_method(
        &self,
        value: Value,
        name: &str,
        args: &[Value],
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        match builtins::call(&value, name, args) {
            Ok(result) => Ok(result),
            Err(MethodError::Raise(message)) => Err(self.raise(location, message)),
            Err(MethodError::TooLong) => {
                Err(self.fatal(location, "this value is too long (over 16 MiB)"))
            }
            Err(MethodError::Unsupported) => Err(self.unsupported(
                location,
                &format!("calling `{name}` on {}", value.type_name()),
            )),
        }
    }
}

/// A variable changed in place.
enum Target {
    Local(String),
    Constant(String),
}

/// Whether `File.name` is a method the evaluator answers.
fn file_knows(name: &str) -> bool {
    matches!(
        name,
        "expand_path"
            | "absolute_path"
            | "join"
            | "dirname"
            | "basename"
            | "extname"
            | "read"
            | "exist?"
            | "file?"
            | "directory?"
    )
}

/// Arguments with a trailing keyword hash folded back in as a hash (for
/// methods on values, which take no keywords).
fn with_options(mut args: Vec<Value>, options: Vec<(Value, Value)>) -> Vec<Value> {
    if !options.is_empty() {
        args.push(Value::Hash(options));
    }
    args
}
