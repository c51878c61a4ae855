//! Reads: a user by id, and the id holding a username, uuid or email (strongly consistent).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::user_from_item;
use super::keys::{email_pk, key, user_pk, username_pk, uuid_pk};
use super::sdk_error::classify;
use super::Store;
use crate::error::{Error, Result};
use crate::user::User;
use crate::values::{email_key, UserId};

/// An item as DynamoDB holds it.
pub(super) type Item = HashMap<String, AttributeValue>;

impl Store {
    /// A strongly consistent read of one item: the one way the store reads.
    pub(super) async fn item(&self, pk: String) -> Result<Option<Item>> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(classify)
    }

    /// A strongly consistent read of one user.
    pub async fn get(&self, id: UserId) -> Result<Option<User>> {
        self.item(user_pk(id))
            .await?
            .as_ref()
            .map(user_from_item)
            .transpose()
    }

    async fn lookup(&self, pk: String) -> Result<Option<UserId>> {
        match self.item(pk).await?.as_ref().and_then(|i| i.get("user_id")) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .ok()
                .and_then(|id| UserId::new(id).ok())
                .map(Some)
                .ok_or_else(|| Error::Internal("lock item holds a bad user_id".into())),
            _ => Ok(None),
        }
    }

    /// The id holding this username (compared case-insensitively).
    pub async fn id_by_username(&self, username: &str) -> Result<Option<UserId>> {
        self.lookup(username_pk(&username.to_lowercase())).await
    }

    pub async fn id_by_uuid(&self, uuid: &str) -> Result<Option<UserId>> {
        self.lookup(uuid_pk(uuid)).await
    }

    pub async fn id_by_email(&self, email: &str) -> Result<Option<UserId>> {
        self.lookup(email_pk(&email_key(email))).await
    }
}
