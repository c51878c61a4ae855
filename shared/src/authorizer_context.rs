//! The contract between the DeviceHive `$connect` authorizer and the message handler: who the
//! connection belongs to and until when, carried in the authorizer `context` API Gateway hands to
//! every later message of the connection. A connection opened without a token has no principal
//! in its context: it is anonymous until it authenticates in-band (`authenticate`).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::auth::{now_unix, role_names, AuthError, Principal, LEEWAY_SECONDS};
use crate::values::UserId;

/// The `$connect` authorizer's context: who the connection belongs to, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPrincipal {
    pub principal: Principal,
    /// The token's `exp`: messages after it (plus leeway) are refused.
    pub expires_at: i64,
}

impl ConnectionPrincipal {
    /// The authorizer `context` (API Gateway allows only strings, numbers and booleans). The
    /// roles travel as a JSON array in a string: a token's role names are its issuer's, and a
    /// separator could be inside one (`"ops,admin"` must not come back as two roles).
    pub fn to_context(&self) -> Value {
        let roles: Vec<&str> = self.principal.roles.iter().map(String::as_str).collect();
        json!({
            "userId": self.principal.user_id.get().to_string(),
            "roles": Value::from(roles).to_string(),
            "exp": self.expires_at,
            "authAt": self.principal.authenticated_at,
        })
    }

    /// The principal a message's authorizer context carries: `None` for a connection that opened
    /// without a token, an error when the token it opened with has expired.
    pub fn in_context(ctx: Option<&HashMap<String, Value>>) -> Result<Option<Self>, AuthError> {
        match ctx {
            Some(ctx) if ctx.contains_key("userId") => Self::from_context(ctx).map(Some),
            _ => Ok(None),
        }
    }

    /// Refuses the principal once its token has expired (with the usual leeway).
    pub fn check_expiry(self) -> Result<Self, AuthError> {
        if now_unix() > self.expires_at + LEEWAY_SECONDS as i64 {
            Err(AuthError::Expired)
        } else {
            Ok(self)
        }
    }

    /// The principal in the context, refused once its token has expired.
    pub fn from_context(ctx: &HashMap<String, Value>) -> Result<Self, AuthError> {
        Self::read_context(ctx)?.check_expiry()
    }

    /// The principal in the context, whether or not its token has expired since.
    pub fn read_context(ctx: &HashMap<String, Value>) -> Result<Self, AuthError> {
        let missing = || AuthError::Rejected("no authorizer context on this connection".into());
        let id = match ctx.get("userId") {
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .and_then(|id| UserId::new(id).ok())
        .ok_or_else(missing)?;
        let roles: BTreeSet<String> = match ctx.get("roles") {
            None => BTreeSet::new(),
            Some(Value::String(text)) => {
                role_names(serde_json::from_str::<Vec<String>>(text).map_err(|_| missing())?)?
            }
            Some(_) => return Err(missing()),
        };
        let number = |name: &str| match ctx.get(name) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let expires_at = number("exp").ok_or_else(missing)?;
        // A context written before sign-in times were carried: as old as can be.
        let authenticated_at = number("authAt").unwrap_or(0);
        Ok(Self {
            principal: Principal {
                user_id: id,
                roles,
                authenticated_at,
            },
            expires_at,
        })
    }
}

/// The IAM policy a REQUEST authorizer returns to allow the connection, carrying who it is.
pub fn allow_policy(method_arn: &str, who: &ConnectionPrincipal) -> Value {
    let mut policy = allow(method_arn, &who.principal.user_id.get().to_string());
    policy["context"] = who.to_context();
    policy
}

/// The policy that lets a connection open without a token: it is anonymous (no context) until
/// it authenticates in-band.
pub fn allow_anonymous_policy(method_arn: &str) -> Value {
    allow(method_arn, "anonymous")
}

fn allow(method_arn: &str, principal_id: &str) -> Value {
    json!({
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": method_arn
            }]
        }
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
                authenticated_at: now_unix() - 5,
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

    #[test]
    fn a_context_whose_roles_are_not_role_names_is_refused() {
        let ctx = |roles: Value| -> HashMap<String, Value> {
            HashMap::from([
                ("userId".to_owned(), Value::from("3")),
                ("roles".to_owned(), roles),
                ("exp".to_owned(), Value::from(now_unix() + 100)),
            ])
        };
        for roles in [
            Value::from("ops,admin"),
            Value::from(r#"["ops,admin"]"#),
            Value::from(r#"["ops admin"]"#),
            Value::from(r#"["ops;admin"]"#),
            Value::from(r#"["ops\tadmin"]"#),
            json!(["admin"]),
        ] {
            assert!(
                ConnectionPrincipal::from_context(&ctx(roles.clone())).is_err(),
                "{roles} accepted"
            );
        }
        let ok = ConnectionPrincipal::from_context(&ctx(Value::from(r#"["ops","admin"]"#)));
        assert!(ok.unwrap().principal.is_admin());
    }
}
