//! Test kit: a real DynamoDB-protocol server (moto) over HTTP, a fresh table per test, users,
//! tokens, and the `userctl` binary.
//!
//! The server comes from `MOTO_ENDPOINT` when set (the test command starts one), else this kit
//! starts `moto_server` from the project's `.venv` (or `PATH`). If neither works the tests fail
//! with a message saying how to fix it: they never skip.

pub mod fault_proxy;
pub mod fixtures;
pub mod invariants;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use shared::config::{Config, JwtConfig, JwtKey};
use shared::password::hash_blocking;
use shared::stamp::Stamp;
use shared::store::Store;
use shared::table::TableDef;
pub use shared::testing::{json_of, request};
use shared::user::{NewUser, User};
use shared::values::{Email, Password, PasswordHash, Role, Status, UserId, Username};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "Correct-Horse-9";

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

struct MotoProcess {
    endpoint: String,
    _keeper: Option<Child>,
}

static MOTO: OnceLock<MotoProcess> = OnceLock::new();

/// The endpoint of a running moto server, started on first use.
pub fn moto_endpoint() -> String {
    MOTO.get_or_init(start_moto).endpoint.clone()
}

fn start_moto() -> MotoProcess {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        wait_for(&endpoint, Duration::from_secs(30));
        return MotoProcess {
            endpoint,
            _keeper: None,
        };
    }
    let venv_python = workspace_root().join(".venv/bin/python");
    let python = if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    };
    let port = free_port();
    // The server stops when our stdin pipe closes, i.e. when this test binary exits, however
    // it exits.
    let child = Command::new(&python)
        .arg(workspace_root().join("scripts/dynamodb_server.py"))
        .args(["--port", &port.to_string(), "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start the test DynamoDB server ({e}). Run the test command from the README \
                 (scripts/test), or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'`, \
                 or set MOTO_ENDPOINT"
            )
        });
    let mut child = child;
    let endpoint = format!("http://127.0.0.1:{port}");
    if !try_wait_for(&endpoint, Duration::from_secs(30)) {
        let _ = child.kill();
        panic!("the test DynamoDB server did not come up at {endpoint}: is moto[server] installed in .venv?");
    }
    MotoProcess {
        endpoint,
        _keeper: Some(child),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn try_wait_for(endpoint: &str, timeout: Duration) -> bool {
    let addr = endpoint.trim_start_matches("http://");
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn wait_for(endpoint: &str, timeout: Duration) {
    assert!(
        try_wait_for(endpoint, timeout),
        "nothing listens at MOTO_ENDPOINT={endpoint}"
    );
}

pub fn unique_table_name() -> String {
    format!("users-{}", uuid::Uuid::new_v4().simple())
}

pub fn config(table: &str) -> Config {
    Config {
        table_name: table.to_owned(),
        dynamodb_endpoint: Some(moto_endpoint()),
        region: Some("us-east-1".to_owned()),
        credential_max_age_seconds: shared::config::DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
        jwt: JwtConfig {
            key: JwtKey::Secret(SECRET.as_bytes().to_vec()),
            issuer: None,
            audience: None,
            claims: shared::config::ClaimNames::default(),
        },
    }
}

/// A new, empty table created from `template.yaml`'s definition, and its store.
pub async fn fresh_store() -> (Store, Config) {
    let config = config(&unique_table_name());
    let store = Store::connect(&config).await;
    TableDef::from_committed_template()
        .expect("template parses")
        .create(store.client(), store.table())
        .await
        .expect("create table in moto");
    (store, config)
}

/// The audit table of `config`'s user table (`<table>-audit`, as `userctl` names it), created
/// from `template.yaml`'s definition.
pub async fn fresh_audit_table(config: &Config) -> String {
    let name = format!("{}-audit", config.table_name);
    let client = shared::store::dynamodb_client(&config.dynamodb()).await;
    TableDef::audit_from_committed_template()
        .expect("template parses")
        .create(&client, &name)
        .await
        .expect("create the audit table in moto");
    name
}

/// Every item of another table at `config`'s DynamoDB (the audit table), all pages.
pub async fn items_of(
    config: &Config,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let other = Config {
        table_name: table.to_owned(),
        ..config.clone()
    };
    Store::connect(&other)
        .await
        .scan_all()
        .await
        .expect("scan the table")
}

pub async fn fresh_state() -> (shared::AppState, Config) {
    let (_, config) = fresh_store().await;
    let state = shared::AppState::from_config(&config)
        .await
        .expect("valid config");
    (state, config)
}

fn hashed(password: &str) -> PasswordHash {
    // Hashing is the slow part of seeding: share one hash of the common password.
    static CACHE: OnceLock<Mutex<Vec<(String, PasswordHash)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, h)) = cache.lock().unwrap().iter().find(|(p, _)| p == password) {
        return h.clone();
    }
    let h = hash_blocking(&Password::parse("password", password, 1).unwrap()).unwrap();
    cache.lock().unwrap().push((password.to_owned(), h.clone()));
    h
}

