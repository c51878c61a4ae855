//! The table's invariants, checked over every item (a full scan): each user holds exactly the locks
//! of its current email, username and uuid; every lock belongs to a user that holds its value (no
//! orphan); no 2FA code has been guessed more often than allowed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::{Store, CODE_MAX_ATTEMPTS};

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

struct StoredUser {
    email: String,
    username: String,
    uuid: String,
}

/// Every broken invariant, in words; empty when the table is sound.
pub async fn violations(store: &Store) -> Vec<String> {
    let items = store.scan_all().await.expect("scan the table");
    let mut users: BTreeMap<i64, StoredUser> = BTreeMap::new();
    let mut locks: BTreeMap<String, i64> = BTreeMap::new();
    let mut wrong = Vec::new();
    for item in &items {
        let pk = text(item, "pk").unwrap_or_default();
        if pk.starts_with("USER#") {
            match (
                number(item, "id"),
                text(item, "email"),
                text(item, "username"),
                text(item, "uuid"),
            ) {
                (Some(id), Some(email), Some(username), Some(uuid)) => {
                    users.insert(
                        id,
                        StoredUser {
                            email,
                            username,
                            uuid,
                        },
                    );
                }
                _ => wrong.push(format!("{pk} lacks its id, email, username or uuid")),
            }
        } else if ["EMAIL#", "USERNAME#", "UUID#"]
            .iter()
            .any(|p| pk.starts_with(p))
        {
            match number(item, "user_id") {
                Some(id) => {
                    locks.insert(pk, id);
                }
                None => wrong.push(format!("{pk} names no user")),
            }
        } else if pk.starts_with("CODE#") {
            let attempts = number(item, "attempts").unwrap_or(0);
            if attempts > CODE_MAX_ATTEMPTS {
                wrong.push(format!(
                    "{pk} was guessed {attempts} times (at most {CODE_MAX_ATTEMPTS})"
                ));
            }
        }
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (id, u) in &users {
        for pk in [
            format!("EMAIL#{}", shared::values::email_key(&u.email)),
            format!("USERNAME#{}", u.username.to_lowercase()),
            format!("UUID#{}", u.uuid.to_lowercase()),
        ] {
            if let Some(other) = expected.insert(pk.clone(), *id) {
                wrong.push(format!("{pk} is the value of users {other} and {id}"));
            }
        }
    }
    for (pk, id) in &expected {
        match locks.get(pk) {
            Some(holder) if holder == id => {}
            Some(holder) => wrong.push(format!("{pk} is locked by user {holder}, held by {id}")),
            None => wrong.push(format!("user {id} holds {pk} without its lock")),
        }
    }
    for (pk, id) in &locks {
        if !expected.contains_key(pk) {
            wrong.push(format!("orphan lock {pk} (user {id})"));
        }
    }
    wrong
}

/// Every user's `version`, to check that versions only grow.
pub async fn versions(store: &Store) -> BTreeMap<i64, i64> {
    store
        .scan_all()
        .await
        .expect("scan the table")
        .iter()
        .filter(|i| text(i, "pk").is_some_and(|pk| pk.starts_with("USER#")))
        .filter_map(|i| Some((number(i, "id")?, number(i, "version")?)))
        .collect()
}

/// Panics naming every broken invariant.
pub async fn assert_sound(store: &Store, when: &str) {
    let wrong = violations(store).await;
    assert!(wrong.is_empty(), "{when}: {wrong:#?}");
}
