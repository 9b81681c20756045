//! Tests of the evaluator through a recording handler.

use std::path::Path;

use proptest::prelude::*;

use super::*;

/// Records DSL calls; `group` evaluates its block with the groups added.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
}

impl Handler for Recorder {
    type Context = Vec<String>;
    type Error = Diagnostic;

    fn call(&mut self, call: Call<'_, Vec<String>>) -> Result<Reply<Vec<String>>, Diagnostic> {
        match call.name {
            "group" => {
                let mut groups = call.context.clone();
                groups.extend(call.args.iter().map(Value::to_ruby_s));
                Ok(Reply::EvaluateBlock(groups))
            }
            "name" if call.args.is_empty() => Ok(Reply::Value(Value::String("demo".into()))),
            "boom" => Err(call.site.error("boom is refused")),
            _ => {
                let args: Vec<String> = call.args.iter().map(ToString::to_string).collect();
                let mut line = format!("{}({})", call.name, args.join(", "));
                if !call.options.is_empty() {
                    line.push_str(&Value::Hash(call.options.clone()).to_string());
                }
                if !call.context.is_empty() {
                    line.push_str(&format!(" in {}", call.context.join(",")));
                }
                self.calls.push(line);
                Ok(Reply::Value(Value::Nil))
            }
        }
    }

    fn responds_to(&self, name: &str) -> bool {
        name == "source_url"
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "SET" => Some("yes".into()),
        "HOME" => Some("/home/chef".into()),
        _ => None,
    }
}

fn run_in(dir: &Path, source: &str) -> Result<Vec<String>, Diagnostic> {
    let mut recorder = Recorder::default();
    evaluate(
        &dir.join("Berksfile"),
        source.as_bytes(),
        &env,
        &mut recorder,
        Vec::new(),
    )?;
    Ok(recorder.calls)
}

fn run(source: &str) -> Result<Vec<String>, Diagnostic> {
    run_in(Path::new("/repo"), source)
}

fn calls(source: &str) -> Vec<String> {
    match run(source) {
        Ok(calls) => calls,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

fn error(source: &str) -> Diagnostic {
    match run(source) {
        Ok(calls) => panic!("expected an error, got {calls:?}"),
        Err(e) => e,
    }
}

#[test]
fn literals_reach_the_handler() {
    let source = r#"
# frozen_string_literal: true
source 'https://supermarket.chef.io'
cookbook "nginx", '~> 2.7', git: 'g', :branch => "main", 'x' => [1, nil, true, :s]
show %w[a b], %w(c), {k: -3}
"#;
    assert_eq!(
        calls(source),
        [
            r#"source("https://supermarket.chef.io")"#,
            r#"cookbook("nginx", "~> 2.7"){:git=>"g", :branch=>"main", "x"=>[1, nil, true, :s]}"#,
            r#"show(["a", "b"], ["c"], {:k=>-3})"#,
        ]
    );
}

#[test]
fn interpolation_variables_env_and_conditionals() {
    let source = r##"
v = '1.2'
show "#{name}-#{v}-#{ENV['SET']}"
show ENV['UNSET'] || 'fallback', ENV.fetch('UNSET', 'd'), ENV.fetch('SET') { 'no' }, ENV.fetch('UNSET') { 'blk' }
if ENV['UNSET']
  show 1
elsif ENV['SET'] == 'yes' && !ENV['UNSET']
  show 2
else
  show 3
end
show 4 unless ENV['SET'].nil?
show 5 if ENV['UNSET']
show(ENV.key?('SET') ? 'yes' : 'no')
show ' x '.strip, "a\n".chomp, ''.empty?, 3.to_s, v != '1.2'
x ||= 'first'
x ||= 'second'
show x, respond_to?(:source_url), respond_to?(:other)
"##;
    assert_eq!(
        calls(source),
        [
            r#"show("demo-1.2-yes")"#,
            r#"show("fallback", "d", "yes", "blk")"#,
            "show(2)",
            "show(4)",
            r#"show("yes")"#,
            r#"show("x", "a", true, "3", false)"#,
            r#"show("first", true, false)"#,
        ]
    );
}

#[test]
fn each_blocks_and_groups() {
    let source = r#"
%w(ubuntu debian).each { |p| supports p }
{ 'a' => '1' }.each do |n, v|
  depends n, v
end
p = 'kept'
[['x', 'y']].each { |pair| show pair }
show p
group :test, 'int' do
  cookbook 'a'
  group :inner do
    cookbook 'b'
  end
end
cookbook 'c'
"#;
    assert_eq!(
        calls(source),
        [
            r#"supports("ubuntu")"#,
            r#"supports("debian")"#,
            r#"depends("a", "1")"#,
            r#"show(["x", "y"])"#,
            r#"show("kept")"#,
            r#"cookbook("a") in test,int"#,
            r#"cookbook("b") in test,int,inner"#,
            r#"cookbook("c")"#,
        ]
    );
}

#[test]
fn files_are_read_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("VERSION"), "1.4.2\n").unwrap();
    let source = r#"
version IO.read(File.join(File.dirname(__FILE__), 'VERSION')).chomp
version File.read('VERSION').strip
version IO.read('MISSING').chomp rescue '0.0.0'
v = begin
  File.read('MISSING')
rescue Errno::ENOENT => e
  show e.include?('MISSING')
  'rescued'
end
show v, File.exist?('VERSION'), __dir__ == File.expand_path('.', __dir__)
show File.expand_path('../x', __FILE__) == File.join(__dir__, 'x'), File.expand_path('~/y')
"#;
    let calls = match run_in(dir.path(), source) {
        Ok(calls) => calls,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        calls,
        [
            r#"version("1.4.2")"#,
            r#"version("1.4.2")"#,
            "show(true)",
            r#"show("rescued", true, true)"#,
            r#"show(true, "/home/chef/y")"#,
        ]
    );
    let e = match run_in(dir.path(), "version IO.read('NOPE').chomp") {
        Ok(calls) => panic!("expected an error, got {calls:?}"),
        Err(e) => e,
    };
    assert!(e.message.contains("NOPE"), "{e}");
    let e = match run_in(dir.path(), "version IO.read('.').chomp") {
        Ok(calls) => panic!("expected an error, got {calls:?}"),
        Err(e) => e,
    };
    assert!(e.message.contains("not a regular file"), "{e}");
    assert_eq!((e.line, e.column), (1, 12));
}

