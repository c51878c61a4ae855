//! The key schema: one partition key `pk` whose prefix says what the item is.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::values::UserId;

/// The table's partition key attribute.
pub const PK: &str = "pk";
/// The TTL attribute (2FA codes).
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub(super) fn user_pk(id: UserId) -> String {
    format!("USER#{id}")
}

pub(super) fn email_pk(key: &str) -> String {
    format!("EMAIL#{key}")
}

pub(super) fn username_pk(key: &str) -> String {
    format!("USERNAME#{key}")
}

pub(super) fn uuid_pk(uuid: &str) -> String {
    format!("UUID#{}", uuid.to_lowercase())
}

pub(super) fn code_pk(id: UserId, email_key: &str) -> String {
    format!("CODE#{id}#{email_key}")
}

/// The key of the item `pk`.
pub(super) fn key(pk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk))])
}

pub(super) fn connection_pk(connection_id: &str) -> String {
    format!("CONN#{connection_id}")
}
