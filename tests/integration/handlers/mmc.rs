//! The handler in-process, against the moto test server: every status the document lists.

use mmc_profile::{handle, Settings, ROUTES};
use serde_json::{json, Value};
use shared::password::verify_blocking;
use shared::user::User;
use shared::values::UserId;
use testkit::{assert_no_secrets, bearer, fresh_state, json_of, request, seed, PASSWORD};

const NEW_PASSWORD: &str = "Brand-New-Secret-7";

/// What the function builds at cold start: the shared state and MMC's plugin switch.
struct State {
    app: shared::AppState,
    user_management_enabled: bool,
}

impl State {
    fn settings(&self) -> Settings {
        Settings {
            user_management_enabled: self.user_management_enabled,
        }
    }
}

async fn state() -> State {
    let (app, _) = fresh_state().await;
    State {
        app,
        user_management_enabled: true,
    }
}

async fn put(state: &State, user_name: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let path = format!("/api/profile/{user_name}");
    let req = request(ROUTES, "PUT", &path, auth, body.as_bytes());
    let resp = handle(&state.app, &state.settings(), req).await;
    let (status, json) = json_of(&resp);
    let text = json.to_string();
    assert_no_secrets(&text);
    assert!(!text.contains(NEW_PASSWORD), "a password leaked: {text}");
    (status, json)
}

async fn stored(state: &State, id: i64) -> User {
    state
        .app
        .store
        .get(UserId::new(id).unwrap())
        .await
        .unwrap()
        .expect("user exists")
}

