//! Tokens from an issuer's key set (`JWT_JWKS_URL`), as Cognito or any OpenID Connect provider
//! signs them: the set fetched from a local issuer once per cold start, a key chosen by `kid`
//! with its own algorithm pinned, and a Cognito-shaped token (its `sub` a UUID, the directory's
//! id in `custom:user_id`, roles in `cognito:groups`) through `userctl serve`.

use crate::http::send;
use crate::USERCTL;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use shared::auth::{now_unix, AuthError, Verifier};
use shared::config::{ClaimNames, JwtConfig, JwtKey};
use testkit::{fresh_store, seed, Served};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JWKS: &str = include_str!("../fixtures/jwt/jwks.json");
const ISSUER_KEY: &str = include_str!("../fixtures/jwt/es256-private.pem");
const OTHER_KEY: &str = include_str!("../fixtures/jwt/other-private.pem");
const RSA_KEY: &str = include_str!("../fixtures/jwt/rs256-private.pem");

/// A local issuer answering every request with `body`: its URL.
async fn issuer(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    url
}

fn cognito() -> ClaimNames {
    ClaimNames {
        user_id: "custom:user_id".into(),
        roles: "cognito:groups".into(),
    }
}

fn config(url: &str) -> JwtConfig {
    JwtConfig {
        key: JwtKey::JwksUrl(url.to_owned()),
        issuer: None,
        audience: None,
        claims: cognito(),
    }
}

/// What Cognito puts in an ID token, for the directory's user `id`.
fn claims(id: &str, groups: &[&str]) -> Value {
    let now = now_unix();
    json!({
        "sub": "7c1f4a52-8f0e-4b8e-9a43-0d2f5e7c1a01", "custom:user_id": id,
        "cognito:groups": groups, "token_use": "id", "auth_time": now, "iat": now, "exp": now + 600
    })
}

