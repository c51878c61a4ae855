//! The handler in-process against the moto test server: every status the document lists.

use newm_patch_user::{handle, ROUTES};
use serde_json::{json, Value};
use shared::values::{Email, UserId};
use testkit::{assert_no_secrets, bearer, fresh_state, json_of, request, seed, stored, PASSWORD};

async fn patch(
    state: &shared::AppState,
    path: &str,
    auth: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    patch_raw(state, path, auth, body.to_string().as_bytes()).await
}

async fn patch_raw(
    state: &shared::AppState,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let resp = handle(state, request(ROUTES, "PATCH", path, auth, body)).await;
    let (status, json) = json_of(&resp);
    assert_no_secrets(&json.to_string());
    if status != 204 {
        assert_eq!(json["code"], status, "{json}");
        assert!(json["description"].as_str().is_some(), "{json}");
        assert!(json["cause"].as_str().is_some(), "{json}");
    } else {
        assert_eq!(json, Value::Null, "204 has no body");
    }
    (status, json)
}

#[tokio::test]
async fn profile_fields_update_with_204_and_only_what_was_sent() {
    let (state, _) = fresh_state().await;
    let user = seed(&state.store, 1, &[]).await;
    let me = bearer(1, &[]);
    let body = json!({
        "firstName": "John", "lastName": "Doe", "nickname": "Johnny",
        "pictureUrl": "https://somewebsite/john-doe.png", "bannerUrl": "https://x.example/b.png",
        "websiteUrl": "http://john.example", "twitterUrl": "https://twitter.com/john",
        "instagramUrl": "https://instagram.com/john", "location": "Berlin",
        "role": "Producer", "genre": "Pop", "biography": "A leading Pop Music Producer",
        "companyName": "Doe Records", "companyLogoUrl": "https://x.example/logo.png",
        "companyIpRights": true, "walletAddress": "addr123456789123456789"
    });
    assert_eq!(patch(&state, "/v1/users/me", Some(&me), &body).await.0, 204);
    let u = stored(&state, 1).await;
    assert_eq!(u.first_name.as_deref(), Some("John"));
    assert_eq!(u.newm.role.as_deref(), Some("Producer"));
    assert!(
        u.roles.is_empty(),
        "role is a profession, not an access role"
    );
    assert_eq!(u.newm.company_ip_rights, Some(true));
    assert_eq!(
        u.newm.picture_url.as_deref(),
        Some("https://somewebsite/john-doe.png")
    );

    // By UUID, only one field: the rest stays.
    let path = format!("/v1/users/{}", user.uuid);
    assert_eq!(
        patch(&state, &path, Some(&me), &json!({"genre": "Jazz"}))
            .await
            .0,
        204
    );
    let u = stored(&state, 1).await;
    assert_eq!(u.newm.genre.as_deref(), Some("Jazz"));
    assert_eq!(u.first_name.as_deref(), Some("John"));
}

/// As NEWM's `UserRepositoryImpl.update` does (`orNull()`): a blank string clears an optional
/// field, other values are trimmed, a blank wallet address is ignored.
#[tokio::test]
async fn blank_strings_clear_fields_and_values_are_trimmed() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let me = bearer(1, &[]);
    let set = json!({"nickname": "Johnny", "websiteUrl": "https://john.example",
        "biography": "Bio", "walletAddress": "addr1", "location": "Berlin"});
    assert_eq!(patch(&state, "/v1/users/me", Some(&me), &set).await.0, 204);
    let cleared = json!({"nickname": "", "websiteUrl": "  ", "biography": "  Trimmed  ",
        "walletAddress": "", "firstName": " Ann "});
    assert_eq!(
        patch(&state, "/v1/users/me", Some(&me), &cleared).await.0,
        204
    );
    let u = stored(&state, 1).await;
    assert_eq!(u.nickname, None);
    assert_eq!(u.newm.website_url, None);
    assert_eq!(u.newm.biography.as_deref(), Some("Trimmed"));
    assert_eq!(
        u.newm.wallet_address.as_deref(),
        Some("addr1"),
        "not cleared"
    );
    assert_eq!(u.newm.location.as_deref(), Some("Berlin"), "not sent");
    assert_eq!(u.first_name.as_deref(), Some("Ann"));
}

