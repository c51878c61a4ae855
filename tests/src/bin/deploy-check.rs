//! The artifacts `sam build` produced, checked as they are deployed (scripts/deploy-check runs
//! this after `sam build --beta-features`):
//!
//! 1. The built template (`<build dir>/template.yaml`): every function is `provided.al2023` on
//!    `arm64` with handler `bootstrap`, its `CodeUri` holds an aarch64 `bootstrap`, it has the
//!    environment and the policy the README's deploy section promises.
//! 2. Every built `bootstrap` runs under user-mode emulation (`qemu-aarch64`) against a local
//!    Runtime API (bench::runtime_api) and the test DynamoDB server (`MOTO_ENDPOINT`), in one
//!    process per function, and answers each of its `events/` fixtures as
//!    `tests/src/fixtures.rs` documents (status and body).
//! 3. With `--probe UNWIND ABORT`: what a handler panic does under each panic strategy
//!    (tools/panic-probe built as the functions are, and once with `panic = "abort"`).
//!
//! Timings under emulation are not performance figures; none are printed.
//!
//!   deploy-check .aws-sam/build [--probe UNWIND_BOOTSTRAP ABORT_BOOTSTRAP]
//!
//! Environment: `MOTO_ENDPOINT` (required), `QEMU` (default `qemu-aarch64`), `QEMU_LD_PREFIX`
//! (default `/usr/aarch64-linux-gnu`, Debian's `libc6-arm64-cross`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bench::runtime_api::{Posted, RuntimeApi};
use serde_json::{json, Value};
use testkit::fixtures::{self, Outcome, EXPECTED, LOCAL_SECRET};

/// How long a process under emulation may take to answer one invocation (argon2 hashing of the
/// demo users' passwords is the slowest part, emulated).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// One function of the built template.
struct Deployed {
    logical_id: String,
    binary: String,
    bootstrap: PathBuf,
    /// The environment variables the template gives it (Globals merged).
    env: BTreeMap<String, Value>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(build_dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: deploy-check BUILD_DIR [--probe UNWIND_BOOTSTRAP ABORT_BOOTSTRAP]");
        std::process::exit(2);
    };
    let probe = match args.get(1).map(String::as_str) {
        Some("--probe") if args.len() == 4 => {
            Some((PathBuf::from(&args[2]), PathBuf::from(&args[3])))
        }
        None => None,
        _ => {
            eprintln!("usage: deploy-check BUILD_DIR [--probe UNWIND_BOOTSTRAP ABORT_BOOTSTRAP]");
            std::process::exit(2);
        }
    };
    let mut failures = Vec::new();

    println!(
        "--- the built template ({}/template.yaml)",
        build_dir.display()
    );
    let deployed = match check_template(&build_dir) {
        Ok((deployed, problems)) => {
            for p in &problems {
                println!("  FAIL {p}");
            }
            failures.extend(problems);
            deployed
        }
        Err(e) => {
            eprintln!("FAIL {e}");
            std::process::exit(1);
        }
    };
    println!("{} functions", deployed.len());

    println!("--- every bootstrap on its events/ fixtures (arm64, emulated)");
    for function in &deployed {
        match run_fixtures(function).await {
            Ok(lines) => {
                for line in lines {
                    println!("  ok   {}: {line}", function.binary);
                }
            }
            Err(problems) => {
                for p in problems {
                    println!("  FAIL {}: {p}", function.binary);
                    failures.push(format!("{}: {p}", function.binary));
                }
            }
        }
    }

    if let Some((unwind, abort)) = probe {
        println!("--- a handler panic, under each panic strategy (tools/panic-probe, arm64)");
        match panic_probe(&unwind).await {
            Ok(Fate::Survived) => println!(
                "  panic = \"unwind\" (as built): the invocation got an error, the same process answered the next"
            ),
            Ok(Fate::Died(why) | Fate::Other(why)) => failures.push(format!(
                "the probe built as the functions are did not survive a panic: {why}"
            )),
            Err(e) => failures.push(format!("probe (as built): {e}")),
        }
        match panic_probe(&abort).await {
            Ok(Fate::Died(status)) => println!(
                "  panic = \"abort\": the process died ({status}) without answering; the next invocation needs a new process, a cold start"
            ),
            Ok(Fate::Survived) => failures.push(
                "the probe built with panic = \"abort\" survived a panic: it was not built so".into(),
            ),
            Ok(Fate::Other(why)) => failures.push(format!(
                "the probe built with panic = \"abort\" should die on a panic: {why}"
            )),
            Err(e) => failures.push(format!("probe (abort): {e}")),
        }
    }

