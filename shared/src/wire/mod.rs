//! One module per API dialect: its request body, how it becomes a `UserPatch`, its response
//! shape, and the one place where `Error` becomes that API's error body.

pub mod aaa;
pub mod devicehive;
pub mod mmc;
pub mod newm;
pub mod unleash;

/// Logs an unexpected failure with its detail; the client only ever sees the API's generic text.
pub(crate) fn log_unexpected(api: &str, err: &crate::Error) {
    match err {
        crate::Error::Unavailable(_) | crate::Error::Contention => {
            tracing::warn!(api, error = %err, "store unavailable")
        }
        _ => tracing::error!(api, error = %err, "unexpected failure"),
    }
}
