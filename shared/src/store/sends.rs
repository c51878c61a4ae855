//! Whether a call went out more than once, the SDK's own retries included. A conditional write
//! whose condition failed on a later send may have landed through an earlier one whose answer was
//! lost: then the failed condition says nothing about the request, and only the user read back
//! can.
//!
//! One interceptor on the client, built once per cold start: on an answer to a resend it marks the
//! response, which a failed call's error still carries. The first send (nearly every call) pays a
//! lookup in the SDK's config bag and nothing else.

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

/// The mark: a response header DynamoDB never sends, holding the attempt number.
const RESENT: &str = "x-userprofile-resent-attempt";

/// Marks the answers to resent calls (see the module).
#[derive(Debug, Clone, Copy)]
pub(super) struct MarkResends;

impl Intercept for MarkResends {
    fn name(&self) -> &'static str {
        "MarkResends"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(attempt) = cfg.load::<RequestAttempts>().map(|a| a.attempts()) {
            if attempt > 1 {
                context
                    .response_mut()
                    .headers_mut()
                    .insert(RESENT, attempt.to_string());
            }
        }
        Ok(())
    }
}

/// Whether the call that failed with `e` had been sent before: an earlier send may have landed.
pub(super) fn resent<E>(e: &SdkError<E, HttpResponse>) -> bool {
    e.raw_response()
        .is_some_and(|r| r.headers().contains_key(RESENT))
}
