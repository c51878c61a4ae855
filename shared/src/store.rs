//! The user directory in DynamoDB: one table, one user item per integer id, and lock items that
//! make username, email and uuid unique.
//!
//! | pk                      | what                                                        |
//! |-------------------------|-------------------------------------------------------------|
//! | `USER#<id>`             | the user, with a `version` bumped by every write            |
//! | `EMAIL#<lowercased>`    | email lock: `user_id` of its holder                         |
//! | `USERNAME#<lowercased>` | username lock: `user_id` of its holder                      |
//! | `UUID#<uuid>`           | uuid lookup: `user_id`                                      |
//! | `CODE#<id>#<email>`     | 2FA code for that user's change to that email (`expires_at` is the TTL) |
//!
//! Uniqueness is only ever decided by conditional writes: a lock is put with
//! `attribute_not_exists(pk)` in the same transaction that moves the user to it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Error, Result, UniqueField};
use crate::password::PasswordHash;
use crate::user::{
    Email, NewUser, NewmProfile, Preference, Property, RolesChange, Status, User, UserId, UserPatch,
};

/// The table's partition key attribute.
pub const PK: &str = "pk";
/// The TTL attribute (2FA codes).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// How long a 2FA code is valid.
pub const CODE_TTL_SECONDS: i64 = 600;
/// Wrong guesses a 2FA code survives before it is useless.
pub const CODE_MAX_ATTEMPTS: i64 = 5;
/// Largest user item we write: DynamoDB's limit is 400 KB; the margin covers our estimate.
pub const MAX_ITEM_BYTES: usize = 380_000;
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
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn user_pk(id: UserId) -> String {
    format!("USER#{id}")
}

fn email_pk(key: &str) -> String {
    format!("EMAIL#{key}")
}

fn username_pk(key: &str) -> String {
    format!("USERNAME#{key}")
}

fn uuid_pk(uuid: &str) -> String {
    format!("UUID#{}", uuid.to_lowercase())
}

fn code_pk(id: UserId, email_key: &str) -> String {
    format!("CODE#{id}#{email_key}")
}

