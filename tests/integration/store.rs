//! The store against a real DynamoDB-protocol server (moto over HTTP).

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::error::{Error, UniqueField};
use shared::patch::{Change, RolesChange, UserPatch};
use shared::store::{Expect, Store};
use shared::user::Preference;
use shared::values::{Email, Role, Text, UserId, Username};
use testkit::{all_keys, fresh_store, seed};

fn id(n: i64) -> UserId {
    UserId::new(n).unwrap()
}

fn email_patch(email: &str) -> UserPatch {
    UserPatch {
        email: Some(Email::parse(email).unwrap()),
        ..Default::default()
    }
}

fn lock_holder(
    items: &[std::collections::HashMap<String, AttributeValue>],
    pk: &str,
) -> Option<String> {
    items
        .iter()
        .find(|i| i.get("pk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(pk))
        .and_then(|i| i.get("user_id").and_then(|v| v.as_n().ok()).cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_racers_for_one_email_exactly_one_wins_and_no_orphan_lock() {
    let (store, _) = fresh_store().await;
    for n in 1..=32 {
        seed(&store, n, &[]).await;
    }
    let store = Arc::new(store);
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for n in 1..=32 {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (
                n,
                store
                    .update(
                        id(n),
                        &email_patch("Taken@Example.com"),
                        &[],
                        &testkit::stamp(),
                    )
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (n, result) = t.await.unwrap();
        match result {
            Ok(user) => {
                assert_eq!(user.email, "Taken@Example.com");
                winners.push(n);
            }
            Err(Error::Conflict { field, value }) => {
                assert_eq!(field, UniqueField::Email);
                assert_eq!(value, "Taken@Example.com");
            }
            Err(other) => panic!("racer {n} got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let winner = winners[0];

    let items = store.scan_all().await.unwrap();
    assert_eq!(
        lock_holder(&items, "EMAIL#taken@example.com"),
        Some(winner.to_string())
    );
    // Every user holds exactly one email lock, and every email lock belongs to its user's email.
    let email_locks: Vec<_> = all_keys(&store)
        .await
        .into_iter()
        .filter(|k| k.starts_with("EMAIL#"))
        .collect();
    assert_eq!(email_locks.len(), 32, "{email_locks:?}");
    assert!(!email_locks.contains(&format!("EMAIL#user{winner}@example.com")));
    for n in (1..=32).filter(|n| *n != winner) {
        let user = store.get(id(n)).await.unwrap().unwrap();
        assert_eq!(user.email, format!("user{n}@example.com"));
        assert_eq!(user.version, 1, "a loser must not have been written");
    }
}

#[tokio::test]
async fn an_email_change_moves_the_lock_and_frees_the_old_address() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    seed(&store, 2, &[]).await;

    let moved = store
        .update(
            id(1),
            &email_patch("new@example.com"),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(moved.email, "new@example.com");
    assert_eq!(moved.version, 2);

    // The old address is free for someone else, the new one is not.
    let taken = store
        .update(
            id(2),
            &email_patch("NEW@example.com"),
            &[],
            &testkit::stamp(),
        )
        .await;
    assert!(matches!(
        taken,
        Err(Error::Conflict {
            field: UniqueField::Email,
            ..
        })
    ));
    store
        .update(
            id(2),
            &email_patch("user1@example.com"),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();

    let keys = all_keys(&store).await;
    assert!(keys.contains(&"EMAIL#new@example.com".to_owned()));
    assert!(keys.contains(&"EMAIL#user1@example.com".to_owned()));
    assert!(!keys.contains(&"EMAIL#user2@example.com".to_owned()));
    assert_eq!(
        store.id_by_email("user1@example.com").await.unwrap(),
        Some(id(2))
    );
    assert_eq!(
        store.id_by_email("new@example.com").await.unwrap(),
        Some(id(1))
    );

    // A change of case only keeps the lock and is no conflict with oneself.
    let recased = store
        .update(
            id(1),
            &email_patch("New@Example.com"),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(recased.email, "New@Example.com");
    assert_eq!(
        store.id_by_email("new@example.com").await.unwrap(),
        Some(id(1))
    );
}

#[tokio::test]
async fn a_username_change_is_unique_and_moves_its_lock() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    seed(&store, 2, &[]).await;
    let patch = |u: &str| UserPatch {
        username: Some(Username::parse(u).unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        store
            .update(id(1), &patch("USER2"), &[], &testkit::stamp())
            .await,
        Err(Error::Conflict {
            field: UniqueField::Username,
            ..
        })
    ));
    store
        .update(id(1), &patch("alice"), &[], &testkit::stamp())
        .await
        .unwrap();
    assert_eq!(store.id_by_username("Alice").await.unwrap(), Some(id(1)));
    assert_eq!(store.id_by_username("user1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_all_survive() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let store = Arc::new(store);
    let text = |f: &str, v: &str| Some(Text::parse(f, v).unwrap());
    let set = |f: &str, v: &str| Some(Change::Set(Text::parse(f, v).unwrap()));
    let patches = vec![
        UserPatch {
            name: text("name", "Name"),
            ..Default::default()
        },
        UserPatch {
            first_name: set("firstName", "First"),
            ..Default::default()
        },
        UserPatch {
            last_name: set("lastName", "Last"),
            ..Default::default()
        },
        UserPatch {
            nickname: set("nickname", "Nick"),
            ..Default::default()
        },
        UserPatch {
            roles: Some(RolesChange::Grant(Role::parse("editor").unwrap())),
            ..Default::default()
        },
        UserPatch {
            intro_reviewed: Some(true),
            ..Default::default()
        },
        // A read-then-transaction write racing the blind ones: retried on its version.
        email_patch("moved@example.com"),
        UserPatch {
            preferences: vec![Preference {
                id: 3,
                name: "p".into(),
                value: "5".into(),
                locked: false,
                description: String::new(),
            }],
            ..Default::default()
        },
    ];
    let n = patches.len() as i64;
    let tasks: Vec<_> = patches
        .into_iter()
        .map(|p| {
            let store = store.clone();
            tokio::spawn(async move { store.update(id(1), &p, &[], &testkit::stamp()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let user = store.get(id(1)).await.unwrap().unwrap();
    assert_eq!(user.name.as_deref(), Some("Name"));
    assert_eq!(user.first_name.as_deref(), Some("First"));
    assert_eq!(user.last_name.as_deref(), Some("Last"));
    assert_eq!(user.nickname.as_deref(), Some("Nick"));
    assert_eq!(user.roles, BTreeSet::from(["editor".to_owned()]));
    assert_eq!(user.intro_reviewed, Some(true));
    assert_eq!(user.email, "moved@example.com");
    assert_eq!(user.preferences[&3].value, "5");
    assert_eq!(user.version, 1 + n, "every write bumped the version once");
}

#[tokio::test]
async fn a_two_factor_code_works_once_and_only_for_its_email() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let new_email = Email::parse("fresh@example.com").unwrap();
    let with_code = |email: &str, code: &str| UserPatch {
        email: Some(Email::parse(email).unwrap()),
        email_code: Some(code.to_owned()),
        ..Default::default()
    };

    let code = store.issue_code(id(1), &new_email).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert!(matches!(
        store
            .update(
                id(1),
                &with_code("fresh@example.com", wrong),
                &[],
                &testkit::stamp()
            )
            .await,
        Err(Error::CodeRejected)
    ));
    // Bound to its email: the right code for another address fails.
    assert!(matches!(
        store
            .update(
                id(1),
                &with_code("other@example.com", &code),
                &[],
                &testkit::stamp()
            )
            .await,
        Err(Error::CodeRejected)
    ));
    let user = store
        .update(
            id(1),
            &with_code("fresh@example.com", &code),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(user.email, "fresh@example.com");
    // Single use: the code item is gone.
    assert!(!all_keys(&store)
        .await
        .iter()
        .any(|k| k.starts_with("CODE#")));
    // The same change sent again asks for what already is: nothing to write, nothing to check.
    let again = store
        .update(
            id(1),
            &with_code("fresh@example.com", &code),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(again.version, user.version, "nothing written");
    // Moving back to it later needs a new code: the used one is refused.
    let away = Email::parse("away@example.com").unwrap();
    let away_code = store.issue_code(id(1), &away).await.unwrap();
    store
        .update(
            id(1),
            &with_code("away@example.com", &away_code),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .update(
                id(1),
                &with_code("fresh@example.com", &code),
                &[],
                &testkit::stamp()
            )
            .await,
        Err(Error::CodeRejected)
    ));
}

#[tokio::test]
async fn an_expired_code_is_rejected_even_before_ttl_deletes_it() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let email = Email::parse("late@example.com").unwrap();
    let code = store.issue_code(id(1), &email).await.unwrap();
    // Age the code past its 10 minutes: TTL deletion is lazy, the read-time check is not.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("CODE#1#late@example.com".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((shared::auth::now_unix() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    let patch = UserPatch {
        email: Some(email),
        email_code: Some(code),
        ..Default::default()
    };
    assert!(matches!(
        store.update(id(1), &patch, &[], &testkit::stamp()).await,
        Err(Error::CodeRejected)
    ));
    assert_eq!(
        store.get(id(1)).await.unwrap().unwrap().email,
        "user1@example.com"
    );
}

#[tokio::test]
async fn a_code_dies_after_five_wrong_guesses() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let email = Email::parse("guess@example.com").unwrap();
    let code = store.issue_code(id(1), &email).await.unwrap();
    let wrong = if code == "999999" { "999998" } else { "999999" };
    let patch = |c: &str| UserPatch {
        email: Some(email.clone()),
        email_code: Some(c.to_owned()),
        ..Default::default()
    };
    for _ in 0..5 {
        assert!(matches!(
            store
                .update(id(1), &patch(wrong), &[], &testkit::stamp())
                .await,
            Err(Error::CodeRejected)
        ));
    }
    assert!(matches!(
        store
            .update(id(1), &patch(&code), &[], &testkit::stamp())
            .await,
        Err(Error::CodeRejected)
    ));
}

#[tokio::test]
async fn a_cancelled_transaction_leaves_nothing_half_written() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    seed(&store, 2, &[]).await;
    let before_keys = all_keys(&store).await;
    let before = store.get(id(1)).await.unwrap().unwrap();

    // The username is free but the email is taken: the transaction is cancelled as a whole.
    let patch = UserPatch {
        username: Some(Username::parse("free-name").unwrap()),
        email: Some(Email::parse("user2@example.com").unwrap()),
        name: Some(Text::parse("name", "Should Not Stick").unwrap()),
        ..Default::default()
    };
    let err = store
        .update(id(1), &patch, &[], &testkit::stamp())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                field: UniqueField::Email,
                ..
            }
        ),
        "{err:?}"
    );

    assert_eq!(
        all_keys(&store).await,
        before_keys,
        "no lock taken or dropped"
    );
    assert_eq!(
        store.get(id(1)).await.unwrap().unwrap(),
        before,
        "user untouched"
    );
}

#[tokio::test]
async fn blind_updates_need_the_user_and_its_expectations() {
    let (store, _) = fresh_store().await;
    let user = seed(&store, 1, &[]).await;
    let name = UserPatch {
        name: Some(Text::parse("name", "X").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        store.update(id(99), &name, &[], &testkit::stamp()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        store
            .update(
                id(1),
                &name,
                &[Expect::Uuid(uuid_other())],
                &testkit::stamp()
            )
            .await,
        Err(Error::PreconditionFailed)
    ));
    assert_eq!(store.get(id(1)).await.unwrap().unwrap().name, None);
    let ok = store
        .update(
            id(1),
            &name,
            &[Expect::Uuid(user.uuid.clone())],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(ok.name.as_deref(), Some("X"));
    // An update on a missing user never creates it.
    assert!(!all_keys(&store).await.contains(&"USER#99".to_owned()));
}

#[tokio::test]
async fn apply_writes_like_update_without_reading_the_user_back() {
    let (store, config) = fresh_store().await;
    let (counted, counter) = Store::connect_counted(&config).await;
    let user = seed(&store, 1, &[]).await;
    let name = UserPatch {
        name: Some(Text::parse("name", "Y").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        store.apply(id(99), &name, &[], &testkit::stamp()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        store
            .apply(
                id(1),
                &name,
                &[Expect::Uuid(uuid_other())],
                &testkit::stamp()
            )
            .await,
        Err(Error::PreconditionFailed)
    ));
    assert_eq!(store.get(id(1)).await.unwrap().unwrap().name, None);
    counted
        .apply(
            id(1),
            &name,
            &[Expect::Uuid(user.uuid.clone())],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(counter.take(), 1, "a plain change is one UpdateItem");
    let stored = store.get(id(1)).await.unwrap().unwrap();
    assert_eq!(stored.name.as_deref(), Some("Y"));
    assert!(stored.version > user.version);
    // A unique value still moves through the read and the transaction.
    store
        .apply(
            id(1),
            &email_patch("moved@example.com"),
            &[],
            &testkit::stamp(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(id(1)).await.unwrap().unwrap().email,
        "moved@example.com"
    );
    assert!(all_keys(&store)
        .await
        .contains(&"EMAIL#moved@example.com".to_owned()));
    assert!(!all_keys(&store).await.contains(&"USER#99".to_owned()));
}

fn uuid_other() -> String {
    "00000000-0000-4000-8000-000000000000".to_owned()
}

#[tokio::test]
async fn create_names_the_duplicate_and_writes_nothing() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let before = all_keys(&store).await;
    let mut dup = testkit::new_user(2, &[]);
    dup.email = Email::parse("USER1@example.com").unwrap();
    match store.create(&dup, &testkit::stamp()).await {
        Err(Error::Conflict {
            field: UniqueField::Email,
            value,
        }) => assert_eq!(value, "USER1@example.com"),
        other => panic!("{other:?}"),
    }
    let mut dup = testkit::new_user(2, &[]);
    dup.username = Username::parse("User1").unwrap();
    assert!(matches!(
        store.create(&dup, &testkit::stamp()).await,
        Err(Error::Conflict {
            field: UniqueField::Username,
            ..
        })
    ));
    assert_eq!(all_keys(&store).await, before);
    store.delete(id(1), &testkit::stamp()).await.unwrap();
    assert!(
        all_keys(&store).await.is_empty(),
        "delete removes the user and its locks"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_not_internal() {
    let mut config = testkit::config("nowhere");
    // A port nobody listens on: every attempt fails to connect.
    config.dynamodb_endpoint = Some(format!("http://127.0.0.1:{}", testkit::free_port()));
    let store = Store::connect(&config).await;
    match store.get(id(1)).await {
        Err(Error::Unavailable(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_item_is_refused_as_too_large() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    // Each entry is small, together they pass DynamoDB's 400 KB item limit.
    let big = "x".repeat(4000);
    let patch = UserPatch {
        preferences: (0..120)
            .map(|i| Preference {
                id: i,
                name: format!("p{i}"),
                value: big.clone(),
                locked: false,
                description: String::new(),
            })
            .collect(),
        ..Default::default()
    };
    match store.update(id(1), &patch, &[], &testkit::stamp()).await {
        Err(Error::TooLarge(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(store
        .get(id(1))
        .await
        .unwrap()
        .unwrap()
        .preferences
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_email_change_sent_twice_at_once_succeeds_twice() {
    let (store, _) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .update(
                        id(1),
                        &email_patch("mine@example.com"),
                        &[],
                        &testkit::stamp(),
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        let user = t
            .await
            .unwrap()
            .expect("a user never conflicts with itself");
        assert_eq!(user.email, "mine@example.com");
    }
    let email_locks: Vec<_> = all_keys(&store)
        .await
        .into_iter()
        .filter(|k| k.starts_with("EMAIL#"))
        .collect();
    assert_eq!(email_locks, vec!["EMAIL#mine@example.com".to_owned()]);
}

/// Moves `user`'s email lock to the key the older code used (its address in lower case).
async fn rekey_as_before(store: &Store, user: &shared::user::NewUser) -> String {
    let (new_key, old_key) = (
        format!("EMAIL#{}", user.email.key()),
        format!("EMAIL#{}", user.email.as_str().to_lowercase()),
    );
    assert_ne!(new_key, old_key, "an address whose key changed");
    let client = store.client();
    client
        .delete_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(new_key))
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(old_key.clone()))
        .item("user_id", AttributeValue::N(user.id.to_string()))
        .send()
        .await
        .unwrap();
    old_key
}

/// An address locked before locks were per mailbox (a non-ASCII one, under its lower-cased
/// spelling) is released from where it is when the user changes its email or is deleted: no
/// orphan lock, no contention.
#[tokio::test]
async fn a_lock_under_the_older_key_is_moved_and_deleted_without_orphans() {
    let (store, _) = fresh_store().await;
    let mut user = testkit::new_user(1, &[]);
    user.email = Email::parse("Ada@Ex\u{430}mple.com").unwrap();
    store.create(&user, &testkit::stamp()).await.unwrap();
    let old_key = rekey_as_before(&store, &user).await;

    let patch = UserPatch {
        email: Some(Email::parse("ada@example.org").unwrap()),
        ..Default::default()
    };
    store
        .update(id(1), &patch, &[], &testkit::stamp())
        .await
        .unwrap();
    let keys = all_keys(&store).await;
    assert!(
        keys.contains(&"EMAIL#ada@example.org".to_owned()),
        "{keys:?}"
    );
    assert!(
        !keys.contains(&old_key),
        "the older lock is released: {keys:?}"
    );

    // And the same for a delete.
    seed(&store, 2, &[]).await;
    let mut other = testkit::new_user(3, &[]);
    other.email = Email::parse("bob@b\u{FC}cher.example").unwrap();
    store.create(&other, &testkit::stamp()).await.unwrap();
    let old_key = rekey_as_before(&store, &other).await;
    store.delete(id(3), &testkit::stamp()).await.unwrap();
    let keys = all_keys(&store).await;
    // Users 1 and 2 hold four items each (user, uuid, username, email); nothing of user 3 is left.
    assert!(
        !keys.contains(&"USER#3".to_owned()) && !keys.contains(&old_key),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 8, "{keys:?}");
}
