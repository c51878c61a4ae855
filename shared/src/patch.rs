//! What one request changes: the patch every dialect parses its body into, and what the store
//! writes (only the attributes it names).

use std::collections::BTreeSet;

use crate::user::{Preference, Property, User};
use crate::values::{AbsoluteUrl, Email, JsonObject, PasswordHash, Role, Status, Text, Username};

/// How a change touches `roles`. One operation per request: DynamoDB refuses two on one path.
#[derive(Debug, Clone, PartialEq)]
pub enum RolesChange {
    Replace(BTreeSet<Role>),
    Grant(Role),
    Revoke(Role),
}

/// A change to an attribute that may be absent: a new value, or no value at all (the attribute
/// is removed). `None` around it means "not sent".
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    Set(T),
    Clear,
}

impl<T> Change<T> {
    /// The new value, or `None` when the change clears the attribute.
    pub fn value(&self) -> Option<&T> {
        match self {
            Change::Set(v) => Some(v),
            Change::Clear => None,
        }
    }

    pub fn map<'a, U>(&'a self, f: impl FnOnce(&'a T) -> U) -> Change<U> {
        match self {
            Change::Set(v) => Change::Set(f(v)),
            Change::Clear => Change::Clear,
        }
    }
}

impl<T: AsRef<str>> Change<T> {
    pub fn as_str(&self) -> Change<&str> {
        self.map(|v| v.as_ref())
    }
}

/// What one request changes. `None` means "not sent": that attribute is not written.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub name: Option<Text>,
    pub first_name: Option<Change<Text>>,
    pub last_name: Option<Change<Text>>,
    pub nickname: Option<Change<Text>>,
    pub roles: Option<RolesChange>,
    pub status: Option<Status>,
    pub password_hash: Option<PasswordHash>,
    /// Drop the stored password (a move to external authentication).
    pub clear_password: bool,
    pub data: Option<Change<JsonObject>>,
    pub auth_type: Option<i64>,
    pub root_role: Option<i64>,
    pub preferences: Vec<Preference>,
    pub properties: Vec<Property>,
    pub intro_reviewed: Option<bool>,
    pub newm: NewmPatch,
    /// Set with a password change: the failure counter starts again.
    pub reset_password_failures: bool,
    /// With a password change that asked for the current password: the hash it replaces, kept
    /// for a while so that the same change sent again is recognised as done (see
    /// `User::superseded_hash`).
    pub superseded_hash: Option<PasswordHash>,
    /// A 2FA code that must be consumed in the same write (NEWM email change).
    pub email_code: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewmPatch {
    pub picture_url: Option<Change<AbsoluteUrl>>,
    pub banner_url: Option<Change<AbsoluteUrl>>,
    pub website_url: Option<Change<AbsoluteUrl>>,
    pub twitter_url: Option<Change<AbsoluteUrl>>,
    pub instagram_url: Option<Change<AbsoluteUrl>>,
    pub location: Option<Change<Text>>,
    pub role: Option<Change<Text>>,
    pub genre: Option<Change<Text>>,
    pub biography: Option<Change<Text>>,
    pub company_name: Option<Change<Text>>,
    pub company_logo_url: Option<Change<AbsoluteUrl>>,
    pub company_ip_rights: Option<bool>,
    pub wallet_address: Option<Text>,
}

impl UserPatch {
    /// This patch without an email or username `current` already holds as written (with its
    /// 2FA code): setting a value to itself changes nothing, whether it was never different or
    /// this very request already set it.
    pub fn without_unchanged_unique(mut self, current: &User) -> Self {
        if self
            .email
            .as_ref()
            .is_some_and(|e| e.as_str() == current.email)
        {
            self.email = None;
            self.email_code = None;
        }
        if self
            .username
            .as_ref()
            .is_some_and(|u| u.as_str() == current.username)
        {
            self.username = None;
        }
        self
    }

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