fn es256(pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_key_set_verifies_by_kid_with_each_keys_own_algorithm() {
    let url = issuer(JWKS).await;
    let verifier = Verifier::connect(&config(&url)).await.expect("the key set");
    let good = es256(ISSUER_KEY, Some("test-es256"), &claims("2", &["admin"]));
    let p = verifier.verify(&good).unwrap();
    assert_eq!(p.user_id.get(), 2);
    assert!(p.is_admin());
    // The set's RSA key: RS256 under its own kid.
    let mut rs = Header::new(Algorithm::RS256);
    rs.kid = Some("test-rs256".into());
    let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let p = verifier
        .verify(&jsonwebtoken::encode(&rs, &claims("3", &[]), &rsa).unwrap())
        .unwrap();
    assert_eq!(p.user_id.get(), 3);

    let rejected = |token: String| {
        assert!(
            matches!(verifier.verify(&token), Err(AuthError::Rejected(_))),
            "accepted"
        )
    };
    // A kid the set does not hold, none at all, or another key under the issuer's kid.
    rejected(es256(ISSUER_KEY, Some("rotated-away"), &claims("2", &[])));
    rejected(es256(ISSUER_KEY, None, &claims("2", &[])));
    rejected(es256(
        OTHER_KEY,
        Some("test-es256"),
        &claims("2", &["admin"]),
    ));
    // Each key allows its own algorithm only: RS256 under the EC key's kid, ES256 under the RSA
    // key's, and HS256 with the EC key's public bytes as the secret are all refused.
    rs.kid = Some("test-es256".into());
    rejected(jsonwebtoken::encode(&rs, &claims("2", &["admin"]), &rsa).unwrap());
    rejected(es256(
        ISSUER_KEY,
        Some("test-rs256"),
        &claims("2", &["admin"]),
    ));
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("test-es256".into());
    let public = include_str!("../fixtures/jwt/es256-public.pem");
    rejected(
        jsonwebtoken::encode(
            &confused,
            &claims("2", &["admin"]),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap(),
    );
    // The set's symmetric key is no key here: a token "signed" with it is refused.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("hmac-key".into());
    rejected(
        jsonwebtoken::encode(
            &hs,
            &claims("2", &["admin"]),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap(),
    );
    // The user claim in any but the canonical form, or a group that is not a role name.
    rejected(es256(ISSUER_KEY, Some("test-es256"), &claims("02", &[])));
    rejected(es256(
        ISSUER_KEY,
        Some("test-es256"),
        &claims("2", &["ops,admin"]),
    ));
}

#[tokio::test]
async fn no_usable_key_set_is_a_failed_cold_start() {
    let closed = format!("http://127.0.0.1:{}/jwks.json", testkit::free_port());
    assert!(Verifier::connect(&config(&closed)).await.is_err());
    let no_signing_key = issuer(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#).await;
    let refused = Verifier::connect(&config(&no_signing_key))
        .await
        .err()
        .unwrap();
    assert!(
        refused
            .to_string()
            .contains("no RS256 or ES256 signing key"),
        "{refused}"
    );
    let not_a_set = issuer("<html>maintenance</html>").await;
    assert!(Verifier::connect(&config(&not_a_set)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cognito_shaped_tokens_work_through_the_apis() {
    let url = issuer(JWKS).await;
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start_with(
        USERCTL,
        &config,
        &[
            ("JWT_SECRET", ""),
            ("JWT_JWKS_URL", url.as_str()),
            ("JWT_USER_ID_CLAIM", "custom:user_id"),
            ("JWT_ROLES_CLAIM", "cognito:groups"),
        ],
    );
    let bearer = |id: &str, groups: &[&str]| {
        format!(
            "Bearer {}",
            es256(ISSUER_KEY, Some("test-es256"), &claims(id, groups))
        )
    };
    let c = Client::new();
    let (s, b) = send(
        &c,
        Method::PATCH,
        served.url("/v1/users/me"),
        Some(&bearer("2", &[])),
        json!({"nickname": "Two"}),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = send(
        &c,
        Method::PUT,
        served.url("/api/admin/user-admin/2"),
        Some(&bearer("1", &["admin"])),
        json!({"name": "Second"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = send(
        &c,
        Method::PUT,
        served.url("/api/admin/user-admin/2"),
        Some(&bearer("2", &["viewers"])),
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(s, 403);
    let user = store
        .get(shared::values::UserId::new(2).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.nickname.as_deref(), user.name.as_deref()),
        (Some("Two"), Some("Second"))
    );
}

/// The key set over HTTPS, as in AWS: the HTTPS client the functions share, trusting the system
/// store (here a test CA through `SSL_CERT_FILE`, which the native roots honour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_set_comes_over_https_checked_against_the_trust_store() {
    let fixtures = testkit::workspace_root().join("tests/fixtures/jwt");
    let port = testkit::free_port();
    // A Python HTTPS server: the test kit has no TLS server of its own.
    let mut issuer = bench::https_issuer(&fixtures, port);
    let (store, config) = fresh_store().await;
    seed(&store, 2, &[]).await;
    let url = format!("https://localhost:{port}/.well-known/jwks.json");
    let ca = fixtures.join("test-ca.pem");
    let env = |trusted: bool| {
        let mut env = vec![
            ("JWT_SECRET", "".to_owned()),
            ("JWT_JWKS_URL", url.clone()),
            ("JWT_USER_ID_CLAIM", "custom:user_id".to_owned()),
            ("JWT_ROLES_CLAIM", "cognito:groups".to_owned()),
        ];
        if trusted {
            env.push(("SSL_CERT_FILE", ca.display().to_string()));
        }
        env
    };
    let trusted = env(true);
    let served = Served::start_with(
        USERCTL,
        &config,
        &trusted
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let token = es256(ISSUER_KEY, Some("test-es256"), &claims("2", &[]));
    let (s, b) = send(
        &Client::new(),
        Method::PATCH,
        served.url("/v1/users/me"),
        Some(&format!("Bearer {token}")),
        json!({"nickname": "Tls"}),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    drop(served);

    // Without the CA the issuer is not trusted: the cold start fails, nothing is served.
    let untrusted = env(false);
    let refused = std::process::Command::new(USERCTL)
        .args(["serve", "--port", &testkit::free_port().to_string()])
        .env_clear()
        .envs(testkit::env_for(&config))
        .envs(untrusted.iter().map(|(k, v)| (*k, v.as_str())))
        // A store holding only the server's own certificate, not the CA that signed it.
        .env("SSL_CERT_FILE", fixtures.join("issuer-tls.pem"))
        .output()
        .expect("run userctl serve");
    let _ = issuer.kill();
    let _ = issuer.wait();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("JWT_JWKS_URL"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
