//! How many times one call went out, the SDK's own retries included. A conditional write whose
//! condition failed on a later send may have landed through an earlier one whose answer was lost:
//! then the failed condition says nothing about the request, and only the user read back can.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// Given to one operation (`.customize().interceptor(sends.clone())`), counts its sends.
#[derive(Debug, Clone, Default)]
pub(super) struct Sends(Arc<AtomicU32>);

impl Sends {
    /// Whether the call went out more than once: an earlier send may have been applied.
    pub(super) fn resent(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 1
    }
}

impl Intercept for Sends {
    fn name(&self) -> &'static str {
        "Sends"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
