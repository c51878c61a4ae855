//! `userctl audit --user ID`: a user's audit trail, newest first, as a table for a person or as
//! JSON for scripts. The records are the audit log's (`functions/audit-log`), in the audit table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use shared::config::{Config, DynamoDbLocation};
use shared::values::UserId;

/// `AUDIT_TABLE_NAME`, else the user table's name with `-audit`.
pub fn table_name(config: &Config) -> String {
    audit_table_of(&config.table_name)
}

fn audit_table_of(users_table: &str) -> String {
    std::env::var("AUDIT_TABLE_NAME")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("{users_table}-audit"))
}

/// Reading the trail needs only where the tables are (`TABLE_NAME`, `AUDIT_TABLE_NAME`,
/// `DYNAMODB_ENDPOINT`, `AWS_REGION`), not the JWT keys the other commands check.
pub async fn show_from_env(user: UserId, as_json: bool) -> Result<(), String> {
    let users_table = std::env::var("TABLE_NAME")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or("configuration: TABLE_NAME is required but not set")?;
    let location = DynamoDbLocation::from_env();
    let records = read(&location, &audit_table_of(&users_table), user).await?;
    if as_json {
        println!("{}", Value::Array(records));
        return Ok(());
    }
    if records.is_empty() {
        println!("no audit records for user {user}");
        return Ok(());
    }
    println!(
        "{:<24}  {:<6}  {:<10}  {:<6}  {:<36}  changes",
        "time", "event", "api", "actor", "request"
    );
    for r in &records {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        let actor = r["actor"]
            .as_i64()
            .map_or("-".to_owned(), |a| a.to_string());
        let changes: Vec<String> = r["changes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(field, change)| match change {
                Value::String(s) => format!("{field}: {s}"),
                other => format!(
                    "{field}: {} -> {}",
                    shown(&other["old"]),
                    shown(&other["new"])
                ),
            })
            .collect();
        println!(
            "{:<24}  {:<6}  {:<10}  {:<6}  {:<36}  {}",
            text("at"),
            text("event"),
            text("api"),
            actor,
            text("request_id"),
            changes.join("; ")
        );
    }
    Ok(())
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every record of `user`, newest first, as JSON objects.
async fn read(
    location: &DynamoDbLocation,
    table: &str,
    user: UserId,
) -> Result<Vec<Value>, String> {
    let client = shared::store::dynamodb_client(location).await;
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("user_id = :u")
            .expression_attribute_values(":u", AttributeValue::N(user.to_string()))
            .scan_index_forward(false)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading the audit table {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
        records.extend(out.items().iter().map(record_json));
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(records),
        }
    }
}

fn record_json(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let at = s("at").unwrap_or_default();
    let time = at.split('#').next().unwrap_or_default().to_owned();
    let changes: BTreeMap<String, Value> = item
        .get("changes")
        .and_then(|v| v.as_m().ok())
        .into_iter()
        .flatten()
        .map(|(field, v)| {
            let change = match v {
                AttributeValue::S(s) => Value::String(s.clone()),
                AttributeValue::M(m) => {
                    let side = |k: &str| {
                        m.get(k)
                            .and_then(|v| v.as_s().ok())
                            .and_then(|t| serde_json::from_str(t).ok())
                            .unwrap_or(Value::Null)
                    };
                    json!({"old": side("old"), "new": side("new")})
                }
                _ => Value::Null,
            };
            (field.clone(), change)
        })
        .collect();
    json!({
        "user_id": n("user_id"),
        "at": time,
        "event_id": s("event_id"),
        "event": s("event"),
        "actor": n("actor"),
        "api": s("api"),
        "request_id": s("request_id"),
        "changes": changes,
    })
}