    println!("--- sizes: the arm64 bootstrap as deployed, beside the x86_64 release build");
    println!("| function | binary | arm64 bootstrap (bytes) | x86_64 target/release (bytes) |");
    println!("|---|---|---|---|");
    let host = testkit::workspace_root().join("target/release");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len().to_string());
    for d in &deployed {
        println!(
            "| {} | {} | {} | {} |",
            d.logical_id,
            d.binary,
            size(&d.bootstrap).unwrap_or_else(|_| "missing".into()),
            size(&host.join(&d.binary)).unwrap_or_else(|_| "not built".into()),
        );
    }

    if failures.is_empty() {
        println!("deploy-check: every check passed");
    } else {
        eprintln!("deploy-check: {} failure(s):", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The built template.

/// YAML to JSON, with CloudFormation's short tags written long (`!Ref X` -> `{"Ref": "X"}`,
/// `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` -> `{"Fn::Sub": s}`...).
fn to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => json!(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => {
            let mut object: serde_json::Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), to_json(v)))
                .collect();
            // `Fn::GetAtt: A.B`, the long form's string spelling, as `[A, B]`.
            if let Some(Value::String(s)) = object.get("Fn::GetAtt").cloned() {
                let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                object.insert("Fn::GetAtt".into(), json!([resource, attribute]));
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let value = to_json(tagged.value);
            match (name, value) {
                ("Ref", v) => json!({ "Ref": v }),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                (other, v) => json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

fn check_template(build_dir: &Path) -> Result<(Vec<Deployed>, Vec<String>), String> {
    let path = build_dir.join("template.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let template = to_json(yaml);
    let globals = &template["Globals"]["Function"];
    let mut problems = Vec::new();
    let mut deployed = Vec::new();
    let resources = template["Resources"]
        .as_object()
        .ok_or("the template has no Resources")?;
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let props = &resource["Properties"];
        let mut problem = |what: String| problems.push(format!("{id}: {what}"));
        // A function's own property, else the Globals' one (SAM's merge, for these scalars).
        let prop = |name: &str| {
            let own = &props[name];
            if own.is_null() {
                globals[name].clone()
            } else {
                own.clone()
            }
        };
        if prop("Handler") != "bootstrap" {
            problem(format!("Handler is {}, not bootstrap", prop("Handler")));
        }
        if prop("Runtime") != "provided.al2023" {
            problem(format!(
                "Runtime is {}, not provided.al2023",
                prop("Runtime")
            ));
        }
        if prop("Architectures") != json!(["arm64"]) {
            problem(format!(
                "Architectures is {}, not [arm64]",
                prop("Architectures")
            ));
        }
        if resource["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problem("not a rust-cargolambda build".into());
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let code_uri = prop("CodeUri");
        let bootstrap = build_dir
            .join(code_uri.as_str().unwrap_or_default())
            .join("bootstrap");
        match std::fs::read(&bootstrap) {
            // ELF, 64-bit, e_machine 183 (EM_AARCH64).
            Ok(bytes)
                if bytes.starts_with(b"\x7fELF\x02") && bytes.get(18..20) == Some(&[183, 0]) => {}
            Ok(_) => problem(format!(
                "{} is not an aarch64 ELF executable",
                bootstrap.display()
            )),
            Err(e) => problem(format!("CodeUri {code_uri} holds no bootstrap ({e})")),
        }
        let mut env: BTreeMap<String, Value> = BTreeMap::new();
        for source in [
            &globals["Environment"]["Variables"],
            &props["Environment"]["Variables"],
        ] {
            if let Some(vars) = source.as_object() {
                env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        check_environment(&binary, &env, &mut problem);
        check_policies(&binary, props, &mut problem);
        deployed.push(Deployed {
            logical_id: id.clone(),
            binary,
            bootstrap,
            env,
        });
    }
    let built: BTreeSet<&str> = deployed.iter().map(|d| d.binary.as_str()).collect();
    let documented: BTreeSet<&str> = EXPECTED.iter().map(|(f, _, _)| *f).collect();
    if built != documented {
        problems.push(format!(
            "the template builds {built:?}, the fixtures document {documented:?}"
        ));
    }
    Ok((deployed, problems))
}

/// README, "Configuration" and "What the template sets up": every function gets the table; the
/// functions that verify tokens get a key (HS256 secret or public key) and the issuer and
/// audience settings; the audit log gets its table and no JWT setting at all.
fn check_environment(
    binary: &str,
    env: &BTreeMap<String, Value>,
    problem: &mut impl FnMut(String),
) {
    if !env.contains_key("TABLE_NAME") {
        problem("no TABLE_NAME".into());
    }
    let jwt: Vec<&String> = env.keys().filter(|k| k.starts_with("JWT_")).collect();
    if binary == "audit-log" {
        if !env.contains_key("AUDIT_TABLE_NAME") {
            problem("the audit log has no AUDIT_TABLE_NAME".into());
        }
        if !jwt.is_empty() {
            problem(format!(
                "the audit log must get no JWT setting, has {jwt:?}"
            ));
        }
    } else {
        if !["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"]
            .iter()
            .any(|k| env.contains_key(*k))
        {
            problem("verifies tokens but has no JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL".into());
        }
        for name in ["JWT_ISSUER", "JWT_AUDIENCE"] {
            if !env.contains_key(name) {
                problem(format!("verifies tokens but has no {name}"));
            }
        }
        if env.contains_key("AUDIT_TABLE_NAME") {
            problem("an endpoint function has the audit table".into());
        }
    }
}

/// README, "What the template sets up": an endpoint function's policy names only `GetItem`,
/// `UpdateItem` and (for lock moves) `PutItem`/`DeleteItem`, on the users table only; the audit
/// log may only `PutItem` on the audit table (SAM adds the stream and the dead-letter queue);
/// the authorizer reads nothing.
fn check_policies(binary: &str, props: &Value, problem: &mut impl FnMut(String)) {
    let (table, allowed, required): (&str, &[&str], &[&str]) = match binary {
        "audit-log" => ("AuditTable", &["dynamodb:PutItem"], &["dynamodb:PutItem"]),
        "devicehive-authorizer" => ("", &[], &[]),
        _ => (
            "UsersTable",
            &[
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
            &["dynamodb:GetItem", "dynamodb:UpdateItem"],
        ),
    };
    let mut granted = BTreeSet::new();
    for policy in props["Policies"].as_array().into_iter().flatten() {
        let Some(statements) = policy["Statement"].as_array() else {
            problem(format!(
                "a policy that is not an inline statement list: {policy}"
            ));
            continue;
        };
        for s in statements {
            let resource = json!({ "Fn::GetAtt": [table, "Arn"] });
            if s["Effect"] != "Allow" || s["Resource"] != resource {
                problem(format!("a statement not on {table}'s ARN: {s}"));
            }
            let actions = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                other => {
                    problem(format!("unreadable Action {other}"));
                    vec![]
                }
            };
            for a in actions {
                if !allowed.contains(&a.as_str()) {
                    problem(format!("allows {a}, which the README does not promise"));
                }
                granted.insert(a);
            }
        }
    }
    for r in required {
        if !granted.contains(*r) {
            problem(format!("lacks {r}"));
        }
    }
    if binary == "audit-log" {
        let stream = props["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .find(|e| e["Type"] == "DynamoDB");
        match stream {
            Some(e)
                if e["Properties"]["Stream"] == json!({"Fn::GetAtt": ["UsersTable", "StreamArn"]})
                    && e["Properties"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
                    && e["Properties"]["FunctionResponseTypes"] == json!(["ReportBatchItemFailures"]) => {}
            _ => problem(
                "no stream mapping from UsersTable with ReportBatchItemFailures and an SQS dead-letter queue"
                    .into(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The bootstraps under emulation.

/// `qemu-aarch64` running `bootstrap` with exactly `env` (plus what Lambda itself sets), its
/// output (the function's log, qemu's complaints) into the file `log`: a pipe nobody reads while
/// it runs could fill and stall it.
fn spawn_emulated(
    bootstrap: &Path,
    api: &RuntimeApi,
    env: &[(String, String)],
    log: &Path,
) -> std::io::Result<Child> {
    let out = std::fs::File::create(log)?;
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-aarch64".into());
    let prefix =
        std::env::var("QEMU_LD_PREFIX").unwrap_or_else(|_| "/usr/aarch64-linux-gnu".into());
    Command::new(qemu)
        .arg("-L")
        .arg(prefix)
        .arg(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "deploy-check")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "deploy-check")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "deploy-check")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
}

/// What the process posted next, or why nothing came: it exited, or it timed out.
async fn next_posted(api: &mut RuntimeApi, child: &mut Child) -> Result<Posted, String> {
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        if let Some(p) = api.posted(Duration::from_millis(100)).await {
            return Ok(p);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status})"));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no answer within {ANSWER_TIMEOUT:?}"));
        }
    }
}

/// Stops the process; its log.
fn stop(mut child: Child, log: &Path) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text
}

fn log_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("deploy-check-{}-{name}.log", std::process::id()))
}

/// The function's fixtures (refusals first, successes last, as each success changes the table),
/// through one process against a fresh table seeded with the demo users.
async fn run_fixtures(function: &Deployed) -> Result<Vec<String>, Vec<String>> {
    let root = testkit::workspace_root();
    let mut fixtures: Vec<(String, &'static str, Outcome)> = Vec::new();
    for entry in std::fs::read_dir(root.join("events")).map_err(|e| vec![e.to_string()])? {
        let path = entry.map_err(|e| vec![e.to_string()])?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|x| x == "json") {
            if let Ok((f, case, outcome)) = fixtures::classify(stem) {
                if f == function.binary {
                    fixtures.push((stem.to_owned(), case, outcome));
                }
            }
        }
    }
    fixtures.sort_by_key(|(stem, case, _)| (*case == "success", stem.clone()));
    if fixtures.is_empty() {
        return Err(vec!["no events/ fixture".into()]);
    }

    let (_, config) = testkit::fresh_store().await;
    let audit_table = testkit::fresh_audit_table(&config).await;
    let userctl = std::env::current_exe()
        .expect("own path")
        .with_file_name("userctl-under-test");
    let demo = root.join("demo/users.json");
    let (ok, out, err) = testkit::userctl(
        userctl.to_str().expect("UTF-8 path"),
        &config,
        &["seed", demo.to_str().expect("UTF-8 path")],
    );
    if !ok {
        return Err(vec![format!("userctl seed failed: {out}{err}")]);
    }

    let env = local_environment(function, &config, &audit_table);
    let mut api = RuntimeApi::start().await.map_err(|e| vec![e.to_string()])?;
    let log = log_file(&function.binary);
    let mut child = spawn_emulated(&function.bootstrap, &api, &env, &log)
        .map_err(|e| vec![format!("cannot start under qemu-aarch64: {e}")])?;

    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (stem, _, expected) in &fixtures {
        let text = std::fs::read_to_string(root.join("events").join(format!("{stem}.json")))
            .map_err(|e| vec![e.to_string()])?;
        api.push(text.clone());
        let posted = match next_posted(&mut api, &mut child).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("events/{stem}.json: {e}"));
                break;
            }
        };
        let event: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match judge(function, &config, &audit_table, &event, &posted).await {
            Ok(got) if got == *expected => lines.push(format!("events/{stem}.json -> {got:?}")),
            Ok(got) => problems.push(format!(
                "events/{stem}.json: expected {expected:?}, got {got:?}: {} {}",
                posted.path,
                posted.text()
            )),
            Err(e) => problems.push(format!("events/{stem}.json: {e}")),
        }
    }
    let output = stop(child, &log);
    if problems.is_empty() {
        Ok(lines)
    } else {
        // The process's own log says why (configuration, a panic); it holds no secret values.
        problems.push(format!("its log:\n{output}"));
        Err(problems)
    }
}

