//! Item mapping: the user to and from its DynamoDB item, and the item's size as DynamoDB counts it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{user_pk, PK};
use crate::error::{Error, Result};
use crate::stamp::Stamp;
use crate::user::{NewmProfile, Preference, Property, User};
use crate::values::{PasswordHash, Status, UserId};

/// Largest user item we write: DynamoDB's limit is 400 KB; the margin covers our estimate.
pub const MAX_ITEM_BYTES: usize = 380_000;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn preference_to_av(p: &Preference) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("id".to_owned(), n(p.id)),
        ("name".to_owned(), s(&p.name)),
        ("value".to_owned(), s(&p.value)),
        ("locked".to_owned(), AttributeValue::Bool(p.locked)),
        ("description".to_owned(), s(&p.description)),
    ]))
}

pub(super) fn property_to_av(p: &Property) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("id".to_owned(), n(p.id)),
        ("name".to_owned(), s(&p.name)),
        ("value".to_owned(), s(&p.value)),
        ("description".to_owned(), s(&p.description)),
    ]))
}

pub(super) fn user_to_item(u: &User) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (PK.to_owned(), s(user_pk(u.id))),
        ("id".to_owned(), n(u.id)),
        ("uuid".to_owned(), s(&u.uuid)),
        ("username".to_owned(), s(&u.username)),
        ("email".to_owned(), s(&u.email)),
        ("status".to_owned(), s(u.status.as_str())),
        ("auth_type".to_owned(), n(u.auth_type)),
        ("created_at".to_owned(), s(&u.created_at)),
        ("updated_at".to_owned(), s(&u.updated_at)),
        ("version".to_owned(), n(u.version)),
        ("pw_failures".to_owned(), n(u.password_failures)),
        // The maps exist from the start, so `SET prefs.#id = ...` always has a parent.
        (
            "prefs".to_owned(),
            AttributeValue::M(
                u.preferences
                    .values()
                    .map(|p| (p.id.to_string(), preference_to_av(p)))
                    .collect(),
            ),
        ),
        (
            "props".to_owned(),
            AttributeValue::M(
                u.properties
                    .values()
                    .map(|p| (p.id.to_string(), property_to_av(p)))
                    .collect(),
            ),
        ),
    ]);
    let mut opt = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            item.insert(k.to_owned(), s(v));
        }
    };
    opt("name", &u.name);
    opt("first_name", &u.first_name);
    opt("last_name", &u.last_name);
    opt("nickname", &u.nickname);
    opt("data", &u.data);
    opt(
        "password_hash",
        &u.password_hash.as_ref().map(|h| h.as_phc().to_owned()),
    );
    if !u.roles.is_empty() {
        item.insert(
            "roles".to_owned(),
            AttributeValue::Ss(u.roles.iter().cloned().collect()),
        );
    }
    if let Some(r) = u.root_role {
        item.insert("root_role".to_owned(), n(r));
    }
    if let Some(b) = u.intro_reviewed {
        item.insert("intro_reviewed".to_owned(), AttributeValue::Bool(b));
    }
    if let Some(r) = &u.last_request {
        item.insert(LAST_REQUEST.to_owned(), s(r));
    }
    item
}

/// The request whose password attempt was counted last (`Store::begin_password_change`).
pub const PASSWORD_COUNTED_FOR: &str = "pw_counted_for";

/// Who wrote the user's current version (see `crate::stamp`).
pub const LAST_ACTOR: &str = "last_actor";
pub const LAST_API: &str = "last_api";
pub const LAST_REQUEST: &str = "last_request";

/// The stamp of a write, as item attributes (an operator's write has no actor).
pub(super) fn stamp_attributes(stamp: &Stamp) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        (LAST_ACTOR, stamp.actor.map(n)),
        (LAST_API, Some(s(stamp.api))),
        (LAST_REQUEST, Some(s(&stamp.request_id))),
    ]
}

/// DynamoDB's item size: attribute names plus values, maps and sets counted by their parts.
pub(super) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| k.len() + value_size(v) + 1)
                    .sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

pub(super) fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub(super) fn get_bool(item: &HashMap<String, AttributeValue>, k: &str) -> Option<bool> {
    match item.get(k) {
        Some(AttributeValue::Bool(v)) => Some(*v),
        _ => None,
    }
}

