//! `soak`: concurrent clients mixing the five APIs and the WebSocket over overlapping users,
//! through `userctl serve` (whose store goes through the fault proxy), for a bounded time; then
//! every answer is checked against what reached the table, and the table against its invariants.
//! Run by `scripts/soak`, which starts the test server, the proxy and `userctl serve`.
//!
//! Each request writes a value no other request writes (a marker). The users table's stream (read
//! directly from the test server) holds every committed version of every user, so for each
//! request: a success whose marker never reached the table is a lost answer, a refusal whose
//! marker did is a false answer. A 503 (outcome unknown) is sent again, as a client would, until
//! it is answered otherwise; a refusal of such a resend is the resend's answer, so a change that
//! landed through an earlier send is counted apart, not as a false answer. Any other 5xx is a
//! defect.
//!
//! usage: soak --base URL --direct URL --table NAME --secret SECRET --proxy URL
//!             [--seconds 30] [--clients 8] [--users 12] [--seed 1]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shared::config::DynamoDbLocation;
use shared::stamp::Stamp;
use shared::store::Store;
use shared::values::{Email, UserId, Username};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    UnleashName,
    UnleashEmail,
    NewmNickname,
    NewmEmail,
    MmcRoles,
    AaaPreference,
    DeviceHiveData,
    DeviceHiveLogin,
}

const OPS: [Op; 8] = [
    Op::UnleashName,
    Op::UnleashEmail,
    Op::NewmNickname,
    Op::NewmEmail,
    Op::MmcRoles,
    Op::AaaPreference,
    Op::DeviceHiveData,
    Op::DeviceHiveLogin,
];

struct Args {
    base: String,
    direct: String,
    table: String,
    secret: String,
    proxy: String,
    seconds: u64,
    clients: usize,
    users: i64,
    seed: u64,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    let required = |flag: &str| {
        value(flag).unwrap_or_else(|| {
            eprintln!("soak: {flag} is required (see the usage in tests/src/bin/soak.rs)");
            std::process::exit(2)
        })
    };
    Args {
        base: required("--base"),
        direct: required("--direct"),
        table: required("--table"),
        secret: required("--secret"),
        proxy: required("--proxy"),
        seconds: value("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
        clients: value("--clients").and_then(|v| v.parse().ok()).unwrap_or(8),
        users: value("--users").and_then(|v| v.parse().ok()).unwrap_or(12),
        seed: value("--seed").and_then(|v| v.parse().ok()).unwrap_or(1),
    }
}

/// One request as finally answered.
struct Attempt {
    op: Op,
    user: i64,
    /// The value it writes, and where: (attribute, how it is held).
    marker: String,
    status: u16,
    sends: usize,
}

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends a DeviceHive message and waits for its answer.
async fn ask(socket: &mut Socket, message: Value) -> Value {
    socket
        .send(Message::Text(message.to_string()))
        .await
        .expect("send on the socket");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap_or_default(),
            Some(Ok(_)) => continue,
            other => panic!("the socket closed: {other:?}"),
        }
    }
}

struct Client {
    index: usize,
    http: reqwest::Client,
    socket: Socket,
    base: String,
    secret: String,
    direct: Store,
    users: i64,
    random: Random,
    sent: usize,
}

impl Client {
    async fn connect(index: usize, args: &Args, direct: Store) -> Client {
        let ws = args.base.replacen("http", "ws", 1) + "/ws";
        let admin = shared::testing::sign(&args.secret, 1, &["admin"]);
        // Half the clients authenticate at the handshake, half in-band, as DeviceHive's does.
        let in_band = index % 2 == 1;
        let url = if in_band {
            ws
        } else {
            format!("{ws}?token={admin}")
        };
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("a WebSocket to userctl serve");
        if in_band {
            let answer = ask(
                &mut socket,
                json!({"action": "authenticate", "requestId": "auth", "token": admin}),
            )
            .await;
            assert_eq!(answer["status"], "success", "authenticate: {answer}");
        }
        Client::bare(index, args, direct, socket)
    }

    fn bare(index: usize, args: &Args, direct: Store, socket: Socket) -> Client {
        Client {
            index,
            http: reqwest::Client::new(),
            socket,
            base: args.base.clone(),
            secret: args.secret.clone(),
            direct,
            users: args.users,
            random: Random(
                args.seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(index as u64 + 1),
            ),
            sent: 0,
        }
    }

