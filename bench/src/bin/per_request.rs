//! Per-request cost without a network: each handler from the API Gateway event (JSON text) to its
//! response, with DynamoDB answered in-process by the canned client, so the SDK's serialization,
//! signing and parsing are measured too. Prints median and p99 per case, and DynamoDB calls.
//!
//! Run: cargo run --release -p bench --bin per_request

use std::collections::HashMap;
use std::time::Instant;

use bench::{canned_store, percentiles, BOB_PASSWORD, BOB_UUID, LOCAL_SECRET};
use serde_json::{json, Value};
use shared::apigw::http::{match_route, HttpEvent, Route};
use shared::apigw::websocket::ws_event;
use shared::auth::{Principal, Signer, Verifier};
use shared::authorizer_context::ConnectionPrincipal;
use shared::config::{JwtConfig, JwtKey};
use shared::values::UserId;
use shared::AppState;

/// The round trip the latency cases give every DynamoDB call.
const ROUND_TRIP_MS: u64 = 5;
const AUDIT_REMOTE: &str = "audit-log 100 records, 5 ms round trips, 16 in flight (as deployed)";
const AUDIT_REMOTE_ONE_BY_ONE: &str = "audit-log 100 records, 5 ms round trips, 1 in flight";

fn token(id: i64, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(LOCAL_SECRET.as_bytes(), None, None).sign(UserId::new(id).unwrap(), &roles, 3600)
}

fn event(routes: &[Route], method: &str, path: &str, auth: &str, body: Value) -> String {
    let (route, params) = routes
        .iter()
        .find_map(|r| match_route(r.path, path).map(|p| (r, p)))
        .expect("route");
    HttpEvent {
        method: method.into(),
        path: path.into(),
        route_key: route.key(),
        path_parameters: params,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {auth}")),
        ],
        body: body.to_string().into_bytes(),
        ..Default::default()
    }
    .to_json()
    .to_string()
}

