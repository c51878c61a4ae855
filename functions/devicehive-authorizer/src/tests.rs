//! The `$connect` authorizer: token from the query string or the Authorization header.

use serde_json::json;
use shared::testing::{offline_config as config, token};

use crate::Authorizer;

#[tokio::test]
async fn allows_a_valid_token_and_carries_the_principal() {
    let auth = Authorizer::new(&config()).await.unwrap();
    let arn = "arn:aws:execute-api:eu-west-1:1:api/prod/$connect";
    for event in [
        json!({"type": "REQUEST", "methodArn": arn, "queryStringParameters": {"token": token(4, &["admin"])}}),
        json!({"type": "REQUEST", "methodArn": arn, "headers": {"Authorization": format!("Bearer {}", token(4, &["admin"]))}}),
    ] {
        let policy = auth.authorize(&event).unwrap();
        assert_eq!(policy["principalId"], "4");
        assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(policy["policyDocument"]["Statement"][0]["Resource"], arn);
        assert_eq!(policy["context"]["userId"], "4");
        assert_eq!(policy["context"]["roles"], r#"["admin"]"#);
        assert!(policy["context"]["exp"].as_i64().unwrap() > shared::auth::now_unix());
    }
}

#[tokio::test]
async fn refuses_bad_and_foreign_tokens() {
    let auth = Authorizer::new(&config()).await.unwrap();
    let foreign = shared::auth::Signer::hs256(b"another-secret-another-secret-123", None, None)
        .sign(shared::values::UserId::new(1).unwrap(), &[], 60);
    for event in [
        json!({"queryStringParameters": {"token": "garbage"}}),
        json!({"queryStringParameters": {"token": foreign}}),
        json!({"headers": {"authorization": "Basic abc"}}),
    ] {
        assert!(auth.authorize(&event).is_err(), "{event}");
    }
}

#[tokio::test]
async fn a_connection_without_a_token_opens_anonymous() {
    let auth = Authorizer::new(&config()).await.unwrap();
    let arn = "arn:aws:execute-api:eu-west-1:1:api/prod/$connect";
    for event in [
        json!({"type": "REQUEST", "methodArn": arn}),
        json!({"type": "REQUEST", "methodArn": arn, "queryStringParameters": {"token": ""}}),
    ] {
        let policy = auth.authorize(&event).unwrap();
        assert_eq!(policy["principalId"], "anonymous");
        assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert!(policy.get("context").is_none(), "no principal: {policy}");
    }
}
