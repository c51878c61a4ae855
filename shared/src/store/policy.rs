//! The directory's write rules (`crate::policy`) as DynamoDB sees them: a rule over the user
//! written rides in the write's own condition (no round trip); an administrator writing another
//! user is read once before the write.

use super::expression::UpdateExpr;
use super::item::{n, s};
use super::Store;
use crate::error::{Error, Result};
use crate::patch::UserPatch;
use crate::policy::{self, Rule, LOCKOUT_SECONDS, MAX_PASSWORD_FAILURES};
use crate::stamp::{Authority, Stamp};
use crate::user::User;
use crate::values::{Status, UserId, ADMIN_ROLE};

impl Store {
    /// What must hold of `target` itself for `patch` (see [`policy::target_rules`]).
    pub(super) fn target_rules(
        &self,
        target: UserId,
        patch: &UserPatch,
        stamp: &Stamp,
    ) -> Result<Vec<Rule>> {
        policy::target_rules(
            target,
            patch,
            stamp,
            self.credential_max_age,
            crate::auth::now_unix(),
        )
    }

    /// Refuses `patch` if `target`, as read, breaks a rule.
    pub(super) fn admit(&self, current: &User, patch: &UserPatch, stamp: &Stamp) -> Result<()> {
        let rules = self.target_rules(current.id, patch, stamp)?;
        policy::admit(&rules, current, crate::auth::now_unix())
    }

    /// What must hold of `target` before a password attempt is even counted: a disabled user's
    /// token learns nothing of its password (see [`policy::target_rules`], for no change).
    pub(super) fn attempt_rules(&self, target: UserId, stamp: &Stamp) -> Result<Vec<Rule>> {
        self.target_rules(target, &UserPatch::default(), stamp)
    }

    /// An administrator's write of another user: the administrator, read now, is still an active
    /// administrator (one `GetItem`). Nothing to read for a write of one's own account.
    pub(super) async fn admit_actor(&self, target: UserId, stamp: &Stamp) -> Result<()> {
        match policy::actor_rules(target, stamp)? {
            Some((actor, rules)) => self.admit_stored(actor, &rules).await,
            None => Ok(()),
        }
    }

    /// The token's user, read now, keeps `rules`; a user that no longer exists keeps none.
    async fn admit_stored(&self, actor: UserId, rules: &[Rule]) -> Result<()> {
        match self.get(actor).await? {
            Some(user) => policy::admit(rules, &user, crate::auth::now_unix()),
            None => Err(Error::Forbidden("the token's user no longer exists".into())),
        }
    }

    /// `id` read on `stamp`'s authority: another user's record only while the token's user is
    /// still an active administrator (one read more), as for its writes.
    pub async fn get_as(&self, id: UserId, stamp: &Stamp) -> Result<Option<User>> {
        self.admit_actor(id, stamp).await?;
        self.get(id).await
    }

    /// For an administrator's request before it names a user (MMC's username may name nobody):
    /// the token's user is still an active administrator (one read). The operator has no token.
    pub async fn confirm_admin(&self, stamp: &Stamp) -> Result<()> {
        let (Authority::Token { admin, .. }, Some(actor)) = (stamp.authority, stamp.actor) else {
            return Ok(());
        };
        if !admin {
            return Err(Error::Forbidden("administrators only".into()));
        }
        self.admit_stored(actor, &[Rule::Active, Rule::Admin]).await
    }

    /// A change of one's own password must come from a recent sign-in.
    pub(super) fn require_recent_sign_in(&self, target: UserId, stamp: &Stamp) -> Result<()> {
        policy::require_recent_sign_in(
            target,
            stamp,
            self.credential_max_age,
            crate::auth::now_unix(),
        )
    }
}

impl UpdateExpr {
    /// `rule` as a condition on the item written.
    pub(super) fn require(&mut self, rule: Rule, now: i64) {
        let condition = match rule {
            Rule::Active => {
                let status = self.name("status");
                let active = self.value(s(Status::Active.as_str()));
                format!("{status} = {active}")
            }
            Rule::Admin => {
                let roles = self.name("roles");
                let admin = self.value(s(ADMIN_ROLE));
                format!("contains({roles}, {admin})")
            }
            Rule::NotLockedOut => {
                let failures = self.name("pw_failures");
                let failed_at = self.name("pw_failed_at");
                let max = self.value(n(MAX_PASSWORD_FAILURES));
                let window_start = self.value(n(now - LOCKOUT_SECONDS));
                format!(
                    "(attribute_not_exists({failures}) OR {failures} < {max} \
                     OR attribute_not_exists({failed_at}) OR {failed_at} < {window_start})"
                )
            }
        };
        self.condition(condition);
    }
}
