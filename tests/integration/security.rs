//! What a probe of the running service found, each attack made again through the API it went
//! through: HTTP and WebSocket into `userctl serve`, against the test DynamoDB server. README,
//! "Security model".

use crate::http::send;
use crate::websocket::{ask, connect};
use crate::USERCTL;

use reqwest::{Client, Method};
use serde_json::{json, Value};
use shared::patch::{RolesChange, UserPatch};
use shared::store::Store;
use shared::values::{Email, Status, UserId};
use testkit::{bearer, bearer_signed_in, fresh_store, seed, token, Served, PASSWORD};

fn id(n: i64) -> UserId {
    UserId::new(n).unwrap()
}

async fn stored(store: &Store, n: i64) -> shared::user::User {
    store.get(id(n)).await.unwrap().expect("the user exists")
}

/// An operator's change (no token, so no rule of the directory applies).
async fn operator_sets(store: &Store, n: i64, patch: UserPatch) {
    store
        .update(id(n), &patch, &[], &testkit::stamp())
        .await
        .expect("operator write");
}

/// The guesses counted on `n`'s 2FA code for `email`; `None` once the code is gone (used).
async fn code_attempts(config: &shared::config::Config, n: i64, email: &Email) -> Option<String> {
    let pk = format!("CODE#{n}#{}", email.key());
    testkit::items_of(config, &config.table_name)
        .await
        .into_iter()
        .find(|i| i.get("pk").and_then(|v| v.as_s().ok()) == Some(&pk))
        .and_then(|i| i.get("attempts").and_then(|v| v.as_n().ok()).cloned())
}

