//! A canned DynamoDB: answers every call as DynamoDB would for the demo user bob (id 2), so the
//! functions and the SDK do all their own work (serialization, signing, parsing) without a
//! network or a database in the way. Served in-process as the SDK's HTTP client, or over HTTP
//! on loopback for whole processes.

pub mod runtime_api;

use std::sync::OnceLock;

use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

/// The local development secret the `events/` fixtures are signed with.
pub const LOCAL_SECRET: &str = "local-development-secret-change-me-0123456789";
/// bob's password in demo/users.json.
pub const BOB_PASSWORD: &str = "Bob-Builder-2024";
pub const BOB_UUID: &str = "0b0c1d2e-0000-4000-8000-000000000002";
/// The email change the benchmarks make for bob, and the 2FA code issued for it.
pub const NEW_EMAIL: &str = "rob@example.com";
pub const CODE: &str = "123456";

fn bob_item() -> &'static Value {
    static ITEM: OnceLock<Value> = OnceLock::new();
    ITEM.get_or_init(|| {
        let hash = shared::password::hash_blocking(
            &shared::values::Password::parse("p", BOB_PASSWORD, 1).expect("valid"),
        )
        .expect("argon2 works");
        json!({
            "pk": {"S": "USER#2"}, "id": {"N": "2"}, "uuid": {"S": BOB_UUID},
            "username": {"S": "bob"}, "email": {"S": "bob@example.com"},
            "first_name": {"S": "Bob"}, "last_name": {"S": "Builder"},
            "roles": {"SS": ["viewer"]}, "status": {"S": "active"},
            "password_hash": {"S": hash.as_phc()}, "data": {"S": "{\"team\":\"blue\"}"},
            "auth_type": {"N": "1"}, "pw_failures": {"N": "0"},
            "prefs": {"M": {
                "3": {"M": {"id": {"N": "3"}, "name": {"S": "DefaultDisplayID"}, "value": {"S": "5"},
                             "locked": {"BOOL": false}, "description": {"S": ""}}},
                "4": {"M": {"id": {"N": "4"}, "name": {"S": "Timezone"}, "value": {"S": "UTC"},
                             "locked": {"BOOL": true}, "description": {"S": ""}}}
            }},
            "props": {"M": {}},
            "created_at": {"S": "2026-01-01T00:00:00Z"}, "updated_at": {"S": "2026-01-01T00:00:00Z"},
            "version": {"N": "7"}
        })
    })
}

/// The administrator (user 1) as stored: what an administrator's write of another user reads first.
fn admin_item() -> &'static Value {
    static ITEM: OnceLock<Value> = OnceLock::new();
    ITEM.get_or_init(|| {
        let mut item = bob_item().clone();
        item["pk"] = json!({"S": "USER#1"});
        item["id"] = json!({"N": "1"});
        item["uuid"] = json!({"S": "0b0c1d2e-0000-4000-8000-000000000001"});
        item["username"] = json!({"S": "admin"});
        item["email"] = json!({"S": "admin@example.com"});
        item["roles"] = json!({"SS": ["admin"]});
        item
    })
}

/// DynamoDB's answer to one call, by its `X-Amz-Target` and request body. The two hot answers are
/// rendered once, and the request is not parsed: the responder's own cost stays out of the
/// figures as far as it can.
pub fn answer(target: &str, body: &[u8]) -> bytes::Bytes {
    static WITH_BOB: OnceLock<(bytes::Bytes, bytes::Bytes)> = OnceLock::new();
    let (get_bob, update_bob) = WITH_BOB.get_or_init(|| {
        (
            json!({"Item": bob_item()}).to_string().into(),
            json!({"Attributes": bob_item()}).to_string().into(),
        )
    });
    static GET_ADMIN: OnceLock<bytes::Bytes> = OnceLock::new();
    static CODE_ITEM: OnceLock<bytes::Bytes> = OnceLock::new();
    match target.rsplit('.').next().unwrap_or("") {
        // The 2FA guess count: the code item, holding the code issued for bob's new email.
        "UpdateItem" if key_of(body).is_some_and(|pk| pk.starts_with("CODE#")) => CODE_ITEM
            .get_or_init(|| {
                let id = shared::values::UserId::new(2).expect("an id");
                let email = shared::values::Email::parse(NEW_EMAIL).expect("an email");
                json!({"Attributes": {
                    "pk": {"S": format!("CODE#2#{NEW_EMAIL}")}, "user_id": {"N": "2"},
                    "code_hash": {"S": shared::store::code_hash_for(id, &email, CODE)},
                    "attempts": {"N": "1"}, "expires_at": {"N": "4102444800"}
                }})
                .to_string()
                .into()
            })
            .clone(),
        // DynamoDB sends the item back only when asked to (`ReturnValues`); otherwise `{}`.
        "UpdateItem" if asks_for_all_new(body) => update_bob.clone(),
        "UpdateItem" => bytes::Bytes::from_static(b"{}"),
        "GetItem" => match key_of(body) {
            Some("USER#1") => GET_ADMIN
                .get_or_init(|| json!({"Item": admin_item()}).to_string().into())
                .clone(),
            Some(pk) if pk.starts_with("USER#") => get_bob.clone(),
            // Lock and lookup items all point at bob.
            Some(pk) => json!({"Item": {"pk": {"S": pk}, "user_id": {"N": "2"}}})
                .to_string()
                .into(),
            None => bytes::Bytes::from_static(b"{}"),
        },
        _ => bytes::Bytes::from_static(b"{}"),
    }
}