fn code_hash(id: UserId, email_key: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{id}\n{email_key}\n{code}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
        }
    }

    /// Builds the DynamoDB client from the configuration: once per cold start.
    pub async fn connect(config: &Config) -> Self {
        Self::new(dynamodb_client(config).await, config.table_name.clone())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([(PK.to_owned(), s(pk))])
    }

    /// A strongly consistent read of one user.
    pub async fn get(&self, id: UserId) -> Result<Option<User>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item().map(user_from_item).transpose()
    }

    async fn lookup(&self, pk: String) -> Result<Option<UserId>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match out.item().and_then(|i| i.get("user_id")) {
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
        self.lookup(email_pk(&email.to_lowercase())).await
    }

    /// Creates a user and its three locks in one transaction; a taken id, uuid, username or email
    /// is a `Conflict` naming it, and then nothing is written.
    pub async fn create(&self, new: &NewUser) -> Result<User> {
        let now = now_rfc3339();
        let user = User {
            id: new.id,
            uuid: new.uuid.clone(),
            username: new.username.as_str().to_owned(),
            email: new.email.as_str().to_owned(),
            name: new.name.as_ref().map(|t| t.as_str().to_owned()),
            first_name: new.first_name.as_ref().map(|t| t.as_str().to_owned()),
            last_name: new.last_name.as_ref().map(|t| t.as_str().to_owned()),
            nickname: new.nickname.as_ref().map(|t| t.as_str().to_owned()),
            roles: new.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            status: new.status,
            password_hash: new.password_hash.clone(),
            data: new.data.as_ref().map(|d| d.to_json_string()),
            auth_type: new.auth_type,
            root_role: new.root_role,
            preferences: new.preferences.iter().map(|p| (p.id, p.clone())).collect(),
            properties: new.properties.iter().map(|p| (p.id, p.clone())).collect(),
            newm: NewmProfile::default(),
            intro_reviewed: new.intro_reviewed,
            password_failures: 0,
            password_failed_at: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        };
        let lock =
            |pk: String| HashMap::from([(PK.to_owned(), s(pk)), ("user_id".to_owned(), n(new.id))]);
        let puts = [
            (user_to_item(&user), UniqueField::Id, new.id.to_string()),
            (
                lock(uuid_pk(&new.uuid)),
                UniqueField::Uuid,
                new.uuid.clone(),
            ),
            (
                lock(username_pk(&new.username.key())),
                UniqueField::Username,
                new.username.as_str().to_owned(),
            ),
            (
                lock(email_pk(&new.email.key())),
                UniqueField::Email,
                new.email.as_str().to_owned(),
            ),
        ];
        let items = puts
            .iter()
            .map(|(item, _, _)| {
                Ok(TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item.clone()))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_error)?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>>>()?;
        match self.transact(items).await? {
            None => Ok(user),
            Some(reasons) => {
                let (_, field, value) = reasons
                    .iter()
                    .position(|r| r.as_deref() == Some("ConditionalCheckFailed"))
                    .and_then(|i| puts.get(i))
                    // Cancelled only by a concurrent transaction on the same items.
                    .ok_or(Error::Contention)?;
                Err(Error::Conflict {
                    field: *field,
                    value: value.clone(),
                })
            }
        }
    }

    /// Deletes a user and the locks it holds, each on condition they are still its own.
    pub async fn delete(&self, id: UserId) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(user) = self.get(id).await? else {
                return Ok(());
            };
            let mut items = vec![self.delete_item(
                user_pk(id),
                "version = :v",
                HashMap::from([(":v".to_owned(), n(user.version))]),
            )?];
            for pk in [
                uuid_pk(&user.uuid),
                username_pk(&user.username.to_lowercase()),
                email_pk(&user.email.to_lowercase()),
            ] {
                items.push(self.delete_item(
                    pk,
                    "user_id = :id",
                    HashMap::from([(":id".to_owned(), n(id))]),
                )?);
            }
            if self.transact(items).await?.is_none() {
                return Ok(());
            }
        }
        Err(Error::Contention)
    }

    /// Applies `patch`. A change that moves no lock is one conditional `UpdateItem` (no read);
    /// otherwise the user is read and the change written in one transaction, on its version.
    pub async fn update(&self, id: UserId, patch: &UserPatch, expect: &[Expect]) -> Result<User> {
        if Self::can_write_blind(patch) {
            let user = self
                .update_blind(id, patch, expect, ReturnValue::AllNew)
                .await?;
            return user.ok_or_else(|| Error::Internal("UpdateItem returned no attributes".into()));
        }
        self.update_with_read(id, patch, expect).await
    }

    /// [`Store::update`] for a caller that answers without the user (NEWM's 204, DeviceHive's
    /// `success`): the write does not send the item back, so nothing is transferred or parsed.
    pub async fn apply(&self, id: UserId, patch: &UserPatch, expect: &[Expect]) -> Result<()> {
        if Self::can_write_blind(patch) {
            return self
                .update_blind(id, patch, expect, ReturnValue::None)
                .await
                .map(drop);
        }
        self.update_with_read(id, patch, expect).await.map(drop)
    }

    /// A change that moves no lock, needs no 2FA code and does not grow the item (preference and
    /// property upserts go through a read so the size of the result is known before writing).
    fn can_write_blind(patch: &UserPatch) -> bool {
        let grows = !patch.preferences.is_empty() || !patch.properties.is_empty();
        !patch.touches_unique() && patch.email_code.is_none() && !grows
    }

    async fn update_with_read(
        &self,
        id: UserId,
        patch: &UserPatch,
        expect: &[Expect],
    ) -> Result<User> {
        self.update_after_read(id, |user: &User| {
            if expect.iter().all(|e| e.holds(user)) {
                Ok(patch.clone())
            } else {
                Err(Error::PreconditionFailed)
            }
        })
        .await
    }

    /// One conditional `UpdateItem`; the user comes back when `returning` asks for all of it.
    async fn update_blind(
        &self,
        id: UserId,
        patch: &UserPatch,
        expect: &[Expect],
        returning: ReturnValue,
    ) -> Result<Option<User>> {
        let mut expr = UpdateExpr::from_patch(patch, &now_rfc3339());
        expr.condition("attribute_exists(pk)".to_owned());
        for e in expect {
            let (attr, value) = match e {
                Expect::Uuid(u) => ("uuid", u),
                Expect::Username(u) => ("username", u),
            };
            let name = expr.name(attr);
            let value = expr.value(s(value.clone()));
            expr.condition(format!("{name} = {value}"));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(id))))
            .update_expression(expr.update_expression())
            .condition_expression(expr.condition_expression())
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .return_values(returning)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes().map(user_from_item).transpose(),
            Err(e) if is_conditional_failure(&e) => {
                // Only on the failure path: tell "no such user" from "not the expected user".
                match self.get(id).await? {
                    None => Err(Error::NotFound),
                    Some(_) => Err(Error::PreconditionFailed),
                }
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Read, let `decide` look at the stored user and say what to write, then write on condition
    /// that the user is still at the version read; retried a bounded number of times.
    pub async fn update_after_read<F>(&self, id: UserId, mut decide: F) -> Result<User>
    where
        F: FnMut(&User) -> Result<UserPatch>,
    {
        for attempt in 0..MAX_ATTEMPTS {
            retry_pause(attempt).await;
            let current = self.get(id).await?.ok_or(Error::NotFound)?;
            let patch = decide(&current)?;
            if patch.is_empty() && patch.email_code.is_none() {
                // Everything sent equals what is stored: nothing to write.
                return Ok(current);
            }
            if let Some(user) = self.write_versioned(&current, &patch).await? {
                return Ok(user);
            }
        }
        Err(Error::Contention)
    }

    /// Writes `patch` over `current` if the stored version is still `current.version`: a
    /// conditional `UpdateItem`, or one transaction when a lock moves or a 2FA code is consumed.
    /// `Ok(None)`: someone else wrote in between; read again (see [`Store::ATTEMPTS`]).
    pub async fn write_versioned(&self, current: &User, patch: &UserPatch) -> Result<Option<User>> {
        let now = now_rfc3339();
        let mut expr = UpdateExpr::from_patch(patch, &now);
        let v = expr.value(n(current.version));
        expr.condition(format!("version = {v}"));
        let expected = apply_patch(current, patch, &now);
        let size = item_size(&user_to_item(&expected));
        if size > MAX_ITEM_BYTES {
            return Err(Error::TooLarge(format!(
                "the user would take {size} bytes, at most {MAX_ITEM_BYTES} are allowed"
            )));
        }

        if !patch.touches_unique() && patch.email_code.is_none() {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(user_pk(current.id))))
                .update_expression(expr.update_expression())
                .condition_expression(expr.condition_expression())
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values(Some(expr.values))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            return match result {
                Ok(out) => out
                    .attributes()
                    .map(user_from_item)
                    .transpose()
                    .map(|u| Some(u.unwrap_or(expected))),
                Err(e) if is_conditional_failure(&e) => Ok(None),
                Err(e) => Err(classify(e)),
            };
        }

        // Item 0 is the user; the rest are recorded so a cancellation reason names its cause.
        let mut items = vec![TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(user_pk(current.id))))
                    .update_expression(expr.update_expression())
                    .condition_expression(expr.condition_expression())
                    .set_expression_attribute_names(Some(expr.names))
                    .set_expression_attribute_values(Some(expr.values))
                    .build()
                    .map_err(build_error)?,
            )
            .build()];
        let mut causes = vec![Cause::Race];
        let id_value = HashMap::from([(":id".to_owned(), n(current.id))]);

        let moves = [
            patch.email.as_ref().map(|e| {
                (
                    email_pk(&current.email.to_lowercase()),
                    email_pk(&e.key()),
                    UniqueField::Email,
                    e.as_str().to_owned(),
                )
            }),
            patch.username.as_ref().map(|u| {
                (
                    username_pk(&current.username.to_lowercase()),
                    username_pk(&u.key()),
                    UniqueField::Username,
                    u.as_str().to_owned(),
                )
            }),
        ];
        for (old_pk, new_pk, field, value) in moves.into_iter().flatten() {
            if old_pk == new_pk {
                continue; // only the case changed: the lock stays where it is
            }
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item(PK, s(new_pk))
                            .item("user_id", n(current.id))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
            causes.push(Cause::Taken(field, value));
            items.push(self.delete_item(old_pk, "user_id = :id", id_value.clone())?);
            causes.push(Cause::Race);
        }
        if let Some(code) = &patch.email_code {
            let email = patch
                .email
                .as_ref()
                .ok_or_else(|| Error::Internal("a 2FA code without an email".into()))?;
            let key = email.key();
            items.push(self.delete_item(
                code_pk(current.id, &key),
                "code_hash = :h AND expires_at > :now AND attempts < :max",
                HashMap::from([
                    (":h".to_owned(), s(code_hash(current.id, &key, code))),
                    (":now".to_owned(), n(crate::auth::now_unix())),
                    (":max".to_owned(), n(CODE_MAX_ATTEMPTS)),
                ]),
            )?);
            causes.push(Cause::Code);
        }

        let Some(reasons) = self.transact(items).await? else {
            return Ok(Some(expected));
        };
        // Only a failed condition says something about the request. A `TransactionConflict`
        // (another transaction on the same items) or a moved version only means "read again".
        let failed: Vec<&Cause> = reasons
            .iter()
            .zip(&causes)
            .filter(|(r, _)| r.as_deref() == Some("ConditionalCheckFailed"))
            .map(|(_, c)| c)
            .collect();
        if failed.first() == Some(&&Cause::Race)
            || reasons
                .iter()
                .any(|r| r.as_deref() == Some("TransactionConflict"))
        {
            return Ok(None);
        }
        if failed.contains(&&Cause::Code) {
            if let Some(email) = &patch.email {
                self.count_code_failure(current.id, &email.key()).await?;
            }
            return Err(Error::CodeRejected);
        }
        if let Some(Cause::Taken(field, value)) =
            failed.iter().find(|c| matches!(c, Cause::Taken(..)))
        {
            return Err(Error::Conflict {
                field: *field,
                value: value.clone(),
            });
        }
        Ok(None)
    }

    fn delete_item(
        &self,
        pk: String,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(pk)))
                    .condition_expression(condition)
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(build_error)?,
            )
            .build())
    }

    /// Runs a transaction. `Ok(None)` when it committed, `Ok(Some(codes))` when it was cancelled:
    /// one reason code per item, in order (`None` where the item was not at fault).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<Option<String>>>> {
        let count = items.len();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_transaction_canceled_exception() => {
                let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) = ctx.err() else {
                    unreachable!("checked above");
                };
                let mut codes: Vec<Option<String>> = e
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_owned))
                    .collect();
                if codes.iter().any(|c| {
                    matches!(
                        c.as_deref(),
                        Some("ThrottlingError" | "ProvisionedThroughputExceeded")
                    )
                }) {
                    return Err(Error::Unavailable("transaction throttled".into()));
                }
                if codes
                    .iter()
                    .any(|c| c.as_deref() == Some("ValidationError"))
                {
                    return Err(Error::TooLarge(
                        "the change would make the user item too large".into(),
                    ));
                }
                codes.resize(count, None);
                Ok(Some(codes))
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn count_code_failure(&self, id: UserId, email_key: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code_pk(id, email_key))))
            .update_expression("ADD attempts :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Issues a 6-digit code for `id`'s change of email to `email`, replacing any earlier one.
    /// Only its hash is stored.
    pub async fn issue_code(&self, id: UserId, email: &Email) -> Result<String> {
        let code = random_code();
        let key = email.key();
        let now = crate::auth::now_unix();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(code_pk(id, &key)))
            .item("code_hash", s(code_hash(id, &key, &code)))
            .item("user_id", n(id))
            .item("attempts", n(0))
            .item(TTL_ATTRIBUTE, n(now + CODE_TTL_SECONDS))
            .send()
            .await;
        result.map_err(classify)?;
        Ok(code)
    }

    /// Starts a password change: counts the attempt and reads the user in one conditional
    /// `UpdateItem`, so concurrent guesses cannot get past the limit. Refused (nothing written)
    /// while `max` attempts in a row have failed and the last one is less than `window_seconds`
    /// old; after that, one attempt per window until one succeeds. A successful change resets the
    /// count (`UserPatch::reset_password_failures`).
    pub async fn begin_password_change(
        &self,
        id: UserId,
        expect: &[Expect],
        max: u32,
        window_seconds: i64,
    ) -> Result<User> {
        let now = crate::auth::now_unix();
        let mut condition = "attribute_exists(pk) AND (attribute_not_exists(pw_failures) \
             OR pw_failures < :max OR attribute_not_exists(pw_failed_at) OR pw_failed_at < :window_start)"
            .to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(id))))
            .update_expression(
                "SET pw_failures = if_not_exists(pw_failures, :zero) + :one, pw_failed_at = :now",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":window_start", n(now - window_seconds))
            .return_values(ReturnValue::AllNew);
        for (i, e) in expect.iter().enumerate() {
            let (attr, value) = match e {
                Expect::Uuid(u) => ("uuid", u),
                Expect::Username(u) => ("username", u),
            };
            condition.push_str(&format!(" AND #e{i} = :e{i}"));
            request = request
                .expression_attribute_names(format!("#e{i}"), attr)
                .expression_attribute_values(format!(":e{i}"), s(value.clone()));
        }
        match request.condition_expression(condition).send().await {
            Ok(out) => user_from_item(
                out.attributes()
                    .ok_or_else(|| Error::Internal("UpdateItem returned no attributes".into()))?,
            ),
            Err(e) if is_conditional_failure(&e) => match self.get(id).await? {
                None => Err(Error::NotFound),
                Some(user) if !expect.iter().all(|e| e.holds(&user)) => {
                    Err(Error::PreconditionFailed)
                }
                Some(user) => Err(Error::TooManyAttempts {
                    retry_at: user.password_failed_at.unwrap_or(now) + window_seconds,
                }),
            },
            Err(e) => Err(classify(e)),
        }
    }

    /// Every item of the table (tests and diagnostics only: a full scan).
    pub async fn scan_all(&self) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Cause {
    /// The user moved on, or a lock changed hands in between: read again.
    Race,
    Taken(UniqueField, String),
    Code,
}

