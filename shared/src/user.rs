//! The canonical user of the directory: what every API reads and writes, a superset of the five
//! dialects' fields.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::stamp::Stamp;
use crate::values::{
    Email, JsonObject, PasswordHash, Role, Status, Text, UserId, Username, ADMIN_ROLE,
};

/// An AAA user preference, upserted by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    pub id: i64,
    pub name: String,
    pub value: String,
    /// `Override` 1: locked by an administrator; the user may not change it.
    pub locked: bool,
    pub description: String,
}

/// An AAA user property, upserted by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub id: i64,
    pub name: String,
    pub value: String,
    pub description: String,
}

/// The NEWM profile fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewmProfile {
    pub picture_url: Option<String>,
    pub banner_url: Option<String>,
    pub website_url: Option<String>,
    pub twitter_url: Option<String>,
    pub instagram_url: Option<String>,
    pub location: Option<String>,
    /// A profession ("Producer"), never an access role.
    pub role: Option<String>,
    pub genre: Option<String>,
    pub biography: Option<String>,
    pub company_name: Option<String>,
    pub company_logo_url: Option<String>,
    pub company_ip_rights: Option<bool>,
    pub wallet_address: Option<String>,
}

/// The canonical user record: a superset of what the five APIs carry.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub roles: BTreeSet<String>,
    pub status: Status,
    pub password_hash: Option<PasswordHash>,
    /// `data` as a JSON object, kept as its text so numbers round-trip exactly.
    pub data: Option<String>,
    /// AAA authentication type id: 1 Internal; other ids are external and hold no password.
    pub auth_type: i64,
    /// The Unleash root role id last set (the `admin` role decides Admin).
    pub root_role: Option<i64>,
    pub preferences: BTreeMap<i64, Preference>,
    pub properties: BTreeMap<i64, Property>,
    pub newm: NewmProfile,
    pub intro_reviewed: Option<bool>,
    /// Consecutive wrong current-password attempts and when the last one happened (unix seconds).
    pub password_failures: u32,
    pub password_failed_at: Option<i64>,
    /// The hash the last verified password change replaced, and when (unix seconds): a request
    /// sent again after it landed names the old password as current and the stored one as new.
    pub superseded_hash: Option<PasswordHash>,
    pub password_changed_at: Option<i64>,
    /// The request whose password attempt was counted last: the same count sent again counts
    /// once. Not a stamp: counting changes nothing of the user.
    pub password_counted_for: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    /// The request that wrote this version (`Stamp::request_id`).
    pub last_request: Option<String>,
}

impl User {
    /// Whether this version was written by `stamp`'s request.
    pub fn written_by(&self, stamp: &Stamp) -> bool {
        self.last_request.as_deref() == Some(stamp.request_id.as_str())
    }

    /// Whether `stamp`'s request wrote over `version`: after an ambiguous failure, "it landed".
    pub fn applied_since(&self, stamp: &Stamp, version: i64) -> bool {
        self.written_by(stamp) && self.version > version
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(ADMIN_ROLE)
    }

    /// The display name: `name`, else first and last name joined, else nothing.
    pub fn display_name(&self) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub fn data_json(&self) -> serde_json::Value {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A user about to be created (by `userctl seed`).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub uuid: String,
    pub username: Username,
    pub email: Email,
    pub password_hash: Option<PasswordHash>,
    pub roles: BTreeSet<Role>,
    pub status: Status,
    pub name: Option<Text>,
    pub first_name: Option<Text>,
    pub last_name: Option<Text>,
    pub nickname: Option<Text>,
    pub data: Option<JsonObject>,
    pub auth_type: i64,
    pub root_role: Option<i64>,
    pub preferences: Vec<Preference>,
    pub properties: Vec<Property>,
    pub intro_reviewed: Option<bool>,
}
