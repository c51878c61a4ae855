//! The user directory in DynamoDB: one table, one user item per integer id, and lock items that
//! make username, email and uuid unique.
//!
//! | pk                      | what                                                        |
//! |-------------------------|-------------------------------------------------------------|
//! | `USER#<id>`             | the user, with a `version` bumped by every write            |
//! | `EMAIL#<mailbox key>`   | email lock: `user_id` of its holder (`Email::key`)          |
//! | `USERNAME#<lowercased>` | username lock: `user_id` of its holder                      |
//! | `UUID#<uuid>`           | uuid lookup: `user_id`                                      |
//! | `CODE#<id>#<email>`     | 2FA code for that user's change to that email (`expires_at` is the TTL) |
//! | `CONN#<connection id>`  | a DeviceHive connection authenticated in-band: `user_id`, `roles`, `token_exp` (TTL) |
//!
//! Uniqueness is only ever decided by conditional writes: a lock is put with
//! `attribute_not_exists(pk)` in the same transaction that moves the user to it.

mod client;
mod code;
mod connection;
mod expression;
mod item;
mod keys;
mod policy;
mod read;
mod sdk_error;
mod sends;
#[cfg(feature = "test-util")]
mod testing;
mod throttle;
mod transaction;
mod write;

use std::time::Duration;

use aws_sdk_dynamodb::Client;

use crate::config::{Config, DynamoDbLocation};
use crate::user::User;

pub use client::{dynamodb_client, sdk_config_for};
pub use code::{CODE_MAX_ATTEMPTS, CODE_TTL_SECONDS};
pub use item::MAX_ITEM_BYTES;
pub use keys::{PK, TTL_ATTRIBUTE};
#[cfg(feature = "test-util")]
pub use testing::{code_hash_for, CallCounter};

/// Optimistic writes retried this many times before `Error::Contention`.
const MAX_ATTEMPTS: u32 = 8;

/// A condition the caller puts on a write about the stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The user's uuid is exactly this.
    Uuid(String),
    /// The user's username is exactly this.
    Username(String),
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    /// How recent a token's sign-in must be to change its own email or password.
    credential_max_age: i64,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store {
    /// Optimistic read-then-write rounds before a caller gives up with `Error::Contention`.
    pub const ATTEMPTS: u32 = MAX_ATTEMPTS;

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            credential_max_age: crate::config::DEFAULT_CREDENTIAL_MAX_AGE_SECONDS,
        }
    }

    /// Builds the DynamoDB client from the configuration: once per cold start.
    pub async fn connect(config: &Config) -> Self {
        Self::connect_to(config.table_name.clone(), &config.dynamodb())
            .await
            .with_credential_max_age(config.credential_max_age_seconds)
    }

    pub fn with_credential_max_age(mut self, seconds: i64) -> Self {
        self.credential_max_age = seconds;
        self
    }

    /// A store of `table` at `location`.
    pub async fn connect_to(table: impl Into<String>, location: &DynamoDbLocation) -> Self {
        Self::new(dynamodb_client(location).await, table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Expect {
    pub fn holds(&self, user: &User) -> bool {
        match self {
            Expect::Uuid(u) => user.uuid.eq_ignore_ascii_case(u),
            Expect::Username(u) => &user.username == u,
        }
    }
}

/// Sleeps a little before retry `attempt` (none before the first), with jitter so racing
/// writers spread out.
pub async fn retry_pause(attempt: u32) {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    if attempt == 0 {
        return;
    }
    let jitter = u64::from(OsRng.next_u32() % 20);
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
}
