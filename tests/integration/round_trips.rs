//! How many DynamoDB calls each kind of request costs, counted by an SDK interceptor: one for a
//! change that moves no unique value, two (read + write or transaction) for an email, username or
//! password change (a password needs the stored hash or authentication type), three for a NEWM
//! email change (its 2FA guess is counted before it is checked). An administrator's write of
//! another user first reads the administrator (still an active administrator?): one more.

use serde_json::json;
use shared::apigw::websocket::ws_event;
use shared::authorizer_context::ConnectionPrincipal;
use shared::store::{CallCounter, Store};
use shared::values::{Email, UserId};
use shared::AppState;
use testkit::{bearer, json_of, request, PASSWORD};

async fn counted_state() -> (AppState, CallCounter) {
    let (_, config) = testkit::fresh_store().await;
    let (store, counter) = Store::connect_counted(&config).await;
    let verifier = shared::auth::Verifier::new(&config.jwt).unwrap();
    for (id, roles) in [(1, vec!["admin"]), (2, vec!["viewer"]), (3, vec![])] {
        store
            .create(&testkit::new_user(id, &roles), &testkit::stamp())
            .await
            .unwrap();
    }
    counter.take();
    (AppState { store, verifier }, counter)
}

macro_rules! http_case {
    ($counter:expr, $name:literal, $expected_calls:expr, $status:expr, $call:expr) => {{
        let resp = $call.await;
        let (status, body) = json_of(&resp);
        assert_eq!(status, $status, "{}: {body}", $name);
        assert_eq!(
            $counter.take(),
            $expected_calls,
            "DynamoDB calls for {}",
            $name
        );
    }};
}

#[tokio::test]
async fn unleash_and_newm() {
    let (state, counter) = counted_state().await;
    let admin = bearer(1, &["admin"]);
    let put = |path: &str, body: serde_json::Value| {
        request(
            unleash_user_admin::ROUTES,
            "PUT",
            path,
            Some(&admin),
            body.to_string().as_bytes(),
        )
    };
    http_case!(
        counter,
        "unleash name",
        2,
        200,
        unleash_user_admin::handle(&state, put("/api/admin/user-admin/2", json!({"name": "N"})))
    );
    http_case!(
        counter,
        "unleash root role",
        2,
        200,
        unleash_user_admin::handle(
            &state,
            put("/api/admin/user-admin/2", json!({"rootRole": "Editor"}))
        )
    );
    http_case!(
        counter,
        "unleash email",
        3,
        200,
        unleash_user_admin::handle(
            &state,
            put(
                "/api/admin/user-admin/2",
                json!({"email": "two@example.com"})
            )
        )
    );

    let me = bearer(3, &[]);
    let patch = |path: &str, body: serde_json::Value| {
        request(
            newm_patch_user::ROUTES,
            "PATCH",
            path,
            Some(&me),
            body.to_string().as_bytes(),
        )
    };
    let uuid = state
        .store
        .get(UserId::new(3).unwrap())
        .await
        .unwrap()
        .unwrap()
        .uuid;
    counter.take();
    http_case!(
        counter,
        "newm nickname",
        1,
        204,
        newm_patch_user::handle(&state, patch("/v1/users/me", json!({"nickname": "n"})))
    );
    http_case!(
        counter,
        "newm by uuid",
        1,
        204,
        newm_patch_user::handle(
            &state,
            patch(&format!("/v1/users/{uuid}"), json!({"genre": "g"}))
        )
    );
    let code = state
        .store
        .issue_code(
            UserId::new(3).unwrap(),
            &Email::parse("three@example.com").unwrap(),
        )
        .await
        .unwrap();
    counter.take();
    // Read, count the code's guess (before it is checked, so no burst gets past the limit), then
    // the transaction that changes the email and consumes the code.
    http_case!(
        counter,
        "newm email",
        3,
        204,
        newm_patch_user::handle(
            &state,
            patch(
                "/v1/users/me",
                json!({"email": "three@example.com", "authCode": code})
            )
        )
    );
    http_case!(
        counter,
        "newm password",
        2,
        204,
        newm_patch_user::handle(
            &state,
            patch(
                "/v1/users/me",
                json!({"newPassword": "Passw0rd-new", "confirmPassword": "Passw0rd-new", "currentPassword": PASSWORD})
            )
        )
    );
}