impl Expect {
    pub fn holds(&self, user: &User) -> bool {
        match self {
            Expect::Uuid(u) => user.uuid.eq_ignore_ascii_case(u),
            Expect::Username(u) => &user.username == u,
        }
    }
}

fn random_code() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    // Rejection sampling keeps the six digits uniform.
    loop {
        let v = OsRng.next_u32();
        if v < 4_294_000_000 {
            return format!("{:06}", v % 1_000_000);
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

/// Builds an update expression with placeholders for every name and value.
#[derive(Default)]
struct UpdateExpr {
    sets: Vec<String>,
    removes: Vec<String>,
    adds: Vec<String>,
    deletes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!(
            "#{}",
            attr.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn set(&mut self, attr: &str, v: AttributeValue) {
        let name = self.name(attr);
        let value = self.value(v);
        self.sets.push(format!("{name} = {value}"));
    }

    fn set_opt_str(&mut self, attr: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.set(attr, s(v));
        }
    }

    /// `SET map.#key = :v`: upserts one entry of a map attribute without touching the others.
    fn set_entry(&mut self, map: &str, key: i64, v: AttributeValue) {
        let map = self.name(map);
        let entry = format!("#k{}", self.names.len());
        self.names.insert(entry.clone(), key.to_string());
        let value = self.value(v);
        self.sets.push(format!("{map}.{entry} = {value}"));
    }

    fn condition(&mut self, c: String) {
        self.conditions.push(c);
    }

    fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        if !self.deletes.is_empty() {
            parts.push(format!("DELETE {}", self.deletes.join(", ")));
        }
        parts.join(" ")
    }

    fn condition_expression(&self) -> String {
        self.conditions.join(" AND ")
    }

    /// Only the attributes the patch names are written, plus `version` and `updated_at`.
    fn from_patch(p: &UserPatch, now: &str) -> Self {
        let mut e = Self::default();
        e.set_opt_str("username", p.username.as_ref().map(|u| u.as_str()));
        e.set_opt_str("email", p.email.as_ref().map(|v| v.as_str()));
        e.set_opt_str("name", p.name.as_ref().map(|v| v.as_str()));
        e.set_opt_str("first_name", p.first_name.as_ref().map(|v| v.as_str()));
        e.set_opt_str("last_name", p.last_name.as_ref().map(|v| v.as_str()));
        e.set_opt_str("nickname", p.nickname.as_ref().map(|v| v.as_str()));
        e.set_opt_str("status", p.status.map(Status::as_str));
        e.set_opt_str(
            "password_hash",
            p.password_hash.as_ref().map(PasswordHash::as_phc),
        );
        if p.clear_password && p.password_hash.is_none() {
            let name = e.name("password_hash");
            e.removes.push(name);
        }
        if let Some(d) = &p.data {
            e.set("data", s(d.to_json_string()));
        }
        if let Some(a) = p.auth_type {
            e.set("auth_type", n(a));
        }
        if let Some(r) = p.root_role {
            e.set("root_role", n(r));
        }
        if let Some(b) = p.intro_reviewed {
            e.set("intro_reviewed", AttributeValue::Bool(b));
        }
        if p.reset_password_failures {
            e.set("pw_failures", n(0));
            let name = e.name("pw_failed_at");
            e.removes.push(name);
        }
        match &p.roles {
            None => {}
            Some(RolesChange::Replace(roles)) if roles.is_empty() => {
                let name = e.name("roles");
                e.removes.push(name);
            }
            Some(RolesChange::Replace(roles)) => e.set(
                "roles",
                AttributeValue::Ss(roles.iter().map(|r| r.as_str().to_owned()).collect()),
            ),
            // ADD/DELETE on a string set are atomic: no read needed to grant or revoke.
            Some(RolesChange::Grant(role)) => {
                let name = e.name("roles");
                let v = e.value(AttributeValue::Ss(vec![role.as_str().to_owned()]));
                e.adds.push(format!("{name} {v}"));
            }
            Some(RolesChange::Revoke(role)) => {
                let name = e.name("roles");
                let v = e.value(AttributeValue::Ss(vec![role.as_str().to_owned()]));
                e.deletes.push(format!("{name} {v}"));
            }
        }
        for pref in &p.preferences {
            e.set_entry("prefs", pref.id, preference_to_av(pref));
        }
        for prop in &p.properties {
            e.set_entry("props", prop.id, property_to_av(prop));
        }
        let m = &p.newm;
        let urls = [
            ("picture_url", &m.picture_url),
            ("banner_url", &m.banner_url),
            ("website_url", &m.website_url),
            ("twitter_url", &m.twitter_url),
            ("instagram_url", &m.instagram_url),
            ("company_logo_url", &m.company_logo_url),
        ];
        for (attr, v) in urls {
            e.set_opt_str(attr, v.as_ref().map(|u| u.as_str()));
        }
        let texts = [
            ("location", &m.location),
            ("profession", &m.role),
            ("genre", &m.genre),
            ("biography", &m.biography),
            ("company_name", &m.company_name),
            ("wallet_address", &m.wallet_address),
        ];
        for (attr, v) in texts {
            e.set_opt_str(attr, v.as_ref().map(|t| t.as_str()));
        }
        if let Some(b) = m.company_ip_rights {
            e.set("company_ip_rights", AttributeValue::Bool(b));
        }
        e.set("updated_at", s(now));
        let version = e.name("version");
        let one = e.value(n(1));
        e.adds.push(format!("{version} {one}"));
        e
    }
}

/// The user as it is after `patch` is applied to `current` (what a committed transaction wrote).
fn apply_patch(current: &User, p: &UserPatch, now: &str) -> User {
    let mut u = current.clone();
    let text = |t: &Option<crate::user::Text>| t.as_ref().map(|t| t.as_str().to_owned());
    if let Some(v) = &p.username {
        u.username = v.as_str().to_owned();
    }
    if let Some(v) = &p.email {
        u.email = v.as_str().to_owned();
    }
    u.name = text(&p.name).or(u.name);
    u.first_name = text(&p.first_name).or(u.first_name);
    u.last_name = text(&p.last_name).or(u.last_name);
    u.nickname = text(&p.nickname).or(u.nickname);
    if let Some(v) = p.status {
        u.status = v;
    }
    if let Some(v) = &p.password_hash {
        u.password_hash = Some(v.clone());
    } else if p.clear_password {
        u.password_hash = None;
    }
    if let Some(v) = &p.data {
        u.data = Some(v.to_json_string());
    }
    if let Some(v) = p.auth_type {
        u.auth_type = v;
    }
    if let Some(v) = p.root_role {
        u.root_role = Some(v);
    }
    if let Some(v) = p.intro_reviewed {
        u.intro_reviewed = Some(v);
    }
    if p.reset_password_failures {
        u.password_failures = 0;
        u.password_failed_at = None;
    }
    match &p.roles {
        None => {}
        Some(RolesChange::Replace(r)) => {
            u.roles = r.iter().map(|r| r.as_str().to_owned()).collect();
        }
        Some(RolesChange::Grant(r)) => {
            u.roles.insert(r.as_str().to_owned());
        }
        Some(RolesChange::Revoke(r)) => {
            u.roles.remove(r.as_str());
        }
    }
    for pref in &p.preferences {
        u.preferences.insert(pref.id, pref.clone());
    }
    for prop in &p.properties {
        u.properties.insert(prop.id, prop.clone());
    }
    let m = &p.newm;
    let url = |v: &Option<crate::user::HttpUrl>| v.as_ref().map(|u| u.as_str().to_owned());
    let nm = &mut u.newm;
    nm.picture_url = url(&m.picture_url).or(nm.picture_url.take());
    nm.banner_url = url(&m.banner_url).or(nm.banner_url.take());
    nm.website_url = url(&m.website_url).or(nm.website_url.take());
    nm.twitter_url = url(&m.twitter_url).or(nm.twitter_url.take());
    nm.instagram_url = url(&m.instagram_url).or(nm.instagram_url.take());
    nm.company_logo_url = url(&m.company_logo_url).or(nm.company_logo_url.take());
    nm.location = text(&m.location).or(nm.location.take());
    nm.role = text(&m.role).or(nm.role.take());
    nm.genre = text(&m.genre).or(nm.genre.take());
    nm.biography = text(&m.biography).or(nm.biography.take());
    nm.company_name = text(&m.company_name).or(nm.company_name.take());
    nm.wallet_address = text(&m.wallet_address).or(nm.wallet_address.take());
    nm.company_ip_rights = m.company_ip_rights.or(nm.company_ip_rights);
    u.updated_at = now.to_owned();
    u.version += 1;
    u
}

fn preference_to_av(p: &Preference) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("id".to_owned(), n(p.id)),
        ("name".to_owned(), s(&p.name)),
        ("value".to_owned(), s(&p.value)),
        ("locked".to_owned(), AttributeValue::Bool(p.locked)),
        ("description".to_owned(), s(&p.description)),
    ]))
}

