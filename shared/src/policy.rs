//! The directory's own rules for a write, whatever API it comes through. Each document allows its
//! own behaviour (AAA changes an email with no 2FA code, MMC a password with no current password),
//! so without one policy a credential that NEWM guards is changed through another API, and a
//! token outlives the account or the role it was issued for. README, "Security model".

use crate::error::{Error, Result};
use crate::patch::UserPatch;
use crate::stamp::{Authority, Stamp};
use crate::user::User;
use crate::values::UserId;

/// Wrong current passwords in a row before password changes are refused (NEWM's lockout).
pub const MAX_PASSWORD_FAILURES: u32 = 5;
/// How long the lockout lasts after the last wrong guess.
pub const LOCKOUT_SECONDS: i64 = 15 * 60;

/// What must hold of a stored user for a write to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The user is active: a disabled or locked user's token writes nothing.
    Active,
    /// The user holds the admin role its token claims: a demoted admin's token administers
    /// nothing.
    Admin,
    /// NEWM's password lockout is not in force: no other API changes the password around it.
    NotLockedOut,
}

impl Rule {
    pub fn holds(self, user: &User, now: i64) -> bool {
        match self {
            Rule::Active => user.status == crate::values::Status::Active,
            Rule::Admin => user.is_admin(),
            Rule::NotLockedOut => {
                user.password_failures < MAX_PASSWORD_FAILURES
                    || user
                        .password_failed_at
                        .is_none_or(|at| at < now - LOCKOUT_SECONDS)
            }
        }
    }

    /// The refusal when the rule does not hold of `user`.
    pub fn refusal(self, user: &User) -> Error {
        match self {
            Rule::Active => Error::Forbidden(format!("the account is {}", user.status.as_str())),
            Rule::Admin => Error::Forbidden("the token's admin role is no longer held".into()),
            Rule::NotLockedOut => Error::TooManyAttempts {
                retry_at: user.password_failed_at.unwrap_or(0) + LOCKOUT_SECONDS,
            },
        }
    }
}

/// The first rule `user` breaks, as its refusal.
pub fn admit(rules: &[Rule], user: &User, now: i64) -> Result<()> {
    match rules.iter().find(|r| !r.holds(user, now)) {
        Some(rule) => Err(rule.refusal(user)),
        None => Ok(()),
    }
}

/// When the token's user writes another user (an administrator's write): that user, and what
/// must hold of it, read once before writing. `None` for a write of one's own account, or the
/// operator's.
pub fn actor_rules(target: UserId, stamp: &Stamp) -> Result<Option<(UserId, Vec<Rule>)>> {
    let Authority::Token { admin, .. } = stamp.authority else {
        return Ok(None);
    };
    match stamp.actor {
        Some(actor) if actor == target => Ok(None),
        // Handlers refuse a non-admin before the store; this is the directory's own backstop.
        Some(_) if !admin => Err(Error::Forbidden("may only change its own account".into())),
        Some(actor) => Ok(Some((actor, vec![Rule::Active, Rule::Admin]))),
        None => Err(Error::Internal("a token's write without its user".into())),
    }
}

/// What must hold of `target` itself for `patch` to be written on `stamp`'s authority, or the
/// refusal that needs no read ([`require_recent_sign_in`]). Administrators acting on others are
/// not held to the self-service rules.
pub fn target_rules(
    target: UserId,
    patch: &UserPatch,
    stamp: &Stamp,
    max_age: i64,
    now: i64,
) -> Result<Vec<Rule>> {
    let Authority::Token { admin, .. } = stamp.authority else {
        return Ok(Vec::new());
    };
    if stamp.actor != Some(target) {
        return Ok(Vec::new());
    }
    if patch.email.is_some() || patch.password_hash.is_some() || patch.clear_password {
        require_recent_sign_in(target, stamp, max_age, now)?;
    }
    if patch.reset_password_failures
        && patch.superseded_hash.is_none()
        && patch.password_hash.is_some()
    {
        // Only NEWM's verified change, or an administrator's reset of another user, ends the
        // lockout: a handler that asks otherwise is a bug, refused rather than obeyed.
        return Err(Error::Internal(
            "a self-service password set may not reset the password lockout".into(),
        ));
    }
    let mut rules = vec![Rule::Active];
    if admin {
        rules.push(Rule::Admin);
    }
    // NEWM's own change verified the current password after counting the attempt
    // (`Store::begin_password_change`): it carries the hash it replaces.
    if patch.password_hash.is_some() && patch.superseded_hash.is_none() {
        rules.push(Rule::NotLockedOut);
    }
    Ok(rules)
}