/// User 2 setting its own password to `new` through MMC, AAA and DeviceHive REST: none of them
/// asks for the current one.
fn own_password_sets(new: &str) -> [(Method, &'static str, Value); 3] {
    [
        (
            Method::PUT,
            "/api/profile/user2",
            json!({"username": "user2", "password": new}),
        ),
        (
            Method::PUT,
            "/api/AAA/UserProfiles/2",
            json!({"Password": new, "RepeatPassword": new}),
        ),
        (
            Method::PUT,
            "/api/rest/user/current",
            json!({"password": new}),
        ),
    ]
}

/// Status code and body of one request through the served APIs.
async fn call(
    served: &Served,
    method: Method,
    path: &str,
    auth: &str,
    body: Value,
) -> (u16, Value) {
    let (s, b) = send(&Client::new(), method, served.url(path), Some(auth), body).await;
    (s.as_u16(), b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_name_holding_a_separator_is_no_role_over_the_websocket() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 3, &["editor"]).await;
    let served = Served::start(USERCTL, &config);
    for role in [
        "editor,admin",
        "editor, admin",
        "editor;admin",
        "editor admin",
        "editor\tadmin",
        "editor\nadmin",
        "editor|admin",
        " admin",
        "admin ",
        "[\"admin\"]",
    ] {
        let forged = token(3, &[role]);
        // At the handshake: the authorizer refuses the token.
        let url = format!("ws://127.0.0.1:{}/ws?token={forged}", served.port);
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401, "{role:?}")
            }
            other => panic!("{role:?} opened a connection: {:?}", other.map(|_| ())),
        }
        // In band: `authenticate` refuses it too, and the connection stays anonymous.
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", served.port))
                .await
                .unwrap();
        let reply = ask(
            &mut socket,
            &json!({"action": "authenticate", "requestId": 1, "token": forged}),
        )
        .await;
        assert_eq!(reply["code"], 401, "{role:?}: {reply}");
        let reply = ask(
            &mut socket,
            &json!({"action": "user/update", "requestId": 2, "userId": "current", "user": {"role": 0}}),
        )
        .await;
        assert_eq!(reply["code"], 401, "{role:?}: {reply}");
    }
    assert!(!stored(&store, 3).await.is_admin());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_right_2fa_code_fails_once_five_wrong_guesses_are_counted() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let served = std::sync::Arc::new(Served::start(USERCTL, &config));
    let me = bearer(1, &[]);
    let guess = |code: String, email: String| {
        let (served, me) = (served.clone(), me.clone());
        tokio::spawn(async move {
            let body = json!({"email": email, "authCode": code});
            call(&served, Method::PATCH, "/v1/users/me", &me, body)
                .await
                .0
        })
    };

    // Five wrong guesses counted first: the right code is dead.
    let email = Email::parse("first@example.com").unwrap();
    let code = store.issue_code(id(1), &email).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            guess(wrong.into(), email.as_str().into()).await.unwrap(),
            403
        );
    }
    assert_eq!(guess(code, email.as_str().into()).await.unwrap(), 403);
    assert_eq!(stored(&store, 1).await.email, "user1@example.com");

    // 32 wrong guesses and the right one at once, three times, the right one sent first, in the
    // middle and last: it passes only when it was counted among the first five, and then the
    // email is changed; otherwise the code item shows exactly five guesses counted, and nothing
    // changed.
    for (trial, right_at) in [0, 16, 32].into_iter().enumerate() {
        let email = Email::parse(&format!("trial{trial}@example.com")).unwrap();
        let code = store.issue_code(id(1), &email).await.unwrap();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        // Spawned in this order: each request is on its way as soon as it is spawned.
        let tasks: Vec<_> = (0..=32)
            .map(|i| {
                let sent = if i == right_at { code.as_str() } else { wrong };
                guess(sent.into(), email.as_str().into())
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let right = statuses.remove(right_at);
        assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
        let user = stored(&store, 1).await;
        let attempts = code_attempts(&config, 1, &email).await;
        match right {
            // Used: the transaction that changed the email consumed it.
            204 => assert_eq!((user.email.as_str(), attempts), (email.as_str(), None)),
            403 => {
                assert_ne!(user.email, email.as_str());
                assert_eq!(attempts.as_deref(), Some("5"));
            }
            other => panic!("the right code answered {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_changes_a_password_around_newms_lockout() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let me = bearer(2, &[]);
    let wrong = json!({"currentPassword": "not-it-at-all", "newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd"});
    for _ in 0..5 {
        let (s, _) = call(&served, Method::PATCH, "/v1/users/me", &me, wrong.clone()).await;
        assert_eq!(s, 401);
    }
    let (s, _) = call(&served, Method::PATCH, "/v1/users/me", &me, wrong.clone()).await;
    assert_eq!(s, 429, "NEWM locked the password");

    let new = "Other-Passw0rd-1";
    for (method, path, body) in own_password_sets(new) {
        let (s, b) = call(&served, method, path, &me, body).await;
        assert_eq!(s, 429, "{path}: {b}");
    }
    let mut socket = connect(&served, &token(2, &[])).await;
    let reply = ask(
        &mut socket,
        &json!({"action": "user/update", "requestId": 1, "userId": "current", "user": {"password": new}}),
    )
    .await;
    assert_eq!(reply["code"], 429, "{reply}");
    let user = stored(&store, 2).await;
    assert_eq!(user.password_failures, 5, "nothing reset the count");
    assert!(shared::password::verify_blocking(
        user.password_hash.as_ref().unwrap(),
        PASSWORD
    ));

    // An administrator's reset is the way out, and ends the lockout.
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/profile/user2",
        &bearer(1, &["admin"]),
        json!({"username": "user2", "password": new}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(stored(&store, 2).await.password_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_own_email_or_password_needs_a_recent_sign_in() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    seed(&store, 3, &[]).await;
    let served = Served::start(USERCTL, &config);
    // A token refreshed now for a sign-in an hour ago (the default limit is five minutes).
    let stale = bearer_signed_in(2, &[], 3600);
    let before = stored(&store, 2).await;
    let new = "Other-Passw0rd-1";
    let attempts = [
        (
            Method::PATCH,
            "/v1/users/me",
            json!({"currentPassword": PASSWORD, "newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd"}),
        ),
        (
            Method::PUT,
            "/api/AAA/UserProfiles/2",
            json!({"EmailAddress": "two@example.com"}),
        ),
    ];
    for (method, path, body) in attempts.into_iter().chain(own_password_sets(new)) {
        let (s, b) = call(&served, method, path, &stale, body).await;
        assert_eq!(s, 401, "{path}: {b}");
        assert!(b.to_string().contains("Sign in again"), "{path}: {b}");
    }
    // NEWM's email change with a right code: refused, and the code spends no guess on it.
    let email = Email::parse("two@example.com").unwrap();
    let code = store.issue_code(id(2), &email).await.unwrap();
    let (s, b) = call(
        &served,
        Method::PATCH,
        "/v1/users/me",
        &stale,
        json!({"email": email.as_str(), "authCode": code}),
    )
    .await;
    assert_eq!(s, 401, "{b}");
    let after = stored(&store, 2).await;
    assert_eq!(
        (after.version, after.password_failures, &after.email),
        (before.version, 0, &before.email),
        "nothing written, no password attempt spent"
    );
    assert_eq!(
        code_attempts(&config, 2, &email).await.as_deref(),
        Some("0"),
        "no 2FA guess spent"
    );

    // Not a credential, or the email sent as it is: any sign-in age will do.
    let (s, _) = call(
        &served,
        Method::PATCH,
        "/v1/users/me",
        &stale,
        json!({"nickname": "Two"}),
    )
    .await;
    assert_eq!(s, 204);
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/AAA/UserProfiles/2",
        &stale,
        json!({"EmailAddress": "user2@example.com", "Preferences": [{"PreferenceID": 1, "PreferenceValue": "2"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // A recent sign-in may.
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/profile/user2",
        &bearer_signed_in(2, &[], 60),
        json!({"username": "user2", "password": new}),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // An administrator: its own email needs a recent sign-in, another user's does not.
    let admin_stale = bearer_signed_in(1, &["admin"], 3600);
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/admin/user-admin/1",
        &admin_stale,
        json!({"email": "boss@example.com"}),
    )
    .await;
    assert_eq!(
        (s, b["name"].as_str()),
        (401, Some("AuthenticationRequired")),
        "{b}"
    );
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/admin/user-admin/3",
        &admin_stale,
        json!({"email": "three@example.com"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_token_writes_nothing_on_any_api() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let user = bearer(2, &[]);
    let admin = bearer(1, &["admin"]);
    let disabled = UserPatch {
        status: Some(Status::Disabled),
        ..Default::default()
    };
    operator_sets(&store, 1, disabled.clone()).await;
    operator_sets(&store, 2, disabled).await;
    let before = stored(&store, 2).await.version;
    let attempts = [
        (
            Method::PATCH,
            "/v1/users/me",
            user.clone(),
            json!({"nickname": "x"}),
        ),
        (
            Method::PUT,
            "/api/profile/user2",
            user.clone(),
            json!({"username": "user2", "password": "Other-Passw0rd-1"}),
        ),
        (
            Method::PUT,
            "/api/AAA/UserProfiles/2",
            user.clone(),
            json!({"Preferences": [{"PreferenceID": 1, "PreferenceValue": "2"}]}),
        ),
        (
            Method::PUT,
            "/api/rest/user/current",
            user.clone(),
            json!({"data": {"x": 1}}),
        ),
        // A disabled administrator administers nothing either.
        (
            Method::PUT,
            "/api/admin/user-admin/2",
            admin.clone(),
            json!({"name": "x"}),
        ),
        (
            Method::PUT,
            "/api/admin/user-admin/1",
            admin.clone(),
            json!({"name": "x"}),
        ),
    ];
    for (method, path, auth, body) in attempts {
        let (s, b) = call(&served, method, path, &auth, body).await;
        assert_eq!(s, 403, "{path}: {b}");
    }
    let mut socket = connect(&served, &token(2, &[])).await;
    let reply = ask(
        &mut socket,
        &json!({"action": "user/update", "requestId": 1, "userId": "current", "user": {"data": {"x": 1}}}),
    )
    .await;
    assert_eq!(reply["code"], 403, "{reply}");
    // NEWM's password change: refused before the attempt is counted, right password or wrong,
    // so the token learns nothing of the password.
    for current in [PASSWORD, "not-the-password"] {
        let body = json!({"currentPassword": current, "newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd"});
        let (s, b) = call(&served, Method::PATCH, "/v1/users/me", &user, body).await;
        assert_eq!(s, 403, "{b}");
    }
    let after = stored(&store, 2).await;
    assert_eq!(
        (after.version, after.password_failures),
        (before, 0),
        "nothing written or counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_administrators_token_administers_nothing() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let admin = bearer(1, &["admin"]);
    // Still an administrator: one of each works.
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/admin/user-admin/2",
        &admin,
        json!({"name": "Two"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    operator_sets(
        &store,
        1,
        UserPatch {
            roles: Some(RolesChange::Replace(Default::default())),
            ..Default::default()
        },
    )
    .await;
    let before = stored(&store, 2).await.version;
    let attempts = [
        (Method::PUT, "/api/admin/user-admin/2", json!({"name": "x"})),
        (
            Method::PUT,
            "/api/profile/user2",
            json!({"username": "user2", "roles": ["admin"]}),
        ),
        (
            Method::PUT,
            "/api/AAA/UserProfiles/2",
            json!({"AccountStatus": 0}),
        ),
        (Method::PUT, "/api/rest/user/2", json!({"role": 0})),
        // Its own record, claiming a role it no longer holds.
        (Method::PUT, "/api/rest/user/1", json!({"role": 0})),
    ];
    for (method, path, body) in attempts {
        let (s, b) = call(&served, method, path, &admin, body).await;
        assert_eq!(s, 403, "{path}: {b}");
    }
    let mut socket = connect(&served, &token(1, &["admin"])).await;
    let reply = ask(
        &mut socket,
        &json!({"action": "user/update", "requestId": 1, "userId": 2, "user": {"role": 0}}),
    )
    .await;
    assert_eq!(reply["code"], 403, "{reply}");
    // Nor reads another user, nor tells a free username from a taken one.
    let reply = ask(
        &mut socket,
        &json!({"action": "user/get", "requestId": 2, "userId": 2}),
    )
    .await;
    assert_eq!(reply["code"], 403, "{reply}");
    let reads = [
        (Method::GET, "/api/rest/user/2", json!(null)),
        (Method::PUT, "/api/admin/user-admin/2", json!({})),
        (Method::PUT, "/api/AAA/UserProfiles/2", json!({})),
        (
            Method::PUT,
            "/api/profile/user2",
            json!({"username": "user2"}),
        ),
        (
            Method::PUT,
            "/api/profile/nobody",
            json!({"username": "nobody"}),
        ),
    ];
    for (method, path, body) in reads {
        let (s, b) = call(&served, method, path, &admin, body).await;
        assert_eq!(s, 403, "{path}: {b}");
    }
    assert_eq!(stored(&store, 2).await.version, before, "nothing written");
    assert!(!stored(&store, 1).await.is_admin());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mailbox_cannot_be_two_accounts() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    for n in 2..=5 {
        seed(&store, n, &[]).await;
    }
    let served = Served::start(USERCTL, &config);
    let admin = bearer(1, &["admin"]);
    let set = |n: i64, email: &str| {
        let body = json!({ "EmailAddress": email });
        let path = format!("/api/AAA/UserProfiles/{n}");
        let (served, admin) = (&served, admin.clone());
        async move { call(served, Method::PUT, &path, &admin, body).await }
    };
    assert_eq!(set(2, "ada@example.com").await.0, 200);
    // A quoted local part is refused outright.
    let (s, b) = set(3, "\"ada\"@example.com").await;
    assert_eq!(s, 400, "{b}");
    // Full-width letters are ada@example.com.
    let (s, b) = set(3, "\u{FF41}\u{FF44}\u{FF41}@example.com").await;
    assert_eq!(s, 409, "{b}");
    // A look-alike domain is another domain, but its punycode spelling is the same one.
    assert_eq!(set(4, "ada@ex\u{430}mple.com").await.0, 200);
    let (s, b) = set(5, "ada@xn--exmple-4nf.com").await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = set(5, "ADA@EX\u{410}MPLE.COM").await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(stored(&store, 3).await.email, "user3@example.com");
    assert_eq!(stored(&store, 5).await.email, "user5@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_names_and_usernames_give_nothing_away() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    seed(&store, 3, &[]).await;
    let served = Served::start(USERCTL, &config);
    // Only the canonical decimal `sub` is user 2.
    for sub in ["+2", "02"] {
        let forged = shared::testing::sign_claims(
            testkit::SECRET,
            json!({"sub": sub, "exp": shared::auth::now_unix() + 60, "iat": shared::auth::now_unix()}),
        );
        let (s, _) = call(
            &served,
            Method::PATCH,
            "/v1/users/me",
            &format!("Bearer {forged}"),
            json!({"nickname": "x"}),
        )
        .await;
        assert_eq!(s, 401, "sub {sub:?}");
    }
    // A non-administrator learns nothing of other usernames from MMC: 403 for any but its own.
    let me = bearer(2, &[]);
    let taken = call(
        &served,
        Method::PUT,
        "/api/profile/user3",
        &me,
        json!({"username": "user3", "password": "Other-Passw0rd-1"}),
    )
    .await;
    let free = call(
        &served,
        Method::PUT,
        "/api/profile/nobody",
        &me,
        json!({"username": "nobody", "password": "Other-Passw0rd-1"}),
    )
    .await;
    assert_eq!(taken.0, 403, "{}", taken.1);
    assert_eq!(taken, free);
    // A right-to-left override makes a name display as another one.
    let (s, b) = call(
        &served,
        Method::PATCH,
        "/v1/users/me",
        &me,
        json!({"nickname": "evil\u{202E}nimda"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/rest/user/2",
        &bearer(1, &["admin"]),
        json!({"login": "adm\u{202E}nimda"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = call(
        &served,
        Method::PUT,
        "/api/admin/user-admin/2",
        &bearer(1, &["admin"]),
        json!({"name": "Ada\u{2066}Admin"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_sent_with_a_password_change_spends_a_2fa_guess() {
    let (store, config) = fresh_store().await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let me = bearer(2, &[]);
    let email = Email::parse("two@example.com").unwrap();
    let code = store.issue_code(id(2), &email).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let both = |code: &str| {
        json!({"email": email.as_str(), "authCode": code, "currentPassword": PASSWORD,
               "newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd"})
    };
    for n in 1..=5 {
        let (s, b) = call(&served, Method::PATCH, "/v1/users/me", &me, both(wrong)).await;
        assert_eq!(s, 403, "{b}");
        let user = stored(&store, 2).await;
        // The password was right: its attempt is not left counted against the owner.
        assert_eq!(user.password_failures, 0, "guess {n}");
        assert_eq!(user.email, "user2@example.com");
    }
    // Five guesses were counted: the right code is dead, with or without the password.
    let (s, b) = call(&served, Method::PATCH, "/v1/users/me", &me, both(&code)).await;
    assert_eq!(s, 403, "{b}");
    let user = stored(&store, 2).await;
    assert_eq!(user.email, "user2@example.com");
    assert!(shared::password::verify_blocking(
        user.password_hash.as_ref().unwrap(),
        PASSWORD
    ));
}
