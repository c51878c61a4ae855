//! DeviceHive's user rules, the same over the WebSocket API and the REST API: who may read and
//! update which user, and the one store call each takes.

use shared::auth::Principal;
use shared::error::Error;
use shared::stamp::Stamp;
use shared::user::User;
use shared::values::UserId;
use shared::AppState;

use crate::dialect::{refusal_for, Refusal, UserUpdate};

/// Reads a user: anyone reads itself; only an administrator reads another user (DeviceHive's
/// `ManageUser` permission).
/// An administrator's read is one more read: the administrator, still active and `admin`.
pub async fn get(
    app: &AppState,
    caller: &Principal,
    target: UserId,
    stamp: &Stamp,
) -> Result<User, Refusal> {
    if !caller.is_admin() && target != caller.user_id {
        return Err(Refusal::access_denied());
    }
    app.store
        .get_as(target, stamp)
        .await
        .and_then(|u| u.ok_or(Error::NotFound))
        .map_err(|e| refusal_for(&e, Some(target)))
}

/// Applies `update` to `target`. Administrators change every property of any user; a client
/// changes only its own `password`, `data` and `introReviewed` (else DeviceHive's 403 "Admin
/// permissions required for this action", before anything is read or written). One store call:
/// the write itself, which also says whether the user exists.
pub async fn update(
    app: &AppState,
    caller: &Principal,
    target: UserId,
    update: UserUpdate,
    stamp: &Stamp,
) -> Result<(), Refusal> {
    if !caller.is_admin() && (target != caller.user_id || !update.admin_fields.is_empty()) {
        return Err(refusal_for(
            &Error::Forbidden("client".into()),
            Some(target),
        ));
    }
    let mut patch = update.patch;
    if let Some(password) = update.password {
        patch.password_hash = Some(
            shared::password::hash(password)
                .await
                .map_err(|e| refusal_for(&e, Some(target)))?,
        );
        // An administrator's reset ends NEWM's lockout; one's own change here does not.
        patch.reset_password_failures = target != caller.user_id;
    }
    let result = if patch.is_empty() {
        // Nothing to write; the answer still says whether the user exists.
        app.store
            .get_as(target, stamp)
            .await
            .and_then(|u| u.map(drop).ok_or(Error::NotFound))
    } else {
        app.store.apply(target, &patch, &[], stamp).await
    };
    result.map_err(|e| refusal_for(&e, Some(target)))?;
    tracing::info!(
        user_id = target.get(),
        by = caller.user_id.get(),
        "user updated"
    );
    Ok(())
}
