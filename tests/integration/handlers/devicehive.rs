//! The WebSocket route handler in-process, with API Gateway's events, against the moto server.

use devicehive_user_update::{handle, Settings};
use serde_json::{json, Value};
use shared::apigw::websocket::ws_event;
use shared::auth::{now_unix, Principal};
use shared::authorizer_context::ConnectionPrincipal;
use shared::values::{Status, UserId};
use testkit::{assert_no_secrets, fresh_state, seed, stored};

fn context(id: i64, roles: &[&str]) -> Value {
    ConnectionPrincipal {
        principal: Principal {
            user_id: UserId::new(id).unwrap(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            authenticated_at: shared::auth::now_unix(),
        },
        expires_at: now_unix() + 600,
    }
    .to_context()
}

async fn send(state: &shared::AppState, ctx: Option<&Value>, message: &Value) -> Value {
    send_raw(state, ctx, "user/update", &message.to_string()).await
}

async fn send_raw(
    state: &shared::AppState,
    ctx: Option<&Value>,
    route: &str,
    frame: &str,
) -> Value {
    let out = handle(
        state,
        &Settings::default(),
        ws_event(route, "conn-1", Some(frame), ctx),
    )
    .await;
    assert_eq!(out["statusCode"], 200, "{out}");
    let body = out["body"]
        .as_str()
        .expect("a two-way route answers with a body");
    assert_no_secrets(body);
    serde_json::from_str(body).unwrap()
}

fn assert_error(reply: &Value, code: u16, error: &str) {
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().starts_with(error),
        "{reply}"
    );
}

#[tokio::test]
async fn an_admin_updates_every_property_of_any_user() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let admin = context(1, &["admin"]);
    let reply = send(
        &state,
        Some(&admin),
        &json!({
            "action": "user/update", "requestId": {"n": [1, "x"]}, "userId": 2,
            "user": {"login": "robert", "role": 0, "status": 1, "password": "secret-7",
                     "data": {"team": "red"}, "introReviewed": true}
        }),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "user/update", "requestId": {"n": [1, "x"]}, "status": "success"})
    );
    let u = stored(&state, 2).await;
    assert_eq!(u.username, "robert");
    assert!(u.is_admin());
    assert_eq!(u.status, Status::Locked);
    assert_eq!(u.data_json(), json!({"team": "red"}));
    assert_eq!(u.intro_reviewed, Some(true));
    assert!(shared::password::verify_blocking(
        u.password_hash.as_ref().unwrap(),
        "secret-7"
    ));
    // role 1 takes the admin role away again.
    let reply = send(
        &state,
        Some(&admin),
        &json!({"action": "user/update", "requestId": 7, "userId": 2, "user": {"role": 1}}),
    )
    .await;
    assert_eq!(reply["status"], "success");
    assert!(!stored(&state, 2).await.is_admin());
}

#[tokio::test]
async fn a_client_changes_only_its_own_password_data_and_intro() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    seed(&state.store, 2, &[]).await;
    let me = context(1, &[]);
    let reply = send(
        &state,
        Some(&me),
        &json!({"action": "user/update", "requestId": "r1", "userId": "current",
        "user": {"password": "my-new-pass", "data": {"a": 1}, "introReviewed": false}}),
    )
    .await;
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(reply["requestId"], "r1");
    let u = stored(&state, 1).await;
    assert!(shared::password::verify_blocking(
        u.password_hash.as_ref().unwrap(),
        "my-new-pass"
    ));
    assert_eq!(u.version, 2);

    for (user_id, user) in [
        (json!(1), json!({"login": "me2"})),
        (json!(1), json!({"role": 0})),
        (json!("current"), json!({"status": 2})),
        (json!(2), json!({"data": {"b": 2}})),
    ] {
        let reply = send(
            &state,
            Some(&me),
            &json!({"action": "user/update", "requestId": 9, "userId": user_id, "user": user}),
        )
        .await;
        assert_error(&reply, 403, "Admin permissions required for this action");
        assert_eq!(reply["requestId"], 9);
    }
    assert_eq!(stored(&state, 1).await.version, 2, "nothing written");
    assert_eq!(stored(&state, 2).await.version, 1, "nothing written");
}

