//! The `$connect` REQUEST authorizer of the DeviceHive WebSocket API: verifies the JWT from the
//! `token` query parameter or the `Authorization` header and hands the principal (id, roles, and
//! the token's expiry) to every later message through the authorizer context.

use serde_json::Value;
use shared::auth::{bearer_token, AuthError, Verifier};
use shared::authorizer_context::{allow_policy, ConnectionPrincipal};
use shared::config::{Config, ConfigError};

pub struct Authorizer {
    verifier: Verifier,
}

impl Authorizer {
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            verifier: Verifier::new(&config.jwt)?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Config::from_env()?)
    }

    /// The policy for a REQUEST authorizer event, or why the connection is refused.
    pub fn authorize(&self, event: &Value) -> Result<Value, AuthError> {
        let from_query = event
            .get("queryStringParameters")
            .and_then(|q| q.get("token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let (principal, expires_at) = match from_query {
            Some(token) => self.verifier.verify_with_expiry(token)?,
            None => {
                let header = event.get("headers").and_then(|h| {
                    h.as_object()?
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                        .and_then(|(_, v)| v.as_str())
                });
                let token = bearer_token(header.ok_or(AuthError::MissingToken)?)?;
                self.verifier.verify_with_expiry(token)?
            }
        };
        let method_arn = event
            .get("methodArn")
            .and_then(Value::as_str)
            .unwrap_or("*");
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
