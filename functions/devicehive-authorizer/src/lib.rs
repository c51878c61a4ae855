//! The `$connect` REQUEST authorizer of the DeviceHive WebSocket API: verifies the JWT from the
//! `token` query parameter or the `Authorization` header and hands the principal (id, roles, and
//! the token's expiry) to every later message through the authorizer context. A connection with
//! no token opens anonymous and may authenticate in-band.

use serde_json::Value;
use shared::auth::{bearer_token, AuthError, Verifier};
use shared::authorizer_context::{allow_anonymous_policy, allow_policy, ConnectionPrincipal};
use shared::config::{Config, ConfigError};

pub struct Authorizer {
    verifier: Verifier,
}

impl Authorizer {
    /// Built once per cold start (an issuer's key set is fetched here).
    pub async fn new(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            verifier: Verifier::connect(&config.jwt).await?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Config::from_env()?).await
    }

    /// The policy for a REQUEST authorizer event, or why the connection is refused. A connection
    /// without a token opens anonymous: DeviceHive's own client connects bare and authenticates
    /// in-band (`authenticate`). A token that is sent must be valid.
    pub fn authorize(&self, event: &Value) -> Result<Value, AuthError> {
        let method_arn = event
            .get("methodArn")
            .and_then(Value::as_str)
            .unwrap_or("*");
        let from_query = event
            .get("queryStringParameters")
            .and_then(|q| q.get("token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let header = event.get("headers").and_then(|h| {
            h.as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, v)| v.as_str())
        });
        let token = match (from_query, header) {
            (Some(token), _) => token,
            (None, Some(header)) => bearer_token(header)?,
            (None, None) => {
                tracing::info!("anonymous connection authorized");
                return Ok(allow_anonymous_policy(method_arn));
            }
        };
        let (principal, expires_at) = self.verifier.verify_with_expiry(token)?;
        tracing::info!(user_id = principal.user_id.get(), "connection authorized");
        Ok(allow_policy(
            method_arn,
            &ConnectionPrincipal {
                principal,
                expires_at,
            },
        ))
    }
}

#[cfg(test)]
mod tests;
