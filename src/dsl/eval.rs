//! The evaluator: walks prism's tree and computes the safe subset of Ruby,
//! handing DSL calls to the [`Handler`]. Everything outside the subset stops
//! evaluation with a diagnostic; nothing is executed.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ruby_prism::{BlockNode, CallNode, Location, Node, StatementsNode};

use super::diagnostic::SourceMap;
use super::{Call, Diagnostic, EnvLookup, Handler, Reply, Value};

/// Deepest nesting of expressions evaluated before giving up.
const MAX_DEPTH: usize = 200;
/// Evaluation steps allowed for one file (guards against nested loops).
const MAX_STEPS: u64 = 1_000_000;
/// Longest string (and largest file read) allowed, in bytes.
const MAX_STRING: usize = 16 << 20;

/// What the subset contains, appended to every "not supported" message.
const SUPPORTED: &str = "larder reads this file without running it and understands only \
strings (with #{} interpolation), symbols, integers, arrays, %w[], hashes, nil/true/false, \
local variables, if/unless/elsif/else, the ternary, ==, !=, &&, ||, !, ENV['X'], ENV.fetch, \
File.expand_path/join/dirname/basename/read/exist?, IO.read, __FILE__, __dir__, \
array.each blocks, begin/rescue, and the file's own DSL methods";

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

/// Why evaluation stopped: a Ruby exception (which `rescue` may catch) or
/// an error that ends evaluation of the file.
enum Stop<E> {
    Raise(Diagnostic),
    Fatal(E),
}

type Eval<T, E> = Result<T, Stop<E>>;

/// Positional arguments and keyword options of a call.
type Arguments = (Vec<Value>, Vec<(Value, Value)>);

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
        depth: 0,
        steps: 0,
    };
    match evaluator.eval(&result.node()) {
        Ok(_) => Ok(()),
        Err(Stop::Fatal(error)) => Err(error),
        Err(Stop::Raise(mut diagnostic)) => {
            diagnostic.message.push_str(" (the error was not rescued)");
            Err(diagnostic.into())
        }
    }
}

struct Evaluator<'a, H: Handler> {
    map: SourceMap<'a>,
    file: PathBuf,
    dir: PathBuf,
    env: EnvLookup<'a>,
    handler: &'a mut H,
    context: H::Context,
    locals: HashMap<String, Value>,
    depth: usize,
    steps: u64,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What to call a construct outside the subset.
