# frozen_string_literal: true

# A stand-in for the Berkshelf 7 Berksfile DSL and the Chef metadata DSL,
# run by real Ruby in tests/corpus.rs to check how larder reads the same
# files. It evaluates a file the way Berkshelf and Chef do (instance_eval
# with the file's path, so __FILE__, ENV, Dir.glob and every Ruby construct
# behave as in Ruby) and prints what they would record, as JSON in the shape
# of `larder manifest --format json`:
#
#   ruby berks_standin.rb berksfile PATH   # sources, dependencies
#   ruby berks_standin.rb metadata PATH    # name, version, dependencies
#
# A file Berkshelf 7 or Chef refuses exits 1 with the reason on stderr.
# Where larder deliberately differs, the stand-in follows larder and says
# so: `extension` is accepted and ignored (larder needs no extensions),
# `metadata` inside a `group` block joins that group, and a metadata.rb call
# Chef does not define is refused (Chef ignores it, which is how
# dependencies vanish silently).

require 'json'

# Refusals the stand-in reports as Berkshelf or Chef would.
class Refused < StandardError; end

# Shows a URL with any credentials replaced by `***`, as larder does.
def shown_url(url)
  scheme_end = url.index('://')
  return url unless scheme_end

  rest = url[(scheme_end + 3)..]
  authority_end = rest.index(%r{[/?#]}) || rest.length
  at = rest[0...authority_end].rindex('@')
  return url unless at

  "#{url[0...(scheme_end + 3)]}***#{rest[at..]}"
end

# The Berksfile DSL of Berkshelf 7 (lib/berkshelf/berksfile.rb).
class BerksfileStandin
  LOCATION_KEYS = %i[path git github].freeze
  GITHUB_URLS = {
    https: 'https://github.com/%s.git',
    ssh: 'git@github.com:%s.git',
    git: 'git://github.com/%s.git'
  }.freeze

  def initialize(path)
    @filepath = File.expand_path(path)
    @sources = []
    @dependencies = {}
    @active_group = nil
  end

  def evaluate
    instance_eval(File.read(@filepath), @filepath, 1)
    self
  end

  def to_json(*args)
    { 'sources' => @sources, 'dependencies' => @dependencies.values }.to_json(*args)
  end

  def source(api_url)
    entry =
      case api_url
      when String
        scheme = api_url[%r{\A([a-zA-Z][a-zA-Z0-9+.-]*)://}, 1]
        unless %w[http https file].include?(scheme&.downcase)
          raise Refused, "'#{api_url}' is not a valid source URI"
        end

        { 'type' => 'url', 'url' => shown_url(api_url) }
      when :chef_server
        { 'type' => 'chef_server', 'url' => nil }
      when Hash
        if api_url[:artifactory]
          { 'type' => 'artifactory', 'url' => shown_url(api_url[:artifactory]),
            'api_key_set' => !(api_url[:api_key] || ENV['ARTIFACTORY_API_KEY']).nil? }
        elsif api_url[:chef_server]
          { 'type' => 'chef_server', 'url' => shown_url(api_url[:chef_server]) }
        elsif api_url[:chef_repo]
          { 'type' => 'chef_repo', 'path' => File.expand_path(api_url[:chef_repo], File.dirname(@filepath)) }
        else
          raise Refused, "unsupported source #{api_url.inspect}"
        end
      else
        raise Refused, "unsupported source #{api_url.inspect}"
      end
    @sources << entry unless @sources.include?(entry)
  end

  def site(*)
    raise Refused, 'site is deprecated (Berkshelf 2 syntax); use source'
  end

  def chef_api(*)
    raise Refused, 'chef_api is deprecated (Berkshelf 2 syntax); use source'
  end

  # Berkshelf loads the named plugin; larder needs none and ignores it.
  def extension(_name); end

  def solver(_engine, _precedence = :preferred); end

  def metadata(options = {})
    path = File.expand_path(options[:path] || File.dirname(@filepath), File.dirname(@filepath))
    groups = @active_group ? Array(@active_group) : []
    add('metadata', nil, groups,
        { 'type' => 'path', 'path' => path, 'metadata' => true }, name: nil)
  end

  def cookbook(*args)
    options = args.last.is_a?(Hash) ? args.pop.dup : {}
    name, constraint = args
    options[:path] &&= File.expand_path(options[:path], File.dirname(@filepath))
    groups = Array(options[:group])
    groups += Array(@active_group) if @active_group
    add(name.to_s, constraint, groups, location(options), name: name.to_s)
  end

  def group(*args)
    @active_group = args
    yield
  ensure
    @active_group = nil
  end

  private

  def location(options)
    key, value = options.find { |k, _| LOCATION_KEYS.include?(k) }
    case key
    when :path
      { 'type' => 'path', 'path' => value, 'metadata' => options[:metadata] ? true : false }
    when :git, :github
      url = value
      if key == :github
        protocol = (options[:protocol] || :https).to_sym
        url = format(GITHUB_URLS.fetch(protocol), value)
      end
      { 'type' => 'git', 'url' => shown_url(url), 'branch' => options[:branch], 'tag' => options[:tag],
        'ref' => options[:ref], 'rel' => options[:rel] }
    else
      { 'type' => 'default' }
    end
  end

  def add(key, constraint, groups, location, name:)
    groups = groups.map(&:to_s)
    groups = ['default'] if groups.empty?
    key = "metadata #{location['path']}" if name.nil?
    earlier = @dependencies[key]
    raise Refused, "Your Berksfile contains multiple entries named '#{key}'" if earlier && !(earlier['groups'] & groups).empty?

    @dependencies[key] = {
      'name' => name,
      'constraint' => constraint.nil? ? '>= 0.0.0' : constraint.to_s,
      'location' => location,
      'groups' => groups.uniq
    }
  end
end

# The metadata.rb DSL of Chef (lib/chef/cookbook/metadata.rb), as far as
# name, version and dependencies go.
class MetadataStandin
  TEXT_FIELDS = %i[maintainer maintainer_email license description long_description source_url issues_url].freeze
  IGNORED = %i[supports recipe provides chef_version ohai_version gem privacy eager_load_libraries
               recommends suggests attribute grouping conflicts replaces].freeze

  def initialize(path)
    @path = File.expand_path(path)
    @name = nil
    @version = '0.0.0'
    @dependencies = {}
  end

  def evaluate
    instance_eval(File.read(@path), @path, 1)
    raise Refused, "The `name' attribute is required in cookbook metadata (#{@path})" if @name.nil? || @name.empty?
    raise Refused, "cookbook #{@name} depends on itself" if @dependencies.key?(@name)

    self
  end

  def to_json(*args)
    deps = @dependencies.map { |n, c| { 'name' => n, 'constraint' => c } }
    { 'name' => @name, 'version' => @version, 'dependencies' => deps }.to_json(*args)
  end

  def name(arg = nil)
    @name = arg.to_s unless arg.nil?
    @name
  end

  def version(arg = nil)
    @version = arg.to_s.strip unless arg.nil?
    @version
  end

  def depends(cookbook, *version_args)
    raise Refused, "depends '#{cookbook}' takes at most one version constraint" if version_args.length > 1

    @dependencies[cookbook.to_s] = (version_args.first || '>= 0.0.0').to_s
  end

  TEXT_FIELDS.each do |field|
    define_method(field) do |arg = nil|
      instance_variable_set("@#{field}", arg) unless arg.nil?
      instance_variable_get("@#{field}")
    end
  end

  IGNORED.each do |field|
    define_method(field) { |*_args, **_options| nil }
  end

  def method_missing(method, *_args)
    raise Refused, "undefined method `#{method}` in metadata.rb"
  end

  def respond_to_missing?(_method, _include_private = false)
    false
  end
end

kind, path = ARGV
begin
  reader =
    case kind
    when 'berksfile' then BerksfileStandin.new(path)
    when 'metadata' then MetadataStandin.new(path)
    else
      warn 'usage: berks_standin.rb berksfile|metadata PATH'
      exit 2
    end
  puts JSON.pretty_generate(JSON.parse(reader.evaluate.to_json))
rescue Refused, StandardError, ScriptError => e
  warn "refused: #{e.class}: #{e.message}"
  exit 1
end