#[tokio::test]
async fn another_users_uuid_is_403_admin_or_not() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    let other = seed(&state.store, 2, &[]).await;
    let path = format!("/v1/users/{}", other.uuid);
    for token in [bearer(1, &["admin"]), bearer(1, &[])] {
        let (status, body) = patch(&state, &path, Some(&token), &json!({"nickname": "x"})).await;
        assert_eq!(status, 403, "{body}");
    }
    assert_eq!(stored(&state, 1).await.nickname, None);
    assert_eq!(stored(&state, 2).await.nickname, None);
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    for auth in [None, Some("Bearer garbage"), Some("Token abc")] {
        let (status, _) = patch(&state, "/v1/users/me", auth, &json!({"nickname": "x"})).await;
        assert_eq!(status, 401);
    }
    let expired = format!(
        "Bearer {}",
        shared::auth::Signer::hs256(testkit::SECRET.as_bytes(), None, None).sign(
            UserId::new(1).unwrap(),
            &[],
            -3600
        )
    );
    assert_eq!(
        patch(
            &state,
            "/v1/users/me",
            Some(&expired),
            &json!({"nickname": "x"})
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn malformed_values_are_422_and_missing_ones_400() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let me = bearer(1, &[]);
    let cases = [
        (
            json!({"email": "john.doe!gmail.com", "authCode": "1"}),
            422,
            "Invalid email: john.doe!gmail.com",
        ),
        (
            json!({"pictureUrl": "not a url"}),
            422,
            "Invalid url: not a url",
        ),
        (
            json!({"nickname": "n".repeat(65)}),
            422,
            "Field nickname exceeds 64 chars limit",
        ),
        (
            json!({"companyIpRights": "yes"}),
            422,
            "Invalid companyIpRights",
        ),
        (json!({"email": "new@example.com"}), 400, "Missing authCode"),
        (
            json!({"newPassword": "Abcdefg1"}),
            400,
            "Missing password confirmation",
        ),
        (
            json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg1"}),
            400,
            "Missing password",
        ),
        (
            json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg2"}),
            422,
            "Password confirmation failed",
        ),
        (
            json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg2", "currentPassword": PASSWORD}),
            422,
            "Password confirmation failed",
        ),
        (
            json!({"newPassword": "weakpass", "confirmPassword": "weakpass", "currentPassword": PASSWORD}),
            422,
            "Password must contain",
        ),
    ];
    for (body, code, cause) in cases {
        let (status, resp) = patch(&state, "/v1/users/me", Some(&me), &body).await;
        assert_eq!(status, code, "{body}: {resp}");
        assert!(
            resp["cause"].as_str().unwrap().starts_with(cause),
            "{body}: {resp}"
        );
    }
    for raw in [&b"not json"[..], b"[]", &[0xff, 0xfe]] {
        let (status, _) = patch_raw(&state, "/v1/users/me", Some(&me), raw).await;
        assert_eq!(status, 400);
    }
    let big = json!({"biography": "x".repeat(70_000)});
    assert_eq!(patch(&state, "/v1/users/me", Some(&me), &big).await.0, 413);
    assert_eq!(stored(&state, 1).await.version, 1, "nothing written");
}

#[tokio::test]
async fn email_change_needs_a_valid_code_which_is_consumed() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    seed(&state.store, 2, &[]).await;
    let me = bearer(1, &[]);
    let id = UserId::new(1).unwrap();

    let code = state
        .store
        .issue_code(id, &Email::parse("john@example.com").unwrap())
        .await
        .unwrap();
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let (status, body) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "john@example.com", "authCode": wrong}),
    )
    .await;
    assert_eq!((status, body["cause"].as_str()), (403, Some("2FA failed")));
    // A code for one address does not work for another.
    let (status, _) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "other@example.com", "authCode": code}),
    )
    .await;
    assert_eq!(status, 403);

    let (status, _) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "john@example.com", "authCode": code, "nickname": "J"}),
    )
    .await;
    assert_eq!(status, 204);
    let u = stored(&state, 1).await;
    assert_eq!(
        (u.email.as_str(), u.nickname.as_deref()),
        ("john@example.com", Some("J"))
    );
    // The same request sent again converges: the email already is that, nothing is written.
    let (status, _) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "john@example.com", "authCode": code}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        stored(&state, 1).await.version,
        u.version,
        "nothing written"
    );
    // Reused for a change it was not spent on (back to it after moving away): refused.
    let away = state
        .store
        .issue_code(id, &Email::parse("away@example.com").unwrap())
        .await
        .unwrap();
    let (status, _) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "away@example.com", "authCode": away}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "john@example.com", "authCode": code}),
    )
    .await;
    assert_eq!((status, body["cause"].as_str()), (403, Some("2FA failed")));

    // Taken by another user: 409 with NEWM's text, and the code is still unused.
    let code = state
        .store
        .issue_code(id, &Email::parse("user2@example.com").unwrap())
        .await
        .unwrap();
    let (status, body) = patch(
        &state,
        "/v1/users/me",
        Some(&me),
        &json!({"email": "user2@example.com", "authCode": code}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["cause"], "Already exists: user2@example.com");
    assert_eq!(stored(&state, 1).await.email, "away@example.com");
}

