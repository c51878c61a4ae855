//! Bearer-token authentication: JWT verification with a pinned algorithm, and the principal.

use std::collections::{BTreeSet, HashMap};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ClaimNames, ConfigError, JwtConfig, JwtKey};
use crate::values::{Role, UserId, ADMIN_ROLE};

/// Clock skew tolerated on `exp` (and `nbf` when present).
pub const LEEWAY_SECONDS: u64 = 60;

/// Why a request is not authenticated. The text is for logs; APIs answer with their own 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("malformed Authorization header")]
    MalformedHeader,
    #[error("token expired")]
    Expired,
    #[error("token rejected: {0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    /// When the user last signed in (OpenID Connect): a refreshed token has a new `iat` but keeps
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Who is calling: the token's subject and roles, and when it signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// Only well-formed role names ([`Role::parse`]): a token carrying anything else is refused.
    pub roles: BTreeSet<String>,
    /// The token's `auth_time`, else its `iat` (unix seconds): how recent the sign-in is that
    /// a change of a credential asks for (`policy`).
    pub authenticated_at: i64,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(ADMIN_ROLE)
    }
}

/// Verifies tokens. Built once per cold start.
pub struct Verifier {
    keys: Keys,
    claims: ClaimNames,
}

/// The keys tokens may be signed with, each with the one algorithm it allows: no `none`, no
/// HS/RS confusion.
// One value per cold start: the size of its variants is of no consequence.
#[allow(clippy::large_enum_variant)]
enum Keys {
    One(DecodingKey, Validation),
    /// An issuer's key set, by `kid`.
    ByKid(HashMap<String, (DecodingKey, Validation)>),
}

impl Verifier {
    /// The verifier of a secret or a public key. A key set needs fetching: [`Verifier::connect`].
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        let keys = match &config.key {
            JwtKey::Secret(secret) => Keys::One(
                DecodingKey::from_secret(secret),
                validation(Algorithm::HS256, config),
            ),
            JwtKey::PublicKeyPem(pem) => {
                let (key, alg) = if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                    (key, Algorithm::ES256)
                } else {
                    return Err(ConfigError::Invalid {
                        name: "JWT_PUBLIC_KEY",
                        reason: "not an RSA or EC public key in PEM form".into(),
                    });
                };
                Keys::One(key, validation(alg, config))
            }
            JwtKey::JwksUrl(_) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_JWKS_URL",
                    reason: "a key set is fetched: build the verifier with Verifier::connect"
                        .into(),
                })
            }
        };
        Ok(Self {
            keys,
            claims: config.claims.clone(),
        })
    }

    /// The verifier of any configuration: a key set is fetched here, once per cold start.
    pub async fn connect(config: &JwtConfig) -> Result<Self, ConfigError> {
        match &config.key {
            JwtKey::JwksUrl(url) => {
                let set = crate::jwks::fetch(url)
                    .await
                    .map_err(|e| ConfigError::Invalid {
                        name: "JWT_JWKS_URL",
                        reason: e.to_string(),
                    })?;
                Self::from_key_set(&set, config)
            }
            _ => Self::new(config),
        }
    }

    /// The verifier of an issuer's key set: its RS256 and ES256 signing keys that have a `kid`.
    pub fn from_key_set(set: &JwkSet, config: &JwtConfig) -> Result<Self, ConfigError> {
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, signing_algorithm(jwk)) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_kid.insert(kid.clone(), (key, validation(alg, config)));
            }
        }
        if by_kid.is_empty() {
            return Err(ConfigError::Invalid {
                name: "JWT_JWKS_URL",
                reason: "the key set holds no RS256 or ES256 signing key with a kid".into(),
            });
        }
        Ok(Self {
            keys: Keys::ByKid(by_kid),
            claims: config.claims.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_with_expiry(token).map(|(p, _)| p)
    }

    /// The principal and the token's `exp` (unix seconds), for sessions that outlive one request.
    pub fn verify_with_expiry(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let (key, validation) = match &self.keys {
            Keys::One(key, validation) => (key, validation),
            Keys::ByKid(keys) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| AuthError::Rejected(format!("{:?}", e.kind())))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Rejected("no kid in the token's header".into()))?;
                let (key, validation) = keys
                    .get(&kid)
                    .ok_or_else(|| AuthError::Rejected("no key with the token's kid".into()))?;
                (key, validation)
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                other => AuthError::Rejected(format!("{other:?}")),
            },
        )?;
        let claims = data.claims;
        let names = &self.claims;
        let user_id = match claims.get(&names.user_id) {
            Some(Value::String(id)) => UserId::parse_canonical(&names.user_id, id).ok(),
            Some(Value::Number(id)) => id.as_i64().and_then(|id| UserId::new(id).ok()),
            _ => None,
        }
        .ok_or_else(|| {
            AuthError::Rejected(format!(
                "{} is not a user id in decimal form",
                names.user_id
            ))
        })?;
        let roles = match claims.get(&names.roles) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(roles)) => roles
                .iter()
                .map(|r| r.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    AuthError::Rejected(format!("{} holds a non-string", names.roles))
                })?,
            Some(_) => {
                return Err(AuthError::Rejected(format!(
                    "{} is not an array",
                    names.roles
                )))
            }
        };
        let seconds = |name: &str| claims.get(name).and_then(Value::as_u64);
        // `auth_time` when present (a malformed one counts as long ago, never as `iat`: a refreshed
        // token's `iat` is new), else `iat`; neither: as old as can be, so no credential changes.
        let signed_in = match claims.get("auth_time") {
            Some(_) => seconds("auth_time").unwrap_or(0),
            None => seconds("iat").unwrap_or(0),
        };
        let principal = Principal {
            user_id,
            roles: role_names(roles)?,
            authenticated_at: clamp(signed_in),
        };
        Ok((principal, clamp(seconds("exp").unwrap_or(0))))
    }

    /// Authenticates from an `Authorization: Bearer <JWT>` header value.
    pub fn verify_header(&self, value: Option<&http::HeaderValue>) -> Result<Principal, AuthError> {
        let value = value.ok_or(AuthError::MissingToken)?;
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
        self.verify(bearer_token(value)?)
    }

    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, AuthError> {
        self.verify_header(headers.get(http::header::AUTHORIZATION))
    }
}

