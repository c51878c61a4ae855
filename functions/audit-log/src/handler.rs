//! The audit log's handler: one batch of stream records in, one audit record written per change
//! of a user, and the records that could not be recorded reported back
//! (`ReportBatchItemFailures`): Lambda retries from the first of them, bisects a batch that keeps
//! failing, and sends what still fails to the dead-letter queue, so one bad record neither blocks
//! the stream nor loses the rest.

use aws_sdk_dynamodb::Client;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use shared::config::{env_flag, ConfigError, DynamoDbLocation};

use crate::record::{audit_record, AuditRecord, Malformed};

/// Audit records written at once (each a `PutItem` of its own item).
pub const IN_FLIGHT: usize = 16;

/// How long records are kept when `AUDIT_RETENTION_DAYS` is not set.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// What the function builds once per cold start.
pub struct Audit {
    client: Client,
    table: String,
    retention_days: i64,
    anonymise: bool,
    in_flight: usize,
}

impl Audit {
    pub async fn new(
        table: impl Into<String>,
        location: &DynamoDbLocation,
        retention_days: i64,
        anonymise: bool,
    ) -> Self {
        Self::with_client(
            shared::store::dynamodb_client(location).await,
            table,
            retention_days,
            anonymise,
        )
    }

    /// With a client already built (the benchmarks hand it one answered in-process).
    pub fn with_client(
        client: Client,
        table: impl Into<String>,
        retention_days: i64,
        anonymise: bool,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            retention_days,
            anonymise,
            in_flight: IN_FLIGHT,
        }
    }

    /// Writes `n` records at once instead of [`IN_FLIGHT`] (at least one).
    pub fn with_in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// `AUDIT_TABLE_NAME` (required), `AUDIT_RETENTION_DAYS`, `AUDIT_ANONYMISE`, and where
    /// DynamoDB is (`DYNAMODB_ENDPOINT`, `AWS_REGION`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_or(None).await
    }

    /// [`Audit::from_env`], with a table to use when `AUDIT_TABLE_NAME` is not set.
    pub async fn from_env_or(default_table: Option<String>) -> Result<Self, ConfigError> {
        let table = std::env::var("AUDIT_TABLE_NAME")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or(default_table)
            .ok_or(ConfigError::Missing("AUDIT_TABLE_NAME"))?;
        let retention_days =
            match std::env::var("AUDIT_RETENTION_DAYS") {
                Err(_) => DEFAULT_RETENTION_DAYS,
                Ok(v) => v.trim().parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    ConfigError::Invalid {
                        name: "AUDIT_RETENTION_DAYS",
                        reason: format!("expected a positive number of days, got {v:?}"),
                    }
                })?,
            };
        let anonymise = env_flag("AUDIT_ANONYMISE", false)?;
        Ok(Self::new(
            table,
            &DynamoDbLocation::from_env(),
            retention_days,
            anonymise,
        )
        .await)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Handles one DynamoDB stream event; the answer is the batch's failures.
    ///
    /// Records are written [`IN_FLIGHT`] at a time (by default): each is its own item, so their
    /// order does not matter, and a batch of 100 costs a few round trips of latency, not 100.
    /// Lambda retries from the earliest failure; records after it that were written are written
    /// again as nothing.
    pub async fn handle(&self, mut event: Value) -> Value {
        let records = match event["Records"].take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        };
        let outcomes: Vec<(String, Result<(), String>)> = stream::iter(records)
            .map(|record| self.record(record))
            .buffered(self.in_flight)
            .collect()
            .await;
        let mut failures = Vec::new();
        for (sequence, outcome) in outcomes {
            if let Err(why) = outcome {
                tracing::warn!(sequence, error = %why, "stream record not recorded");
                failures.push(json!({"itemIdentifier": sequence}));
            }
        }
        json!({"batchItemFailures": failures})
    }

    /// One stream record: its sequence number, and whether it is recorded (or had nothing to).
    async fn record(&self, record: Value) -> (String, Result<(), String>) {
        let sequence = record["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let outcome = match audit_record(&record, self.anonymise) {
            Ok(None) => Ok(()),
            Ok(Some(audit)) => self.write(&audit).await,
            Err(Malformed(why)) => Err(format!("malformed stream record: {why}")),
        };
        (sequence, outcome)
    }

    /// Writes the record once: the same stream record (a replayed batch) is the same item, and
    /// then nothing is written.
    async fn write(&self, audit: &AuditRecord) -> Result<(), String> {
        let expires_at = shared::auth::now_unix() + self.retention_days * 86_400;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit.to_item(expires_at)))
            .condition_expression("attribute_not_exists(user_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()),
        }
    }
}
