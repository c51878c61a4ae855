//! What only tests and benchmarks use (the `test-util` feature; the Lambda binaries never enable
//! it): a counter of DynamoDB calls, a store whose HTTP client is swapped, and a full scan.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::client::{client_builder, https_client, sdk_config};
use super::sdk_error::classify;
use super::Store;
use crate::config::Config;
use crate::error::Result;

/// Counts DynamoDB operations (one per call, whatever the SDK retries underneath): the number of
/// round trips a request costs, for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CallCounter {
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The count so far, and start again from zero.
    pub fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Store {
    /// A store whose every DynamoDB call is counted.
    pub async fn connect_counted(config: &Config) -> (Self, CallCounter) {
        Self::connect_counted_via(config, https_client(&config.dynamodb())).await
    }

    /// A counted store whose HTTP traffic goes through `http` (benchmarks swap in a canned
    /// DynamoDB here; everything else is the production client).
    pub async fn connect_counted_via(
        config: &Config,
        http: aws_sdk_dynamodb::config::SharedHttpClient,
    ) -> (Self, CallCounter) {
        let counter = CallCounter::default();
        let location = config.dynamodb();
        let sdk = sdk_config(&location, http).await;
        let builder = client_builder(&location, &sdk).interceptor(counter.clone());
        (
            Self::new(
                Client::from_conf(builder.build()),
                config.table_name.clone(),
            ),
            counter,
        )
    }
}

impl Store {
    /// Every item of the table (tests and diagnostics only: a full scan).
    pub async fn scan_all(&self) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }
}

/// The `code_hash` a 2FA code item holds for `id`'s change to `email` with `code` (benchmarks
/// answer the guess count with it, as DynamoDB would).
pub fn code_hash_for(
    id: crate::values::UserId,
    email: &crate::values::Email,
    code: &str,
) -> String {
    super::code::code_hash(id, &email.key(), code)
}