fn describe(node: &Node<'_>) -> &'static str {
    match node {
        Node::DefNode { .. } => "defining methods (`def`)",
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
        Node::ConstantWriteNode { .. } | Node::ConstantPathWriteNode { .. } => {
            "assigning constants"
        }
        Node::ConstantReadNode { .. } | Node::ConstantPathNode { .. } => {
            "constants other than ENV, File and IO"
        }
        Node::WhileNode { .. } | Node::UntilNode { .. } | Node::ForNode { .. } => {
            "loops other than array.each"
        }
        Node::LambdaNode { .. } => "lambdas",
        Node::FloatNode { .. } | Node::RationalNode { .. } | Node::ImaginaryNode { .. } => {
            "non-integer numbers (write versions as strings, such as '1.2.0')"
        }
        Node::RegularExpressionNode { .. } | Node::InterpolatedRegularExpressionNode { .. } => {
            "regular expressions"
        }
        Node::RangeNode { .. } => "ranges",
        Node::CaseNode { .. } | Node::CaseMatchNode { .. } => "case expressions",
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
        Node::ReturnNode { .. } | Node::BreakNode { .. } | Node::NextNode { .. } => {
            "return, break and next"
        }
        _ => "this Ruby construct",
    }
}

impl<'a, H: Handler> Evaluator<'a, H> {
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

    fn eval(&mut self, node: &Node<'_>) -> Eval<Value, H::Error> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.fatal(
                &node.location(),
                "this file does too much work to be a configuration file (over a million steps)",
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

    fn eval_statements(&mut self, statements: &StatementsNode<'_>) -> Eval<Value, H::Error> {
        let mut last = Value::Nil;
        for node in &statements.body() {
            last = self.eval(&node)?;
        }
        Ok(last)
    }

    fn eval_optional_statements(
        &mut self,
        statements: Option<StatementsNode<'_>>,
    ) -> Eval<Value, H::Error> {
        match statements {
            Some(statements) => self.eval_statements(&statements),
            None => Ok(Value::Nil),
        }
    }

    fn eval_node(&mut self, node: &Node<'_>) -> Eval<Value, H::Error> {
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
                items.push(self.eval(&element)?);
            }
            return Ok(Value::Array(items));
        }
        if let Some(n) = node.as_hash_node() {
            return Ok(Value::Hash(self.eval_hash(&n.elements())?));
        }
        if let Some(n) = node.as_keyword_hash_node() {
            return Ok(Value::Hash(self.eval_hash(&n.elements())?));
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
        if let Some(n) = node.as_local_variable_read_node() {
            let name = text(n.name().as_slice());
            return Ok(self.locals.get(&name).cloned().unwrap_or(Value::Nil));
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

    fn interpolate(&mut self, parts: &ruby_prism::NodeList<'_>) -> Eval<String, H::Error> {
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
        elements: &ruby_prism::NodeList<'_>,
    ) -> Eval<Vec<(Value, Value)>, H::Error> {
        let mut entries = Vec::new();
        for element in elements {
            let Some(assoc) = element.as_assoc_node() else {
                return Err(self.unsupported(&element.location(), describe(&element)));
            };
            let key = self.eval(&assoc.key())?;
            let value = self.eval(&assoc.value())?;
            entries.push((key, value));
        }
        Ok(entries)
    }

    /// Positional arguments and the trailing keyword hash of a call.
    fn eval_arguments(&mut self, call: &CallNode<'_>) -> Eval<Arguments, H::Error> {
        let mut args = Vec::new();
        let mut options = Vec::new();
        if let Some(arguments) = call.arguments() {
            for argument in &arguments.arguments() {
                if let Some(keywords) = argument.as_keyword_hash_node() {
                    options.extend(self.eval_hash(&keywords.elements())?);
                } else {
                    args.push(self.eval(&argument)?);
                }
            }
        }
        Ok((args, options))
    }

    fn block_of<'n>(&self, call: &CallNode<'n>) -> Eval<Option<BlockNode<'n>>, H::Error> {
        match call.block() {
            None => Ok(None),
            Some(block) => match block.as_block_node() {
                Some(block) => Ok(Some(block)),
                None => Err(self.unsupported(&block.location(), describe(&block))),
            },
        }
    }

    fn eval_block_body(&mut self, block: &BlockNode<'_>) -> Eval<Value, H::Error> {
        match block.body() {
            Some(body) => self.eval(&body),
            None => Ok(Value::Nil),
        }
    }

    fn eval_call(&mut self, call: &CallNode<'_>) -> Eval<Value, H::Error> {
        let name = text(call.name().as_slice());
        let location = call.message_loc().unwrap_or_else(|| call.location());
        let Some(receiver) = call.receiver() else {
            return self.call_function(call, &name, &location);
        };
        if let Some(constant) = receiver.as_constant_read_node() {
            let (args, options) = self.eval_arguments(call)?;
            let args = with_options(args, options);
            return match constant.name().as_slice() {
                b"ENV" => self.env_method(call, &name, &args, &location),
                b"File" => self.file_method(&name, &args, &location),
                b"IO" if name == "read" => self.read_file(&args, &location),
                b"IO" => Err(self.unsupported(&location, &format!("IO.{name}"))),
                _ => Err(self.unsupported(&receiver.location(), describe(&receiver))),
            };
        }
        let value = self.eval(&receiver)?;
        if call.is_safe_navigation() && value == Value::Nil {
            return Ok(Value::Nil);
        }
        if name == "each" {
            return self.each(call, value, &location);
        }
        if self.block_of(call)?.is_some() {
            return Err(self.unsupported(&location, &format!("passing a block to `{name}`")));
        }
        let (args, options) = self.eval_arguments(call)?;
        let args = with_options(args, options);
        self.value_method(value, &name, &args, &location)
    }

    /// A call without a receiver: a builtin, a forbidden Kernel method, or a
    /// DSL method for the handler.
    fn call_function(
        &mut self,
        call: &CallNode<'_>,
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
        match name {
            "__dir__" => return Ok(Value::String(self.dir.to_string_lossy().into_owned())),
            "respond_to?" => {
                return match args.first().and_then(Value::as_name) {
                    Some(method) => Ok(Value::Bool(self.handler.responds_to(method))),
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
                let result = self.eval_block_body(&block);
                self.context = outer;
                result.map(|_| Value::Nil)
            }
        }
    }

    fn env_method(
        &mut self,
        call: &CallNode<'_>,
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
                match self.block_of(call)? {
                    Some(block) => self.eval_block_body(&block),
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
                flatten(args, &mut flat);
                if let Some(parts) = flat.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>() {
                    return Ok(Value::String(ruby_join(&parts)));
                }
            }
            return Err(self.raise(location, format!("File.{name} needs strings as arguments")));
        };
        let string = |s: String| Ok(Value::String(s));
        match (name, strings.as_slice()) {
            ("expand_path", [path]) => string(self.expand(path, None)),
            ("expand_path", [path, base]) => string(self.expand(path, Some(base))),
            ("join", parts) => string(ruby_join(parts)),
            ("dirname", [path]) => string(ruby_dirname(path)),
            ("basename", [path]) => string(ruby_basename(path)),
            ("read", _) => self.read_file(args, location),
            ("exist?" | "exists?", [path]) => Ok(Value::Bool(self.resolve(path).exists())),
            ("file?", [path]) => Ok(Value::Bool(self.resolve(path).is_file())),
            ("directory?", [path]) => Ok(Value::Bool(self.resolve(path).is_dir())),
            _ => Err(self.unsupported(location, &format!("File.{name} with these arguments"))),
        }
    }

    /// A path from the file, relative to the file's directory.
    fn resolve(&self, path: &str) -> PathBuf {
        super::expand_path(&self.dir, Path::new(path))
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

    fn read_file(&self, args: &[Value], location: &Location<'_>) -> Eval<Value, H::Error> {
        let [Value::String(path)] = args else {
            return Err(self.raise(location, "File.read and IO.read take one path string"));
        };
        let resolved = self.resolve(path);
        let cannot = |why: String| {
            self.raise(
                location,
                format!("cannot read {}: {why}", resolved.display()),
            )
        };
        let file = std::fs::File::open(&resolved).map_err(|e| cannot(e.to_string()))?;
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

    fn each(
        &mut self,
        call: &CallNode<'_>,
        value: Value,
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        let Some(block) = self.block_of(call)? else {
            return Err(self.unsupported(location, "`each` without a block"));
        };
        if call.arguments().is_some() {
            return Err(self.unsupported(location, "`each` with arguments"));
        }
        let names = self.block_parameters(&block)?;
        let items: Vec<Value> = match &value {
            Value::Array(items) => items.clone(),
            Value::Hash(entries) => entries
                .iter()
                .map(|(k, v)| Value::Array(vec![k.clone(), v.clone()]))
                .collect(),
            other => {
                return Err(self.raise(
                    location,
                    format!("undefined method `each` for {}", other.type_name()),
                ));
            }
        };
        let saved: Vec<(String, Option<Value>)> = names
            .iter()
            .map(|n| (n.clone(), self.locals.get(n).cloned()))
            .collect();
        let mut result = Ok(());
        for item in items {
            match (&item, names.as_slice()) {
                (_, [one]) => {
                    self.locals.insert(one.clone(), item.clone());
                }
                (Value::Array(parts), many) => {
                    for (i, name) in many.iter().enumerate() {
                        self.locals
                            .insert(name.clone(), parts.get(i).cloned().unwrap_or(Value::Nil));
                    }
                }
                (_, many) => {
                    for (i, name) in many.iter().enumerate() {
                        let bound = if i == 0 { item.clone() } else { Value::Nil };
                        self.locals.insert(name.clone(), bound);
                    }
                }
            }
            if let Err(stop) = self.eval_block_body(&block) {
                result = Err(stop);
                break;
            }
        }
        for (name, previous) in saved {
            match previous {
                Some(v) => self.locals.insert(name, v),
                None => self.locals.remove(&name),
            };
        }
        result.map(|()| value)
    }

    /// The names of a block's plain parameters (`|a, b|`).
    fn block_parameters(&self, block: &BlockNode<'_>) -> Eval<Vec<String>, H::Error> {
        let Some(parameters) = block.parameters() else {
            return Ok(Vec::new());
        };
        let unsupported = || {
            self.unsupported(
                &parameters.location(),
                "these block parameters (write |name| or |key, value|)",
            )
        };
        let Some(list) = parameters
            .as_block_parameters_node()
            .and_then(|p| p.parameters())
        else {
            return Err(unsupported());
        };
        if !list.optionals().is_empty()
            || list.rest().is_some()
            || !list.posts().is_empty()
            || !list.keywords().is_empty()
            || list.keyword_rest().is_some()
            || list.block().is_some()
        {
            return Err(unsupported());
        }
        let mut names = Vec::new();
        for required in &list.requireds() {
            match required.as_required_parameter_node() {
                Some(p) => names.push(text(p.name().as_slice())),
                None => return Err(unsupported()),
            }
        }
        Ok(names)
    }

    /// Methods on values: the handful the subset knows.
    fn value_method(
        &self,
        value: Value,
        name: &str,
        args: &[Value],
        location: &Location<'_>,
    ) -> Eval<Value, H::Error> {
        use Value::{Array, Bool, Hash, Integer, Nil, Symbol};
        let no_method = || {
            self.raise(
                location,
                format!(
                    "undefined method `{name}` for {} with these arguments",
                    value.type_name()
                ),
            )
        };
        let result = match (name, &value, args) {
            ("nil?", v, []) => Bool(*v == Nil),
            ("==", v, [other]) => Bool(v == other),
            ("!=", v, [other]) => Bool(v != other),
            ("!", v, []) => Bool(!v.is_truthy()),
            ("empty?", Value::String(s), []) => Bool(s.is_empty()),
            ("empty?", Array(a), []) => Bool(a.is_empty()),
            ("empty?", Hash(h), []) => Bool(h.is_empty()),
            ("chomp", Value::String(s), []) => {
                let trimmed = s
                    .strip_suffix("\r\n")
                    .or_else(|| s.strip_suffix('\n'))
                    .or_else(|| s.strip_suffix('\r'))
                    .unwrap_or(s);
                Value::String(trimmed.to_string())
            }
            ("strip", Value::String(s), []) => Value::String(
                s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                    .to_string(),
            ),
            ("to_s", v, []) => Value::String(v.to_ruby_s()),
            ("to_sym", Value::String(s) | Symbol(s), []) => Symbol(s.clone()),
            ("freeze" | "dup", v, []) => v.clone(),
            ("downcase", Value::String(s), []) => Value::String(s.to_lowercase()),
            ("upcase", Value::String(s), []) => Value::String(s.to_uppercase()),
            ("start_with?", Value::String(s), [Value::String(p)]) => {
                Bool(s.starts_with(p.as_str()))
            }
            ("end_with?", Value::String(s), [Value::String(p)]) => Bool(s.ends_with(p.as_str())),
            ("include?", Value::String(s), [Value::String(p)]) => Bool(s.contains(p.as_str())),
            ("include?", Array(a), [item]) => Bool(a.contains(item)),
            ("include?" | "key?", Hash(_), [key]) => Bool(value.hash_get(key).is_some()),
            ("split", Value::String(s), []) => Array(
                s.split_whitespace()
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ),
            ("split", Value::String(s), [Value::String(sep)]) if !sep.is_empty() => Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ),
            ("length" | "size", Value::String(s), []) => {
                Integer(i64::try_from(s.chars().count()).unwrap_or(i64::MAX))
            }
            ("length" | "size", Array(a), []) => {
                Integer(i64::try_from(a.len()).unwrap_or(i64::MAX))
            }
            ("first", Array(a), []) => a.first().cloned().unwrap_or(Nil),
            ("last", Array(a), []) => a.last().cloned().unwrap_or(Nil),
            ("[]", Array(a), [Integer(i)]) => {
                let index = if *i < 0 {
                    i64::try_from(a.len()).unwrap_or(i64::MAX).checked_add(*i)
                } else {
                    Some(*i)
                };
                index
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| a.get(i).cloned())
                    .unwrap_or(Nil)
            }
            ("[]", Hash(_), [key]) => value.hash_get(key).cloned().unwrap_or(Nil),
            ("+", Value::String(a), [Value::String(b)]) => {
                if a.len() + b.len() > MAX_STRING {
                    return Err(self.fatal(location, "this string is too long (over 16 MiB)"));
                }
                Value::String(format!("{a}{b}"))
            }
            ("+", Array(a), [Array(b)]) => {
                if a.len() + b.len() > MAX_STRING {
                    return Err(self.fatal(location, "this array is too long"));
                }
                Array(a.iter().chain(b).cloned().collect())
            }
            ("+", Integer(a), [Integer(b)]) => match a.checked_add(*b) {
                Some(sum) => Integer(sum),
                None => return Err(no_method()),
            },
            (
                "nil?" | "==" | "!=" | "!" | "empty?" | "chomp" | "strip" | "to_s" | "to_sym"
                | "freeze" | "dup" | "downcase" | "upcase" | "start_with?" | "end_with?"
                | "include?" | "key?" | "split" | "length" | "size" | "first" | "last" | "[]" | "+",
                _,
                _,
            ) => return Err(no_method()),
            _ => {
                return Err(self.unsupported(
                    location,
                    &format!("calling `{name}` on {}", value.type_name()),
                ));
            }
        };
        Ok(result)
    }
}

/// Arguments with a trailing keyword hash folded back in as a hash (for
/// methods on values, which take no keywords).
fn with_options(mut args: Vec<Value>, options: Vec<(Value, Value)>) -> Vec<Value> {
    if !options.is_empty() {
        args.push(Value::Hash(options));
    }
    args
}

fn flatten(values: &[Value], out: &mut Vec<Value>) {
    for value in values {
        match value {
            Value::Array(items) => flatten(items, out),
            other => out.push(other.clone()),
        }
    }
}

/// Ruby's `File.join`: one `/` between parts.
fn ruby_join(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            out.push_str(part);
            continue;
        }
        match (out.ends_with('/'), part.starts_with('/')) {
            (true, true) => out.push_str(&part[1..]),
            (true, false) | (false, true) => out.push_str(part),
            (false, false) => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

/// Ruby's `File.dirname`.
fn ruby_dirname(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.starts_with('/') {
            "/".into()
        } else {
            ".".into()
        };
    }
    match trimmed.rfind('/') {
        None => ".".into(),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            if dir.is_empty() {
                "/".into()
            } else {
                dir.into()
            }
        }
    }
}

/// Ruby's `File.basename` (without the suffix argument).
fn ruby_basename(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() {
            String::new()
        } else {
            "/".into()
        };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}