#[tokio::test]
async fn password_change_verifies_the_current_one_and_locks_after_five_failures() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let me = bearer(1, &[]);
    let change = |current: &str| json!({"newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd", "currentPassword": current});

    let (status, body) = patch(&state, "/v1/users/me", Some(&me), &change("wrong")).await;
    assert_eq!(
        (status, body["cause"].as_str()),
        (401, Some("Invalid password"))
    );

    let (status, _) = patch(&state, "/v1/users/me", Some(&me), &change(PASSWORD)).await;
    assert_eq!(status, 204);
    let u = stored(&state, 1).await;
    let hash = u.password_hash.clone().unwrap();
    assert!(hash.as_phc().starts_with("$argon2id$"));
    assert!(shared::password::verify_blocking(&hash, "NewPassw0rd"));
    assert_eq!(u.password_failures, 0, "a success resets the counter");

    for _ in 0..5 {
        assert_eq!(
            patch(&state, "/v1/users/me", Some(&me), &change("wrong"))
                .await
                .0,
            401
        );
    }
    // Locked: even the right password is refused now, and nothing changes.
    let (status, body) = patch(&state, "/v1/users/me", Some(&me), &change("NewPassw0rd")).await;
    assert_eq!(status, 429, "{body}");
    assert!(shared::password::verify_blocking(
        &stored(&state, 1).await.password_hash.unwrap(),
        "NewPassw0rd"
    ));
}

#[tokio::test]
async fn an_unknown_user_is_404_and_an_outage_503() {
    let (state, _) = fresh_state().await;
    let (status, _) = patch(
        &state,
        "/v1/users/me",
        Some(&bearer(42, &[])),
        &json!({"nickname": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        testkit::all_keys(&state.store).await.is_empty(),
        "no user created"
    );

    let mut config = testkit::config("nowhere");
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let down = shared::AppState::from_config(&config).await.unwrap();
    let (status, _) = patch(
        &down,
        "/v1/users/me",
        Some(&bearer(1, &[])),
        &json!({"nickname": "x"}),
    )
    .await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_cannot_pass_the_limit() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &[]).await;
    let state = std::sync::Arc::new(state);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let state = state.clone();
            tokio::spawn(async move {
                let body = json!({"newPassword": "NewPassw0rd", "confirmPassword": "NewPassw0rd", "currentPassword": "guess"});
                patch(&state, "/v1/users/me", Some(&bearer(1, &[])), &body).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}
