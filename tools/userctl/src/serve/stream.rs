//! The users table's stream to the audit log, as Lambda's event source mapping runs it in AWS
//! (template.yaml `AuditLogFunction`): records read from each shard from its start, in batches of
//! up to 100, handed to the same handler as the Lambda binary in Lambda's event shape; a batch's
//! reported failures are retried from the first of them, up to 5 times, then given up (in AWS,
//! to the dead-letter queue) with an error line naming the records.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{json, Map, Value};
use shared::config::DynamoDbLocation;

/// Lambda's defaults for this mapping (template.yaml): batch size and retries.
const BATCH_SIZE: i32 = 100;
const MAX_RETRIES: usize = 5;
/// How often an idle shard is read again.
const POLL: Duration = Duration::from_millis(200);

/// Feeds the stream of `users_table` to `audit` for ever.
pub async fn run(
    location: DynamoDbLocation,
    users_table: String,
    audit: &'static audit_log::Audit,
) {
    let sdk = shared::store::sdk_config_for(&location).await;
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(endpoint) = &location.endpoint {
        config = config.endpoint_url(endpoint);
    }
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(config.build());
    let dynamodb = shared::store::dynamodb_client(&location).await;
    let region = location
        .region
        .clone()
        .unwrap_or_else(|| "us-east-1".to_owned());

    let stream_arn = loop {
        match dynamodb
            .describe_table()
            .table_name(&users_table)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(arn) = out.table().and_then(|t| t.latest_stream_arn()) {
                    break arn.to_owned();
                }
                tracing::warn!(
                    table = users_table,
                    "the users table has no stream: no audit trail"
                );
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    tracing::info!(
        stream = stream_arn,
        "reading the users table's stream for the audit log"
    );
    // Shard id -> its next iterator (`None` once the shard is closed and read to its end).
    let mut shards: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut described = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if described.elapsed() > Duration::from_secs(10) {
            described = std::time::Instant::now();
            if let Ok(out) = streams
                .describe_stream()
                .stream_arn(&stream_arn)
                .send()
                .await
            {
                for shard in out
                    .stream_description()
                    .map(|d| d.shards())
                    .unwrap_or_default()
                {
                    let Some(id) = shard.shard_id() else { continue };
                    if shards.contains_key(id) {
                        continue;
                    }
                    let iterator = streams
                        .get_shard_iterator()
                        .stream_arn(&stream_arn)
                        .shard_id(id)
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await
                        .ok()
                        .and_then(|o| o.shard_iterator().map(str::to_owned));
                    shards.insert(id.to_owned(), iterator);
                }
            }
        }
        let mut busy = false;
        for next in shards.values_mut() {
            let Some(iterator) = next.clone() else {
                continue;
            };
            match streams
                .get_records()
                .shard_iterator(iterator)
                .limit(BATCH_SIZE)
                .send()
                .await
            {
                Ok(out) => {
                    if !out.records().is_empty() {
                        busy = true;
                        let batch: Vec<Value> = out
                            .records()
                            .iter()
                            .map(|r| lambda_record(r, &stream_arn, &region))
                            .collect();
                        deliver(audit, batch).await;
                    }
                    *next = out.next_shard_iterator().map(str::to_owned);
                }
                Err(e) => {
                    tracing::warn!(
                        error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e),
                        "reading the stream failed; trying again"
                    );
                }
            }
        }
        if !busy {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Hands a batch to the audit log; what it reports failed is retried from its first failure.
async fn deliver(audit: &audit_log::Audit, mut batch: Vec<Value>) {
    for attempt in 0..=MAX_RETRIES {
        let answer = audit.handle(json!({ "Records": batch })).await;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        let Some(first) = batch
            .iter()
            .position(|r| failed.contains(&r["dynamodb"]["SequenceNumber"].as_str().unwrap_or("")))
        else {
            return;
        };
        batch.drain(..first);
        if attempt == MAX_RETRIES {
            let sequences: Vec<&str> = batch
                .iter()
                .filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str())
                .collect();
            tracing::error!(
                ?sequences,
                "stream records not recorded after {MAX_RETRIES} retries: sent to the dead-letter queue"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
}

/// A stream record in the shape Lambda's event source mapping delivers it.
fn lambda_record(r: &Record, stream_arn: &str, region: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(s) = r.dynamodb() {
        if let Some(at) = s.approximate_creation_date_time() {
            dynamodb.insert(
                "ApproximateCreationDateTime".into(),
                json!(at.as_secs_f64()),
            );
        }
        let image = |m: Option<&std::collections::HashMap<String, AttributeValue>>| {
            m.map(|m| Value::Object(m.iter().map(|(k, v)| (k.clone(), typed(v))).collect()))
        };
        for (key, value) in [
            ("Keys", image(s.keys())),
            ("NewImage", image(s.new_image())),
            ("OldImage", image(s.old_image())),
        ] {
            if let Some(v) = value {
                dynamodb.insert(key.into(), v);
            }
        }
        if let Some(seq) = s.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(seq));
        }
        if let Some(size) = s.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = s.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|e| e.as_str()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
        "dynamodb": dynamodb,
    })
}

/// An attribute value in DynamoDB's typed JSON (`{"S": ...}`, `{"M": {...}}`, ...).
fn typed(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::L(l) => json!({"L": l.iter().map(typed).collect::<Vec<_>>()}),
        AttributeValue::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), typed(v))).collect::<Map<_, _>>()})
        }
        _ => Value::Null,
    }
}