#[test]
fn file_helpers_follow_ruby() {
    assert_eq!(
        calls(
            "show File.dirname('/a/b/c.rb'), File.dirname('c.rb'), File.dirname('/c'), File.basename('/a/b/'), File.join('a/', '/b', ['c', 'd'])"
        ),
        [r#"show("/a/b", ".", "/", "b", "a/b/c/d")"#]
    );
}

#[test]
fn syntax_errors_point_at_the_problem() {
    let e = error("source 'x'\ncookbook 'a',\n  ,\n");
    assert_eq!(e.path, Path::new("/repo/Berksfile"));
    assert_eq!(e.line, 3);
    assert!(e.message.starts_with("syntax error: "), "{}", e.message);
    let shown = e.to_string();
    assert!(shown.starts_with("/repo/Berksfile:3:"), "{shown}");
    assert!(shown.contains("\n      ,\n"), "{shown}");
    assert!(
        error("group :x do\n  cookbook 'a'\n")
            .message
            .contains("syntax error")
    );
}

#[test]
fn nothing_outside_the_subset_runs() {
    for (source, what, line, column) in [
        ("system 'rm -rf /'", "`system` is not allowed", 1, 1),
        ("x = 1\n`touch /tmp/pwned`", "running commands", 2, 1),
        ("require 'fileutils'", "`require` is not allowed", 1, 1),
        ("def evil; end", "defining methods", 1, 1),
        ("class Foo; end", "defining classes", 1, 1),
        ("eval 'system 1'", "`eval` is not allowed", 1, 1),
        ("cookbook Dir.pwd", "constants other than", 1, 10),
        (
            "cookbook 'a'.reverse",
            "calling `reverse` on a String",
            1,
            14,
        ),
        ("ENV['X'] = 'y'", "ENV.[]=", 1, 4),
        ("$stdout.puts 'x'", "global variables", 1, 1),
        ("cookbook 1.5", "non-integer", 1, 10),
        ("[1].map { |x| x }", "passing a block to `map`", 1, 5),
        ("Kernel.exit", "constants other than", 1, 1),
    ] {
        let e = error(source);
        assert!(e.message.contains(what), "{source}: {}", e.message);
        assert!(e.message.contains("larder"), "{source}: {}", e.message);
        assert_eq!((e.line, e.column), (line, column), "{source}");
    }
}

#[test]
fn handler_errors_and_raise_stop_evaluation() {
    let e = error("cookbook 'a'\n  boom 1");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 3, "boom is refused")
    );
    let e = error("raise 'set BERKS_ENV' unless ENV['UNSET']");
    assert!(e.message.contains("set BERKS_ENV"), "{}", e.message);
    let e = error("show ENV.fetch('UNSET')");
    assert!(
        e.message.contains("key not found: \"UNSET\""),
        "{}",
        e.message
    );
    assert!(error("group :x").message.contains("needs a block"));
}

#[test]
fn runaway_files_are_stopped() {
    let nested = format!("show {}1{}", "[".repeat(500), "]".repeat(500));
    assert!(error(&nested).message.contains("nested too deeply"));
    let deeper = format!("show {}1{}", "[".repeat(20_000), "]".repeat(20_000));
    assert!(run(&deeper).is_err());
    let a = "%w[a b c d e f g h i j]";
    let looping = format!(
        "{a}.each {{ |x| {a}.each {{ |y| {a}.each {{ |z| {a}.each {{ |w| {a}.each {{ |v| {a}.each {{ |u| show x }} }} }} }} }} }}"
    );
    assert!(error(&looping).message.contains("too much work"));
    let doubling = format!("s = 'x'\n{}", "s = s + s\n".repeat(40));
    assert!(error(&doubling).message.contains("too long"));
}

fn no_panic(source: &[u8]) {
    let mut recorder = Recorder::default();
    let _ = evaluate(
        Path::new("/repo/Berksfile"),
        source,
        &env,
        &mut recorder,
        Vec::new(),
    );
}

#[test]
fn garbled_real_files_do_not_panic() {
    let base = include_bytes!("../../Berksfile.example");
    for cut in (0..base.len()).step_by(7) {
        no_panic(&base[..cut]);
        let mut mangled = base.to_vec();
        mangled[cut] = b"\"'{}[]()|#\\\n\xff"[cut % 13];
        no_panic(&mangled);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_do_not_panic(source in proptest::collection::vec(any::<u8>(), 0..300)) {
        no_panic(&source);
    }

    #[test]
    fn ruby_looking_text_does_not_panic(source in "([a-z_]{1,6}|[ \n'\"#{}()\\[\\]|,:=!?&.%-]|[0-9]|ENV|File|IO|each|do|end|if|rescue|begin){0,60}") {
        no_panic(source.as_bytes());
    }
}
