//! Which Chef Server to talk to, and as whom: the server URL, the client
//! name and its private key, and the signing protocol version.
//!
//! Each value comes from the first place that sets it:
//! 1. the flags `--server-url`, `--client-name`, `--client-key`;
//! 2. the `[chef]` section of larder's configuration ([`crate::config`]);
//! 3. `~/.chef/credentials`, a TOML file of profiles (the one named by
//!    `$CHEF_PROFILE`, else `default`), as knife reads it;
//! 4. `config.rb` or `knife.rb` in the nearest `.chef/` directory above the
//!    working directory, then in `~/.chef/`, read with the safe evaluator
//!    of [`crate::dsl`] (never run): `chef_server_url`, `node_name`,
//!    `client_key`, `authentication_protocol_version`.
//!
//! The key is read only when a request is signed, and never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::sign::{KeyError, SignVersion, SigningKey};
use crate::dsl::{self, Call, Diagnostic, Handler, Reply, Value};

/// The credentials cannot be found or read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no Chef Server {what} is set; pass {flag}, or set it in ~/.chef/credentials, \
         .chef/config.rb (knife.rb) or the [chef] section of larder's config.toml"
    )]
    Missing {
        what: &'static str,
        flag: &'static str,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid credentials file: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("the profile '{profile}' is not in {}; add a [{profile}] section or set CHEF_PROFILE to one that is", path.display())]
    NoProfile { profile: String, path: PathBuf },
    #[error("{0}")]
    Knife(Box<Diagnostic>),
    #[error(
        "authentication_protocol_version '{value}' in {origin} is not one larder signs with; \
         use 1.3 (the default) or 1.1"
    )]
    SignVersion { value: String, origin: String },
}

/// Where the private key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM file.
    File(PathBuf),
    /// PEM text written into the credentials file at `origin`.
    Inline { origin: PathBuf, pem: String },
}

/// Values given on the command line or in larder's configuration; each
/// wins over what the files below it say.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub server_url: Option<String>,
    pub client_name: Option<String>,
    pub client_key: Option<PathBuf>,
    pub sign_version: Option<String>,
}

/// Everything a signed request needs.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub server_url: String,
    pub client_name: String,
    pub key: KeySource,
    pub sign_version: SignVersion,
}

impl Credentials {
    /// Reads the private key.
    pub fn key(&self) -> Result<SigningKey, KeyError> {
        match &self.key {
            KeySource::File(path) => SigningKey::read(path),
            KeySource::Inline { origin, pem } => SigningKey::from_pem(pem.as_bytes(), origin),
        }
    }
}

/// One layer's values, and where they came from.
#[derive(Clone, Debug, Default)]
struct Layer {
    server_url: Option<String>,
    client_name: Option<String>,
    key: Option<KeySource>,
    sign_version: Option<(String, String)>,
}

impl Layer {
    fn under(self, other: Layer) -> Layer {
        Layer {
            server_url: self.server_url.or(other.server_url),
            client_name: self.client_name.or(other.client_name),
            key: self.key.or(other.key),
            sign_version: self.sign_version.or(other.sign_version),
        }
    }
}

/// Finds the credentials: `flags` first, then `config` (larder's
/// `[chef]` section), then the files under `home` (`~/.chef`) and the
/// `.chef/` directories above `cwd`. `server_url` given by a Berksfile
/// source replaces the URL of every layer.
pub fn discover(
    flags: &Overrides,
    config: &Overrides,
    home: Option<&Path>,
    cwd: &Path,
    profile: Option<&str>,
) -> Result<Credentials, CredentialsError> {
    let mut layer = from_overrides(flags, "a flag").under(from_overrides(config, "config.toml"));
    let chef_dir = home.map(|h| h.join(".chef"));
    if let Some(dir) = &chef_dir {
        let path = dir.join("credentials");
        if path.is_file() {
            layer = layer.under(read_credentials(&path, dir, profile.unwrap_or("default"))?);
        }
    }
    let mut knife_dirs: Vec<PathBuf> = cwd
        .ancestors()
        .map(|d| d.join(".chef"))
        .filter(|d| Some(d) != chef_dir.as_ref())
        .collect();
    knife_dirs.extend(chef_dir);
    if let Some(path) = knife_dirs
        .iter()
        .flat_map(|d| [d.join("config.rb"), d.join("knife.rb")])
        .find(|p| p.is_file())
    {
        layer = layer.under(read_knife(&path)?);
    }
    let sign_version = match layer.sign_version {
        None => SignVersion::V1_3,
        Some((value, origin)) => {
            SignVersion::parse(&value).ok_or(CredentialsError::SignVersion { value, origin })?
        }
    };
    Ok(Credentials {
        server_url: layer.server_url.ok_or(CredentialsError::Missing {
            what: "URL",
            flag: "--server-url",
        })?,
        client_name: layer.client_name.ok_or(CredentialsError::Missing {
            what: "client name",
            flag: "--client-name",
        })?,
        key: layer.key.ok_or(CredentialsError::Missing {
            what: "client key",
            flag: "--client-key",
        })?,
        sign_version,
    })
}

