//! The audit trail: changes through each API, read from the users table's stream by `userctl
//! serve` as Lambda's event source mapping would, recorded by the audit log's handler and read
//! back with `userctl audit`; and the handler itself on batches: replayed, malformed, anonymised.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use shared::config::Config;
use shared::store::Store;
use shared::values::UserId;
use testkit::{bearer, fresh_audit_table, fresh_store, seed, token, Served, PASSWORD};
use tokio_tungstenite::tungstenite::Message;

use crate::http::send;
use crate::USERCTL;

/// `userctl audit --user ID --json`, with no JWT settings in its environment: reading the trail
/// needs only where the tables are.
fn audit_of(config: &Config, user: i64) -> Vec<Value> {
    let out = std::process::Command::new(USERCTL)
        .args(["audit", "--user", &user.to_string(), "--json"])
        .env_clear()
        .envs(
            testkit::env_for(config)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("JWT_")),
        )
        .output()
        .expect("run userctl");
    let (ok, out, err) = (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(ok, "userctl audit failed: {err}");
    serde_json::from_str::<Value>(&out)
        .expect("JSON from userctl audit --json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The records of `user` for `request`, once the stream has been read (waits up to 10 s).
async fn records_for(config: &Config, user: i64, request: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let config = config.clone();
        let all = tokio::task::spawn_blocking(move || audit_of(&config, user))
            .await
            .unwrap();
        let found: Vec<Value> = all
            .into_iter()
            .filter(|r| r["request_id"] == request)
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(10) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The request id the user's last write was stamped with.
async fn last_request(store: &Store, id: i64) -> String {
    store
        .get(UserId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .last_request
        .expect("a stamped write")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_each_api_is_recorded_once_with_who_and_what() {
    let (store, config) = fresh_store().await;
    fresh_audit_table(&config).await;
    seed(&store, 1, &["admin"]).await;
    for id in 2..=6 {
        seed(&store, id, &[]).await;
    }
    let served = Served::start(USERCTL, &config);
    let http = Client::new();
    let admin = bearer(1, &["admin"]);
    let mut expectations = Vec::new();

    let (status, body) = send(
        &http,
        Method::PUT,
        served.url("/api/admin/user-admin/2"),
        Some(&admin),
        json!({"name": "Audited Name"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expectations.push((2, "unleash", Some(1), "name", json!("Audited Name")));

    let (status, body) = send(
        &http,
        Method::PATCH,
        served.url("/v1/users/me"),
        Some(&bearer(3, &[])),
        json!({"nickname": "Nick"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    expectations.push((3, "newm", Some(3), "nickname", json!("Nick")));

    let (status, body) = send(
        &http,
        Method::PUT,
        served.url("/api/profile/user4"),
        Some(&admin),
        json!({"username": "user4", "roles": ["editor"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expectations.push((4, "mmc", Some(1), "roles", json!(["editor"])));

    let (status, body) = send(
        &http,
        Method::PUT,
        served.url("/api/AAA/UserProfiles/5"),
        Some(&admin),
        json!({"AccountStatus": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expectations.push((5, "aaa", Some(1), "status", json!("disabled")));

    let url = format!("ws://127.0.0.1:{}/ws?token={}", served.port, token(6, &[]));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::Text(
            json!({"action": "user/update", "requestId": 1, "userId": "current",
                   "user": {"data": {"audited": true}}})
            .to_string(),
        ))
        .await
        .unwrap();
    use futures_util::StreamExt;
    let answer = socket.next().await.unwrap().unwrap();
    assert!(answer.to_string().contains("success"), "{answer}");
    expectations.push((6, "devicehive", Some(6), "data", json!({"audited": true})));

    for (user, api, actor, field, new) in expectations {
        let request = last_request(&store, user).await;
        let records = records_for(&config, user, &request).await;
        assert_eq!(records.len(), 1, "{api}: exactly one record: {records:?}");
        let r = &records[0];
        assert_eq!(r["event"], "MODIFY", "{api}");
        assert_eq!(r["api"], api);
        assert_eq!(r["actor"].as_i64(), actor, "{api}");
        assert_eq!(r["changes"][field]["new"], new, "{api}: {r}");
        let changed: Vec<&String> = r["changes"].as_object().unwrap().keys().collect();
        assert_eq!(changed, [field], "{api}: only what changed: {r}");
    }
    // The seeded users' creation is there too, by the test's own stamp.
    let created = audit_of(&config, 2);
    assert_eq!(created.last().unwrap()["event"], "INSERT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_holds_a_password_a_hash_or_a_code() {
    let (store, config) = fresh_store().await;
    fresh_audit_table(&config).await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let code = store
        .issue_code(
            UserId::new(2).unwrap(),
            &shared::values::Email::parse("secret-free@example.com").unwrap(),
        )
        .await
        .unwrap();
    let served = Served::start(USERCTL, &config);
    let http = Client::new();
    let me = bearer(2, &[]);
    let new_password = "Brand-New-Secret-5";
    for body in [
        json!({"email": "secret-free@example.com", "authCode": code}),
        json!({"newPassword": new_password, "confirmPassword": new_password, "currentPassword": PASSWORD}),
    ] {
        let (status, answer) = send(
            &http,
            Method::PATCH,
            served.url("/v1/users/me"),
            Some(&me),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    }
    let request = last_request(&store, 2).await;
    let records = records_for(&config, 2, &request).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["changes"]["password"], "changed");
    let everything = Value::Array(audit_of(&config, 2)).to_string();
    for secret in [
        "$argon2",
        PASSWORD,
        new_password,
        code.as_str(),
        "code_hash",
    ] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}

/// A Lambda stream event of `records`.
fn event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

fn record(sequence: &str, event_id: &str, old: Option<Value>, new: Value) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_735_689_600.0,
        "Keys": {"pk": {"S": "USER#9"}},
        "NewImage": new,
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    let name = if let Some(old) = old {
        dynamodb["OldImage"] = old;
        "MODIFY"
    } else {
        "INSERT"
    };
    json!({"eventID": event_id, "eventName": name, "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": dynamodb})
}

fn image(email: &str, name: &str) -> Value {
    json!({"pk": {"S": "USER#9"}, "id": {"N": "9"}, "email": {"S": email}, "name": {"S": name},
           "version": {"N": "1"}, "last_api": {"S": "aaa"}, "last_actor": {"N": "1"},
           "last_request": {"S": "req-9"}})
}

async fn audit_items(config: &Config, table: &str) -> usize {
    testkit::items_of(config, table).await.len()
}

#[tokio::test]
async fn a_replayed_batch_adds_nothing_and_a_malformed_record_fails_alone() {
    let (_, config) = fresh_store().await;
    let table = fresh_audit_table(&config).await;
    let audit = audit_log::Audit::new(&table, &config.dynamodb(), 400, false).await;
    let batch = event(vec![
        record("100", "e-1", None, image("a@x.io", "Ann")),
        json!({"eventID": "e-2", "eventName": "MODIFY", "dynamodb": {"SequenceNumber": "101"}}),
        record(
            "102",
            "e-3",
            Some(image("a@x.io", "Ann")),
            image("b@x.io", "Ann"),
        ),
    ]);
    let answer = audit.handle(batch.clone()).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "101"}]})
    );
    assert_eq!(
        audit_items(&config, &table).await,
        2,
        "both good records written"
    );
    // The same batch again (Lambda retries it): nothing written twice.
    audit.handle(batch).await;
    assert_eq!(audit_items(&config, &table).await, 2);
    let records = audit_of(&config, 9);
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["changes"]["email"],
        json!({"old": "a@x.io", "new": "b@x.io"})
    );
    assert_eq!(
        (
            records[0]["api"].as_str(),
            records[0]["actor"].as_i64(),
            records[0]["request_id"].as_str()
        ),
        (Some("aaa"), Some(1), Some("req-9"))
    );
}

/// A full batch (100 records, more than are written at once): every good record is written,
/// every malformed one is reported, in the batch's order, and a replay writes nothing new.
#[tokio::test]
async fn a_full_batch_is_written_at_once_and_its_failures_come_back_in_order() {
    let (_, config) = fresh_store().await;
    let table = fresh_audit_table(&config).await;
    let audit = audit_log::Audit::new(&table, &config.dynamodb(), 400, false).await;
    const { assert!(audit_log::IN_FLIGHT < 100) };
    let records: Vec<Value> = (0..100)
        .map(|i| {
            let sequence = format!("{}", 1000 + i);
            if i % 17 == 5 {
                json!({"eventID": format!("bad-{i}"), "eventName": "MODIFY",
                       "dynamodb": {"SequenceNumber": sequence}})
            } else {
                record(
                    &sequence,
                    &format!("e-{i}"),
                    Some(image("a@x.io", "Ann")),
                    image("a@x.io", &format!("Ann {i}")),
                )
            }
        })
        .collect();
    let bad: Vec<Value> = (0..100)
        .filter(|i| i % 17 == 5)
        .map(|i| json!({"itemIdentifier": format!("{}", 1000 + i)}))
        .collect();
    let answer = audit.handle(event(records.clone())).await;
    assert_eq!(answer, json!({"batchItemFailures": bad}));
    assert_eq!(audit_items(&config, &table).await, 100 - bad.len());
    audit.handle(event(records)).await;
    assert_eq!(audit_items(&config, &table).await, 100 - bad.len());
}

#[tokio::test]
async fn anonymised_records_hold_no_email_or_name() {
    let (_, config) = fresh_store().await;
    let table = fresh_audit_table(&config).await;
    let audit = audit_log::Audit::new(&table, &config.dynamodb(), 400, true).await;
    let answer = audit
        .handle(event(vec![record(
            "200",
            "e-9",
            Some(image("private@x.io", "Private Person")),
            image("other@x.io", "Other Person"),
        )]))
        .await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let text = Value::Array(audit_of(&config, 9)).to_string();
    for personal in [
        "private@x.io",
        "other@x.io",
        "Private Person",
        "Other Person",
    ] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    assert!(text.contains("@anonymised.invalid"), "{text}");
}