#[tokio::test]
async fn a_taken_login_is_devicehives_403_and_unknown_users_404() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let admin = context(1, &["admin"]);
    let reply = send(&state, Some(&admin), &json!({"action": "user/update", "userId": 2, "user": {"login": "USER1", "data": {"x": 1}}})).await;
    assert_error(
        &reply,
        403,
        "User with such login already exists. Please, select another one",
    );
    assert_eq!(stored(&state, 2).await.data, None, "nothing half written");
    let reply = send(
        &state,
        Some(&admin),
        &json!({"action": "user/update", "userId": 99, "user": {"data": {}}}),
    )
    .await;
    assert_error(&reply, 404, "User with id = 99 not found");
}

#[tokio::test]
async fn bad_messages_and_missing_auth_get_error_messages() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let me = context(1, &[]);
    assert_error(
        &send(
            &state,
            None,
            &json!({"action": "user/update", "userId": 1, "user": {}}),
        )
        .await,
        401,
        "Unauthorized",
    );
    let expired = ConnectionPrincipal {
        principal: Principal {
            user_id: UserId::new(1).unwrap(),
            roles: Default::default(),
            authenticated_at: shared::auth::now_unix(),
        },
        expires_at: now_unix() - 3600,
    }
    .to_context();
    assert_error(
        &send(
            &state,
            Some(&expired),
            &json!({"action": "user/update", "userId": 1, "user": {}}),
        )
        .await,
        401,
        "Token expired",
    );
    for (message, error) in [
        (
            json!({"action": "user/update", "user": {}}),
            "User id is wrong or empty",
        ),
        (
            json!({"action": "user/update", "userId": "me", "user": {}}),
            "User id is wrong or empty",
        ),
        (
            json!({"action": "user/update", "userId": 1}),
            "User is required",
        ),
        (
            json!({"action": "user/update", "userId": 1, "user": {"password": "short"}}),
            "Password can contain only from 6 to 128 symbols!",
        ),
        (
            json!({"action": "user/update", "userId": 1, "user": {"data": "text"}}),
            "Invalid user data",
        ),
        (
            json!({"action": "user/update", "userId": 1, "user": {"introReviewed": "yes"}}),
            "Invalid introReviewed",
        ),
    ] {
        assert_error(&send(&state, Some(&me), &message).await, 400, error);
    }
    assert_error(
        &send_raw(&state, Some(&me), "user/update", "{not json").await,
        400,
        "Malformed Json received.",
    );
    let reply = send_raw(
        &state,
        Some(&me),
        "$default",
        r#"{"action":"user/delete","requestId":3}"#,
    )
    .await;
    assert_error(&reply, 400, "Illegal argument: user/delete");
    assert_eq!(
        (reply["action"].as_str(), reply["requestId"].as_i64()),
        (Some("user/delete"), Some(3))
    );
    assert_eq!(stored(&state, 1).await.version, 1);
    let connect = handle(
        &state,
        &Settings::default(),
        ws_event("$connect", "c", None, Some(&me)),
    )
    .await;
    assert_eq!(connect["statusCode"], 200);
}

#[tokio::test]
async fn a_store_outage_is_503() {
    let mut config = testkit::config("nowhere");
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let state = shared::AppState::from_config(&config).await.unwrap();
    let reply = send(
        &state,
        Some(&context(1, &[])),
        &json!({"action": "user/update", "userId": 1, "user": {"data": {}}}),
    )
    .await;
    assert_error(&reply, 503, "Service temporarily unavailable");
}

#[tokio::test]
async fn an_in_band_binding_is_in_the_table_for_every_instance() {
    let (first, config) = fresh_state().await;
    seed(&first.store, 1, &[]).await;
    seed(&first.store, 2, &[]).await;
    // Another Lambda instance: its own client and state, the same table.
    let second = shared::AppState::from_config(&config).await.unwrap();
    let frame = |m: Value| m.to_string();
    let unbound = send_raw(
        &second,
        None,
        "user/getCurrent",
        &frame(json!({"action": "user/getCurrent", "requestId": 1})),
    )
    .await;
    assert_error(&unbound, 401, "Unauthorized");

    let token = testkit::token(2, &[]);
    let reply = send_raw(
        &first,
        None,
        "authenticate",
        &frame(json!({"action": "authenticate", "requestId": 2, "token": token})),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "authenticate", "requestId": 2, "status": "success"})
    );
    let item_keys = testkit::all_keys(&first.store).await;
    assert!(
        item_keys.contains(&"CONN#conn-1".to_owned()),
        "{item_keys:?}"
    );

    let reply = send_raw(
        &second,
        None,
        "user/updateCurrent",
        &frame(json!({"action": "user/updateCurrent", "requestId": 3, "user": {"data": {"k": 1}}})),
    )
    .await;
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(stored(&second, 2).await.data_json(), json!({"k": 1}));

    // `$disconnect` forgets the connection: the next message is unauthenticated again.
    let out = handle(
        &second,
        &Settings::default(),
        ws_event("$disconnect", "conn-1", None, None),
    )
    .await;
    assert_eq!(out["statusCode"], 200);
    assert!(!testkit::all_keys(&first.store)
        .await
        .contains(&"CONN#conn-1".to_owned()));
    let reply = send_raw(
        &first,
        None,
        "user/getCurrent",
        &frame(json!({"action": "user/getCurrent", "requestId": 4})),
    )
    .await;
    assert_error(&reply, 401, "Unauthorized");
}

