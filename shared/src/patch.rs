//! What one request changes: the patch every dialect parses its body into, and what the store
//! writes (only the attributes it names).

use std::collections::BTreeSet;

use crate::user::{Preference, Property};
use crate::values::{Email, HttpUrl, JsonObject, PasswordHash, Role, Status, Text, Username};

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
