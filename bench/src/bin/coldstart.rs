//! Cold start, memory and size of every function binary, beside a hello-world lambda_http
//! baseline built with the same profile.
//!
//! Each binary runs as Lambda runs it: a fresh process pointed at a local Runtime API emulator
//! (`AWS_LAMBDA_RUNTIME_API`), with its real configuration (DynamoDB client and keys; DynamoDB is
//! the canned responder on loopback). Measured from process spawn to its first
//! `GET /runtime/invocation/next` (init) and to its first posted response (first answer).
//! Memory: peak RSS (VmHWM) after 1,000 invocations, password changes included.
//! Then the cost of each way of holding the token key at cold start (a secret, a public key, an
//! issuer's key set fetched over HTTPS from a local issuer), on one function.
//!
//! Run (after `cargo build --release -p bench -p <functions>`):
//!   target/release/coldstart [--runs 20] [--invocations 1000]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::runtime_api::RuntimeApi;
use tokio::net::TcpListener;

struct Run {
    init: Duration,
    first_answer: Duration,
    peak_rss_kib: Option<u64>,
}

/// How the token key is given: `JWT_SECRET` unless another is named.
type KeyEnv = Vec<(&'static str, String)>;

fn secret_key() -> KeyEnv {
    vec![("JWT_SECRET", bench::LOCAL_SECRET.to_owned())]
}

/// Starts `binary` against a fresh emulator, feeds it `events`, returns its figures.
async fn run(binary: &PathBuf, dynamodb: &str, events: Vec<String>, key: &KeyEnv) -> Run {
    let mut api = RuntimeApi::start().await.unwrap();
    let count = events.len();
    for event in events {
        api.push(event);
    }

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("TABLE_NAME", "bench")
        .env("AUDIT_TABLE_NAME", "bench-audit")
        .env("DYNAMODB_ENDPOINT", dynamodb)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .envs(key.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let mut first_answer = None;
    for i in 0..count {
        let posted = api
            .posted(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("{} did not answer", binary.display()));
        // With a key other than the fixtures' secret the answer is a 401: still an answer.
        assert!(
            posted.is_response(),
            "{}: {} {}",
            binary.display(),
            posted.path,
            posted.text()
        );
        if i == 0 {
            first_answer = Some(posted.at - started);
        }
    }
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        });
    let _ = child.kill();
    let _ = child.wait();
    let first_next = api.first_next().expect("asked for an event");
    Run {
        init: first_next - started,
        first_answer: first_answer.unwrap(),
        peak_rss_kib,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let runs = arg("--runs", 20);
    let invocations = arg("--invocations", 1000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let event = |name: &str| {
        std::fs::read_to_string(root.join("events").join(name))
            .unwrap_or_else(|e| panic!("events/{name}: {e}"))
    };
    // Every function gets its success fixture; the memory run mixes in a password change every
    // tenth invocation where the API has one.
    let functions: Vec<(&str, String, Option<String>)> = vec![
        ("hello", event("unleash-user-admin-success.json"), None),
        (
            "unleash-user-admin",
            event("unleash-user-admin-success.json"),
            None,
        ),
        (
            "newm-patch-user",
            event("newm-patch-user-success.json"),
            Some(password_event(
                &event("newm-patch-user-success.json"),
                r#"{"newPassword":"N3w-Passw0rd","confirmPassword":"N3w-Passw0rd","currentPassword":"Bob-Builder-2024"}"#,
            )),
        ),
        (
            "mmc-profile",
            event("mmc-profile-success.json"),
            Some(password_event(
                &event("mmc-profile-success.json"),
                r#"{"username":"bob","password":"another-secret"}"#,
            )),
        ),
        (
            "aaa-user-profile",
            event("aaa-user-profile-success.json"),
            Some(password_event(
                &event("aaa-user-profile-success.json"),
                r#"{"Password":"Passw0rd-aaa","RepeatPassword":"Passw0rd-aaa"}"#,
            )),
        ),
        (
            "devicehive-user-update",
            event("devicehive-user-update-success.json"),
            None,
        ),
        (
            "devicehive-authorizer",
            event("devicehive-authorizer-success.json"),
            None,
        ),
        (
            "devicehive-rest",
            event("devicehive-rest-success.json"),
            None,
        ),
        ("audit-log", event("audit-log-success.json"), None),
    ];

    let canned = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dynamodb = format!("http://{}", canned.local_addr().unwrap());
    tokio::spawn(bench::serve_canned(canned));

    let built: Vec<_> = functions
        .iter()
        .filter(|(name, _, _)| {
            let exists = bin_dir.join(name).exists();
            if !exists {
                eprintln!("{name}: not built, skipped");
            }
            exists
        })
        .collect();
    // Cold starts take turns (one of each binary per round), so a slow spell of this shared
    // machine hits every binary alike and the ratios to hello stay fair.
    let mut inits = vec![Vec::new(); built.len()];
    let mut answers = vec![Vec::new(); built.len()];
    for _ in 0..runs {
        for (i, (name, success, _)) in built.iter().enumerate() {
            let r = run(
                &bin_dir.join(name),
                &dynamodb,
                vec![success.clone()],
                &secret_key(),
            )
            .await;
            inits[i].push(r.init);
            answers[i].push(r.first_answer);
        }
    }

    println!("| binary | stripped size (bytes) | init median (ms) | init vs hello | first answer median (ms) | peak RSS after {invocations} invocations (MiB) |");
    println!("|---|---|---|---|---|---|");
    let mut baseline = None;
    for (i, (name, success, password)) in built.iter().enumerate() {
        let binary = bin_dir.join(name);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let events: Vec<String> = (0..invocations)
            .map(|i| match password {
                Some(p) if i % 10 == 9 => p.clone(),
                _ => success.clone(),
            })
            .collect();
        let memory = run(&binary, &dynamodb, events, &secret_key()).await;
        let init = median(std::mem::take(&mut inits[i]));
        if *name == "hello" {
            baseline = Some(init);
        }
        let ratio = baseline.map_or("n/a (hello not built)".to_owned(), |base| {
            format!("{:.2}x", init.as_secs_f64() / base.as_secs_f64())
        });
        println!(
            "| {name} | {size} | {:.2} | {ratio} | {:.2} | {:.1} |",
            init.as_secs_f64() * 1e3,
            median(std::mem::take(&mut answers[i])).as_secs_f64() * 1e3,
            memory.peak_rss_kib.unwrap_or(0) as f64 / 1024.0,
        );
    }
    key_costs(&root, &bin_dir, &dynamodb, runs).await;
}

/// Init of one function with each way of holding the token key, taking turns. The key set comes
/// over HTTPS from a local issuer (`tests/fixtures/jwt/https_issuer.py`), checked against the
/// system's trust store plus the test CA: the whole local cost of the fetch (loading the store,
/// a TLS handshake, the GET, parsing the set); in AWS the issuer's round trips come on top.
async fn key_costs(root: &std::path::Path, bin_dir: &std::path::Path, dynamodb: &str, runs: usize) {
    let binary = bin_dir.join("unleash-user-admin");
    if !binary.exists() {
        return;
    }
    let fixtures = root.join("tests/fixtures/jwt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut issuer = bench::https_issuer(&fixtures, port);
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let ca = std::fs::read_to_string(fixtures.join("test-ca.pem")).unwrap();
    let store = std::env::temp_dir().join(format!("coldstart-trust-{}.pem", std::process::id()));
    std::fs::write(&store, format!("{system}\n{ca}")).unwrap();
    let public = std::fs::read_to_string(fixtures.join("es256-public.pem")).unwrap();
    let ways: Vec<(&str, KeyEnv)> = vec![
        ("JWT_SECRET (HS256)", secret_key()),
        (
            "JWT_PUBLIC_KEY (ES256 PEM)",
            vec![("JWT_PUBLIC_KEY", public)],
        ),
        (
            "JWT_JWKS_URL (HTTPS, local issuer)",
            vec![
                (
                    "JWT_JWKS_URL",
                    format!("https://localhost:{port}/.well-known/jwks.json"),
                ),
                ("SSL_CERT_FILE", store.display().to_string()),
            ],
        ),
    ];
    let event =
        std::fs::read_to_string(root.join("events/unleash-user-admin-success.json")).unwrap();
    let mut inits = vec![Vec::new(); ways.len()];
    for _ in 0..runs {
        for (i, (_, key)) in ways.iter().enumerate() {
            inits[i].push(run(&binary, dynamodb, vec![event.clone()], key).await.init);
        }
    }
    let _ = issuer.kill();
    let _ = issuer.wait();
    let _ = std::fs::remove_file(&store);
    println!();
    println!("| unleash-user-admin, token key | init median (ms) | vs JWT_SECRET |");
    println!("|---|---|---|");
    let base = median(inits[0].clone());
    for ((name, _), samples) in ways.iter().zip(inits) {
        let init = median(samples);
        println!(
            "| {name} | {:.2} | {:.2}x |",
            init.as_secs_f64() * 1e3,
            init.as_secs_f64() / base.as_secs_f64()
        );
    }
}

/// The same API Gateway event with another body, and a token of the same user signed in just now:
/// a password change needs a recent sign-in, and the fixtures' tokens are fixed in time.
fn password_event(event: &str, body: &str) -> String {
    use shared::config::{ClaimNames, JwtConfig, JwtKey};
    let mut v: serde_json::Value = serde_json::from_str(event).unwrap();
    v["body"] = serde_json::Value::String(body.to_owned());
    let config = JwtConfig {
        key: JwtKey::Secret(bench::LOCAL_SECRET.as_bytes().to_vec()),
        issuer: None,
        audience: None,
        claims: ClaimNames::default(),
    };
    let header = v["headers"]["authorization"]
        .as_str()
        .expect("a bearer token");
    let who = shared::auth::Verifier::new(&config)
        .unwrap()
        .verify(shared::auth::bearer_token(header).unwrap())
        .expect("the fixture's token");
    let roles: Vec<String> = who.roles.into_iter().collect();
    let fresh = shared::auth::Signer::hs256(bench::LOCAL_SECRET.as_bytes(), None, None).sign(
        who.user_id,
        &roles,
        24 * 3600,
    );
    v["headers"]["authorization"] = format!("Bearer {fresh}").into();
    v.to_string()
}