pub(super) fn get_map<'a>(
    item: &'a HashMap<String, AttributeValue>,
    k: &str,
) -> impl Iterator<Item = &'a HashMap<String, AttributeValue>> {
    let entries = match item.get(k) {
        Some(AttributeValue::M(m)) => Some(m.values()),
        _ => None,
    };
    entries.into_iter().flatten().filter_map(|v| match v {
        AttributeValue::M(m) => Some(m),
        _ => None,
    })
}

pub(super) fn user_from_item(item: &HashMap<String, AttributeValue>) -> Result<User> {
    let corrupt = |what: &str| Error::Internal(format!("user item without a valid {what}"));
    let id = get_n(item, "id")
        .and_then(|i| UserId::new(i).ok())
        .ok_or_else(|| corrupt("id"))?;
    let status = get_s(item, "status")
        .and_then(|v| Status::parse(&v).ok())
        .ok_or_else(|| corrupt("status"))?;
    let roles: BTreeSet<String> = match item.get("roles") {
        Some(AttributeValue::Ss(r)) => r.iter().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let preferences: BTreeMap<i64, Preference> = get_map(item, "prefs")
        .filter_map(|m| {
            Some(Preference {
                id: get_n(m, "id")?,
                name: get_s(m, "name").unwrap_or_default(),
                value: get_s(m, "value").unwrap_or_default(),
                locked: get_bool(m, "locked").unwrap_or(false),
                description: get_s(m, "description").unwrap_or_default(),
            })
        })
        .map(|p| (p.id, p))
        .collect();
    let properties: BTreeMap<i64, Property> = get_map(item, "props")
        .filter_map(|m| {
            Some(Property {
                id: get_n(m, "id")?,
                name: get_s(m, "name").unwrap_or_default(),
                value: get_s(m, "value").unwrap_or_default(),
                description: get_s(m, "description").unwrap_or_default(),
            })
        })
        .map(|p| (p.id, p))
        .collect();
    Ok(User {
        id,
        uuid: get_s(item, "uuid").ok_or_else(|| corrupt("uuid"))?,
        username: get_s(item, "username").ok_or_else(|| corrupt("username"))?,
        email: get_s(item, "email").ok_or_else(|| corrupt("email"))?,
        name: get_s(item, "name"),
        first_name: get_s(item, "first_name"),
        last_name: get_s(item, "last_name"),
        nickname: get_s(item, "nickname"),
        roles,
        status,
        password_hash: get_s(item, "password_hash").and_then(PasswordHash::from_phc),
        data: get_s(item, "data"),
        auth_type: get_n(item, "auth_type").unwrap_or(1),
        root_role: get_n(item, "root_role"),
        preferences,
        properties,
        newm: NewmProfile {
            picture_url: get_s(item, "picture_url"),
            banner_url: get_s(item, "banner_url"),
            website_url: get_s(item, "website_url"),
            twitter_url: get_s(item, "twitter_url"),
            instagram_url: get_s(item, "instagram_url"),
            location: get_s(item, "location"),
            role: get_s(item, "profession"),
            genre: get_s(item, "genre"),
            biography: get_s(item, "biography"),
            company_name: get_s(item, "company_name"),
            company_logo_url: get_s(item, "company_logo_url"),
            company_ip_rights: get_bool(item, "company_ip_rights"),
            wallet_address: get_s(item, "wallet_address"),
        },
        intro_reviewed: get_bool(item, "intro_reviewed"),
        password_failures: get_n(item, "pw_failures")
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
        password_failed_at: get_n(item, "pw_failed_at"),
        superseded_hash: get_s(item, "pw_superseded").and_then(PasswordHash::from_phc),
        password_changed_at: get_n(item, "pw_changed_at"),
        password_counted_for: get_s(item, PASSWORD_COUNTED_FOR),
        created_at: get_s(item, "created_at").unwrap_or_default(),
        updated_at: get_s(item, "updated_at").unwrap_or_default(),
        version: get_n(item, "version").unwrap_or(0),
        last_request: get_s(item, LAST_REQUEST),
    })
}