/// The environment the function gets here: each variable its template declares that needs a local
/// value (the fixtures' tokens are HS256, so a function configured for a public key or a key set
/// gets the local secret instead), plus what Lambda provides (region, credentials) and the
/// endpoint. Any other variable is left unset, so the function's default applies (as with the
/// template parameters' defaults).
fn local_environment(
    function: &Deployed,
    config: &shared::config::Config,
    audit_table: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "DYNAMODB_ENDPOINT".to_owned(),
            config.dynamodb_endpoint.clone().unwrap_or_default(),
        ),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
    ];
    for name in function.env.keys() {
        let value = match name.as_str() {
            "TABLE_NAME" => config.table_name.clone(),
            "AUDIT_TABLE_NAME" => audit_table.to_owned(),
            "JWT_SECRET" | "JWT_PUBLIC_KEY" | "JWT_JWKS_URL" => {
                env.push(("JWT_SECRET".to_owned(), LOCAL_SECRET.to_owned()));
                continue;
            }
            // Parameters whose default is empty: not checked.
            "JWT_ISSUER" | "JWT_AUDIENCE" => String::new(),
            "RUST_LOG" => "warn".to_owned(),
            "AUDIT_RETENTION_DAYS" => "400".to_owned(),
            "AUDIT_ANONYMISE" => "false".to_owned(),
            "USER_MANAGEMENT_ENABLED" => "true".to_owned(),
            "DEVICEHIVE_REST_URL" => "https://example.invalid/api/rest".to_owned(),
            "DEVICEHIVE_WEBSOCKET_URL" => "wss://example.invalid/live".to_owned(),
            _ => continue,
        };
        env.push((name.clone(), value));
    }
    env.dedup();
    env
}