fn asks_for_all_new(body: &[u8]) -> bool {
    const ALL_NEW: &[u8] = br#""ReturnValues":"ALL_NEW""#;
    body.windows(ALL_NEW.len()).any(|w| w == ALL_NEW)
}

/// The partition key a GetItem or UpdateItem names, read straight out of the SDK's request JSON.
fn key_of(body: &[u8]) -> Option<&str> {
    const KEY: &str = r#""Key":{"pk":{"S":""#;
    let text = std::str::from_utf8(body).ok()?;
    let rest = &text[text.find(KEY)? + KEY.len()..];
    Some(&rest[..rest.find('"')?])
}

/// The DynamoDB operation a request names (`DynamoDB_20120810.UpdateItem`).
fn target(headers: &http::HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The SDK's HTTP client replaced by the canned answers: no socket at all.
pub fn in_process_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::test_util::infallible_client_fn(|req: http::Request<SdkBody>| {
        let body = answer(
            &target(req.headers()),
            req.body().bytes().unwrap_or_default(),
        );
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.0")
            .body(SdkBody::from(body))
            .expect("static response")
    })
}

/// The production store (`Store::connect_counted`'s client and configuration: no endpoint
/// override, so the SDK's endpoint rules run as in Lambda) with its HTTP client swapped for
/// [`in_process_client`], counting its calls. Credentials come from the environment, as in
/// Lambda: the caller sets them.
pub async fn canned_store() -> (shared::store::Store, shared::store::CallCounter) {
    let config = shared::config::Config {
        table_name: "bench".into(),
        dynamodb_endpoint: None,
        region: Some("us-east-1".into()),
        credential_max_age_seconds: shared::config::DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
        jwt: shared::config::JwtConfig {
            key: shared::config::JwtKey::Secret(LOCAL_SECRET.as_bytes().to_vec()),
            issuer: None,
            audience: None,
            claims: shared::config::ClaimNames::default(),
        },
    };
    shared::store::Store::connect_counted_via(&config, in_process_client()).await
}

/// Serves HTTP/1.1 on `listener`, every request answered by `handle` (the loopback servers of
/// the benchmarks: the canned DynamoDB, the Lambda Runtime API emulator).
pub async fn serve_http1<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let answer = handle(req);
                async move { Ok::<_, std::convert::Infallible>(answer.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A request's whole body (empty if the connection broke).
pub async fn body_bytes(req: hyper::Request<hyper::body::Incoming>) -> bytes::Bytes {
    use http_body_util::BodyExt;
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// Serves the canned answers over HTTP on `listener` (for whole processes: cold start,
/// `userctl serve` throughput).
pub async fn serve_canned(listener: tokio::net::TcpListener) {
    serve_canned_with_latency(listener, std::time::Duration::ZERO).await
}

/// [`serve_canned`], every answer held `latency` first: DynamoDB's round trip in a region.
pub async fn serve_canned_with_latency(
    listener: tokio::net::TcpListener,
    latency: std::time::Duration,
) {
    serve_http1(listener, move |req| async move {
        let target = target(req.headers());
        let body = body_bytes(req).await;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        hyper::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.0")
            .body(http_body_util::Full::new(answer(&target, &body)))
            .expect("static response")
    })
    .await
}

/// Median and 99th percentile, in microseconds.
pub fn percentiles(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

/// A local issuer serving `tests/fixtures/jwt/jwks.json` over HTTPS on `port`
/// (`tests/fixtures/jwt/https_issuer.py`, certificate of the test CA), once it listens: for the
/// key set's test and its cold-start cost. Kill the child when done.
pub fn https_issuer(fixtures: &std::path::Path, port: u16) -> std::process::Child {
    let issuer = std::process::Command::new("python3")
        .arg(fixtures.join("https_issuer.py"))
        .arg(port.to_string())
        .arg(fixtures.join("issuer-tls.pem"))
        .arg(fixtures.join("issuer-tls-key.pem"))
        .arg(fixtures.join("jwks.json"))
        .spawn()
        .expect("python3 serves the key set");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    issuer
}