/// The credentials of this process: `flags`, then larder's configuration
/// `config`, then `$HOME/.chef` and the `.chef/` directories above the
/// working directory, with the profile named by `$CHEF_PROFILE`.
pub fn from_environment(
    flags: &Overrides,
    config: &crate::config::Config,
) -> Result<Credentials, CredentialsError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let home = std::env::home_dir();
    let profile = std::env::var("CHEF_PROFILE").ok().filter(|p| !p.is_empty());
    discover(
        flags,
        &config.chef_overrides(),
        home.as_deref(),
        &cwd,
        profile.as_deref(),
    )
}

fn from_overrides(overrides: &Overrides, origin: &str) -> Layer {
    Layer {
        server_url: overrides.server_url.clone(),
        client_name: overrides.client_name.clone(),
        key: overrides.client_key.clone().map(KeySource::File),
        sign_version: overrides
            .sign_version
            .clone()
            .map(|v| (v, origin.to_string())),
    }
}

#[derive(Deserialize)]
struct Profile {
    client_name: Option<String>,
    node_name: Option<String>,
    client_key: Option<String>,
    chef_server_url: Option<String>,
    authentication_protocol_version: Option<String>,
}

/// One profile of `~/.chef/credentials`; relative key paths are relative
/// to `dir`, and a value starting with `-----BEGIN` is the key itself.
fn read_credentials(path: &Path, dir: &Path, profile: &str) -> Result<Layer, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut profiles: BTreeMap<String, Profile> =
        toml::from_str(&text).map_err(|e| CredentialsError::Invalid {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
    let Some(found) = profiles.remove(profile) else {
        return Err(CredentialsError::NoProfile {
            profile: profile.to_string(),
            path: path.to_path_buf(),
        });
    };
    let key = found.client_key.map(|key| {
        if key.trim_start().starts_with("-----BEGIN") {
            KeySource::Inline {
                origin: path.to_path_buf(),
                pem: key,
            }
        } else {
            KeySource::File(expand_home(dir, &key))
        }
    });
    Ok(Layer {
        server_url: found.chef_server_url,
        client_name: found.client_name.or(found.node_name),
        key,
        sign_version: found
            .authentication_protocol_version
            .map(|v| (v, path.display().to_string())),
    })
}

/// `~/x` against `$HOME`, a relative path against `dir`.
fn expand_home(dir: &Path, path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => dsl::expand_path(dir, Path::new(path)),
    }
}

