//! Transactions: creating and deleting a user with its locks, and a change that moves a lock or
//! consumes a 2FA code, all or nothing. A cancellation reason names what collided.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::code::code_hash;
use super::expression::UpdateExpr;
use super::item::{get_n, n, s, stamp_attributes, user_to_item};
use super::keys::{code_pk, email_pk, key, user_pk, username_pk, uuid_pk, PK};
use super::sdk_error::{build_error, classify};
use super::{now_rfc3339, Store, MAX_ATTEMPTS};
use crate::error::{Error, Result, UniqueField};
use crate::patch::UserPatch;
use crate::stamp::Stamp;
use crate::user::{NewUser, NewmProfile, User};
use crate::values::{email_key, UserId};

impl Store {
    /// Creates a user and its three locks in one transaction; a taken id, uuid, username or email
    /// is a `Conflict` naming it, and then nothing is written. A transaction cancelled because
    /// this very request created the user already (its answer was lost, and it was sent again) is
    /// a success.
    pub async fn create(&self, new: &NewUser, stamp: &Stamp) -> Result<User> {
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
            superseded_hash: None,
            password_changed_at: None,
            password_counted_for: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
            last_request: Some(stamp.request_id.clone()),
        };
        let mut user_item = user_to_item(&user);
        for (attr, value) in stamp_attributes(stamp) {
            if let Some(v) = value {
                user_item.insert(attr.to_owned(), v);
            }
        }
        let lock =
            |pk: String| HashMap::from([(PK.to_owned(), s(pk)), ("user_id".to_owned(), n(new.id))]);
        let puts = [
            (user_item, UniqueField::Id, new.id.to_string()),
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
        let token = stamp.transaction_token(&["create", &new.id.to_string()]);
        let outcome = self.transact(items, token).await;
        if !matches!(outcome, Ok(None)) {
            // Cancelled or unknown: was it this request's own earlier send that landed?
            if let Ok(Some(stored)) = self.get(new.id).await {
                // Its own create: this request's stamp, untouched since, with these values.
                if stored.written_by(stamp)
                    && stored.version == 1
                    && stored.username == new.username.as_str()
                    && stored.email == new.email.as_str()
                    && stored.uuid == new.uuid
                {
                    return Ok(stored);
                }
            }
        }
        match outcome? {
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

    /// Deletes a user and the locks it holds, each on condition they are still its own. The user
    /// is stamped first (a removal carries no new image: the stream's old image then says who
    /// removed it), then removed on the stamped version.
    pub async fn delete(&self, id: UserId, stamp: &Stamp) -> Result<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(user) = self.get(id).await? else {
                return Ok(());
            };
            let user = if user.written_by(stamp) {
                user
            } else {
                match self
                    .write_versioned(&user, &UserPatch::default(), stamp)
                    .await
                {
                    Ok(Some(stamped)) => stamped,
                    Ok(None) => continue,
                    Err(e) => return Err(e),
                }
            };
            let mut items = vec![self.delete_item(
                user_pk(id),
                "version = :v",
                HashMap::from([(":v".to_owned(), n(user.version))]),
            )?];
            for pk in [
                uuid_pk(&user.uuid),
                username_pk(&user.username.to_lowercase()),
                self.email_lock_of(&user).await?,
            ] {
                items.push(self.delete_item(
                    pk,
                    "user_id = :id",
                    HashMap::from([(":id".to_owned(), n(id))]),
                )?);
            }
            let token = stamp.transaction_token(&[
                "delete",
                &id.to_string(),
                &user.version.to_string(),
                &attempt.to_string(),
            ]);
            if self.transact(items, token).await?.is_none() {
                return Ok(());
            }
        }
        Err(Error::Contention)
    }

    /// The pk of the email lock `user` holds: its mailbox key, or, for an address locked before
    /// locks were per mailbox (a non-ASCII one, under its lower-cased spelling), that older key,
    /// so that moving or deleting it leaves no orphan. One read, only for such an address.
    async fn email_lock_of(&self, user: &User) -> Result<String> {
        let key = email_pk(&email_key(&user.email));
        let legacy = email_pk(&user.email.to_lowercase());
        if key == legacy {
            return Ok(key);
        }
        Ok(match self.item(key.clone()).await? {
            Some(item) if get_n(&item, "user_id") == Some(user.id.get()) => key,
            _ => legacy,
        })
    }

    /// The transaction half of [`Store::write_versioned`]: the user updated on its version, the
    /// moved locks put and deleted, the 2FA code consumed. `Ok(None)`: read again.
    pub(super) async fn write_moving_locks(
        &self,
        current: &User,
        patch: &UserPatch,
        expr: UpdateExpr,
        expected: User,
        stamp: &Stamp,
    ) -> Result<Option<User>> {
        // Item 0 is the user; the rest are recorded so a cancellation reason names its cause.
        let mut items = vec![TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(current.id))))
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

        let held_email = match patch.email {
            Some(_) => self.email_lock_of(current).await?,
            None => String::new(),
        };
        let moves = [
            patch.email.as_ref().map(|e| {
                (
                    held_email.clone(),
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
            // Its guess was counted and checked before (`Store::check_code`): consumed here,
            // in the same transaction as the change, so it is used once.
            items.push(self.delete_item(
                code_pk(current.id, &key),
                "code_hash = :h AND expires_at > :now",
                HashMap::from([
                    (":h".to_owned(), s(code_hash(current.id, &key, code))),
                    (":now".to_owned(), n(crate::auth::now_unix())),
                ]),
            )?);
            causes.push(Cause::Code);
        }

        // The attempt's time is part of it: a transaction built again (after a conflict, on the
        // same version) carries other values (`updated_at`, the code's `:now`), and DynamoDB
        // refuses a token it saw with other parameters (`IdempotentParameterMismatch`).
        let token = stamp.transaction_token(&[
            "user",
            &current.id.to_string(),
            &current.version.to_string(),
            &expected.updated_at,
        ]);
        let Some(reasons) = self.transact(items, token).await? else {
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
            // Expired or consumed since it was checked.
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

    pub(super) fn delete_item(
        &self,
        pk: String,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk)))
                    .condition_expression(condition)
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(build_error)?,
            )
            .build())
    }

    /// Runs a transaction. `Ok(None)` when it committed, `Ok(Some(codes))` when it was cancelled:
    /// one reason code per item, in order (`None` where the item was not at fault). `token` is its
    /// `ClientRequestToken`: DynamoDB answers a repeat of a committed transaction with the same
    /// token (within 10 minutes) as a success and applies nothing.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: String,
    ) -> Result<Option<Vec<Option<String>>>> {
        let count = items.len();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
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
}

#[derive(Debug, PartialEq)]
pub(super) enum Cause {
    /// The user moved on, or a lock changed hands in between: read again.
    Race,
    Taken(UniqueField, String),
    Code,
}
