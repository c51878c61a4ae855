//! JSON logs. lambda_runtime opens a span carrying the request id for every invocation, and the
//! span is printed with each line. Nothing secret is ever passed to a log macro: requests are
//! logged by route and outcome, never by body or headers.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// Logs an unexpected failure with its detail; the client only ever sees its API's generic text.
pub fn log_unexpected(api: &str, err: &crate::Error) {
    match err {
        crate::Error::Unavailable(_) | crate::Error::Contention => {
            tracing::warn!(api, error = %err, "store unavailable")
        }
        _ => tracing::error!(api, error = %err, "unexpected failure"),
    }
}