fn ws(user: Value, ctx: &Value) -> String {
    let frame = json!({"action": "user/update", "requestId": 1, "userId": "current", "user": user});
    ws_event("user/update", "bench", Some(&frame.to_string()), Some(ctx)).to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Lambda's way of handing over the role's credentials (before any other thread exists).
    std::env::set_var("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0");
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        "bench/bench/bench/bench/bench/bench/bench0",
    );
    std::env::set_var("AWS_SESSION_TOKEN", "bench-session-token");
    let (store, counter) = canned_store().await;
    let verifier = Verifier::new(&JwtConfig {
        key: JwtKey::Secret(LOCAL_SECRET.as_bytes().to_vec()),
        issuer: None,
        audience: None,
        claims: shared::config::ClaimNames::default(),
    })
    .unwrap();
    let app = &AppState { store, verifier };
    let mmc = mmc_profile::Settings {
        user_management_enabled: true,
    };
    let (admin, bob) = (token(1, &["admin"]), token(2, &["viewer"]));
    let bob_ctx = ConnectionPrincipal {
        principal: Principal {
            user_id: UserId::new(2).unwrap(),
            roles: ["viewer".to_owned()].into(),
            authenticated_at: shared::auth::now_unix(),
        },
        expires_at: shared::auth::now_unix() + 3600,
    }
    .to_context();
    let pw = |new: &str| json!({"newPassword": new, "confirmPassword": new, "currentPassword": BOB_PASSWORD});

    let u = unleash_user_admin::ROUTES;
    let n = newm_patch_user::ROUTES;
    let m = mmc_profile::ROUTES;
    let a = aaa_user_profile::ROUTES;
    let r = devicehive_user_update::rest::ROUTES;
    let events: HashMap<&str, String> = HashMap::from([
        (
            "unleash plain",
            event(
                u,
                "PUT",
                "/api/admin/user-admin/2",
                &admin,
                json!({"name": "Robert"}),
            ),
        ),
        (
            "unleash email",
            event(
                u,
                "PUT",
                "/api/admin/user-admin/2",
                &admin,
                json!({"email": "rob@example.com"}),
            ),
        ),
        (
            "newm plain",
            event(
                n,
                "PATCH",
                "/v1/users/me",
                &bob,
                json!({"nickname": "Bobby"}),
            ),
        ),
        (
            "newm plain by uuid",
            event(
                n,
                "PATCH",
                &format!("/v1/users/{BOB_UUID}"),
                &bob,
                json!({"genre": "Pop"}),
            ),
        ),
        (
            "newm email",
            event(
                n,
                "PATCH",
                "/v1/users/me",
                &bob,
                json!({"email": bench::NEW_EMAIL, "authCode": bench::CODE}),
            ),
        ),
        (
            "newm password",
            event(n, "PATCH", "/v1/users/me", &bob, pw("N3w-Passw0rd")),
        ),
        (
            "mmc plain (own roles)",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &bob,
                json!({"username": "bob", "roles": ["viewer"]}),
            ),
        ),
        (
            "mmc admin roles",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &admin,
                json!({"username": "bob", "roles": ["editor"]}),
            ),
        ),
        (
            "mmc password",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &bob,
                json!({"username": "bob", "password": "another-secret"}),
            ),
        ),
        (
            "aaa plain",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &admin,
                json!({"AccountStatus": 1}),
            ),
        ),
        (
            "aaa email",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &admin,
                json!({"EmailAddress": "rob@example.com"}),
            ),
        ),
        (
            "aaa preference",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &bob,
                json!({"Preferences": [{"PreferenceID": 3, "PreferenceValue": 7}]}),
            ),
        ),
        (
            "aaa password",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &bob,
                json!({"Password": "Passw0rd-aaa", "RepeatPassword": "Passw0rd-aaa"}),
            ),
        ),
        (
            "devicehive plain",
            ws(json!({"data": {"theme": "dark"}}), &bob_ctx),
        ),
        (
            "devicehive password",
            ws(json!({"password": "secret-99"}), &bob_ctx),
        ),
        (
            "devicehive rest plain",
            event(
                r,
                "PUT",
                "/api/rest/user/current",
                &bob,
                json!({"data": {"theme": "dark"}}),
            ),
        ),
        ("audit-log 1 record", stream_batch(1)),
        ("audit-log 100 records", stream_batch(100)),
        (AUDIT_REMOTE, stream_batch(100)),
        (AUDIT_REMOTE_ONE_BY_ONE, stream_batch(100)),
    ]);
    // The audit log writes through the same canned client (PutItem is answered `{}`).
    let audit =
        &audit_log::Audit::with_client(app.store.client().clone(), "bench-audit", 400, false);
    // And over loopback HTTP to the canned DynamoDB holding each answer for a regional round
    // trip, as many records at once as the function writes, or one at a time.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_config = shared::config::Config {
        table_name: "bench".into(),
        dynamodb_endpoint: Some(format!("http://{}", slow.local_addr().unwrap())),
        region: Some("us-east-1".into()),
        credential_max_age_seconds: shared::config::DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
        jwt: JwtConfig {
            key: JwtKey::Secret(LOCAL_SECRET.as_bytes().to_vec()),
            issuer: None,
            audience: None,
            claims: shared::config::ClaimNames::default(),
        },
    };
    tokio::spawn(bench::serve_canned_with_latency(
        slow,
        std::time::Duration::from_millis(ROUND_TRIP_MS),
    ));
    // The production client for that endpoint, its calls counted with the others.
    let (slow_store, _) = shared::store::Store::connect_counted(&slow_config).await;
    let slow_client = aws_sdk_dynamodb::Client::from_conf(
        slow_store
            .client()
            .config()
            .to_builder()
            .interceptor(counter.clone())
            .build(),
    );
    let remote = &audit_log::Audit::with_client(slow_client.clone(), "bench-audit", 400, false);
    let remote_one_by_one =
        &audit_log::Audit::with_client(slow_client, "bench-audit", 400, false).with_in_flight(1);

    // Floors: the parts every plain update pays for, measured alone, to show what limits it.
    let floors = [
        "floor: API Gateway event parse (lambda_http)",
        "floor: JWT verify (HS256)",
        "floor: SDK GetItem of bob",
        "floor: SDK UpdateItem returning bob (ALL_NEW)",
        "floor: SDK UpdateItem returning nothing (NONE)",
    ];
    let floor_token = bob.clone();

    // An optional argument keeps only the cases whose name contains it (for profiling one case).
    let only = std::env::args().nth(1).unwrap_or_default();
    let mut names: Vec<&str> = events.keys().copied().chain(floors).collect();
    names.retain(|n| n.contains(&*only));
    names.sort();
    let mut cases: Vec<Case> = names
        .into_iter()
        .map(|name| {
            let slow = name.contains("password") || name.contains("round trips");
            let iterations = match std::env::var("ITERATIONS") {
                Ok(n) => n.parse().expect("ITERATIONS is a number"),
                Err(_) if slow => 30,
                Err(_) => 5000,
            };
            Case {
                name,
                // The event-parse floor parses the NEWM plain update's event.
                text: events
                    .get(name)
                    .or_else(|| events.get("newm plain").filter(|_| name.contains("event")))
                    .cloned()
                    .unwrap_or_default(),
                iterations,
                warmup: if slow { 3 } else { 500 },
                samples: Vec::with_capacity(iterations),
                calls: 0,
            }
        })
        .collect();

    // Cases take turns in rounds, so a slow spell of this shared machine hits them all alike.
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        for case in &mut cases {
            let timed = case.iterations / ROUNDS + usize::from(round < case.iterations % ROUNDS);
            let warmup = if round == 0 { case.warmup } else { 0 };
            for i in 0..warmup + timed {
                counter.take();
                let started = Instant::now();
                let outcome = if case.name.starts_with("floor") {
                    floor(case.name, &case.text, &floor_token, app).await
                } else {
                    let audit = match case.name {
                        AUDIT_REMOTE => remote,
                        AUDIT_REMOTE_ONE_BY_ONE => remote_one_by_one,
                        _ => audit,
                    };
                    run_once(case.name, &case.text, &mmc, app, audit).await
                };
                let elapsed = started.elapsed();
                outcome.check(case.name);
                if i >= warmup {
                    case.samples.push(elapsed);
                    case.calls = counter.take();
                }
            }
        }
    }

    println!("| case | DynamoDB calls | median µs | p99 µs | iterations |");
    println!("|---|---|---|---|---|");
    for case in cases {
        let (p50, p99) = percentiles(case.samples);
        let (name, calls, iterations) = (case.name, case.calls, case.iterations);
        println!("| {name} | {calls} | {p50:.1} | {p99:.1} | {iterations} |");
    }
}

