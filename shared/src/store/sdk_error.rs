//! What an SDK error means for the store: a failed condition, an outage worth a 503, or a bug.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

pub(super) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("building a DynamoDB request: {e}"))
}

pub(super) fn is_conditional_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(ctx) if ctx.err().code() == Some("ConditionalCheckFailedException"))
}

/// Turns an SDK error (after the SDK's own retries) into the store's error.
pub(super) fn classify<E, R>(e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let message = ctx.err().message().unwrap_or("");
            match code {
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException"
                | "TransactionConflictException" => {
                    Error::Unavailable(format!("{code}: {message}"))
                }
                "ValidationException" if message.contains("size") => {
                    Error::TooLarge("the change would make the user item too large".into())
                }
                _ => Error::Internal(format!("DynamoDB {code}: {message}")),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Error::Unavailable(format!(
            "DynamoDB unreachable: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        SdkError::ResponseError(_) => Error::Unavailable(format!(
            "DynamoDB answered badly: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        _ => Error::Internal(format!(
            "DynamoDB call failed: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
    }
}