/// The outcome `posted` shows, read as API Gateway, the authorizer's caller or the stream's
/// event source mapping reads it.
async fn judge(
    function: &Deployed,
    config: &shared::config::Config,
    audit_table: &str,
    event: &Value,
    posted: &Posted,
) -> Result<Outcome, String> {
    if function.binary == "devicehive-authorizer" && posted.is_invocation_error() {
        // A refusal: API Gateway turns the authorizer's error into the handshake's 401.
        return Ok(Outcome::Refuse);
    }
    if !posted.is_response() {
        return Err(format!("not an answer: {} {}", posted.path, posted.text()));
    }
    let answer: Value =
        serde_json::from_slice(&posted.body).map_err(|e| format!("answer is not JSON ({e})"))?;
    testkit::assert_no_secrets(&answer.to_string());
    match function.binary.as_str() {
        "devicehive-authorizer" => fixtures::is_allow_policy(&answer, event)
            .then_some(Outcome::Allow)
            .ok_or_else(|| format!("not the Allow policy: {answer}")),
        "devicehive-user-update" => {
            if answer["statusCode"] != 200 {
                return Err(format!("statusCode is not 200: {answer}"));
            }
            let message: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())
                .map_err(|_| format!("the message is not JSON: {answer}"))?;
            fixtures::websocket_outcome(&message)
                .ok_or_else(|| format!("unreadable message: {message}"))
        }
        "audit-log" => {
            let failures = answer["batchItemFailures"]
                .as_array()
                .ok_or_else(|| format!("no batchItemFailures: {answer}"))?
                .len();
            if failures > 0 {
                return Ok(Outcome::Failed(failures));
            }
            let records = testkit::items_of(config, audit_table).await;
            testkit::assert_no_secrets(&format!("{records:?}"));
            Ok(Outcome::Recorded(records.len()))
        }
        http => {
            let status = answer["statusCode"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| format!("no statusCode: {answer}"))?;
            let body = match answer["body"].as_str() {
                None | Some("") => Value::Null,
                Some(text) => serde_json::from_str(text)
                    .map_err(|_| format!("{status} body is not JSON: {text}"))?,
            };
            fixtures::check_http_body(http, status, &body)?;
            Ok(Outcome::Http(status))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The panic probe.

enum Fate {
    /// The panicking invocation got an error and the same process answered the next one.
    Survived,
    /// The process exited on the panic, answering nothing.
    Died(String),
    /// Anything else (an answer to the panicking invocation, say).
    Other(String),
}

/// What tools/panic-probe panics with.
const PANIC_MESSAGE: &str = "panic-probe: a handler panic, on request";

async fn panic_probe(bootstrap: &Path) -> Result<Fate, String> {
    let template = std::fs::read_to_string(
        testkit::workspace_root().join("events/unleash-user-admin-success.json"),
    )
    .map_err(|e| e.to_string())?;
    let with_body = |body: &str| {
        let mut v: Value = serde_json::from_str(&template).expect("a fixture is JSON");
        v["body"] = json!(body);
        v.to_string()
    };
    let mut api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
    let log = log_file("panic-probe");
    let mut child = spawn_emulated(bootstrap, &api, &[("RUST_LOG".into(), "warn".into())], &log)
        .map_err(|e| format!("cannot start {}: {e}", bootstrap.display()))?;
    api.push(with_body("panic"));
    api.push(with_body("hello"));
    let first = next_posted(&mut api, &mut child).await;
    let fate = match first {
        Err(exit) if exit.starts_with("exited") => Fate::Died(exit),
        Err(e) => Fate::Other(e),
        // The error must be the panic's (lambda_runtime puts its message in `errorMessage`).
        Ok(p) if p.is_invocation_error() && p.text().contains(PANIC_MESSAGE) => {
            match next_posted(&mut api, &mut child).await {
                Ok(second) if second.is_response() && second.text().contains("ok") => {
                    Fate::Survived
                }
                Ok(second) => Fate::Other(format!("second: {} {}", second.path, second.text())),
                Err(e) => Fate::Other(format!("after the error, {e}")),
            }
        }
        Ok(p) => Fate::Other(format!("first: {} {}", p.path, p.text())),
    };
    let output = stop(child, &log);
    // It died of the panic, not of something else.
    match fate {
        Fate::Died(exit) if !output.contains(PANIC_MESSAGE) => Ok(Fate::Other(format!(
            "{exit} without the panic's message in its log:\n{output}"
        ))),
        fate => Ok(fate),
    }
}