struct Case {
    name: &'static str,
    text: String,
    iterations: usize,
    warmup: usize,
    samples: Vec<std::time::Duration>,
    calls: usize,
}

/// What a case produced, checked after its clock stopped.
enum Outcome {
    Http(u16),
    WebSocket(Value),
    Floor(bool),
}

impl Outcome {
    fn check(self, name: &str) {
        match self {
            Outcome::Http(status) => assert!((200..300).contains(&status), "{name}: {status}"),
            Outcome::WebSocket(out) => {
                let reply: Value = serde_json::from_str(out["body"].as_str().unwrap_or("{}"))
                    .expect("a JSON reply");
                assert_eq!(reply["status"], "success", "{name}: {reply}");
            }
            Outcome::Floor(ok) => assert!(ok, "{name} failed"),
        }
    }
}

/// The audit log's event: `records` copies of the `events/audit-log-success.json` change (bob's
/// nickname set through NEWM), each its own stream record.
fn stream_batch(records: usize) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/audit-log-success.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).expect(path)).unwrap();
    let one = &fixture["Records"][0];
    let batch: Vec<Value> = (0..records)
        .map(|i| {
            let mut record = one.clone();
            record["eventID"] = json!(format!("{i:032x}"));
            record["dynamodb"]["SequenceNumber"] =
                json!(format!("{}", 100_000_000_000_000_000_000u128 + i as u128));
            record
        })
        .collect();
    json!({"Records": batch}).to_string()
}

/// One part of a plain update on its own.
async fn floor(name: &str, event: &str, token: &str, app: &AppState) -> Outcome {
    let ok = if name.contains("event parse") {
        lambda_http::request::from_str(event).is_ok()
    } else if name.contains("JWT") {
        app.verifier.verify_with_expiry(token).is_ok()
    } else if name.contains("GetItem") {
        matches!(app.store.get(UserId::new(2).unwrap()).await, Ok(Some(_)))
    } else {
        let key = HashMap::from([(
            "pk".to_owned(),
            aws_sdk_dynamodb::types::AttributeValue::S("USER#2".into()),
        )]);
        app.store
            .client()
            .update_item()
            .table_name(app.store.table())
            .set_key(Some(key))
            .update_expression("SET #n = :v")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#n", "nickname")
            .expression_attribute_values(
                ":v",
                aws_sdk_dynamodb::types::AttributeValue::S("Bobby".into()),
            )
            .return_values(if name.contains("NONE") {
                aws_sdk_dynamodb::types::ReturnValue::None
            } else {
                aws_sdk_dynamodb::types::ReturnValue::AllNew
            })
            .send()
            .await
            .is_ok_and(|out| out.attributes().is_some() != name.contains("NONE"))
    };
    Outcome::Floor(ok)
}

/// One event through its function.
async fn run_once(
    name: &str,
    text: &str,
    mmc: &mmc_profile::Settings,
    app: &AppState,
    audit: &audit_log::Audit,
) -> Outcome {
    if name.starts_with("audit-log") {
        // Lambda's runtime hands the handler the event as JSON, parsed from the text.
        let event: Value = serde_json::from_str(text).unwrap();
        let answer = audit.handle(event).await;
        return Outcome::Floor(answer["batchItemFailures"] == json!([]));
    }
    if name.starts_with("devicehive") && !name.contains("rest") {
        let event: Value = serde_json::from_str(text).unwrap();
        let settings = devicehive_user_update::Settings::default();
        return Outcome::WebSocket(devicehive_user_update::handle(app, &settings, event).await);
    }
    let req = lambda_http::request::from_str(text).expect("valid event");
    let resp = if name.starts_with("devicehive rest") {
        let settings = devicehive_user_update::Settings::default();
        devicehive_user_update::rest::handle(app, &settings, req).await
    } else if name.starts_with("unleash") {
        unleash_user_admin::handle(app, req).await
    } else if name.starts_with("newm") {
        newm_patch_user::handle(app, req).await
    } else if name.starts_with("mmc") {
        mmc_profile::handle(app, mmc, req).await
    } else {
        aaa_user_profile::handle(app, req).await
    };
    Outcome::Http(resp.status().as_u16())
}
