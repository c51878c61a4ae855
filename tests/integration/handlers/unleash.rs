//! The handler in-process, against the moto test server: every status the document lists.

use serde_json::Value;
use testkit::{assert_no_secrets, bearer, fresh_state, json_of, request, seed};
use unleash_user_admin::{handle, ROUTES};

async fn put(state: &shared::AppState, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let resp = handle(state, request(ROUTES, "PUT", path, auth, body.as_bytes())).await;
    let (status, json) = json_of(&resp);
    assert_no_secrets(&json.to_string());
    (status, json)
}

fn assert_error(body: &Value, name: &str) {
    assert_eq!(body["name"], name, "{body}");
    assert!(
        uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn an_admin_updates_name_email_and_root_role() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let admin = bearer(1, &["admin"]);

    let (status, body) = put(
        &state,
        "/api/admin/user-admin/2",
        Some(&admin),
        r#"{"name":"Bob Builder","email":"Bob@Example.com","rootRole":"Editor"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 2);
    assert_eq!(body["name"], "Bob Builder");
    assert_eq!(body["email"], "Bob@Example.com");
    assert_eq!(body["username"], "user2");
    assert_eq!(body["rootRole"], "Editor");
    assert_eq!(body["accountType"], "User");
    assert_eq!(body["isAPI"], false);
    assert!(body["createdAt"].as_str().is_some());
    assert!(body.get("inviteLink").is_none() && body.get("emailSent").is_none());

    let stored = state
        .store
        .get(shared::values::UserId::new(2).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.root_role, Some(2));
    assert!(!stored.is_admin());

    // Admin by id grants the canonical admin role; only the sent field changes.
    let (status, body) = put(
        &state,
        "/api/admin/user-admin/2",
        Some(&admin),
        r#"{"rootRole":1}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rootRole"], 1);
    assert_eq!(body["name"], "Bob Builder");
    let stored = state
        .store
        .get(shared::values::UserId::new(2).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_admin());
    assert_eq!(stored.email, "Bob@Example.com");

    // An empty body changes nothing and answers with the user, without `rootRole` (Unleash's
    // e2e test "should not require any fields on update").
    let (status, body) = put(&state, "/api/admin/user-admin/2", Some(&admin), "{}").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Bob Builder");
    assert_eq!(body["email"], "Bob@Example.com");
    assert!(body.get("rootRole").is_none(), "{body}");
}

#[tokio::test]
async fn auth_failures_are_401_and_403() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let (status, body) = put(&state, "/api/admin/user-admin/1", None, "{}").await;
    assert_eq!(status, 401);
    assert_error(&body, "AuthenticationRequired");
    let (status, body) = put(
        &state,
        "/api/admin/user-admin/1",
        Some("Bearer not.a.jwt"),
        "{}",
    )
    .await;
    assert_eq!(status, 401);
    assert_error(&body, "AuthenticationRequired");
    let forged = format!(
        "Bearer {}",
        shared::auth::Signer::hs256(b"some-other-secret-some-other-secret!", None, None).sign(
            shared::values::UserId::new(1).unwrap(),
            &["admin".into()],
            60
        )
    );
    let (status, _) = put(&state, "/api/admin/user-admin/1", Some(&forged), "{}").await;
    assert_eq!(status, 401);

    let (status, body) = put(
        &state,
        "/api/admin/user-admin/1",
        Some(&bearer(1, &[])),
        r#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(status, 403);
    assert_error(&body, "NoAccessError");
    let stored = state
        .store
        .get(shared::values::UserId::new(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, None, "nothing written on 403");
}

#[tokio::test]
async fn unknown_ids_are_404_and_bad_input_400() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    let admin = bearer(1, &["admin"]);
    let (status, body) = put(
        &state,
        "/api/admin/user-admin/999",
        Some(&admin),
        r#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(status, 404);
    assert_error(&body, "NotFoundError");

    let cases: &[(&str, &str, &str)] = &[
        ("/api/admin/user-admin/abc", "{}", "id"),
        (
            "/api/admin/user-admin/1",
            r#"{"email":"not-an-email"}"#,
            "email",
        ),
        ("/api/admin/user-admin/1", r#"{"email":5}"#, "email"),
        (
            "/api/admin/user-admin/1",
            r#"{"rootRole":"Superuser"}"#,
            "rootRole",
        ),
        ("/api/admin/user-admin/1", r#"{"rootRole":42}"#, "rootRole"),
        ("/api/admin/user-admin/1", r#"{"name":["x"]}"#, "name"),
        ("/api/admin/user-admin/1", "[]", "object"),
        ("/api/admin/user-admin/1", "not json", "JSON"),
    ];
    for (path, body, mentions) in cases {
        let (status, resp) = put(&state, path, Some(&admin), body).await;
        assert_eq!(status, 400, "{path} {body}: {resp}");
        assert_error(&resp, "ValidationError");
        assert!(
            resp["message"].as_str().unwrap().contains(mentions),
            "{body}: {resp}"
        );
    }
    let stored = state
        .store
        .get(shared::values::UserId::new(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 1, "nothing written by a bad request");
}

#[tokio::test]
async fn an_email_held_by_another_user_is_409() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let (status, body) = put(
        &state,
        "/api/admin/user-admin/2",
        Some(&bearer(1, &["admin"])),
        r#"{"email":"USER1@example.com","name":"n"}"#,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "NameExistsError");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("USER1@example.com"));
    let stored = state
        .store
        .get(shared::values::UserId::new(2).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, None, "nothing half written");
}

#[tokio::test]
async fn a_store_outage_is_503() {
    let mut config = testkit::config("nowhere");
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let state = shared::AppState::from_config(&config).await.unwrap();
    let (status, body) = put(
        &state,
        "/api/admin/user-admin/1",
        Some(&bearer(1, &["admin"])),
        r#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "ServiceUnavailableError");
}
