//! Configuration from environment variables: the same names in Lambda and locally.

use std::env;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// How tokens are verified: a shared HS256 secret, a public key whose type pins the algorithm, or
/// an issuer's key set fetched at cold start (each key's own algorithm, chosen by `kid`).
#[derive(Clone)]
pub enum JwtKey {
    Secret(Vec<u8>),
    PublicKeyPem(String),
    JwksUrl(String),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("JwtKey::Secret(<redacted>)"),
            JwtKey::PublicKeyPem(_) => f.write_str("JwtKey::PublicKeyPem(..)"),
            JwtKey::JwksUrl(url) => write!(f, "JwtKey::JwksUrl({url})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claims naming the user and its roles (`JWT_USER_ID_CLAIM`, `JWT_ROLES_CLAIM`): an
    /// issuer whose `sub` is its own id (Cognito's is a UUID) names the directory's user in
    /// another claim (`custom:user_id`), and its groups in its own (`cognito:groups`).
    pub claims: ClaimNames,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub user_id: String,
    pub roles: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            user_id: "sub".to_owned(),
            roles: "roles".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub dynamodb_endpoint: Option<String>,
    pub region: Option<String>,
    pub jwt: JwtConfig,
    /// `CREDENTIAL_MAX_AGE_SECONDS`: how recent a sign-in must be to change one's own email or
    /// password (`policy`).
    pub credential_max_age_seconds: i64,
}

/// Where DynamoDB is: a local endpoint (`DYNAMODB_ENDPOINT`) or none, and the region. What a
/// DynamoDB client is built from; a function that verifies no tokens (the audit log) needs only
/// this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamoDbLocation {
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl DynamoDbLocation {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Self {
            endpoint: get("DYNAMODB_ENDPOINT"),
            region: get("AWS_REGION"),
        }
    }
}

impl Config {
    pub fn dynamodb(&self) -> DynamoDbLocation {
        DynamoDbLocation {
            endpoint: self.dynamodb_endpoint.clone(),
            region: self.region.clone(),
        }
    }
}

/// How recent a sign-in must be to change one's own email or password, unless configured
/// (`shared::policy`).
pub const DEFAULT_CREDENTIAL_MAX_AGE_SECONDS: i64 = 5 * 60;

/// Shortest HS256 secret accepted: RFC 7518 asks for a key at least as long as the hash (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let table_name = get("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let key = match (
            get("JWT_SECRET"),
            get("JWT_PUBLIC_KEY"),
            get("JWT_JWKS_URL"),
        ) {
            (Some(secret), None, None) => {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError::Invalid {
                        name: "JWT_SECRET",
                        reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
                    });
                }
                JwtKey::Secret(secret.into_bytes())
            }
            (None, Some(pem), None) => JwtKey::PublicKeyPem(pem.replace("\\n", "\n")),
            (None, None, Some(url)) => {
                crate::jwks::check_url(&url).map_err(|e| ConfigError::Invalid {
                    name: "JWT_JWKS_URL",
                    reason: e.to_string(),
                })?;
                JwtKey::JwksUrl(url)
            }
            (None, None, None) => {
                return Err(ConfigError::Missing(
                    "JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL",
                ))
            }
            _ => {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET",
                    reason: "set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL".into(),
                })
            }
        };
        let defaults = ClaimNames::default();
        let claims = ClaimNames {
            user_id: get("JWT_USER_ID_CLAIM").unwrap_or(defaults.user_id),
            roles: get("JWT_ROLES_CLAIM").unwrap_or(defaults.roles),
        };
        let credential_max_age_seconds = match get("CREDENTIAL_MAX_AGE_SECONDS") {
            None => DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "CREDENTIAL_MAX_AGE_SECONDS",
                    reason: format!("expected a positive number of seconds, got {v:?}"),
                })?,
        };
        Ok(Self {
            table_name,
            credential_max_age_seconds,
            dynamodb_endpoint: get("DYNAMODB_ENDPOINT"),
            region: get("AWS_REGION"),
            jwt: JwtConfig {
                key,
                issuer: get("JWT_ISSUER"),
                audience: get("JWT_AUDIENCE"),
                claims,
            },
        })
    }
}

/// A boolean switch from the environment: unset means `default`.
pub fn env_flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {other:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn requires_table_and_a_key() {
        assert!(matches!(
            Config::from_lookup(lookup(&[])),
            Err(ConfigError::Missing("TABLE_NAME"))
        ));
        assert!(matches!(
            Config::from_lookup(lookup(&[("TABLE_NAME", "t")])),
            Err(ConfigError::Missing(_))
        ));
        assert!(matches!(
            Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("JWT_SECRET", "short")])),
            Err(ConfigError::Invalid { .. })
        ));
        let c = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "me"),
        ]))
        .unwrap();
        assert_eq!(c.table_name, "t");
        assert_eq!(c.jwt.issuer.as_deref(), Some("me"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }
}
