//! The audit log's handler: one batch of stream records in, one audit record written per change
//! of a user, and the records that could not be recorded reported back
//! (`ReportBatchItemFailures`): Lambda retries from the first of them, bisects a batch that keeps
//! failing, and sends what still fails to the dead-letter queue, so one bad record neither blocks
//! the stream nor loses the rest.

use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use shared::config::{env_flag, ConfigError, DynamoDbLocation};

use crate::record::{audit_record, AuditRecord, Malformed};

/// How long records are kept when `AUDIT_RETENTION_DAYS` is not set.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// What the function builds once per cold start.
pub struct Audit {
    client: Client,
    table: String,
    retention_days: i64,
    anonymise: bool,
}

impl Audit {
    pub async fn new(
        table: impl Into<String>,
        location: &DynamoDbLocation,
        retention_days: i64,
        anonymise: bool,
    ) -> Self {
        Self {
            client: shared::store::dynamodb_client(location).await,
            table: table.into(),
            retention_days,
            anonymise,
        }
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
    pub async fn handle(&self, event: Value) -> Value {
        let records = event["Records"].as_array().cloned().unwrap_or_default();
        let mut failures = Vec::new();
        for record in &records {
            let sequence = record["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let outcome = match audit_record(record, self.anonymise) {
                Ok(None) => Ok(()),
                Ok(Some(audit)) => self.write(&audit).await,
                Err(Malformed(why)) => Err(format!("malformed stream record: {why}")),
            };
            if let Err(why) = outcome {
                tracing::warn!(sequence, error = %why, "stream record not recorded");
                failures.push(json!({"itemIdentifier": sequence}));
            }
        }
        json!({"batchItemFailures": failures})
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
