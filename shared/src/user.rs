//! The canonical user of the directory and the typed values a request is parsed into.
//!
//! Every constructor here checks its input, so code past the edge cannot hold an invalid value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::password::PasswordHash;

/// The canonical role that administers every user in every API.
pub const ADMIN_ROLE: &str = "admin";

/// Largest serialized `data` object we accept: well inside DynamoDB's 400 KB item limit,
/// leaving room for every other attribute.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Longest free-text field (names, biography, preference values...).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Most preferences or properties one user may hold, so upserts cannot grow an item without bound.
pub const MAX_ENTRIES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(i64);

impl UserId {
    pub fn new(id: i64) -> Result<Self, Invalid> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(Invalid::new(
                "id",
                format!("must be a positive integer, got {id}"),
            ))
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let id: i64 = raw
            .parse()
            .map_err(|_| Invalid::new(field, format!("must be an integer, got {raw:?}")))?;
        Self::new(id).map_err(|e| Invalid::new(field, e.reason))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, stored as given and compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let valid = trimmed.len() <= 254
            && trimmed == raw
            && email_address::EmailAddress::parse_with_options(
                raw,
                email_address::Options::default()
                    .without_display_text()
                    .without_domain_literal(),
            )
            .is_ok()
            // A bare host (`a@localhost`) is valid in RFC 5321 but never a deliverable address here.
            && raw.rsplit('@').next().is_some_and(|d| d.contains('.') && !d.ends_with('.'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "email",
                format!("not a valid email address: {raw}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A username (MMC userName, DeviceHive login, Unleash username, AAA UserName): unique,
/// compared case-insensitively, stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(1..=128).contains(&len) {
            return Err(Invalid::new("username", "must be 1 to 128 characters long"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "username",
                format!("must not contain spaces or control characters: {raw:?}"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new plaintext password. Never printed: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Longest password accepted: argon2 hashes any length, but an unbounded input is a cheap DoS.
    pub const MAX_BYTES: usize = 1024;

    /// Each API keeps its own minimum (DeviceHive 6, NEWM 8 with character classes, ...); the
    /// upper bound is ours.
    pub fn parse(field: &str, raw: &str, min_chars: usize) -> Result<Self, Invalid> {
        if raw.chars().count() < min_chars {
            return Err(Invalid::new(
                field,
                format!("must be at least {min_chars} characters long"),
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(Invalid::new(
                field,
                format!("must be at most {} bytes long", Self::MAX_BYTES),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let ok = raw.len() <= 2048
            && url::Url::parse(raw).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                field,
                format!("not a valid http(s) URL: {raw}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bounded free text (names, biography, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > MAX_TEXT_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters long"),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `data`: an arbitrary JSON object, bounded in size.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    pub fn parse(field: &str, value: serde_json::Value) -> Result<Self, Invalid> {
        let serde_json::Value::Object(map) = value else {
            return Err(Invalid::new(field, "must be a JSON object"));
        };
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_DATA_BYTES {
            return Err(Invalid::new(
                field,
                format!("is {size} bytes, at most {MAX_DATA_BYTES} are allowed"),
            ));
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    pub fn to_json_string(&self) -> String {
        serde_json::Value::Object(self.0.clone()).to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Locked,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Locked => "locked",
            Status::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "active" => Ok(Status::Active),
            "locked" => Ok(Status::Locked),
            "disabled" => Ok(Status::Disabled),
            other => Err(Invalid::new(
                "status",
                format!("must be \"active\", \"locked\" or \"disabled\", got {other:?}"),
            )),
        }
    }
}

/// A role name: what `roles` holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub fn admin() -> Self {
        Self(ADMIN_ROLE.to_owned())
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "roles",
                format!("not a valid role name (1-64 of A-Z a-z 0-9 - _ . :): {raw:?}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl User {
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

/// How a change touches `roles`. One operation per request: DynamoDB refuses two on one path.
#[derive(Debug, Clone, PartialEq)]
pub enum RolesChange {
    Replace(BTreeSet<Role>),
    Grant(Role),
    Revoke(Role),
}

/// What one request changes. `None` means "not sent": that attribute is not written.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub name: Option<Text>,
    pub first_name: Option<Text>,
    pub last_name: Option<Text>,
    pub nickname: Option<Text>,
    pub roles: Option<RolesChange>,
    pub status: Option<Status>,
    pub password_hash: Option<PasswordHash>,
    /// Drop the stored password (a move to external authentication).
    pub clear_password: bool,
    pub data: Option<JsonObject>,
    pub auth_type: Option<i64>,
    pub root_role: Option<i64>,
    pub preferences: Vec<Preference>,
    pub properties: Vec<Property>,
    pub intro_reviewed: Option<bool>,
    pub newm: NewmPatch,
    /// Set with a password change: the failure counter starts again.
    pub reset_password_failures: bool,
    /// A 2FA code that must be consumed in the same write (NEWM email change).
    pub email_code: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewmPatch {
    pub picture_url: Option<HttpUrl>,
    pub banner_url: Option<HttpUrl>,
    pub website_url: Option<HttpUrl>,
    pub twitter_url: Option<HttpUrl>,
    pub instagram_url: Option<HttpUrl>,
    pub location: Option<Text>,
    pub role: Option<Text>,
    pub genre: Option<Text>,
    pub biography: Option<Text>,
    pub company_name: Option<Text>,
    pub company_logo_url: Option<HttpUrl>,
    pub company_ip_rights: Option<bool>,
    pub wallet_address: Option<Text>,
}

impl UserPatch {
    /// Whether the change moves a uniqueness lock, and so needs a read and a transaction.
    pub fn touches_unique(&self) -> bool {
        self.username.is_some() || self.email.is_some()
    }

    /// Whether the request asked for nothing at all.
    pub fn is_empty(&self) -> bool {
        let n = &self.newm;
        self.username.is_none()
            && self.email.is_none()
            && self.name.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.nickname.is_none()
            && self.roles.is_none()
            && self.status.is_none()
            && self.password_hash.is_none()
            && !self.clear_password
            && self.data.is_none()
            && self.auth_type.is_none()
            && self.root_role.is_none()
            && self.preferences.is_empty()
            && self.properties.is_empty()
            && self.intro_reviewed.is_none()
            && n.picture_url.is_none()
            && n.banner_url.is_none()
            && n.website_url.is_none()
            && n.twitter_url.is_none()
            && n.instagram_url.is_none()
            && n.location.is_none()
            && n.role.is_none()
            && n.genre.is_none()
            && n.biography.is_none()
            && n.company_name.is_none()
            && n.company_logo_url.is_none()
            && n.company_ip_rights.is_none()
            && n.wallet_address.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_checked_and_keyed_case_insensitively() {
        let e = Email::parse("John.Doe@Example.com").unwrap();
        assert_eq!(e.as_str(), "John.Doe@Example.com");
        assert_eq!(e.key(), "john.doe@example.com");
        for bad in [
            "john.doe!gmail.com",
            "",
            "a@b",
            " a@b.com",
            "a@b.com ",
            "<a@b.com>",
            "a@@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(HttpUrl::parse("pictureUrl", "https://x.example/a.png").is_ok());
        for bad in [
            "ftp://x.example",
            "/relative",
            "javascript:alert(1)",
            "https://",
            "nope",
        ] {
            assert!(HttpUrl::parse("pictureUrl", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("password", "hunter2hunter2", 8).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(Password::parse("password", "short", 8).is_err());
        assert!(Password::parse("password", &"x".repeat(2000), 8).is_err());
    }

    #[test]
    fn data_must_be_a_bounded_object() {
        assert!(JsonObject::parse("data", serde_json::json!([1])).is_err());
        assert!(JsonObject::parse("data", serde_json::json!({"a": 1})).is_ok());
        let big = "x".repeat(MAX_DATA_BYTES + 1);
        assert!(JsonObject::parse("data", serde_json::json!({ "a": big })).is_err());
    }

    #[test]
    fn ids_and_usernames() {
        assert!(UserId::parse("id", "12").is_ok());
        assert!(UserId::parse("id", "0").is_err());
        assert!(UserId::parse("id", "abc").is_err());
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("").is_err());
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
    }
}
