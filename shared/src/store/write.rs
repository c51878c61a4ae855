//! Writes of one user: a blind conditional `UpdateItem` when nothing depends on the stored user,
//! else read, decide and write on the version read, retried a bounded number of times.

use aws_sdk_dynamodb::types::ReturnValue;

use super::expression::UpdateExpr;
use super::item::{item_size, n, s, user_from_item, user_to_item, MAX_ITEM_BYTES};
use super::keys::{key, user_pk};
use super::sdk_error::{classify, is_conditional_failure};
use super::sends::resent;
use super::{now_rfc3339, retry_pause, Expect, Store, MAX_ATTEMPTS};
use crate::error::{Error, Result};
use crate::patch::{Change, RolesChange, UserPatch};
use crate::stamp::Stamp;
use crate::user::User;
use crate::values::{JsonObject, Text, UserId};

impl Store {
    /// Applies `patch`. A change that moves no lock is one conditional `UpdateItem` (no read);
    /// otherwise the user is read and the change written in one transaction, on its version.
    pub async fn update(
        &self,
        id: UserId,
        patch: &UserPatch,
        expect: &[Expect],
        stamp: &Stamp,
    ) -> Result<User> {
        if Self::can_write_blind(patch) {
            let user = self
                .update_blind(id, patch, expect, stamp, ReturnValue::AllNew)
                .await?;
            return user.ok_or_else(|| Error::Internal("UpdateItem returned no attributes".into()));
        }
        self.update_with_read(id, patch, expect, stamp).await
    }

    /// [`Store::update`] for a caller that answers without the user (NEWM's 204, DeviceHive's
    /// `success`): the write does not send the item back, so nothing is transferred or parsed.
    pub async fn apply(
        &self,
        id: UserId,
        patch: &UserPatch,
        expect: &[Expect],
        stamp: &Stamp,
    ) -> Result<()> {
        if Self::can_write_blind(patch) {
            return self
                .update_blind(id, patch, expect, stamp, ReturnValue::None)
                .await
                .map(drop);
        }
        self.update_with_read(id, patch, expect, stamp)
            .await
            .map(drop)
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
        stamp: &Stamp,
    ) -> Result<User> {
        self.update_after_read(id, stamp, |user: &User| {
            if expect.iter().all(|e| e.holds(user)) {
                Ok(patch.clone())
            } else {
                Err(Error::PreconditionFailed)
            }
        })
        .await
    }

    /// One conditional `UpdateItem`; the user comes back when `returning` asks for all of it.
    /// Sent again it writes the same values, so the SDK's own retries are harmless; when they
    /// run out, the user read back says whether this request's write landed after all.
    async fn update_blind(
        &self,
        id: UserId,
        patch: &UserPatch,
        expect: &[Expect],
        stamp: &Stamp,
        returning: ReturnValue,
    ) -> Result<Option<User>> {
        let rules = self.target_rules(id, patch, stamp)?;
        self.admit_actor(id, stamp).await?;
        let mut expr = UpdateExpr::from_patch(patch, &now_rfc3339(), stamp);
        expr.condition("attribute_exists(pk)".to_owned());
        let now = crate::auth::now_unix();
        for rule in &rules {
            expr.require(*rule, now);
        }
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
            .set_key(Some(key(user_pk(id))))
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
                // Sent again, the condition may have failed on this request's own landed write
                // (or on one made since): only the stamp can say it landed, and without it the
                // outcome is unknown, not refused.
                let resent = resent(&e);
                match self.get(id).await? {
                    Some(user) if resent && user.written_by(stamp) => Ok(Some(user)),
                    _ if resent => Err(resent_then_refused()),
                    None => Err(Error::NotFound),
                    Some(user) if !expect.iter().all(|e| e.holds(&user)) => {
                        Err(Error::PreconditionFailed)
                    }
                    // The user is the one expected: a rule of the directory refused the write.
                    Some(user) => Err(crate::policy::admit(&rules, &user, now)
                        .err()
                        .unwrap_or(Error::PreconditionFailed)),
                }
            }
            Err(e) => match classify(e) {
                Error::Unavailable(why) => match self.get(id).await {
                    Ok(Some(user)) if user.written_by(stamp) => Ok(Some(user)),
                    _ => Err(Error::Unavailable(why)),
                },
                other => Err(other),
            },
        }
    }

    /// Read, let `decide` look at the stored user and say what to write, then write on condition
    /// that the user is still at the version read; retried a bounded number of times.
    ///
    /// Every read after a write that may have landed (its answer was lost, or the SDK sent it
    /// again) first asks whether it did: the user stamped with this request at a newer version
    /// than the one the write was made on. Values that already are what the request asks
    /// (an email or username) are not written again, so a request sent again after its first
    /// send landed converges.
    pub async fn update_after_read<F>(
        &self,
        id: UserId,
        stamp: &Stamp,
        mut decide: F,
    ) -> Result<User>
    where
        F: FnMut(&User) -> Result<UserPatch>,
    {
        self.admit_actor(id, stamp).await?;
        let mut written_on: Option<i64> = None;
        let mut code_counted = false;
        for attempt in 0..MAX_ATTEMPTS {
            retry_pause(attempt).await;
            let current = self.get(id).await?.ok_or(Error::NotFound)?;
            if written_on.is_some_and(|v| current.applied_since(stamp, v)) {
                return Ok(current);
            }
            let patch = decide(&current)?.without_unchanged_unique(&current);
            if patch.is_empty() && patch.email_code.is_none() {
                // Everything sent equals what is stored: nothing to write.
                return Ok(current);
            }
            // Before a 2FA guess is spent: the effective change (an email sent unchanged is none).
            self.admit(&current, &patch, stamp)?;
            if let (Some(code), Some(email), false) =
                (&patch.email_code, &patch.email, code_counted)
            {
                // Counted before it is checked, once per request: no burst gets past the limit.
                self.check_code(id, email, code, stamp).await?;
                code_counted = true;
            }
            written_on = Some(current.version);
            match self.write_versioned(&current, &patch, stamp).await {
                Ok(Some(user)) => return Ok(user),
                Ok(None) => continue,
                Err(Error::Unavailable(why)) => {
                    // The write's outcome is unknown: the user says, if it can be read.
                    return match self.get(id).await {
                        Ok(Some(user)) if user.applied_since(stamp, current.version) => Ok(user),
                        _ => Err(Error::Unavailable(why)),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contention)
    }

    /// Writes `patch` over `current` if the stored version is still `current.version`: a
    /// conditional `UpdateItem`, or one transaction when a lock moves or a 2FA code is consumed.
    /// `Ok(None)`: the version moved (another write, or this one sent again after it landed);
    /// read again (see [`Store::ATTEMPTS`]).
    pub async fn write_versioned(
        &self,
        current: &User,
        patch: &UserPatch,
        stamp: &Stamp,
    ) -> Result<Option<User>> {
        // On the version read: what the rules saw is what is written over. They ride in the
        // condition too, as NEWM's failure count moves without a new version.
        let rules = self.target_rules(current.id, patch, stamp)?;
        crate::policy::admit(&rules, current, crate::auth::now_unix())?;
        let now = now_rfc3339();
        let mut expr = UpdateExpr::from_patch(patch, &now, stamp);
        let v = expr.value(n(current.version));
        expr.condition(format!("version = {v}"));
        for rule in &rules {
            expr.require(*rule, crate::auth::now_unix());
        }
        let expected = apply_patch(current, patch, &now, stamp);
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
                .set_key(Some(key(user_pk(current.id))))
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
                // The version moved, perhaps by this very write sent earlier: the caller reads
                // the user back to know (deciding again could refuse a change already made).
                Err(e) if is_conditional_failure(&e) && resent(&e) => Err(resent_then_refused()),
                Err(e) if is_conditional_failure(&e) => Ok(None),
                Err(e) => Err(classify(e)),
            };
        }
        self.write_moving_locks(current, patch, expr, expected, stamp)
            .await
    }
}

