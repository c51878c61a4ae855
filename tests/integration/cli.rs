//! `userctl` as a user runs it: a real process against the moto test server.

use crate::USERCTL;

use std::collections::BTreeSet;

use shared::values::UserId;
use testkit::{all_keys, config, unique_table_name, userctl};

fn write_seed(users: &serde_json::Value) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("seed-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, users.to_string()).unwrap();
    path
}

fn seed_users() -> serde_json::Value {
    serde_json::json!([
        {"id": 1, "uuid": "7f8c1f0e-3b7a-4c1e-9d2a-111111111111", "username": "admin", "email": "admin@example.com",
         "password": "Admin-Passw0rd", "roles": ["admin"], "status": "active", "name": "Ada Admin"},
        {"id": 2, "uuid": "7f8c1f0e-3b7a-4c1e-9d2a-222222222222", "username": "bob", "email": "bob@example.com",
         "password": "Bob-Passw0rd", "roles": [], "status": "locked", "firstName": "Bob", "data": {"k": [1, 2]}}
    ])
}

#[tokio::test]
async fn create_table_builds_what_the_template_defines_and_is_idempotent() {
    let config = config(&unique_table_name());
    let (ok, out, err) = userctl(USERCTL, &config, &["create-table"]);
    assert!(ok, "{out}{err}");
    let store = shared::store::Store::connect(&config).await;
    let table = store
        .client()
        .describe_table()
        .table_name(&config.table_name)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(keys, vec![("pk".to_owned(), "HASH".to_owned())]);
    assert!(table.global_secondary_indexes().is_empty());
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(&config.table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );

    let (ok, out, _) = userctl(USERCTL, &config, &["create-table"]);
    assert!(ok && out.contains("already exists"), "{out}");
}

#[tokio::test]
async fn seed_loads_users_and_token_carries_their_stored_roles() {
    let config = config(&unique_table_name());
    assert!(userctl(USERCTL, &config, &["create-table"]).0);
    let file = write_seed(&seed_users());
    let (ok, out, err) = userctl(USERCTL, &config, &["seed", file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("seeded 2 users"), "{out}");

    let store = shared::store::Store::connect(&config).await;
    let bob = store.get(UserId::new(2).unwrap()).await.unwrap().unwrap();
    assert_eq!(bob.username, "bob");
    assert_eq!(bob.status, shared::values::Status::Locked);
    assert_eq!(bob.first_name.as_deref(), Some("Bob"));
    assert_eq!(bob.data_json(), serde_json::json!({"k": [1, 2]}));
    assert!(shared::password::verify_blocking(
        bob.password_hash.as_ref().unwrap(),
        "Bob-Passw0rd"
    ));
    assert_eq!(
        store
            .id_by_uuid("7f8c1f0e-3b7a-4c1e-9d2a-222222222222")
            .await
            .unwrap(),
        Some(UserId::new(2).unwrap())
    );

    let (ok, token, err) = userctl(USERCTL, &config, &["token", "--user", "1", "--ttl", "120"]);
    assert!(ok, "{err}");
    let verifier = shared::auth::Verifier::new(&config.jwt).unwrap();
    let principal = verifier.verify(token.trim()).unwrap();
    assert_eq!(principal.user_id.get(), 1);
    assert_eq!(principal.roles, BTreeSet::from(["admin".to_owned()]));

    let (ok, _, err) = userctl(USERCTL, &config, &["token", "--user", "99"]);
    assert!(!ok && err.contains("no user with id 99"), "{err}");
}

#[tokio::test]
async fn a_duplicate_in_the_seed_file_is_named_and_nothing_is_left() {
    let config = config(&unique_table_name());
    assert!(userctl(USERCTL, &config, &["create-table"]).0);
    let mut users = seed_users();
    users.as_array_mut().unwrap().push(serde_json::json!(
        {"id": 3, "uuid": "7f8c1f0e-3b7a-4c1e-9d2a-333333333333", "username": "carol", "email": "BOB@example.com",
         "password": "Carol-Passw0rd", "roles": [], "status": "active"}
    ));
    let (ok, out, err) = userctl(
        USERCTL,
        &config,
        &["seed", write_seed(&users).to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("BOB@example.com") && err.contains("email"),
        "{err}"
    );
    let store = shared::store::Store::connect(&config).await;
    assert!(
        all_keys(&store).await.is_empty(),
        "the users created before the failure were undone"
    );

    let bad = serde_json::json!([{"id": 1, "uuid": "x", "username": "a", "email": "a@example.com",
        "password": "Passw0rd-long", "roles": [], "status": "active"}]);
    let (ok, _, err) = userctl(
        USERCTL,
        &config,
        &["seed", write_seed(&bad).to_str().unwrap()],
    );
    assert!(!ok && err.contains("uuid"), "{err}");

    // The same id twice: refused before anything is written (its second entry would otherwise
    // pass for the first one's create).
    let mut twice = seed_users();
    twice.as_array_mut().unwrap().push(serde_json::json!(
        {"id": 2, "uuid": "7f8c1f0e-3b7a-4c1e-9d2a-444444444444", "username": "dave", "email": "dave@example.com",
         "password": "Dave-Passw0rd", "roles": [], "status": "active"}
    ));
    let (ok, out, err) = userctl(
        USERCTL,
        &config,
        &["seed", write_seed(&twice).to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("user #3 (id 2)") && err.contains("user #2"),
        "{err}"
    );
    assert!(all_keys(&store).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn code_prints_a_six_digit_code_bound_to_user_and_email() {
    let config = config(&unique_table_name());
    assert!(userctl(USERCTL, &config, &["create-table"]).0);
    assert!(
        userctl(
            USERCTL,
            &config,
            &["seed", write_seed(&seed_users()).to_str().unwrap()]
        )
        .0
    );
    let (ok, code, err) = userctl(
        USERCTL,
        &config,
        &["code", "--user", "2", "--email", "new@example.com"],
    );
    assert!(ok, "{err}");
    let code = code.trim();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    let store = shared::store::Store::connect(&config).await;
    let patch = shared::patch::UserPatch {
        email: Some(shared::values::Email::parse("new@example.com").unwrap()),
        email_code: Some(code.to_owned()),
        ..Default::default()
    };
    store
        .update(UserId::new(2).unwrap(), &patch, &[], &testkit::stamp())
        .await
        .unwrap();
    let (ok, _, err) = userctl(
        USERCTL,
        &config,
        &["code", "--user", "2", "--email", "not-an-email"],
    );
    assert!(!ok && err.contains("email"), "{err}");
}
