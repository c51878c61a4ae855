//! A canned DynamoDB: answers every call as DynamoDB would for the demo user bob (id 2), so the
//! functions and the SDK do all their own work (serialization, signing, parsing) without a
//! network or a database in the way. Served in-process as the SDK's HTTP client, or over HTTP
//! on loopback for whole processes.

use std::sync::OnceLock;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

/// The local development secret the `events/` fixtures are signed with.
pub const LOCAL_SECRET: &str = "local-development-secret-change-me-0123456789";
/// bob's password in demo/users.json.
pub const BOB_PASSWORD: &str = "Bob-Builder-2024";
pub const BOB_UUID: &str = "0b0c1d2e-0000-4000-8000-000000000002";

fn bob_item() -> &'static Value {
    static ITEM: OnceLock<Value> = OnceLock::new();
    ITEM.get_or_init(|| {
        let hash = shared::password::hash_blocking(
            &shared::user::Password::parse("p", BOB_PASSWORD, 1).expect("valid"),
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

/// DynamoDB's answer to one call, by its `X-Amz-Target` and request body.
pub fn answer(target: &str, body: &[u8]) -> String {
    let op = target.rsplit('.').next().unwrap_or("");
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let pk = request["Key"]["pk"]["S"].as_str().unwrap_or("");
    match op {
        "GetItem" if pk.starts_with("USER#") => json!({"Item": bob_item()}).to_string(),
        // Lock and lookup items all point at bob.
        "GetItem" => json!({"Item": {"pk": {"S": pk}, "user_id": {"N": "2"}}}).to_string(),
        "UpdateItem" => json!({"Attributes": bob_item()}).to_string(),
        _ => "{}".to_owned(),
    }
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

/// A store whose DynamoDB is [`in_process_client`], counting its calls.
pub fn canned_store() -> (shared::store::Store, shared::store::CallCounter) {
    let counter = shared::store::CallCounter::default();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "static"))
        .endpoint_url("http://canned.invalid")
        .http_client(in_process_client())
        .interceptor(counter.clone())
        .build();
    (
        shared::store::Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "bench"),
        counter,
    )
}

/// Serves the canned answers over HTTP on `listener` (for whole processes: cold start,
/// `userctl serve` throughput).
pub async fn serve_canned(listener: tokio::net::TcpListener) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let target = target(req.headers());
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .status(200)
                            .header("content-type", "application/x-amz-json-1.0")
                            .body(Full::new(Bytes::from(answer(&target, &body))))
                            .expect("static response"),
                    )
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Median and 99th percentile, in microseconds.
pub fn percentiles(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}
