//! The password throttle: every password change first counts its attempt, in the same conditional
//! write that reads the user, so concurrent guesses cannot get past the limit.

use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{n, s, user_from_item, PASSWORD_COUNTED_FOR};
use super::keys::{key, user_pk};
use super::sdk_error::{classify, is_conditional_failure};
use super::{Expect, Store};
use crate::error::{Error, Result};
use crate::policy::Rule;
use crate::stamp::Stamp;
use crate::user::User;
use crate::values::{Status, UserId, ADMIN_ROLE};

impl Store {
    /// Starts a password change: counts the attempt and reads the user in one conditional
    /// `UpdateItem`, so concurrent guesses cannot get past the limit. Refused (nothing written)
    /// while `max` attempts in a row have failed and the last one is less than `window_seconds`
    /// old; after that, one attempt per window until one succeeds. A successful change resets the
    /// count (`UserPatch::reset_password_failures`). The count names the request it counted
    /// (`pw_counted_for`), so the same count sent again (its answer lost) counts once.
    pub async fn begin_password_change(
        &self,
        id: UserId,
        expect: &[Expect],
        max: u32,
        window_seconds: i64,
        stamp: &Stamp,
    ) -> Result<User> {
        // A stale token spends no attempt, nor does a disabled user's (or a demoted admin's).
        self.require_recent_sign_in(id, stamp)?;
        let rules = self.attempt_rules(id, stamp)?;
        let now = crate::auth::now_unix();
        let mut condition = "attribute_exists(pk) AND (attribute_not_exists(pw_failures) \
             OR pw_failures < :max OR attribute_not_exists(pw_failed_at) OR pw_failed_at < :window_start) \
             AND (attribute_not_exists(#counted_for) OR #counted_for <> :request)"
            .to_owned();
        // The count is bookkeeping, not a change of the user: it leaves the stamp (who made the
        // current version) alone, and says which request it counted in its own attribute.
        let update = "SET pw_failures = if_not_exists(pw_failures, :zero) + :one, \
             pw_failed_at = :now, #counted_for = :request";
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(id))))
            .update_expression(update)
            .expression_attribute_names("#counted_for", PASSWORD_COUNTED_FOR)
            .expression_attribute_values(":request", s(&stamp.request_id))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":window_start", n(now - window_seconds))
            .return_values(ReturnValue::AllNew);
        for rule in &rules {
            match rule {
                Rule::Active => {
                    condition.push_str(" AND #status = :active");
                    request = request
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":active", s(Status::Active.as_str()));
                }
                Rule::Admin => {
                    condition.push_str(" AND contains(#roles, :admin)");
                    request = request
                        .expression_attribute_names("#roles", "roles")
                        .expression_attribute_values(":admin", s(ADMIN_ROLE));
                }
                // This is the lockout's own count.
                Rule::NotLockedOut => {}
            }
        }
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
                // This request's own count, sent again after it landed.
                Some(user)
                    if user.password_counted_for.as_deref() == Some(stamp.request_id.as_str()) =>
                {
                    Ok(user)
                }
                Some(user) if !expect.iter().all(|e| e.holds(&user)) => {
                    Err(Error::PreconditionFailed)
                }
                // A rule of the directory refused (a disabled user), else the lockout holds.
                Some(user) => {
                    crate::policy::admit(&rules, &user, now).and(Err(Error::TooManyAttempts {
                        retry_at: user.password_failed_at.unwrap_or(now) + window_seconds,
                    }))
                }
            },
            Err(e) => Err(classify(e)),
        }
    }
}