/// A user with id `id`, username `user<id>`, email `user<id>@example.com`, password
/// [`PASSWORD`].
pub fn new_user(id: i64, roles: &[&str]) -> NewUser {
    NewUser {
        id: UserId::new(id).unwrap(),
        uuid: uuid::Uuid::new_v4().to_string(),
        username: Username::parse(&format!("user{id}")).unwrap(),
        email: Email::parse(&format!("user{id}@example.com")).unwrap(),
        password_hash: Some(hashed(PASSWORD)),
        roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
        status: Status::Active,
        name: None,
        first_name: None,
        last_name: None,
        nickname: None,
        data: None,
        auth_type: 1,
        root_role: None,
        preferences: Vec::new(),
        properties: Vec::new(),
        intro_reviewed: None,
    }
}

pub async fn seed(store: &Store, id: i64, roles: &[&str]) -> User {
    store
        .create(&new_user(id, roles), &stamp())
        .await
        .expect("seed user")
}

/// A stamp for a write the test makes itself: no actor, a fresh request id.
pub fn stamp() -> Stamp {
    Stamp::new(None, "test", uuid::Uuid::new_v4().to_string())
}

pub fn token(id: i64, roles: &[&str]) -> String {
    shared::testing::sign(SECRET, id, roles)
}

/// `Bearer` with a token whose user signed in `age_seconds` ago (the token itself is fresh).
pub fn bearer_signed_in(id: i64, roles: &[&str], age_seconds: i64) -> String {
    let at = shared::auth::now_unix() - age_seconds;
    format!(
        "Bearer {}",
        shared::testing::sign_signed_in_at(SECRET, id, roles, at)
    )
}

pub fn bearer(id: i64, roles: &[&str]) -> String {
    format!("Bearer {}", token(id, roles))
}

/// Every item key in the table, sorted: to assert no orphaned lock exists.
pub async fn all_keys(store: &Store) -> Vec<String> {
    let mut keys: Vec<String> = store
        .scan_all()
        .await
        .expect("scan")
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    keys.sort();
    keys
}

/// Asserts no response or stored text holds a secret: no PHC hash, no plaintext password.
pub fn assert_no_secrets(text: &str) {
    assert!(!text.contains("$argon2"), "a password hash leaked: {text}");
    assert!(!text.contains(PASSWORD), "a password leaked: {text}");
}

/// The environment the functions and `userctl` read, for a table on the test server.
pub fn env_for(config: &Config) -> Vec<(String, String)> {
    vec![
        ("TABLE_NAME".into(), config.table_name.clone()),
        (
            "DYNAMODB_ENDPOINT".into(),
            config.dynamodb_endpoint.clone().unwrap_or_default(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("JWT_SECRET".into(), SECRET.into()),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

/// Runs the `userctl` binary `bin` with `args` against `config`'s table; returns (success,
/// stdout, stderr). Tests pass `env!("CARGO_BIN_EXE_userctl-under-test")`, which cargo builds with them.
pub fn userctl(bin: &str, config: &Config, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env_for(config))
        .output()
        .expect("run userctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `userctl serve` on a free port; stopped when dropped.
pub struct Served {
    pub base: String,
    pub port: u16,
    child: Child,
}

impl Served {
    pub fn start(bin: &str, config: &Config) -> Self {
        Self::start_with(bin, config, &[])
    }

    pub fn start_with(bin: &str, config: &Config, extra_env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(bin)
            .args(["serve", "--port", &port.to_string()])
            .env_clear()
            .envs(env_for(config))
            .envs(
                extra_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .stdout(Stdio::null())
            .spawn()
            .expect("start userctl serve");
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            try_wait_for(&base, Duration::from_secs(30)),
            "userctl serve did not start"
        );
        Self { base, port, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stored user `id`, which must exist.
pub async fn stored(state: &shared::AppState, id: i64) -> User {
    state
        .store
        .get(UserId::new(id).unwrap())
        .await
        .expect("read the user")
        .unwrap_or_else(|| panic!("user {id} exists"))
}