/// A change of one's own email or password needs a sign-in at most `max_age` seconds old: a
/// stolen token is a short-lived foothold, not a way to lock the owner out for good.
pub fn require_recent_sign_in(target: UserId, stamp: &Stamp, max_age: i64, now: i64) -> Result<()> {
    match stamp.authority {
        Authority::Token {
            authenticated_at, ..
        } if stamp.actor == Some(target) && authenticated_at < now - max_age => {
            Err(Error::ReauthenticationRequired {
                max_age_seconds: max_age,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::values::{Email, PasswordHash};

    fn id(n: i64) -> UserId {
        UserId::new(n).unwrap()
    }

    fn stamp(actor: i64, admin: bool, authenticated_at: i64) -> Stamp {
        let roles = if admin {
            vec!["admin".to_owned()]
        } else {
            vec![]
        };
        Stamp::by(
            &Principal {
                user_id: id(actor),
                roles: roles.into_iter().collect(),
                authenticated_at,
            },
            "test",
            "r",
        )
    }

    fn email_change() -> UserPatch {
        UserPatch {
            email: Some(Email::parse("new@example.com").unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn a_credential_change_of_ones_own_needs_a_recent_sign_in() {
        let now = 10_000;
        let old = stamp(2, false, now - 301);
        assert!(matches!(
            target_rules(id(2), &email_change(), &old, 300, now),
            Err(Error::ReauthenticationRequired {
                max_age_seconds: 300
            })
        ));
        // Not a credential: any age will do.
        let name = UserPatch {
            name: Some(crate::values::Text::parse("name", "N").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            target_rules(id(2), &name, &old, 300, now).unwrap(),
            vec![Rule::Active]
        );
        let fresh = stamp(2, false, now - 299);
        assert_eq!(
            target_rules(id(2), &email_change(), &fresh, 300, now).unwrap(),
            vec![Rule::Active]
        );
        assert_eq!(actor_rules(id(2), &fresh).unwrap(), None);
        // An administrator acting on another user is not asked to sign in again, but must still
        // be an active administrator.
        let admin = stamp(1, true, 0);
        assert_eq!(
            target_rules(id(2), &email_change(), &admin, 300, now).unwrap(),
            vec![]
        );
        assert_eq!(
            actor_rules(id(2), &admin).unwrap(),
            Some((id(1), vec![Rule::Active, Rule::Admin]))
        );
        assert!(actor_rules(id(2), &stamp(3, false, now)).is_err());
        // The operator's tool has no token.
        let operator = Stamp::new(None, "userctl", "r");
        assert_eq!(
            target_rules(id(2), &email_change(), &operator, 300, now).unwrap(),
            vec![]
        );
        assert_eq!(actor_rules(id(2), &operator).unwrap(), None);
    }

    #[test]
    fn a_password_set_around_newm_waits_for_its_lockout() {
        let hash = PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        );
        assert!(hash.is_some());
        let set = UserPatch {
            password_hash: hash.clone(),
            ..Default::default()
        };
        let now = 10_000;
        assert_eq!(
            target_rules(id(2), &set, &stamp(2, true, now), 300, now).unwrap(),
            vec![Rule::Active, Rule::Admin, Rule::NotLockedOut]
        );
        let verified = UserPatch {
            superseded_hash: hash,
            ..set
        };
        assert_eq!(
            target_rules(id(2), &verified, &stamp(2, false, now), 300, now).unwrap(),
            vec![Rule::Active]
        );
    }
}