/// The settings of a knife `config.rb`/`knife.rb`, evaluated safely: the
/// settings larder needs are recorded, every other call is ignored.
fn read_knife(path: &Path) -> Result<Layer, CredentialsError> {
    let source = std::fs::read(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = KnifeReader {
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        layer: Layer::default(),
        origin: path.display().to_string(),
    };
    dsl::evaluate(path, &source, &dsl::process_env, &mut reader, ())
        .map_err(|d| CredentialsError::Knife(Box::new(d)))?;
    Ok(reader.layer)
}

struct KnifeReader {
    dir: PathBuf,
    layer: Layer,
    origin: String,
}

impl Handler for KnifeReader {
    type Context = ();
    type Error = Diagnostic;

    fn call(&mut self, call: Call<'_, ()>) -> Result<Reply<()>, Diagnostic> {
        let text = || match call.args.as_slice() {
            [value] => value.as_str().map(str::to_string).ok_or_else(|| {
                call.site.error(format!(
                    "`{}` takes a string, not {}",
                    call.name,
                    value.type_name()
                ))
            }),
            _ => Err(call.site.error(format!("`{}` takes one string", call.name))),
        };
        match call.name {
            "chef_server_url" => self.layer.server_url = Some(text()?),
            "node_name" | "client_name" => self.layer.client_name = Some(text()?),
            "client_key" => {
                self.layer.key = Some(KeySource::File(expand_home(&self.dir, &text()?)));
            }
            "authentication_protocol_version" => {
                self.layer.sign_version = Some((text()?, self.origin.clone()));
            }
            _ => {}
        }
        Ok(Reply::Value(Value::Nil))
    }

    fn responds_to(&self, _name: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_credentials_which_win_over_knife() {
        let home = tempfile::tempdir().unwrap();
        let chef = home.path().join(".chef");
        std::fs::create_dir_all(&chef).unwrap();
        std::fs::write(
            chef.join("credentials"),
            "[default]\nclient_name = 'barney'\nclient_key = 'barney.pem'\n\
             chef_server_url = 'https://chef.example/organizations/bedrock'\n\
             [other]\nnode_name = 'fred'\nclient_key = '-----BEGIN RSA PRIVATE KEY-----'\n",
        )
        .unwrap();
        std::fs::write(
            chef.join("config.rb"),
            "current_dir = File.dirname(__FILE__)\nlog_level :info\n\
             node_name 'knifey'\nclient_key \"#{current_dir}/knifey.pem\"\n\
             chef_server_url 'https://knife.example'\nauthentication_protocol_version '1.1'\n",
        )
        .unwrap();
        let found = discover(
            &Overrides {
                client_name: Some("flag".into()),
                ..Overrides::default()
            },
            &Overrides::default(),
            Some(home.path()),
            home.path(),
            None,
        )
        .unwrap();
        assert_eq!(found.client_name, "flag");
        assert_eq!(
            found.server_url,
            "https://chef.example/organizations/bedrock"
        );
        assert_eq!(found.key, KeySource::File(chef.join("barney.pem")));
        assert_eq!(found.sign_version, SignVersion::V1_1);

        let other = discover(
            &Overrides::default(),
            &Overrides::default(),
            Some(home.path()),
            home.path(),
            Some("other"),
        )
        .unwrap();
        assert_eq!(other.client_name, "fred");
        assert!(matches!(other.key, KeySource::Inline { .. }));
        let err = discover(
            &Overrides::default(),
            &Overrides::default(),
            Some(home.path()),
            home.path(),
            Some("nope"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("'nope'"), "{err}");
    }

    #[test]
    fn the_nearest_project_chef_directory_is_read() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let nested = project.path().join("site/cookbooks");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::create_dir_all(project.path().join(".chef")).unwrap();
        std::fs::write(
            project.path().join(".chef/knife.rb"),
            "node_name 'ci'\nclient_key File.join(__dir__, 'ci.pem')\n\
             chef_server_url \"https://#{ENV.fetch('CHEF_HOST', 'chef.example')}\"\n",
        )
        .unwrap();
        let found = discover(
            &Overrides::default(),
            &Overrides::default(),
            Some(home.path()),
            &nested,
            None,
        )
        .unwrap();
        assert_eq!(found.client_name, "ci");
        assert_eq!(
            found.key,
            KeySource::File(project.path().join(".chef/ci.pem"))
        );
        assert!(found.server_url.starts_with("https://"));
    }

    #[test]
    fn nothing_set_says_which_flag_to_pass() {
        let home = tempfile::tempdir().unwrap();
        let err = discover(
            &Overrides::default(),
            &Overrides::default(),
            Some(home.path()),
            home.path(),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("--server-url"), "{err}");
    }

    #[test]
    fn knife_files_are_never_run() {
        let home = tempfile::tempdir().unwrap();
        let chef = home.path().join(".chef");
        std::fs::create_dir_all(&chef).unwrap();
        std::fs::write(chef.join("knife.rb"), "node_name `whoami`\n").unwrap();
        let err = discover(
            &Overrides::default(),
            &Overrides::default(),
            Some(home.path()),
            home.path(),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("knife.rb:1"), "{err}");
    }
}