fn property_to_av(p: &Property) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("id".to_owned(), n(p.id)),
        ("name".to_owned(), s(&p.name)),
        ("value".to_owned(), s(&p.value)),
        ("description".to_owned(), s(&p.description)),
    ]))
}

fn user_to_item(u: &User) -> HashMap<String, AttributeValue> {
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
    item
}

/// DynamoDB's item size: attribute names plus values, maps and sets counted by their parts.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
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

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn get_bool(item: &HashMap<String, AttributeValue>, k: &str) -> Option<bool> {
    match item.get(k) {
        Some(AttributeValue::Bool(v)) => Some(*v),
        _ => None,
    }
}

fn get_map<'a>(
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

fn user_from_item(item: &HashMap<String, AttributeValue>) -> Result<User> {
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
        created_at: get_s(item, "created_at").unwrap_or_default(),
        updated_at: get_s(item, "updated_at").unwrap_or_default(),
        version: get_n(item, "version").unwrap_or(0),
    })
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("building a DynamoDB request: {e}"))
}

fn is_conditional_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(ctx) if ctx.err().code() == Some("ConditionalCheckFailedException"))
}

/// Turns an SDK error (after the SDK's own retries) into the store's error.
fn classify<E, R>(e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let message = ctx.err().message().unwrap_or("");
            match code {
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException"
                | "TransactionConflictException" => {
                    Error::Unavailable(format!("{code}: {message}"))
                }
                "ValidationException" if message.contains("size") => {
                    Error::TooLarge("the change would make the user item too large".into())
                }
                _ => Error::Internal(format!("DynamoDB {code}: {message}")),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Error::Unavailable(format!(
            "DynamoDB unreachable: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        SdkError::ResponseError(_) => Error::Unavailable(format!(
            "DynamoDB answered badly: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        _ => Error::Internal(format!(
            "DynamoDB call failed: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
    }
}

/// Counts DynamoDB operations (one per call, whatever the SDK retries underneath): the number of
/// round trips a request costs, for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CallCounter {
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The count so far, and start again from zero.
    pub fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Store {
    /// A store whose every DynamoDB call is counted.
    pub async fn connect_counted(config: &Config) -> (Self, CallCounter) {
        Self::connect_counted_via(config, https_client(config)).await
    }

    /// A counted store whose HTTP traffic goes through `http` (benchmarks swap in a canned
    /// DynamoDB here; everything else is the production client).
    pub async fn connect_counted_via(
        config: &Config,
        http: aws_sdk_dynamodb::config::SharedHttpClient,
    ) -> (Self, CallCounter) {
        let counter = CallCounter::default();
        let sdk = sdk_config(config, http).await;
        let builder = client_builder(config, &sdk).interceptor(counter.clone());
        (
            Self::new(
                Client::from_conf(builder.build()),
                config.table_name.clone(),
            ),
            counter,
        )
    }
}

/// The DynamoDB client for this configuration: a local endpoint when one is set (with dummy
/// credentials if none are configured), tight timeouts so a stuck call cannot eat the invocation.
pub async fn dynamodb_client(config: &Config) -> Client {
    let sdk = sdk_config(config, https_client(config)).await;
    Client::from_conf(client_builder(config, &sdk).build())
}

fn client_builder(
    config: &Config,
    sdk: &aws_config::SdkConfig,
) -> aws_sdk_dynamodb::config::Builder {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(endpoint) = &config.dynamodb_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder
}

/// The roots AWS's endpoints in its standard partition chain to (Amazon Trust Services, the trust
/// store AWS documents for its services).
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// The HTTPS client: rustls on ring, proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`...)
/// as the SDK's default client does, and the smallest trust store that is sure to work. The
/// system store costs a cold start ~6 ms to read and parse (~140 certificates, BENCHMARKS.md);
/// Amazon Trust Services' five roots are enough whenever TLS can only reach DynamoDB itself.
fn https_client(config: &Config) -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust_store = if amazon_roots_suffice(config, |name| std::env::var(name).ok()) {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
    } else {
        TrustStore::default()
    };
    let context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("a TLS context with a trust store always builds");
    // What aws-smithy-runtime's default_https_client does, with our TLS context.
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = aws_smithy_http_client::ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Whether TLS can only ever reach AWS's own DynamoDB endpoint in the standard partition (whose
/// certificates chain to Amazon Trust Services): no proxy, no `https://` endpoint override, and
/// either a plain-HTTP local endpoint (no TLS at all) or a standard region. China, GovCloud, ISO
/// and sovereign partitions, proxies (TLS-inspecting ones included) and other servers get the
/// system store.
fn amazon_roots_suffice(config: &Config, env: impl Fn(&str) -> Option<String>) -> bool {
    const PROXY_VARIABLES: [&str; 6] = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    if PROXY_VARIABLES.iter().any(|name| set(&env(name))) {
        return false;
    }
    let plain_http = |url: &str| url.trim().to_ascii_lowercase().starts_with("http://");
    let overrides = [
        config.dynamodb_endpoint.clone(),
        env("AWS_ENDPOINT_URL"),
        env("AWS_ENDPOINT_URL_DYNAMODB"),
    ];
    let overrides: Vec<String> = overrides.into_iter().filter(set).flatten().collect();
    if overrides.iter().any(|url| !plain_http(url)) {
        return false;
    }
    !overrides.is_empty() || config.region.as_deref().is_some_and(in_standard_partition)
}

/// `us-east-1`, `eu-central-2`, `ap-southeast-5`...: a region of AWS's standard partition (not
/// `cn-`, `us-gov-`, `us-iso-`, `eusc-`).
fn in_standard_partition(region: &str) -> bool {
    const AREAS: [&str; 9] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];
    let parts: Vec<&str> = region.split('-').collect();
    matches!(parts.as_slice(), [area, direction, number]
        if AREAS.contains(area)
            && !direction.is_empty()
            && direction.bytes().all(|b| b.is_ascii_lowercase())
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit()))
}

