//! The handler in-process, against the moto test server: every status, every refusal, and that a
//! refused request writes nothing.

use aaa_user_profile::{handle, ROUTES};
use serde_json::{json, Value};
use shared::password::verify_blocking;
use shared::user::{Preference, Property, User};
use shared::values::{Status, UserId};
use testkit::{
    assert_no_secrets, bearer, fresh_state, json_of, new_user, request, seed, stored, PASSWORD,
};

async fn put(state: &shared::AppState, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let resp = handle(state, request(ROUTES, "PUT", path, auth, body.as_bytes())).await;
    let (status, json) = json_of(&resp);
    assert_no_secrets(&json.to_string());
    if let Some(record) = json["data"][0].as_object() {
        for key in [
            "Password",
            "RepeatPassword",
            "password_hash",
            "PasswordHash",
        ] {
            assert!(!record.contains_key(key), "{key} answered: {json}");
        }
    }
    (status, json)
}

fn pref(id: i64, name: &str, value: &str, locked: bool) -> Preference {
    Preference {
        id,
        name: name.into(),
        value: value.into(),
        locked,
        description: format!("{name} description"),
    }
}

/// User `id` with preferences 3 (unlocked) and 4 (locked) and property 1.
async fn seed_with_entries(state: &shared::AppState, id: i64, roles: &[&str]) -> User {
    let mut user = new_user(id, roles);
    user.preferences = vec![
        pref(3, "DefaultDisplayID", "1", false),
        pref(4, "Theme", "dark", true),
    ];
    user.properties = vec![Property {
        id: 1,
        name: "ResetQuestion".into(),
        value: "pet".into(),
        description: "Reset question".into(),
    }];
    state.store.create(&user, &testkit::stamp()).await.unwrap()
}

/// A failure body: `success: false`, a message, and `errors` keyed as expected (`None`: `[]`).
fn assert_failure(body: &Value, key: Option<&str>) {
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {body}"));
    match key {
        None => assert!(errors.is_empty(), "{body}"),
        Some(key) => {
            assert_eq!(errors.len(), 1, "{body}");
            assert!(
                errors[0][key].as_str().is_some_and(|m| !m.is_empty()),
                "expected {key}: {body}"
            );
        }
    }
}

fn record(body: &Value) -> &Value {
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["message"], "Updated record", "{body}");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");
    &body["data"][0]
}

