//! The contract between the DeviceHive `$connect` authorizer and the message handler: who the
//! connection belongs to and until when, carried in the authorizer `context` API Gateway hands to
//! every later message of the connection.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::auth::{now_unix, AuthError, Principal, LEEWAY_SECONDS};
use crate::values::UserId;

/// The `$connect` authorizer's context: who the connection belongs to, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPrincipal {
    pub principal: Principal,
    /// The token's `exp`: messages after it (plus leeway) are refused.
    pub expires_at: i64,
}

impl ConnectionPrincipal {
    /// The authorizer `context` (API Gateway allows only strings, numbers and booleans).
    pub fn to_context(&self) -> Value {
        let roles: Vec<&str> = self.principal.roles.iter().map(String::as_str).collect();
        json!({
            "userId": self.principal.user_id.get().to_string(),
            "roles": roles.join(","),
            "exp": self.expires_at,
        })
    }

    pub fn from_context(ctx: &HashMap<String, Value>) -> Result<Self, AuthError> {
        let missing = || AuthError::Rejected("no authorizer context on this connection".into());
        let id = match ctx.get("userId") {
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .and_then(|id| UserId::new(id).ok())
        .ok_or_else(missing)?;
        let roles: BTreeSet<String> = ctx
            .get("roles")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let expires_at = match ctx.get("exp") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(missing)?;
        if now_unix() > expires_at + LEEWAY_SECONDS as i64 {
            return Err(AuthError::Expired);
        }
        Ok(Self {
            principal: Principal { user_id: id, roles },
            expires_at,
        })
    }
}

/// The IAM policy a REQUEST authorizer returns to allow the connection.
pub fn allow_policy(method_arn: &str, who: &ConnectionPrincipal) -> Value {
    json!({
        "principalId": who.principal.user_id.get().to_string(),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": method_arn
            }]
        },
        "context": who.to_context()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizer_context_round_trips_and_expires() {
        let who = ConnectionPrincipal {
            principal: Principal {
                user_id: UserId::new(3).unwrap(),
                roles: BTreeSet::from(["admin".to_owned(), "x".to_owned()]),
            },
            expires_at: now_unix() + 100,
        };
        let ctx: HashMap<String, Value> = serde_json::from_value(who.to_context()).unwrap();
        assert_eq!(ConnectionPrincipal::from_context(&ctx).unwrap(), who);
        let old = ConnectionPrincipal {
            expires_at: now_unix() - 1000,
            ..who
        };
        let ctx: HashMap<String, Value> = serde_json::from_value(old.to_context()).unwrap();
        assert_eq!(
            ConnectionPrincipal::from_context(&ctx),
            Err(AuthError::Expired)
        );
        assert!(ConnectionPrincipal::from_context(&HashMap::new()).is_err());
    }
}
