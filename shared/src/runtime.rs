//! The cold start every HTTP function shares: logs, configuration, state built once, then the
//! Lambda runtime loop.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::{service_fn, Body, Request, Response};

use crate::config::ConfigError;

/// Logs on, then the state, built once and kept for the life of the sandbox. Bad configuration
/// ends the cold start here with one log line.
async fn cold_start<S, I>(init: I) -> Result<&'static S, lambda_http::Error>
where
    S: 'static,
    I: Future<Output = Result<S, ConfigError>>,
{
    crate::telemetry::init();
    match init.await {
        Ok(state) => Ok(Box::leak(Box::new(state))),
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration: refusing to start");
            Err(e.into())
        }
    }
}

/// Builds the state with `init` (failing the cold start with one clear log line on bad
/// configuration) and serves `handler` with it for the life of the sandbox.
pub async fn run_http<S, I, H, F>(init: I, handler: H) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    I: Future<Output = Result<S, ConfigError>>,
    H: Fn(&'static S, Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let state = cold_start(init).await?;
    let handler = &handler;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(handler(state, req).await)
    }))
    .await
}

/// The same cold start for a function that takes and returns plain JSON events (the WebSocket
/// route handler and the `$connect` authorizer).
pub async fn run_json<S, I, H, F>(init: I, handler: H) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    I: Future<Output = Result<S, ConfigError>>,
    H: Fn(&'static S, serde_json::Value) -> F + Send + Sync + 'static,
    F: Future<Output = Result<serde_json::Value, lambda_http::Error>> + Send + 'static,
{
    let state = cold_start(init).await?;
    let handler = &handler;
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { handler(state, event.payload).await },
    ))
    .await
}