async fn sdk_config(
    config: &Config,
    http: aws_sdk_dynamodb::config::SharedHttpClient,
) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        // The attempt timeout above already ends a stalled call; the throughput watchdog around
        // every response body costs ~10 % of a call (BENCHMARKS.md) and adds nothing on top.
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        );
    match (&config.region, &config.dynamodb_endpoint) {
        (Some(region), _) => loader = loader.region(Region::new(region.clone())),
        (None, Some(_)) => loader = loader.region(Region::new("us-east-1")),
        (None, None) => {}
    }
    let env_credentials = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if env_credentials {
        // Lambda hands the role's credentials over in the environment, the first place the
        // default chain looks; naming that provider skips building the rest of the chain (STS,
        // IMDS, ECS providers), ~0.3 ms of every cold start (BENCHMARKS.md).
        loader = loader.credentials_provider(
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
        );
    } else if config.dynamodb_endpoint.is_some() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-endpoint",
        ));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(region: Option<&str>, endpoint: Option<&str>) -> Config {
        Config {
            table_name: "t".into(),
            dynamodb_endpoint: endpoint.map(str::to_owned),
            region: region.map(str::to_owned),
            jwt: crate::config::JwtConfig {
                key: crate::config::JwtKey::Secret(vec![0; 32]),
                issuer: None,
                audience: None,
            },
        }
    }

    #[test]
    fn amazon_roots_only_where_tls_can_only_reach_dynamodb_in_the_standard_partition() {
        let none = |_: &str| None;
        let suffice = |region, endpoint| amazon_roots_suffice(&config_with(region, endpoint), none);
        assert!(suffice(Some("us-east-1"), None));
        assert!(suffice(Some("ap-southeast-5"), None));
        assert!(suffice(Some("il-central-1"), None));
        // A local plain-HTTP server: no TLS to verify.
        assert!(suffice(None, Some("http://127.0.0.1:8000")));
        assert!(suffice(Some("cn-north-1"), Some("HTTP://localhost:8000")));
        // Other partitions, unknown regions, HTTPS servers of any kind: the system store.
        for region in [
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "eusc-de-east-1",
            "local",
        ] {
            assert!(!suffice(Some(region), None), "{region}");
        }
        assert!(!suffice(None, None));
        assert!(!suffice(
            Some("us-east-1"),
            Some("https://vpce-1.dynamodb.us-east-1.vpce.amazonaws.com")
        ));
        // The SDK's own endpoint overrides and proxies count too.
        for (name, value) in [
            ("AWS_ENDPOINT_URL", "https://localstack:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "https://proxy.internal"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://proxy:3128"),
            ("ALL_PROXY", "socks5://proxy:1080"),
        ] {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            assert!(
                !amazon_roots_suffice(&config_with(Some("us-east-1"), None), env),
                "{name}"
            );
        }
        let blank = |_: &str| Some("  ".to_owned());
        assert!(amazon_roots_suffice(
            &config_with(Some("us-east-1"), None),
            blank
        ));
    }

    #[test]
    fn the_embedded_amazon_roots_are_five_trust_anchors() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .expect("valid PEM");
        let (valid, invalid) = rustls::RootCertStore::empty().add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn codes_are_six_digits_and_hashes_bind_user_and_email() {
        for _ in 0..100 {
            let c = random_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
        let id = UserId::new(1).unwrap();
        let other = UserId::new(2).unwrap();
        assert_ne!(
            code_hash(id, "a@x.io", "123456"),
            code_hash(other, "a@x.io", "123456")
        );
        assert_ne!(
            code_hash(id, "a@x.io", "123456"),
            code_hash(id, "b@x.io", "123456")
        );
    }

    #[test]
    fn blind_update_writes_only_what_was_sent() {
        let patch = UserPatch {
            name: Some(crate::user::Text::parse("name", "N").unwrap()),
            roles: Some(RolesChange::Grant(crate::user::Role::admin())),
            ..Default::default()
        };
        let e = UpdateExpr::from_patch(&patch, "now");
        let written: BTreeSet<&str> = e.names.values().map(String::as_str).collect();
        assert_eq!(
            written,
            BTreeSet::from(["name", "roles", "updated_at", "version"])
        );
        assert!(e.update_expression().contains("ADD #roles"));
    }
}