#[tokio::test]
async fn an_admin_updates_every_field() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed_with_entries(&state, 2, &[]).await;
    let admin = bearer(1, &["admin"]);

    let body = json!({
        "AccountStatus": 0,
        "AuthenticationType": 1,
        "EmailAddress": "Bob@Example.com",
        "Password": "New-Secret-42",
        "RepeatPassword": "New-Secret-42",
        "Preferences": [
            {"PreferenceID": 4, "PreferenceValue": 5, "Override": 0, "Description": "unlocked now"},
            {"PreferenceID": 7, "PreferenceName": "Lang", "PreferenceValue": "en", "Override": 1, "Description": "d"}
        ],
        "Properties": [{"PropertyID": 2, "PropertyName": "Team", "PropertyValue": "blue", "Description": "t"}],
        "UserID": 99, "UserName": "ignored", "Unknown": [1]
    });
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/2",
        Some(&admin),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let r = record(&resp);
    assert_eq!(r["UserID"], 2);
    assert_eq!(r["UserName"], "user2");
    assert_eq!(r["FullName"], "");
    assert_eq!(r["EmailAddress"], "Bob@Example.com");
    assert_eq!(r["AccountStatus"], 0);
    assert_eq!(
        r["AuthenticationType"],
        json!({"id": 1, "name": "Internal"})
    );
    assert_eq!(r["AuthenticationTypeName"], "Internal");
    assert_eq!(r["UserGroup"], json!({"id": 2, "name": "Users"}));
    assert_eq!(r["UserGroupName"], "Users");
    assert_eq!(r["Subgroups"], json!([]));
    assert_eq!(r["FailedLoginCount"], 0);
    assert_eq!(r["LastLoginFailed"], 0);
    assert_eq!(r["LastLoginSuccess"], 0);
    assert_eq!(r["AccountExpiration"], "[Never]");
    assert_eq!(r["PasswordExpiration"], "2147483647");
    assert_eq!(r["SupportUsername"], "");
    assert_eq!(
        r["Preferences"],
        json!([
            {"PreferenceID": 3, "PreferenceName": "DefaultDisplayID", "PreferenceValue": "1", "Override": 0, "Description": "DefaultDisplayID description"},
            {"PreferenceID": 4, "PreferenceName": "Theme", "PreferenceValue": "5", "Override": 0, "Description": "unlocked now"},
            {"PreferenceID": 7, "PreferenceName": "Lang", "PreferenceValue": "en", "Override": 1, "Description": "d"}
        ])
    );
    assert_eq!(
        r["Properties"],
        json!([
            {"PropertyID": 1, "PropertyName": "ResetQuestion", "PropertyValue": "pet", "Description": "Reset question"},
            {"PropertyID": 2, "PropertyName": "Team", "PropertyValue": "blue", "Description": "t"}
        ])
    );

    let user = stored(&state, 2).await;
    assert_eq!(user.status, Status::Disabled);
    assert_eq!(user.email, "Bob@Example.com");
    assert_eq!(user.username, "user2", "UserName in the body is ignored");
    assert!(verify_blocking(
        user.password_hash.as_ref().unwrap(),
        "New-Secret-42"
    ));
    assert_eq!(
        user.preferences[&4],
        Preference {
            description: "unlocked now".into(),
            ..pref(4, "Theme", "5", false)
        }
    );
    assert!(user.preferences[&7].locked);
    assert_eq!(user.properties.len(), 2);
    assert_eq!(
        state.store.id_by_email("bob@example.com").await.unwrap(),
        Some(UserId::new(2).unwrap())
    );
    assert_eq!(
        state.store.id_by_email("user2@example.com").await.unwrap(),
        None
    );

    // A move to an external authentication type drops the password.
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/2",
        Some(&admin),
        r#"{"AuthenticationType":5}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        record(&resp)["AuthenticationType"],
        json!({"id": 5, "name": "External"})
    );
    assert_eq!(record(&resp)["AuthenticationTypeName"], "External");
    let user = stored(&state, 2).await;
    assert_eq!(user.auth_type, 5);
    assert!(user.password_hash.is_none());

    // AccountStatus alone: one blind write; everything else stays.
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/2",
        Some(&admin),
        r#"{"AccountStatus":1}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(record(&resp)["AccountStatus"], 1);
    let after = stored(&state, 2).await;
    assert_eq!(after.status, Status::Active);
    assert_eq!(after.version, user.version + 1);
    assert_eq!(after.preferences, user.preferences);
    assert_eq!(after.email, "Bob@Example.com");

    // An empty object changes nothing and answers with the user; so does `null` for a field.
    for empty in ["{}", r#"{"EmailAddress":null}"#] {
        let (status, resp) = put(&state, "/api/AAA/UserProfiles/2", Some(&admin), empty).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(record(&resp)["EmailAddress"], "Bob@Example.com");
    }
    assert_eq!(stored(&state, 2).await.version, after.version);

    // The admin's own record says Administrators.
    let (status, resp) = put(&state, "/api/AAA/UserProfiles/1", Some(&admin), "{}").await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        record(&resp)["UserGroup"],
        json!({"id": 1, "name": "Administrators"})
    );
    assert_eq!(record(&resp)["UserGroupName"], "Administrators");
}

#[tokio::test]
async fn a_user_updates_its_own_email_password_properties_and_unlocked_preference() {
    let (state, _) = fresh_state().await;
    seed_with_entries(&state, 2, &[]).await;
    let me = bearer(2, &[]);

    let body = json!({
        // What it read back, unchanged: allowed, and not written.
        "AccountStatus": 1,
        "AuthenticationType": 1,
        "EmailAddress": "me@example.org",
        "Password": "My-New-Password-1",
        "RepeatPassword": "My-New-Password-1",
        "Preferences": [
            {"PreferenceID": 3, "PreferenceValue": "9"},
            {"PreferenceID": 4, "PreferenceName": "Theme", "PreferenceValue": "dark", "Override": 1, "Description": "Theme description"},
            {"PreferenceID": 8, "PreferenceValue": 12, "Override": 0}
        ],
        "Properties": [{"PropertyID": 1, "PropertyValue": "cat"}]
    });
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/2",
        Some(&me),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let r = record(&resp);
    assert_eq!(r["EmailAddress"], "me@example.org");
    assert_eq!(r["AccountStatus"], 1);

    let user = stored(&state, 2).await;
    assert_eq!(user.email, "me@example.org");
    assert!(verify_blocking(
        user.password_hash.as_ref().unwrap(),
        "My-New-Password-1"
    ));
    assert!(!verify_blocking(
        user.password_hash.as_ref().unwrap(),
        PASSWORD
    ));
    assert_eq!(user.preferences[&3].value, "9");
    assert_eq!(user.preferences[&4], pref(4, "Theme", "dark", true));
    assert_eq!(
        user.preferences[&8],
        Preference {
            id: 8,
            name: String::new(),
            value: "12".into(),
            locked: false,
            description: String::new(),
        }
    );
    assert_eq!(user.properties[&1].value, "cat");
    assert_eq!(user.properties[&1].name, "ResetQuestion");
    assert_eq!(user.status, Status::Active);
    assert_eq!(user.auth_type, 1);
}