fn error(code: &str, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

fn invalid() -> Value {
    error("INVALID", "User object invalid")
}

fn not_allowed() -> Value {
    error("NOT_ALLOWED", "Not allowed")
}

fn gone() -> Value {
    error("GONE", "User does not exist")
}

#[tokio::test]
async fn a_user_changes_its_own_password() {
    let state = state().await;
    seed(&state.app.store, 1, &["viewer"]).await;
    let me = bearer(1, &["viewer"]);

    let body = json!({ "username": "user1", "password": NEW_PASSWORD, "extra": [1, 2] });
    let (status, resp) = put(&state, "user1", Some(&me), &body.to_string()).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({ "username": "user1", "roles": ["viewer"] }));
    let user = stored(&state, 1).await;
    let hash = user.password_hash.as_ref().expect("a password");
    assert!(verify_blocking(hash, NEW_PASSWORD));
    assert!(!verify_blocking(hash, PASSWORD));
    assert_eq!(user.version, 2);
    assert_eq!(user.email, "user1@example.com", "nothing else written");

    // Repeating its own roles (in any order, with duplicates) is not a change.
    seed(&state.app.store, 2, &["viewer", "monitoringViewer"]).await;
    let body = json!({
        "username": "user2",
        "roles": ["monitoringViewer", "viewer", "viewer"],
        "password": NEW_PASSWORD,
    });
    let (status, resp) = put(
        &state,
        "user2",
        Some(&bearer(2, &["viewer"])),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        resp,
        json!({ "username": "user2", "roles": ["monitoringViewer", "viewer"] })
    );
    assert!(verify_blocking(
        stored(&state, 2).await.password_hash.as_ref().unwrap(),
        NEW_PASSWORD
    ));

    // A body that changes nothing answers with the user and writes nothing.
    let (status, resp) = put(&state, "user1", Some(&me), r#"{"username":"user1"}"#).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({ "username": "user1", "roles": ["viewer"] }));
    let (status, _) = put(
        &state,
        "user1",
        Some(&me),
        r#"{"username":"user1","roles":["viewer"],"password":null}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored(&state, 1).await.version, 2);
}

#[tokio::test]
async fn an_admin_edits_another_users_roles_and_password() {
    let state = state().await;
    seed(&state.app.store, 1, &["admin"]).await;
    seed(&state.app.store, 2, &["viewer"]).await;
    let admin = bearer(1, &["admin"]);

    let (status, resp) = put(
        &state,
        "user2",
        Some(&admin),
        r#"{"username":"user2","roles":["editor","connectionManager"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        resp,
        json!({ "username": "user2", "roles": ["connectionManager", "editor"] })
    );
    let user = stored(&state, 2).await;
    assert_eq!(
        user.roles.iter().map(String::as_str).collect::<Vec<_>>(),
        ["connectionManager", "editor"]
    );
    assert!(
        verify_blocking(user.password_hash.as_ref().unwrap(), PASSWORD),
        "password untouched"
    );

    // The password alone: roles stay.
    let body = json!({ "username": "user2", "password": NEW_PASSWORD });
    let (status, resp) = put(&state, "user2", Some(&admin), &body.to_string()).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        resp,
        json!({ "username": "user2", "roles": ["connectionManager", "editor"] })
    );
    assert!(verify_blocking(
        stored(&state, 2).await.password_hash.as_ref().unwrap(),
        NEW_PASSWORD
    ));

    // Granting MMC's admin role, which is the canonical admin.
    let (status, resp) = put(
        &state,
        "user2",
        Some(&admin),
        r#"{"username":"user2","roles":["admin"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert!(stored(&state, 2).await.is_admin());

    // Nothing to change: the user as it is.
    let (status, resp) = put(&state, "user2", Some(&admin), r#"{"username":"user2"}"#).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({ "username": "user2", "roles": ["admin"] }));
    assert_eq!(stored(&state, 2).await.version, 4);
}

#[tokio::test]
async fn a_user_may_not_change_its_own_roles() {
    let state = state().await;
    seed(&state.app.store, 1, &["viewer"]).await;
    let me = bearer(1, &["viewer"]);
    let bodies = [
        json!({ "username": "user1", "roles": ["viewer", "admin"] }),
        json!({ "username": "user1", "roles": ["editor"] }),
        json!({ "username": "user1", "roles": ["viewer", "editor"], "password": NEW_PASSWORD }),
    ];
    for body in bodies {
        let (status, resp) = put(&state, "user1", Some(&me), &body.to_string()).await;
        assert_eq!(status, 403, "{body}: {resp}");
        assert_eq!(resp, not_allowed());
    }
    let user = stored(&state, 1).await;
    assert_eq!(user.version, 1, "nothing written");
    assert!(verify_blocking(
        user.password_hash.as_ref().unwrap(),
        PASSWORD
    ));
}

#[tokio::test]
async fn a_user_may_not_edit_another_user() {
    let state = state().await;
    seed(&state.app.store, 1, &["viewer"]).await;
    seed(&state.app.store, 2, &["viewer"]).await;
    let me = bearer(1, &["viewer"]);
    let bodies = [
        json!({ "username": "user2", "password": NEW_PASSWORD }),
        json!({ "username": "user2", "roles": ["viewer"], "password": NEW_PASSWORD }),
        json!({ "username": "user2", "roles": ["admin"] }),
        json!({ "username": "user2" }),
    ];
    for body in bodies {
        let (status, resp) = put(&state, "user2", Some(&me), &body.to_string()).await;
        assert_eq!(status, 403, "{body}: {resp}");
        assert_eq!(resp, not_allowed());
    }
    for id in [1, 2] {
        let user = stored(&state, id).await;
        assert_eq!(user.version, 1, "nothing written");
        assert!(verify_blocking(
            user.password_hash.as_ref().unwrap(),
            PASSWORD
        ));
    }
}

#[tokio::test]
async fn an_unknown_username_is_410_to_an_admin_and_403_to_anyone_else() {
    let state = state().await;
    seed(&state.app.store, 1, &["admin"]).await;
    seed(&state.app.store, 2, &["viewer"]).await;
    let cases = [
        (
            bearer(1, &["admin"]),
            "nobody",
            json!({ "username": "nobody", "roles": ["viewer"] }),
        ),
        (
            bearer(1, &["admin"]),
            "nobody",
            json!({ "username": "nobody" }),
        ),
        (
            bearer(2, &["viewer"]),
            "nobody",
            json!({ "username": "nobody", "password": NEW_PASSWORD }),
        ),
        (
            bearer(2, &["viewer"]),
            "nobody",
            json!({ "username": "nobody", "roles": ["viewer"] }),
        ),
        (
            bearer(2, &["viewer"]),
            "nobody",
            json!({ "username": "nobody" }),
        ),
        // userName is matched exactly: another spelling names nobody.
        (
            bearer(1, &["admin"]),
            "USER2",
            json!({ "username": "USER2", "roles": ["editor"] }),
        ),
        (
            bearer(2, &["viewer"]),
            "User2",
            json!({ "username": "User2", "password": NEW_PASSWORD }),
        ),
        // A valid token for a user that no longer exists.
        (
            bearer(9, &["viewer"]),
            "nobody",
            json!({ "username": "nobody", "password": NEW_PASSWORD }),
        ),
    ];
    let admin = bearer(1, &["admin"]);
    for (auth, user_name, body) in cases {
        let (status, resp) = put(&state, user_name, Some(&auth), &body.to_string()).await;
        if auth == admin {
            assert_eq!(status, 410, "{user_name} {body}: {resp}");
            assert_eq!(resp, gone());
        } else {
            // As for a name someone else holds: a non-admin cannot list usernames.
            assert_eq!(status, 403, "{user_name} {body}: {resp}");
            assert_eq!(resp["code"], "NOT_ALLOWED");
        }
    }
    assert_eq!(stored(&state, 2).await.version, 1, "nothing written");
}

#[tokio::test]
async fn bad_bodies_are_400() {
    let state = state().await;
    seed(&state.app.store, 1, &["admin"]).await;
    seed(&state.app.store, 2, &["viewer"]).await;
    let long = "x".repeat(70 * 1024);
    let too_large = format!(r#"{{"username":"user2","pad":"{long}"}}"#);
    let bodies: Vec<String> = [
        "",
        "not json",
        "[]",
        r#""user2""#,
        "null",
        "{}",
        r#"{"roles":["viewer"]}"#,
        r#"{"username":null}"#,
        r#"{"username":2}"#,
        r#"{"username":"user2","roles":"viewer"}"#,
        r#"{"username":"user2","roles":[1]}"#,
        r#"{"username":"user2","roles":["not a role"]}"#,
        r#"{"username":"user2","roles":[""]}"#,
        r#"{"username":"user2","password":"short"}"#,
        r#"{"username":"user2","password":12345678}"#,
        // Not the path's userName, which must be repeated exactly.
        r#"{"username":"user1","roles":["viewer"]}"#,
        r#"{"username":"User2","roles":["viewer"]}"#,
        r#"{"username":"user2 ","roles":["viewer"]}"#,
        // A mismatch is reported before an empty role list.
        r#"{"username":"user1","roles":[]}"#,
        too_large.as_str(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for auth in [bearer(1, &["admin"]), bearer(2, &["viewer"])] {
        for body in &bodies {
            let (status, resp) = put(&state, "user2", Some(&auth), body).await;
            assert_eq!(status, 400, "{body:.80}: {resp}");
            assert_eq!(resp, invalid(), "{body:.80}");
        }
        let (status, resp) = put(
            &state,
            "user2",
            Some(&auth),
            r#"{"username":"user2","roles":[],"password":"long-enough-1"}"#,
        )
        .await;
        assert_eq!(status, 400, "{resp}");
        assert_eq!(resp, error("INVALID", "User must have at least one role"));
    }
    // Invalid UTF-8.
    let resp = handle(
        &state.app,
        &state.settings(),
        request(
            ROUTES,
            "PUT",
            "/api/profile/user2",
            Some(&bearer(1, &["admin"])),
            b"{\"username\":\"user2\xff\"}",
        ),
    )
    .await;
    let (status, resp) = json_of(&resp);
    assert_eq!((status, resp), (400, invalid()));
    assert_eq!(stored(&state, 2).await.version, 1, "nothing written");
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let state = state().await;
    seed(&state.app.store, 1, &["admin"]).await;
    let forged = format!(
        "Bearer {}",
        shared::auth::Signer::hs256(b"some-other-secret-some-other-secret!", None, None).sign(
            UserId::new(1).unwrap(),
            &["admin".into()],
            60
        )
    );
    let expired = format!(
        "Bearer {}",
        shared::auth::Signer::hs256(testkit::SECRET.as_bytes(), None, None).sign(
            UserId::new(1).unwrap(),
            &["admin".into()],
            -3600
        )
    );
    let body = r#"{"username":"user1","roles":[]}"#;
    for auth in [
        None,
        Some("Bearer not.a.jwt"),
        Some("garbage"),
        Some("Basic dXNlcjE6cGFzcw=="),
        Some(forged.as_str()),
        Some(expired.as_str()),
    ] {
        let (status, resp) = put(&state, "user1", auth, body).await;
        assert_eq!(status, 401, "{auth:?}: {resp}");
        assert_eq!(resp, error("UNAUTHORIZED", "Unauthorized"));
    }
    assert_eq!(stored(&state, 1).await.version, 1);
}

#[tokio::test]
async fn a_switched_off_plugin_is_404_before_anything_else() {
    let (app, _) = fresh_state().await;
    let state = State {
        app,
        user_management_enabled: false,
    };
    seed(&state.app.store, 1, &["admin"]).await;
    for (auth, body) in [
        (None, "not json"),
        (
            Some(bearer(1, &["admin"])),
            r#"{"username":"user1","roles":["viewer"]}"#,
        ),
    ] {
        let (status, resp) = put(&state, "user1", auth.as_deref(), body).await;
        assert_eq!(status, 404, "{resp}");
        assert_eq!(resp, error("NOT_FOUND", "Plugin not found"));
    }
    assert_eq!(stored(&state, 1).await.version, 1);
}

#[tokio::test]
async fn a_store_outage_is_500() {
    let mut config = testkit::config("nowhere");
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let state = State {
        app: shared::AppState::from_config(&config).await.unwrap(),
        user_management_enabled: true,
    };
    for (auth, user_name, body) in [
        (
            bearer(1, &["admin"]),
            "user2",
            r#"{"username":"user2","roles":["viewer"]}"#,
        ),
        (
            bearer(1, &["viewer"]),
            "user1",
            r#"{"username":"user1","password":"long-enough-1"}"#,
        ),
    ] {
        let (status, resp) = put(&state, user_name, Some(&auth), body).await;
        assert_eq!(status, 500, "{resp}");
        assert_eq!(
            resp,
            error("INTERNAL_ERROR", "An internal server error occurred")
        );
    }
}