/// The role names of a token, each parsed as a role: an issuer's free-form group name such as
/// `"editor,admin"` or `"ops admin"` is not one, and the token is refused rather than guessed at.
pub fn role_names(roles: impl IntoIterator<Item = String>) -> Result<BTreeSet<String>, AuthError> {
    roles
        .into_iter()
        .map(|r| match Role::parse(&r) {
            Ok(role) => Ok(role.as_str().to_owned()),
            Err(e) => Err(AuthError::Rejected(e.to_string())),
        })
        .collect()
}

fn clamp(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// What a token signed with `alg` must pass.
fn validation(alg: Algorithm, config: &JwtConfig) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    // A configured `iss` or `aud` must be present, not only right when present: a token another
    // client of the same issuer got without them is not one for these functions.
    let mut required = vec!["exp"];
    match &config.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &config.issuer {
        validation.set_issuer(&[iss]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// The algorithm a key set's key signs with: its `alg`, else what its type implies; only RS256
/// and ES256 (P-256), and not an encryption key.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm, PublicKeyUse};
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    match (&jwk.algorithm, &jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Some(Algorithm::RS256),
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// The token of an `Authorization: Bearer <JWT>` header value.
pub fn bearer_token(value: &str) -> Result<&str, AuthError> {
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(AuthError::MalformedHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token.trim())
}

/// Mints tokens (for `userctl token` and tests): HS256 with the shared secret, or RS256/ES256
/// with a private key.
pub struct Signer {
    key: EncodingKey,
    alg: Algorithm,
    issuer: Option<String>,
    audience: Option<String>,
    claims: ClaimNames,
    kid: Option<String>,
}

impl Signer {
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            alg: Algorithm::HS256,
            issuer,
            audience,
            claims: ClaimNames::default(),
            kid: None,
        }
    }

    pub fn from_private_pem(
        pem: &str,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, ConfigError> {
        let (key, alg) = if let Ok(k) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
            (k, Algorithm::RS256)
        } else if let Ok(k) = EncodingKey::from_ec_pem(pem.as_bytes()) {
            (k, Algorithm::ES256)
        } else {
            return Err(ConfigError::Invalid {
                name: "JWT_PRIVATE_KEY",
                reason: "not an RSA or EC private key in PEM form".into(),
            });
        };
        Ok(Self {
            key,
            alg,
            issuer,
            audience,
            claims: ClaimNames::default(),
            kid: None,
        })
    }

    /// Names the user and its roles in these claims, as the verifier reads them.
    pub fn with_claim_names(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// Names the signing key in the header (`kid`), as an issuer with a key set does.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The signer matching a verifier configuration; a public key needs `private_pem`.
    pub fn for_config(config: &JwtConfig, private_pem: Option<&str>) -> Result<Self, ConfigError> {
        let signer = match (&config.key, private_pem) {
            (JwtKey::Secret(s), _) => {
                Self::hs256(s, config.issuer.clone(), config.audience.clone())
            }
            (JwtKey::PublicKeyPem(_), Some(pem)) => {
                Self::from_private_pem(pem, config.issuer.clone(), config.audience.clone())?
            }
            (JwtKey::PublicKeyPem(_), None) => return Err(ConfigError::Missing("JWT_PRIVATE_KEY")),
            (JwtKey::JwksUrl(_), _) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_JWKS_URL",
                    reason: "tokens for a key set come from its issuer, not from here".into(),
                })
            }
        };
        Ok(signer.with_claim_names(config.claims.clone()))
    }

    pub fn sign(&self, user: UserId, roles: &[String], ttl_seconds: i64) -> String {
        self.sign_signed_in_at(user, roles, ttl_seconds, now_unix())
    }

    /// A token whose user signed in at `auth_time` (unix seconds), as an OpenID Connect issuer
    /// refreshing a session mints it.
    pub fn sign_signed_in_at(
        &self,
        user: UserId,
        roles: &[String],
        ttl_seconds: i64,
        auth_time: i64,
    ) -> String {
        let now = now_unix();
        let claims = Claims {
            sub: user.to_string(),
            roles: roles.to_vec(),
            exp: (now + ttl_seconds).max(0) as u64,
            iat: now.max(0) as u64,
            auth_time: Some(auth_time.max(0) as u64),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut claims = match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => map,
            _ => unreachable!("Claims serialises to an object"),
        };
        // The user and roles under the names the verifier reads (`sub` stays as well).
        claims.insert(self.claims.user_id.clone(), Value::from(user.to_string()));
        if self.claims.roles != "roles" {
            let roles = claims.remove("roles").unwrap_or_default();
            claims.insert(self.claims.roles.clone(), roles);
        }
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .expect("signing with a validated key cannot fail")
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config() -> JwtConfig {
        JwtConfig {
            key: JwtKey::Secret(SECRET.to_vec()),
            issuer: None,
            audience: None,
            claims: ClaimNames::default(),
        }
    }

    #[test]
    fn round_trip_and_admin() {
        let v = Verifier::new(&config()).unwrap();
        let t =
            Signer::hs256(SECRET, None, None).sign(UserId::new(7).unwrap(), &["admin".into()], 60);
        let p = v.verify(&t).unwrap();
        assert_eq!(p.user_id.get(), 7);
        assert!(p.is_admin());
    }

    #[test]
    fn rejects_expired_beyond_leeway_but_not_within() {
        let v = Verifier::new(&config()).unwrap();
        let s = Signer::hs256(SECRET, None, None);
        let id = UserId::new(1).unwrap();
        assert_eq!(v.verify(&s.sign(id, &[], -120)), Err(AuthError::Expired));
        assert!(v.verify(&s.sign(id, &[], -30)).is_ok());
    }

    #[test]
    fn rejects_wrong_key_and_alg_none() {
        let v = Verifier::new(&config()).unwrap();
        let other = Signer::hs256(b"another-secret-another-secret-xx", None, None);
        assert!(v
            .verify(&other.sign(UserId::new(1).unwrap(), &[], 60))
            .is_err());
        // A hand-made unsigned token with alg "none".
        use base64_like::encode;
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = encode(
            format!(
                r#"{{"sub":"1","roles":["admin"],"exp":{},"iat":0}}"#,
                now_unix() + 60
            )
            .as_bytes(),
        );
        assert!(v.verify(&format!("{header}.{body}.")).is_err());
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &Claims {
                sub: "1".into(),
                roles: vec![],
                exp: (now_unix() + 60) as u64,
                iat: 0,
                auth_time: None,
                iss: None,
                aud: None,
            },
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(v.verify(&hs384).is_err());
    }

    /// A token with arbitrary claims, signed with [`SECRET`].
    fn forged(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn role_names_with_separators_or_whitespace_refuse_the_token() {
        let v = Verifier::new(&config()).unwrap();
        let exp = now_unix() + 60;
        for role in [
            "editor,admin",
            "editor, admin",
            "editor;admin",
            "editor admin",
            " admin",
            "admin ",
            "editor\tadmin",
            "editor\nadmin",
            "editor|admin",
            "editor/admin",
            "[\"admin\"]",
            "editor\u{00A0}admin",
            "editor\u{2028}admin",
            "",
        ] {
            let t = forged(serde_json::json!({"sub": "3", "roles": [role], "exp": exp, "iat": 0}));
            assert!(
                matches!(v.verify(&t), Err(AuthError::Rejected(_))),
                "{role:?} accepted"
            );
        }
        let t = forged(
            serde_json::json!({"sub": "3", "roles": ["admin", "ops"], "exp": exp, "iat": 0}),
        );
        assert!(v.verify(&t).unwrap().is_admin());
    }

    #[test]
    fn only_the_canonical_sub_names_a_user() {
        let v = Verifier::new(&config()).unwrap();
        let exp = now_unix() + 60;
        for sub in ["+2", "02", " 2", "2 ", "2.0", "0x2"] {
            let t = forged(serde_json::json!({"sub": sub, "exp": exp, "iat": 0}));
            assert!(v.verify(&t).is_err(), "sub {sub:?} accepted");
        }
        let t = forged(serde_json::json!({"sub": "2", "exp": exp, "iat": 7}));
        let p = v.verify(&t).unwrap();
        assert_eq!((p.user_id.get(), p.authenticated_at), (2, 7));
        let t = forged(serde_json::json!({"sub": "2", "exp": exp, "iat": 7, "auth_time": 5}));
        assert_eq!(v.verify(&t).unwrap().authenticated_at, 5);
    }

    #[test]
    fn a_configured_issuer_and_audience_must_be_present_and_right() {
        let v = Verifier::new(&JwtConfig {
            issuer: Some("https://issuer.example".into()),
            audience: Some("profile-apis".into()),
            ..config()
        })
        .unwrap();
        let exp = now_unix() + 60;
        let good = serde_json::json!({"sub": "2", "exp": exp, "iat": 0,
            "iss": "https://issuer.example", "aud": "profile-apis"});
        assert!(v.verify(&forged(good.clone())).is_ok());
        for (claim, value) in [
            ("iss", serde_json::Value::Null),
            ("aud", serde_json::Value::Null),
            ("iss", "https://other.example".into()),
            ("aud", "another-client".into()),
        ] {
            let mut claims = good.clone();
            match &value {
                serde_json::Value::Null => {
                    claims.as_object_mut().unwrap().remove(claim);
                }
                other => claims[claim] = other.clone(),
            }
            assert!(v_rejects(&v, &forged(claims)), "{claim} {value:?}");
        }
        // A malformed auth_time is an old sign-in, not the token's fresh iat.
        let t = forged(
            serde_json::json!({"sub": "2", "exp": exp, "iat": now_unix(),
            "auth_time": "now", "iss": "https://issuer.example", "aud": "profile-apis"}),
        );
        assert_eq!(v.verify(&t).unwrap().authenticated_at, 0);
    }

    fn v_rejects(v: &Verifier, token: &str) -> bool {
        matches!(v.verify(token), Err(AuthError::Rejected(_)))
    }

    #[test]
    fn header_parsing() {
        let v = Verifier::new(&config()).unwrap();
        assert_eq!(v.verify_header(None), Err(AuthError::MissingToken));
        let bad = http::HeaderValue::from_static("Basic abc");
        assert_eq!(v.verify_header(Some(&bad)), Err(AuthError::MalformedHeader));
    }

    /// Minimal base64url without padding, enough to forge test tokens.
    mod base64_like {
        pub fn encode(input: &[u8]) -> String {
            const T: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