#[tokio::test]
async fn upserts_keep_unnamed_entries_and_unsent_sub_fields() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    let before = seed_with_entries(&state, 2, &[]).await;
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/2",
        Some(&bearer(1, &["admin"])),
        r#"{"Preferences":[{"PreferenceID":3,"PreferenceValue":"2"},{"PreferenceID":10}],
            "Properties":[{"PropertyID":1,"Description":"new"},{"PropertyID":5,"PropertyValue":"v"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let user = stored(&state, 2).await;
    assert_eq!(user.preferences.len(), 3);
    assert_eq!(
        user.preferences[&3],
        Preference {
            value: "2".into(),
            ..before.preferences[&3].clone()
        }
    );
    assert_eq!(
        user.preferences[&4], before.preferences[&4],
        "an entry not named stays"
    );
    assert_eq!(
        user.preferences[&10],
        Preference {
            id: 10,
            name: String::new(),
            value: String::new(),
            locked: false,
            description: String::new(),
        }
    );
    assert_eq!(
        user.properties[&1],
        Property {
            description: "new".into(),
            ..before.properties[&1].clone()
        }
    );
    assert_eq!(
        user.properties[&5],
        Property {
            id: 5,
            name: String::new(),
            value: "v".into(),
            description: String::new(),
        }
    );
    assert_eq!(user.email, before.email);
    assert_eq!(user.password_hash, before.password_hash);
    assert_eq!(user.version, before.version + 1);
}

#[tokio::test]
async fn a_missing_or_bad_token_is_401() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    let forged = format!(
        "Bearer {}",
        shared::auth::Signer::hs256(b"some-other-secret-some-other-secret!", None, None).sign(
            UserId::new(1).unwrap(),
            &["admin".into()],
            60
        )
    );
    for auth in [
        None,
        Some("Bearer not.a.jwt"),
        Some("Basic dXNlcjpwdw=="),
        Some(forged.as_str()),
    ] {
        let (status, body) = put(
            &state,
            "/api/AAA/UserProfiles/1",
            auth,
            r#"{"AccountStatus":0}"#,
        )
        .await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_eq!(body["message"], "Unauthorized");
        assert_failure(&body, None);
    }
    // Authentication is checked before the id.
    let (status, _) = put(&state, "/api/AAA/UserProfiles/abc", None, "{}").await;
    assert_eq!(status, 401);
    assert_eq!(stored(&state, 1).await.version, 1);
}

#[tokio::test]
async fn refusals_are_403_and_write_nothing() {
    let (state, _) = fresh_state().await;
    seed_with_entries(&state, 2, &[]).await;
    seed(&state.store, 3, &[]).await;
    let me = bearer(2, &[]);

    // Another user's profile: refused before the body is even read.
    for body in [r#"{"EmailAddress":"x@example.com"}"#, "not json", "{}"] {
        let (status, resp) = put(&state, "/api/AAA/UserProfiles/3", Some(&me), body).await;
        assert_eq!(status, 403, "{resp}");
        assert_failure(&resp, None);
    }

    let cases: &[(&str, &str)] = &[
        (
            r#"{"AccountStatus":0,"EmailAddress":"new@example.com"}"#,
            "AccountStatus",
        ),
        (r#"{"AuthenticationType":2}"#, "AuthenticationType"),
        (
            r#"{"Preferences":[{"PreferenceID":4,"PreferenceValue":"light"}]}"#,
            "Preferences",
        ),
        (
            r#"{"Preferences":[{"PreferenceID":4,"Override":0}]}"#,
            "Preferences",
        ),
        (
            r#"{"Preferences":[{"PreferenceID":3,"Override":1}]}"#,
            "Preferences",
        ),
        (
            r#"{"Preferences":[{"PreferenceID":11,"PreferenceValue":"x","Override":1}]}"#,
            "Preferences",
        ),
        (
            r#"{"Properties":[{"PropertyID":1,"PropertyValue":"x"}],"Preferences":[{"PreferenceID":4,"Description":"x"}]}"#,
            "Preferences",
        ),
    ];
    for (body, key) in cases {
        let (status, resp) = put(&state, "/api/AAA/UserProfiles/2", Some(&me), body).await;
        assert_eq!(status, 403, "{body}: {resp}");
        assert_failure(&resp, Some(key));
    }
    let user = stored(&state, 2).await;
    assert_eq!(user.version, 1, "nothing written on 403");
    assert_eq!(user.email, "user2@example.com");
    assert_eq!(stored(&state, 3).await.version, 1);
}

#[tokio::test]
async fn an_unknown_id_is_404() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    let admin = bearer(1, &["admin"]);
    for body in [
        "{}",
        r#"{"AccountStatus":0}"#,
        r#"{"EmailAddress":"ghost@example.com"}"#,
        r#"{"Preferences":[{"PreferenceID":1}]}"#,
        r#"{"Password":"Long-enough-1","RepeatPassword":"Long-enough-1"}"#,
    ] {
        let (status, resp) = put(&state, "/api/AAA/UserProfiles/999", Some(&admin), body).await;
        assert_eq!(status, 404, "{body}: {resp}");
        assert_failure(&resp, None);
    }
    assert_eq!(
        testkit::all_keys(&state.store).await.len(),
        4,
        "no item created"
    );
}