    fn token(&self, id: i64, roles: &[&str]) -> String {
        shared::testing::sign(&self.secret, id, roles)
    }

    async fn ws(&mut self, message: Value) -> Value {
        ask(&mut self.socket, message).await
    }

    async fn http(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> u16 {
        let answer = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match answer {
            Ok(a) => a.status().as_u16(),
            Err(_) => 599,
        }
    }

    /// Sends the operation once; its status (DeviceHive: 200 for success, else its code).
    async fn send(&mut self, op: Op, user: i64, marker: &str) -> u16 {
        let admin = self.token(1, &["admin"]);
        let own = self.token(user, &[]);
        let put = reqwest::Method::PUT;
        match op {
            Op::UnleashName => {
                self.http(
                    put,
                    &format!("/api/admin/user-admin/{user}"),
                    &admin,
                    json!({"name": marker}),
                )
                .await
            }
            Op::UnleashEmail => {
                let email = format!("{marker}@soak.example");
                self.http(
                    put,
                    &format!("/api/admin/user-admin/{user}"),
                    &admin,
                    json!({"email": email}),
                )
                .await
            }
            Op::NewmNickname => {
                self.http(
                    reqwest::Method::PATCH,
                    "/v1/users/me",
                    &own,
                    json!({"nickname": marker}),
                )
                .await
            }
            Op::NewmEmail => {
                let email = format!("{marker}@soak.example");
                // The code is issued on the server directly, as NEWM's email would deliver it.
                let Ok(code) = self
                    .direct
                    .issue_code(UserId::new(user).unwrap(), &Email::parse(&email).unwrap())
                    .await
                else {
                    return 599;
                };
                self.http(
                    reqwest::Method::PATCH,
                    "/v1/users/me",
                    &own,
                    json!({"email": email, "authCode": code}),
                )
                .await
            }
            Op::MmcRoles => {
                let username = match self.direct.get(UserId::new(user).unwrap()).await {
                    Ok(Some(u)) => u.username,
                    _ => return 599,
                };
                self.http(
                    put,
                    &format!("/api/profile/{username}"),
                    &admin,
                    json!({"username": username, "roles": [marker]}),
                )
                .await
            }
            Op::AaaPreference => {
                self.http(
                    put,
                    &format!("/api/AAA/UserProfiles/{user}"),
                    &own,
                    json!({"Preferences": [{"PreferenceID": 1, "PreferenceValue": marker}]}),
                )
                .await
            }
            Op::DeviceHiveData | Op::DeviceHiveLogin => {
                let change = if op == Op::DeviceHiveData {
                    json!({"data": {"soak": marker}})
                } else {
                    json!({"login": marker})
                };
                let answer = self
                    .ws(json!({"action": "user/update", "requestId": marker, "userId": user, "user": change}))
                    .await;
                if answer["status"] == "success" {
                    200
                } else {
                    answer["code"].as_u64().unwrap_or(599) as u16
                }
            }
        }
    }

    async fn run(mut self, deadline: Instant) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        while Instant::now() < deadline {
            let op = OPS[self.random.below(OPS.len() as u64) as usize];
            let user = 2 + self.random.below(self.users as u64) as i64;
            self.sent += 1;
            let marker = format!("s{}x{}", self.index, self.sent);
            let mut sends = 0;
            let status = loop {
                sends += 1;
                let status = self.send(op, user, &marker).await;
                // The outcome is unknown: send the same request again, as a client would.
                if unknown_outcome(op, status) && sends < 20 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                break status;
            };
            attempts.push(Attempt {
                op,
                user,
                marker,
                status,
                sends,
            });
        }
        attempts
    }
}

/// An answer that says the outcome is unknown: 503 (MMC's 500, its document having no 503), or
/// no answer at all (599).
fn unknown_outcome(op: Op, status: u16) -> bool {
    status == 503 || status == 599 || (op == Op::MmcRoles && status == 500)
}

fn success(op: Op, status: u16) -> bool {
    match op {
        Op::NewmNickname | Op::NewmEmail => status == 204,
        _ => status == 200,
    }
}

