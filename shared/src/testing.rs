//! Helpers for tests (the `test-util` feature; the Lambda binaries never enable it): a state whose
//! store points at a closed port, tokens, the request API Gateway hands a function, and the answer
//! read back. A check that must refuse before DynamoDB is asked is tested with the offline state:
//! had the handler called the store, the answer would be that API's outage status instead.

use crate::apigw::http::{match_route, HttpEvent, Route};
use crate::auth::Signer;
use crate::config::{Config, JwtConfig, JwtKey};
use crate::values::UserId;
use crate::AppState;

/// The HS256 secret of [`offline_config`].
pub const SECRET: &str = "unit-test-secret-unit-test-secret-0123";

/// A configuration whose DynamoDB endpoint is a port nothing listens on (the discard port).
pub fn offline_config() -> Config {
    Config {
        table_name: "offline".to_owned(),
        dynamodb_endpoint: Some("http://127.0.0.1:9".to_owned()),
        region: Some("us-east-1".to_owned()),
        credential_max_age_seconds: crate::config::DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
        jwt: JwtConfig {
            key: JwtKey::Secret(SECRET.as_bytes().to_vec()),
            issuer: None,
            audience: None,
            claims: crate::config::ClaimNames::default(),
        },
    }
}

pub async fn offline_state() -> AppState {
    AppState::from_config(&offline_config())
        .await
        .expect("the offline configuration is valid")
}

/// A token for user `id` with `roles`, valid for ten minutes, signed with `secret` (HS256).
pub fn sign(secret: &str, id: i64, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(secret.as_bytes(), None, None).sign(
        UserId::new(id).expect("a positive id"),
        &roles,
        600,
    )
}

/// [`sign`] for a user who signed in at `auth_time` (unix seconds): a refreshed session.
pub fn sign_signed_in_at(secret: &str, id: i64, roles: &[&str], auth_time: i64) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(secret.as_bytes(), None, None).sign_signed_in_at(
        UserId::new(id).expect("a positive id"),
        &roles,
        600,
        auth_time,
    )
}

/// A token with exactly `claims`, signed with `secret` (HS256): to forge what an issuer could.
pub fn sign_claims(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// A token for the offline state: signed with [`SECRET`].
pub fn token(id: i64, roles: &[&str]) -> String {
    sign(SECRET, id, roles)
}

/// `Bearer <token>`.
pub fn bearer(id: i64, roles: &[&str]) -> String {
    format!("Bearer {}", token(id, roles))
}

/// The request API Gateway would hand a function for `method path` on one of its `routes`.
pub fn request(
    routes: &[Route],
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> lambda_http::Request {
    let (route, params) = routes
        .iter()
        .filter(|r| r.method == method)
        .find_map(|r| match_route(r.path, path).map(|p| (r, p)))
        .unwrap_or_else(|| panic!("no route for {method} {path}"));
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(a) = authorization {
        headers.push(("authorization".to_owned(), a.to_owned()));
    }
    HttpEvent {
        method: method.to_owned(),
        path: path.to_owned(),
        route_key: route.key(),
        path_parameters: params,
        headers,
        body: body.to_vec(),
        ..Default::default()
    }
    .to_request()
}

/// Status and JSON body of a function's response (`Null` for an empty body).
pub fn json_of(resp: &lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let bytes: &[u8] = match resp.body() {
        lambda_http::Body::Empty => &[],
        lambda_http::Body::Text(t) => t.as_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => &[],
    };
    let value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|_| {
            panic!(
                "response body is not JSON: {}",
                String::from_utf8_lossy(bytes)
            )
        })
    };
    (resp.status().as_u16(), value)
}