#[tokio::test]
async fn authenticate_refuses_bad_tokens_and_keeps_the_connection_as_it_was() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let authenticate = |token: Value| {
        json!({"action": "authenticate", "requestId": "a", "token": token}).to_string()
    };
    let expired = shared::auth::Signer::hs256(testkit::SECRET.as_bytes(), None, None).sign(
        UserId::new(1).unwrap(),
        &[],
        -3600,
    );
    for (token, error) in [
        (json!(null), "Unauthorized"),
        (json!(""), "Unauthorized"),
        (json!("not.a.jwt"), "Invalid credentials"),
        (json!(expired), "Token expired"),
    ] {
        let reply = send_raw(&state, None, "authenticate", &authenticate(token)).await;
        assert_error(&reply, 401, error);
        assert_eq!(
            (reply["action"].as_str(), reply["requestId"].as_str()),
            (Some("authenticate"), Some("a"))
        );
    }
    assert!(testkit::all_keys(&state.store)
        .await
        .iter()
        .all(|k| !k.starts_with("CONN#")));
    let reply = send(
        &state,
        None,
        &json!({"action": "user/update", "userId": 1, "user": {}}),
    )
    .await;
    assert_error(&reply, 401, "Unauthorized");
}

#[tokio::test]
async fn reads_and_updates_follow_devicehive() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let admin = context(1, &["admin"]);
    let client = context(2, &[]);
    // `user/get` answers DeviceHive's user; `userId` may be a numeric string, as gson reads it.
    let reply = send_raw(
        &state,
        Some(&admin),
        "user/get",
        &json!({"action": "user/get", "requestId": 1, "userId": "2"}).to_string(),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "user/get", "requestId": 1, "status": "success", "user": {
            "id": 2, "login": "user2", "role": 1, "status": 0, "lastLogin": null, "data": null,
            "introReviewed": false, "allDeviceTypesAvailable": true}})
    );
    let reply = send_raw(
        &state,
        Some(&client),
        "user/get",
        &json!({"action": "user/get", "requestId": 1, "userId": 1}).to_string(),
    )
    .await;
    assert_error(&reply, 403, "Access is denied");
    let reply = send_raw(
        &state,
        Some(&client),
        "user/getCurrent",
        &json!({"action": "user/getCurrent"}).to_string(),
    )
    .await;
    assert_eq!(reply["current"]["id"], 2, "{reply}");
    assert_eq!(reply["requestId"], Value::Null);

    // `data: null` clears; `password: ""` keeps the password; a numeric string id is an id.
    let reply = send(
        &state,
        Some(&admin),
        &json!({"action": "user/update", "userId": "2", "user": {"data": {"a": 1}}}),
    )
    .await;
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(stored(&state, 2).await.data_json(), json!({"a": 1}));
    let reply = send_raw(
        &state,
        Some(&client),
        "user/updateCurrent",
        &json!({"action": "user/updateCurrent", "requestId": 5,
                "user": {"data": null, "password": "", "introReviewed": true}})
        .to_string(),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "user/updateCurrent", "requestId": 5, "status": "success"})
    );
    let u = stored(&state, 2).await;
    assert_eq!(u.data, None);
    assert_eq!(u.intro_reviewed, Some(true));
    assert!(shared::password::verify_blocking(
        u.password_hash.as_ref().unwrap(),
        testkit::PASSWORD
    ));
    // `user/updateCurrent` keeps `user/update`'s rules for a client.
    let reply = send_raw(
        &state,
        Some(&client),
        "user/updateCurrent",
        &json!({"action": "user/updateCurrent", "requestId": 6, "user": {"role": 0}}).to_string(),
    )
    .await;
    assert_error(&reply, 403, "Admin permissions required for this action");
    assert!(!stored(&state, 2).await.is_admin());
}
