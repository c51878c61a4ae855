//! Mosquitto Management Center's profile page: the exact bodies its frontend sends on save
//! (`tests/fixtures/mmc/`), each to `PUT /api/profile/{userName}` as the user itself.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use shared::password::verify_blocking;
use shared::store::Store;
use shared::user::User;
use shared::values::{Email, Role, UserId, Username};
use testkit::{bearer, fresh_store, workspace_root, Served, PASSWORD};

use crate::http::send;
use crate::USERCTL;

fn fixture(name: &str) -> Value {
    let path = workspace_root().join("tests/fixtures/mmc").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("a JSON fixture")
}

/// A user named as in the fixtures, with the kit's password.
async fn seed_named(store: &Store, id: i64, username: &str, role: &str) -> User {
    let mut user = testkit::new_user(id, &[role]);
    user.username = Username::parse(username).unwrap();
    user.email = Email::parse(&format!("{username}@example.com")).unwrap();
    user.roles = [Role::parse(role).unwrap()].into();
    store.create(&user, &testkit::stamp()).await.expect("seed")
}

async fn stored(store: &Store, id: i64) -> User {
    store
        .get(UserId::new(id).unwrap())
        .await
        .unwrap()
        .expect("user exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_pages_saves_are_accepted() {
    let (store, config) = fresh_store().await;
    let cedalo = seed_named(&store, 1, "cedalo", "admin").await;
    let alice = seed_named(&store, 2, "alice", "editor").await;
    let bob = seed_named(&store, 3, "bob", "viewer").await;
    let served = Served::start(USERCTL, &config);
    let client = Client::new();
    let save = |user: &User, body: Value| {
        let url = served.url(&format!("/api/profile/{}", user.username));
        let roles: Vec<&str> = user.roles.iter().map(String::as_str).collect();
        let auth = bearer(user.id.get(), &roles);
        let client = client.clone();
        async move { send(&client, Method::PUT, url, Some(&auth), body).await }
    };

    // Password unchanged (`""`): accepted; the password stays (an administrator's save re-asserts
    // the roles it sends, the same ones).
    let (status, body) = save(&cedalo, fixture("profile-save-password-unchanged.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"username": "cedalo", "roles": ["admin"]}));
    let after = stored(&store, 1).await;
    assert!(verify_blocking(
        after.password_hash.as_ref().unwrap(),
        PASSWORD
    ));
    assert_eq!(after.roles, cedalo.roles);
    assert_eq!(after.password_hash, cedalo.password_hash);

    // A new password: stored, roles as they were.
    let (status, body) = save(&alice, fixture("profile-save-password-changed.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"username": "alice", "roles": ["editor"]}));
    let after = stored(&store, 2).await;
    assert!(verify_blocking(
        after.password_hash.as_ref().unwrap(),
        "N3wSecret!"
    ));
    assert_eq!(after.roles, alice.roles);

    // Groups and connections the UI holds: accepted and ignored.
    let (status, body) = save(
        &bob,
        fixture("profile-save-with-groups-and-connections.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored(&store, 3).await, bob, "nothing written");

    // What the endpoint answered, sent back as the UI holds it (its reducer's flags added, the
    // password box left empty): accepted.
    let mut echoed = body.clone();
    echoed["sessionId"] = json!("c0a8012e-0000-4000-8000-000000000002");
    echoed["isAdmin"] = json!(false);
    echoed["isEditor"] = json!(false);
    echoed["isViewer"] = json!(true);
    echoed["password"] = json!("");
    let (status, again) = save(&bob, echoed).await;
    assert_eq!((status, again), (StatusCode::OK, body));
    assert_eq!(stored(&store, 3).await, bob, "nothing written");
}