#[tokio::test]
async fn bad_input_is_400_keyed_by_field() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    let mut external = new_user(3, &[]);
    external.auth_type = 4;
    external.password_hash = None;
    state
        .store
        .create(&external, &testkit::stamp())
        .await
        .unwrap();
    let admin = bearer(1, &["admin"]);
    let too_many: Vec<Value> = (1..=257).map(|i| json!({"PreferenceID": i})).collect();
    let too_many = json!({ "Preferences": too_many }).to_string();
    let long =
        json!({"Properties": [{"PropertyID": 1, "PropertyValue": "x".repeat(5000)}]}).to_string();

    let p = "/api/AAA/UserProfiles/2";
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("/api/AAA/UserProfiles/abc", "{}", Some("id")),
        ("/api/AAA/UserProfiles/0", "{}", Some("id")),
        ("/api/AAA/UserProfiles/-3", "{}", Some("id")),
        ("/api/AAA/UserProfiles/2147483648", "{}", Some("id")),
        ("/api/AAA/UserProfiles/1.5", "{}", Some("id")),
        (p, r#"{"EmailAddress":"x"}"#, Some("EmailAddress")),
        (p, r#"{"EmailAddress":"a@localhost"}"#, Some("EmailAddress")),
        (
            p,
            r#"{"Password":"Long-enough-1","RepeatPassword":"Long-enough-2"}"#,
            Some("RepeatPassword"),
        ),
        (p, r#"{"Password":"Long-enough-1"}"#, Some("RepeatPassword")),
        (
            p,
            r#"{"RepeatPassword":"Long-enough-1"}"#,
            Some("RepeatPassword"),
        ),
        (
            p,
            r#"{"Password":"short","RepeatPassword":"short"}"#,
            Some("Password"),
        ),
        (
            p,
            r#"{"AuthenticationType":2,"Password":"Long-enough-1","RepeatPassword":"Long-enough-1"}"#,
            Some("Password"),
        ),
        // The stored type is external: found on the read, still nothing written.
        (
            "/api/AAA/UserProfiles/3",
            r#"{"Password":"Long-enough-1","RepeatPassword":"Long-enough-1"}"#,
            Some("Password"),
        ),
        (p, r#"{"AccountStatus":7}"#, Some("AccountStatus")),
        (p, r#"{"AccountStatus":-1}"#, Some("AccountStatus")),
        (p, r#"{"AuthenticationType":0}"#, Some("AuthenticationType")),
        (p, r#"{"AccountStatus":"1"}"#, Some("AccountStatus")),
        (p, r#"{"AccountStatus":1.5}"#, Some("AccountStatus")),
        (
            p,
            r#"{"AuthenticationType":{"id":1}}"#,
            Some("AuthenticationType"),
        ),
        (p, r#"{"EmailAddress":5}"#, Some("EmailAddress")),
        (
            p,
            r#"{"Password":12345678,"RepeatPassword":12345678}"#,
            Some("Password"),
        ),
        (p, r#"{"Preferences":{}}"#, Some("Preferences")),
        (
            p,
            r#"{"Preferences":[{"PreferenceID":"x"}]}"#,
            Some("Preferences"),
        ),
        (
            p,
            r#"{"Preferences":[{"PreferenceValue":"x"}]}"#,
            Some("Preferences"),
        ),
        (
            p,
            r#"{"Preferences":[{"PreferenceID":1,"PreferenceValue":true}]}"#,
            Some("Preferences"),
        ),
        (
            p,
            r#"{"Preferences":[{"PreferenceID":1,"Override":2}]}"#,
            Some("Preferences"),
        ),
        (
            p,
            r#"{"Properties":[{"PropertyID":1,"PropertyValue":7}]}"#,
            Some("Properties"),
        ),
        (
            p,
            r#"{"Properties":[{"PropertyID":0}]}"#,
            Some("Properties"),
        ),
        (
            p,
            r#"{"Properties":[{"PropertyID":1,"PropertyName":"a\u0000b"}]}"#,
            Some("Properties"),
        ),
        (p, &too_many, Some("Preferences")),
        (p, &long, Some("Properties")),
        (p, "not json", None),
        (p, "[]", None),
        (p, "", None),
        (p, "\"x\"", None),
    ];
    for (path, body, key) in cases {
        let (status, resp) = put(&state, path, Some(&admin), body).await;
        assert_eq!(status, 400, "{path} {body}: {resp}");
        assert_failure(&resp, *key);
    }
    // serde's text would quote the number: a password is never echoed.
    let (_, resp) = put(
        &state,
        p,
        Some(&admin),
        r#"{"Password":12345678,"RepeatPassword":12345678}"#,
    )
    .await;
    assert!(!resp.to_string().contains("12345678"), "{resp}");
    let (_, resp) = put(
        &state,
        p,
        Some(&admin),
        r#"{"RepeatPassword":"Long-enough-1"}"#,
    )
    .await;
    assert_eq!(
        resp["errors"][0]["RepeatPassword"],
        "Passwords do not match"
    );
    let (_, resp) = put(&state, p, Some(&admin), r#"{"EmailAddress":"x"}"#).await;
    assert_eq!(
        resp["errors"][0]["EmailAddress"],
        "not a valid email address: x"
    );

    for id in [2, 3] {
        assert_eq!(
            stored(&state, id).await.version,
            1,
            "nothing written by a bad request"
        );
    }
}

#[tokio::test]
async fn an_email_held_by_another_user_is_409_and_nothing_is_half_written() {
    let (state, _) = fresh_state().await;
    seed(&state.store, 1, &["admin"]).await;
    seed(&state.store, 2, &[]).await;
    seed_with_entries(&state, 3, &[]).await;
    let body = r#"{"EmailAddress":"USER2@example.com","AccountStatus":0,
                   "Properties":[{"PropertyID":9,"PropertyValue":"x"}]}"#;
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/3",
        Some(&bearer(1, &["admin"])),
        body,
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert_failure(&resp, Some("EmailAddress"));
    assert_eq!(
        resp["errors"][0]["EmailAddress"],
        "USER2@example.com already in use"
    );

    // The same through the blind path (no entries) and by the user itself.
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/3",
        Some(&bearer(3, &[])),
        r#"{"EmailAddress":"user2@EXAMPLE.com"}"#,
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert_failure(&resp, Some("EmailAddress"));

    let user = stored(&state, 3).await;
    assert_eq!(user.version, 1, "nothing half written");
    assert_eq!(user.status, Status::Active);
    assert_eq!(user.email, "user3@example.com");
    assert!(!user.properties.contains_key(&9));
    assert_eq!(
        state.store.id_by_email("user2@example.com").await.unwrap(),
        Some(UserId::new(2).unwrap())
    );
    assert_eq!(
        state.store.id_by_email("user3@example.com").await.unwrap(),
        Some(UserId::new(3).unwrap())
    );

    // Its own current email in another case is no conflict.
    let (status, resp) = put(
        &state,
        "/api/AAA/UserProfiles/3",
        Some(&bearer(3, &[])),
        r#"{"EmailAddress":"User3@Example.com"}"#,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(record(&resp)["EmailAddress"], "User3@Example.com");
}

#[tokio::test]
async fn a_store_outage_is_503() {
    let mut config = testkit::config("nowhere");
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let state = shared::AppState::from_config(&config).await.unwrap();
    for body in [
        r#"{"AccountStatus":0}"#,
        "{}",
        r#"{"Preferences":[{"PreferenceID":1,"PreferenceValue":"x"}]}"#,
    ] {
        let (status, resp) = put(
            &state,
            "/api/AAA/UserProfiles/1",
            Some(&bearer(1, &["admin"])),
            body,
        )
        .await;
        assert_eq!(status, 503, "{body}: {resp}");
        assert_failure(&resp, None);
    }
}