/// A write sent more than once whose last send's condition failed, and the user read back does
/// not say it landed: an outage's answer (503), as for any write whose outcome is unknown.
fn resent_then_refused() -> Error {
    Error::Unavailable(
        "the write was sent again and then refused: whether an earlier send landed is unknown"
            .into(),
    )
}

/// The user as it is after `patch` is applied to `current` (what a committed transaction wrote).
pub(super) fn apply_patch(current: &User, p: &UserPatch, now: &str, stamp: &Stamp) -> User {
    let mut u = current.clone();
    let text = |t: &Option<Text>| t.as_ref().map(|t| t.as_str().to_owned());
    if let Some(v) = &p.username {
        u.username = v.as_str().to_owned();
    }
    if let Some(v) = &p.email {
        u.email = v.as_str().to_owned();
    }
    u.name = text(&p.name).or(u.name);
    u.first_name = changed(&p.first_name, u.first_name);
    u.last_name = changed(&p.last_name, u.last_name);
    u.nickname = changed(&p.nickname, u.nickname);
    if let Some(v) = p.status {
        u.status = v;
    }
    if let Some(v) = &p.password_hash {
        u.password_hash = Some(v.clone());
    } else if p.clear_password {
        u.password_hash = None;
    }
    let data = p.data.as_ref().map(|c| c.map(JsonObject::to_json_string));
    u.data = changed(&data, u.data);
    if let Some(v) = p.auth_type {
        u.auth_type = v;
    }
    if let Some(v) = p.root_role {
        u.root_role = Some(v);
    }
    if let Some(v) = p.intro_reviewed {
        u.intro_reviewed = Some(v);
    }
    if let Some(h) = &p.superseded_hash {
        u.superseded_hash = Some(h.clone());
        u.password_changed_at = Some(crate::auth::now_unix());
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
    let nm = &mut u.newm;
    nm.picture_url = changed(&m.picture_url, nm.picture_url.take());
    nm.banner_url = changed(&m.banner_url, nm.banner_url.take());
    nm.website_url = changed(&m.website_url, nm.website_url.take());
    nm.twitter_url = changed(&m.twitter_url, nm.twitter_url.take());
    nm.instagram_url = changed(&m.instagram_url, nm.instagram_url.take());
    nm.company_logo_url = changed(&m.company_logo_url, nm.company_logo_url.take());
    nm.location = changed(&m.location, nm.location.take());
    nm.role = changed(&m.role, nm.role.take());
    nm.genre = changed(&m.genre, nm.genre.take());
    nm.biography = changed(&m.biography, nm.biography.take());
    nm.company_name = changed(&m.company_name, nm.company_name.take());
    nm.wallet_address = text(&m.wallet_address).or(nm.wallet_address.take());
    nm.company_ip_rights = m.company_ip_rights.or(nm.company_ip_rights);
    u.updated_at = now.to_owned();
    u.last_request = Some(stamp.request_id.clone());
    u.version += 1;
    u
}

/// What an optional attribute holds after `change`, when it held `current`.
fn changed<T: AsRef<str>>(change: &Option<Change<T>>, current: Option<String>) -> Option<String> {
    match change {
        None => current,
        Some(Change::Set(v)) => Some(v.as_ref().to_owned()),
        Some(Change::Clear) => None,
    }
}