/// Whether this version of the user carries the attempt's marker where its operation writes it.
fn carries(op: Op, marker: &str, image: &HashMap<String, AttributeValue>) -> bool {
    let s = |k: &str| image.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
    let email = format!("{marker}@soak.example");
    match op {
        Op::UnleashName => s("name") == Some(marker),
        Op::NewmNickname => s("nickname") == Some(marker),
        Op::UnleashEmail | Op::NewmEmail => s("email") == Some(email.as_str()),
        Op::MmcRoles => image
            .get("roles")
            .and_then(|v| v.as_ss().ok())
            .is_some_and(|r| r.iter().any(|x| x == marker)),
        Op::AaaPreference => image
            .get("prefs")
            .and_then(|v| v.as_m().ok())
            .and_then(|m| m.get("1"))
            .and_then(|v| v.as_m().ok())
            .and_then(|m| m.get("value"))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|v| v == marker),
        Op::DeviceHiveData => s("data").is_some_and(|d| d.contains(&format!("\"{marker}\""))),
        Op::DeviceHiveLogin => s("username") == Some(marker),
    }
}

/// Every committed version of every user, from the table's stream: user id -> new images; and
/// the stream records whose version went down.
async fn history(
    args: &Args,
) -> (
    HashMap<i64, Vec<HashMap<String, AttributeValue>>>,
    Vec<String>,
) {
    let location = DynamoDbLocation {
        endpoint: Some(args.direct.clone()),
        region: Some("us-east-1".into()),
    };
    let sdk = shared::store::sdk_config_for(&location).await;
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
            .endpoint_url(&args.direct)
            .build(),
    );
    let dynamodb = shared::store::dynamodb_client(&location).await;
    let arn = dynamodb
        .describe_table()
        .table_name(&args.table)
        .send()
        .await
        .expect("describe the users table")
        .table()
        .and_then(|t| t.latest_stream_arn().map(str::to_owned))
        .expect("the users table has a stream");
    let description = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe the stream");
    let mut versions: HashMap<i64, Vec<HashMap<String, AttributeValue>>> = HashMap::new();
    let mut shrunk = Vec::new();
    for shard in description
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
    {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("a shard iterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(it) = iterator {
            // The test server is busy with the soak's tail: a slow read is read again.
            let mut tries = 0;
            let out = loop {
                match streams
                    .get_records()
                    .shard_iterator(&it)
                    .limit(100)
                    .send()
                    .await
                {
                    Ok(out) => break out,
                    Err(e) if tries < 10 => {
                        tries += 1;
                        eprintln!("soak: reading the stream again ({e})");
                    }
                    Err(e) => panic!("cannot read the stream: {e}"),
                }
            };
            if out.records().is_empty() {
                break;
            }
            for record in out.records() {
                let Some(change) = record.dynamodb() else {
                    continue;
                };
                let Some(new) = change.new_image() else {
                    continue;
                };
                let pk = new
                    .get("pk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let Some(id) = pk.strip_prefix("USER#").and_then(|i| i.parse::<i64>().ok()) else {
                    continue;
                };
                let version = |image: &HashMap<String, AttributeValue>| {
                    image
                        .get("version")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok())
                };
                if let (Some(old), Some(new_v)) =
                    (change.old_image().and_then(version), version(new))
                {
                    if new_v < old {
                        shrunk.push(format!("user {id}: version {old} -> {new_v}"));
                    }
                }
                versions.entry(id).or_default().push(new.clone());
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    (versions, shrunk)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> std::process::ExitCode {
    let args = args();
    let location = DynamoDbLocation {
        endpoint: Some(args.direct.clone()),
        region: Some("us-east-1".into()),
    };
    let direct = Store::connect_to(args.table.clone(), &location).await;
    // Users 2..=users+1, each with preference 1 for AAA to change.
    let stamp = Stamp::new(None, "soak", uuid::Uuid::new_v4().to_string());
    for id in 2..=args.users + 1 {
        let mut user = testkit::new_user(id, &[]);
        user.username = Username::parse(&format!("soak{id}")).unwrap();
        user.email = Email::parse(&format!("soak{id}@soak.example")).unwrap();
        user.preferences = vec![shared::user::Preference {
            id: 1,
            name: "Soak".into(),
            value: "start".into(),
            locked: false,
            description: String::new(),
        }];
        direct
            .create(&user, &stamp)
            .await
            .expect("seed a soak user");
    }
    let mut admin = testkit::new_user(1, &["admin"]);
    admin.username = Username::parse("soakadmin").unwrap();
    admin.email = Email::parse("soakadmin@soak.example").unwrap();
    direct.create(&admin, &stamp).await.expect("seed the admin");

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut clients = tokio::task::JoinSet::new();
    for index in 0..args.clients {
        let client = Client::connect(index, &args, direct.clone()).await;
        clients.spawn(client.run(deadline));
    }
    let mut attempts = Vec::new();
    while let Some(done) = clients.join_next().await {
        attempts.extend(done.expect("a client task"));
    }
    let elapsed = started.elapsed();

    let (history, shrunk) = history(&args).await;
    let applied = |a: &Attempt| {
        history
            .get(&a.user)
            .is_some_and(|versions| versions.iter().any(|image| carries(a.op, &a.marker, image)))
    };
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    let (mut lost, mut false_answers, mut server_errors) = (Vec::new(), Vec::new(), Vec::new());
    let (mut unknown, mut resent, mut resend_refused) = (0, 0, 0);
    for a in &attempts {
        *by_status.entry(a.status).or_default() += 1;
        *by_op.entry(format!("{:?}", a.op)).or_default() += 1;
        resent += a.sends - 1;
        let line = || {
            format!(
                "{:?} on user {} ({}): answered {} after {} send(s)",
                a.op, a.user, a.marker, a.status, a.sends
            )
        };
        if success(a.op, a.status) {
            if !applied(a) {
                lost.push(line());
            }
        } else if unknown_outcome(a.op, a.status) {
            unknown += 1;
        } else if a.status >= 500 {
            // Faults are answered 503 (unknown) or recognised; any other 5xx is a defect.
            server_errors.push(line());
        } else if applied(a) && a.sends > 1 {
            // An earlier send, answered 503 (outcome unknown), landed; the answer is the last
            // send's, refused on the table as that send found it (say, the user renamed since).
            resend_refused += 1;
        } else if applied(a) {
            false_answers.push(line());
        }
    }
    let violations = testkit::invariants::violations(&direct).await;
    let stats: Value = reqwest::get(format!("{}/__fault-proxy/stats", args.proxy))
        .await
        .ok()
        .map(|r| r.json())
        .expect("the proxy's stats")
        .await
        .unwrap_or_default();

    println!(
        "## Soak: {} s, {} clients, {} users",
        args.seconds, args.clients, args.users
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| requests answered | {} in {:.1} s |",
        attempts.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "| requests sent again after an unknown outcome (503, MMC 500, no answer) | {resent} |"
    );
    let calls: u64 = stats["calls"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    println!("| DynamoDB calls through the proxy | {calls} |");
    let injected = stats["injected"].as_object().cloned().unwrap_or_default();
    let total_faults: u64 = injected.values().filter_map(Value::as_u64).sum();
    println!("| faults injected | {total_faults} |");
    for (kind, n) in &injected {
        println!("| faults: {kind} | {n} |");
    }
    for (op, n) in &by_op {
        println!("| requests: {op} | {n} |");
    }
    for (status, n) in &by_status {
        println!("| answers: {status} | {n} |");
    }
    println!("| outcome still unknown after 20 sends | {unknown} |");
    println!(
        "| lost answers (success, change not in the table) | {} |",
        lost.len()
    );
    println!("| refusals of a resend whose earlier send (outcome unknown) had landed | {resend_refused} |");
    println!(
        "| false answers (refusal, change in the table) | {} |",
        false_answers.len()
    );
    println!(
        "| server errors (5xx other than an unknown outcome) | {} |",
        server_errors.len()
    );
    println!(
        "| invariant violations (locks, orphans, 2FA counts) | {} |",
        violations.len()
    );
    println!("| versions that went down | {} |", shrunk.len());
    for line in lost
        .iter()
        .chain(&false_answers)
        .chain(&server_errors)
        .chain(&violations)
        .chain(&shrunk)
        .take(20)
    {
        eprintln!("soak: {line}");
    }
    let sound = lost.is_empty()
        && false_answers.is_empty()
        && server_errors.is_empty()
        && violations.is_empty()
        && shrunk.is_empty()
        && unknown == 0
        && !attempts.is_empty();
    if sound {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("soak: FAILED");
        std::process::ExitCode::FAILURE
    }
}