#[tokio::test]
async fn mmc_and_aaa() {
    let (state, counter) = counted_state().await;
    let mmc = mmc_profile::Settings {
        user_management_enabled: true,
    };
    let user = bearer(2, &["viewer"]);
    let admin = bearer(1, &["admin"]);
    let put = |auth: &str, path: &str, body: serde_json::Value| {
        request(
            mmc_profile::ROUTES,
            "PUT",
            path,
            Some(auth),
            body.to_string().as_bytes(),
        )
    };
    http_case!(
        counter,
        "mmc own password",
        1,
        200,
        mmc_profile::handle(
            &state,
            &mmc,
            put(
                &user,
                "/api/profile/user2",
                json!({"username": "user2", "password": "new-secret-1"})
            )
        )
    );
    http_case!(
        counter,
        "mmc admin sets roles",
        3,
        200,
        mmc_profile::handle(
            &state,
            &mmc,
            put(
                &admin,
                "/api/profile/user2",
                json!({"username": "user2", "roles": ["editor"]})
            )
        )
    );

    let aaa = |auth: &str, path: &str, body: serde_json::Value| {
        request(
            aaa_user_profile::ROUTES,
            "PUT",
            path,
            Some(auth),
            body.to_string().as_bytes(),
        )
    };
    http_case!(
        counter,
        "aaa status",
        2,
        200,
        aaa_user_profile::handle(
            &state,
            aaa(
                &admin,
                "/api/AAA/UserProfiles/3",
                json!({"AccountStatus": 0})
            )
        )
    );
    http_case!(
        counter,
        "aaa email",
        3,
        200,
        aaa_user_profile::handle(
            &state,
            aaa(
                &admin,
                "/api/AAA/UserProfiles/3",
                json!({"EmailAddress": "aaa3@example.com"})
            )
        )
    );
    http_case!(
        counter,
        "aaa preference",
        3,
        200,
        aaa_user_profile::handle(
            &state,
            aaa(
                &admin,
                "/api/AAA/UserProfiles/3",
                json!({"Preferences": [{"PreferenceID": 1, "PreferenceValue": 2}]})
            )
        )
    );
    http_case!(
        counter,
        "aaa password",
        3,
        200,
        aaa_user_profile::handle(
            &state,
            aaa(
                &admin,
                "/api/AAA/UserProfiles/3",
                json!({"Password": "Passw0rd-aaa", "RepeatPassword": "Passw0rd-aaa"})
            )
        )
    );
}

#[tokio::test]
async fn devicehive() {
    let (state, counter) = counted_state().await;
    let settings = devicehive_user_update::Settings::default();
    let ctx = ConnectionPrincipal {
        principal: shared::auth::Principal {
            user_id: UserId::new(1).unwrap(),
            roles: ["admin".to_owned()].into(),
            authenticated_at: shared::auth::now_unix(),
        },
        expires_at: shared::auth::now_unix() + 600,
    }
    .to_context();
    // On a connection that authenticated at the handshake, and on one that authenticated
    // in-band (its principal is read from the table: one more call).
    let send = |route: &str,
                connection: &str,
                ctx: Option<&serde_json::Value>,
                frame: serde_json::Value| {
        devicehive_user_update::handle(
            &state,
            &settings,
            ws_event(route, connection, Some(&frame.to_string()), ctx),
        )
    };
    let reply = |out: serde_json::Value| -> serde_json::Value {
        serde_json::from_str(out["body"].as_str().unwrap()).unwrap()
    };
    for (name, user, calls) in [
        ("devicehive data", json!({"data": {"a": 1}}), 2),
        ("devicehive password", json!({"password": "secret-9"}), 2),
        ("devicehive login", json!({"login": "renamed"}), 3),
    ] {
        let frame = json!({"action": "user/update", "userId": 2, "user": user});
        let answer = reply(send("user/update", "c", Some(&ctx), frame).await);
        assert_eq!(answer["status"], "success", "{name}: {answer}");
        assert_eq!(counter.take(), calls, "DynamoDB calls for {name}");
    }
    let cases = [
        (
            "devicehive server/info",
            "server/info",
            json!({"action": "server/info"}),
            0,
        ),
        (
            "devicehive authenticate",
            "authenticate",
            json!({"action": "authenticate", "token": testkit::token(1, &["admin"])}),
            1,
        ),
        (
            "devicehive in-band data",
            "user/update",
            json!({"action": "user/update", "userId": 2, "user": {"data": {"b": 2}}}),
            3,
        ),
        (
            "devicehive in-band getCurrent",
            "user/getCurrent",
            json!({"action": "user/getCurrent"}),
            2,
        ),
    ];
    for (name, route, frame, calls) in cases {
        let answer = reply(send(route, "in-band", None, frame).await);
        assert_eq!(answer["status"], "success", "{name}: {answer}");
        assert_eq!(counter.take(), calls, "DynamoDB calls for {name}");
    }
    let out = devicehive_user_update::handle(
        &state,
        &settings,
        ws_event("$disconnect", "in-band", None, None),
    )
    .await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(
        counter.take(),
        1,
        "DynamoDB calls for devicehive $disconnect"
    );
}
