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
        ("def self.evil; end", "defining methods on an object", 1, 1),
        ("class Foo; end", "defining classes", 1, 1),
        ("eval 'system 1'", "`eval` is not allowed", 1, 1),
        ("cookbook Dir.pwd", "Dir.pwd", 1, 14),
        (
            "cookbook 'a'.tr('a', 'b')",
            "calling `tr` on a String",
            1,
            14,
        ),
        ("ENV['X'] = 'y'", "ENV.[]=", 1, 4),
        ("$stdout.puts 'x'", "global variables", 1, 1),
        ("cookbook 1.5", "non-integer", 1, 10),
        (
            "[1].each_slice(2) { |x| x }",
            "passing a block to `each_slice`",
            1,
            5,
        ),
        ("Kernel.exit", "uninitialized constant Kernel", 1, 1),
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

#[test]
fn methods_defined_in_the_file() {
    let source = r##"
def fixture(name)
  cookbook "x_#{name}", path: "test/fixtures/cookbooks/#{name}"
end

def git_opts(extra = {}, branch: 'main', rel: nil)
  base = { git: 'https://git.example/x.git', branch: branch }
  base[:rel] = rel if rel
  base.merge(extra)
end

def version_for(name, default = '1.0')
  return '9.9' if name == 'pinned'
  default
end

group :integration do
  fixture 'a'
end
cookbook 'b', git_opts
cookbook 'c', git_opts({ tag: 'v1' }, branch: 'dev', rel: 'cb/c')
show version_for('pinned'), version_for('x'), version_for('x', '2.0'), respond_to?(:fixture)
"##;
    assert_eq!(
        calls(source),
        [
            r#"cookbook("x_a"){:path=>"test/fixtures/cookbooks/a"} in integration"#,
            r#"cookbook("b", {:git=>"https://git.example/x.git", :branch=>"main"})"#,
            r#"cookbook("c", {:git=>"https://git.example/x.git", :branch=>"dev", :rel=>"cb/c", :tag=>"v1"})"#,
            r#"show("9.9", "1.0", "2.0", true)"#,
        ]
    );
    let e = error("def f(a)\n  a\nend\nshow f");
    assert!(
        e.message
            .contains("wrong number of arguments calling `f` (given 0, expected 1)"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (4, 6));
    let e = error("def f(a:)\n  a\nend\nshow f(b: 1)");
    assert!(
        e.message.contains("missing keyword calling `f`: :a"),
        "{}",
        e.message
    );
    // Method bodies have their own local variables, as in Ruby.
    assert_eq!(
        calls("x = 'outer'\ndef f\n  x = 'inner'\n  x\nend\nshow f, x"),
        [r#"show("inner", "outer")"#]
    );
    let e = error("def f(*all)\nend");
    assert!(
        e.message.contains("these method parameters"),
        "{}",
        e.message
    );
}

#[test]
fn constants_and_defined() {
    let source = r#"
COOKBOOKS = %w(a b).freeze
Encoding.default_external = Encoding::UTF_8
COOKBOOKS.each { |c| cookbook c }
v = 1
show defined?(COOKBOOKS), defined?(Nope), defined?(v), defined?(cookbook), defined?(source_url)
show defined?(Ridley::Chef::Cookbook::Metadata), defined?(File), defined?(@x), defined?(undefined_thing)
show defined?(File.read), defined?(COOKBOOKS.first), defined?(String)
"#;
    assert_eq!(
        calls(source),
        [
            r#"cookbook("a")"#,
            r#"cookbook("b")"#,
            r#"show("constant", nil, "local-variable", nil, "method")"#,
            r#"show(nil, "constant", nil, nil)"#,
            r#"show("method", "method", nil)"#,
        ]
    );
    let e = error("cookbook 'a' if RUBY_PLATFORM == 'x'");
    assert!(
        e.message.contains("uninitialized constant RUBY_PLATFORM"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (1, 17));
}

#[test]
fn hash_and_array_methods_with_blocks() {
    let source = r#"
deps = { 'apt' => '~> 7.0', 'yum' => nil, 'ntp' => '>= 1.0' }
deps.select { |_, v| v }.each { |name, c| depends name, c }
show deps.keys.first, deps.keys.include?('yum'), deps.fetch('nope', 'd'), deps.fetch('nope') { |k| k + '!' }
show [1, 2, 3].map { |i| i + 1 }
index = deps.each_with_object({}) { |(name, c), memo| memo[name] = c.nil? }
show index, deps.reject { |_, v| v.nil? }.keys, [].empty?, %w(x y).find { |s| s == 'y' }
list = []
%w(a b c).each do |n|
  next if n == 'b'
  list << n
end
show list, list.any? { |s| s == 'c' }, list.count { |s| s == 'a' }, deps.map { |k, _| k }
"#;
    assert_eq!(
        calls(source),
        [
            r#"depends("apt", "~> 7.0")"#,
            r#"depends("ntp", ">= 1.0")"#,
            r#"show("apt", true, "d", "nope!")"#,
            "show([2, 3, 4])",
            r#"show({"apt"=>false, "yum"=>true, "ntp"=>false}, ["apt", "ntp"], true, "y")"#,
            r#"show(["a", "c"], true, 1, ["apt", "yum", "ntp"])"#,
        ]
    );
}

#[test]
fn dir_glob_walks_the_project_even_with_spaces_in_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my chef repo");
    for cb in ["site-cookbooks/web", "site-cookbooks/db", "cookbooks/app"] {
        std::fs::create_dir_all(root.join(cb)).unwrap();
        std::fs::write(root.join(cb).join("metadata.rb"), "name 'x'").unwrap();
    }
    let source = r#"
Dir.glob('site-cookbooks/*').each { |p| cookbook File.basename(p), path: p }
Dir['cookbooks/*/metadata.rb'].each do |metadata_path|
  metadata path: File.dirname(metadata_path)
end
Dir.glob(File.join(__dir__, 'cookbooks', '*')) { |p| show File.basename(p), File.directory?(p) }
show Dir.exist?('cookbooks'), Dir.glob('nothing/*'), File.exist?('cookbooks/app/metadata.rb')
"#;
    let calls = match run_in(&root, source) {
        Ok(calls) => calls,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        calls,
        [
            r#"cookbook("db"){:path=>"site-cookbooks/db"}"#,
            r#"cookbook("web"){:path=>"site-cookbooks/web"}"#,
            r#"metadata(){:path=>"cookbooks/app"}"#,
            r#"show("app", true)"#,
            "show(true, [], true)",
        ]
    );
    for (source, what) in [
        ("Dir.glob('../*')", "Dir.glob may only look inside"),
        ("Dir['/etc/*']", "Dir.[] may only look inside"),
        (
            "show File.exist?('/etc/passwd')",
            "File.exist? may only look inside",
        ),
        (
            "show File.directory?('..')",
            "File.directory? may only look inside",
        ),
        (
            "show File.read('../secret') rescue show 'hidden'",
            "File.read may only look inside",
        ),
        (
            "show IO.read('/etc/passwd')",
            "File.read may only look inside",
        ),
    ] {
        let e = match run_in(&root, source) {
            Ok(calls) => panic!("{source}: expected an error, got {calls:?}"),
            Err(e) => e,
        };
        assert!(e.message.contains(what), "{source}: {}", e.message);
    }
}

#[test]
fn reads_outside_the_directory_through_links_are_refused_and_fifos_do_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cookbook");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), root.join("VERSION")).unwrap();
    let e = match run_in(&root, "version File.read('VERSION')") {
        Ok(calls) => panic!("expected an error, got {calls:?}"),
        Err(e) => e,
    };
    assert!(e.message.contains("may only look inside"), "{}", e.message);
    assert!(!e.to_string().contains("s3cret"));
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    let e = match run_in(&root, "version File.read('fifo')") {
        Ok(calls) => panic!("expected an error, got {calls:?}"),
        Err(e) => e,
    };
    assert!(e.message.contains("not a regular file"), "{}", e.message);
}

#[test]
fn long_files_stay_linear() {
    // Quadratic work here (per-call column counting, duplicate checks)
    // would take minutes; linear work takes well under a second.
    let mut one_line = String::new();
    for i in 0..50_000 {
        one_line.push_str(&format!("depends 'c{i}'; "));
    }
    assert_eq!(calls(&one_line).len(), 50_000);
    let many_lines: String = (0..80_000)
        .map(|i| format!("cookbook 'c{i}', path: 'p'\n"))
        .collect();
    assert_eq!(calls(&many_lines).len(), 80_000);
}

#[test]
fn case_and_element_assignment() {
    let source = r#"
stage = ENV['SET']
case stage
when 'no', 'nope' then show 1
when *%w(maybe yes) then show 2
else show 3
end
case
when ENV['UNSET'] then show 4
else show 5
end
opts = {}
opts[:group] ||= Array(:test)
opts[:group] ||= [:never]
show opts, Array(nil), Array(%w(a)), String(:s)
"#;
    assert_eq!(
        calls(source),
        [
            "show(2)",
            "show(5)",
            "show({:group=>[:test]}, [], [\"a\"], \"s\")"
        ]
    );
}

#[test]
fn next_leaves_its_block_and_nothing_else() {
    let source = "group :x do\n  next if ENV['SET']\n  cookbook 'skipped'\nend\ncookbook 'kept'\n";
    assert_eq!(calls(source), [r#"cookbook("kept")"#]);
}

#[test]
fn values_that_double_on_every_line_are_stopped() {
    let arrays = format!("a = ['x']\n{}", "a = [a, a]\n".repeat(40));
    assert!(error(&arrays).message.contains("builds too much data"));
    let hashes = format!("h = {{}}\n{}", "h = { l: h, r: h }\n".repeat(40));
    assert!(error(&hashes).message.contains("builds too much data"));
    let pushes = format!("a = ['x']\n{}", "a << a.dup\n".repeat(40));
    assert!(error(&pushes).message.contains("builds too much data"));
}
