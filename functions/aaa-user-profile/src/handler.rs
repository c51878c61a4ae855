//! AAA `PUT /api/AAA/UserProfiles/{id}`: an administrator updates any user's profile; a user
//! updates its own email, password, properties and unlocked preferences.
//!
//! Checks run in this order: token (401), id (400), another user's profile without the admin
//! role (403), body (400), then the store (403 for a refused field, 404, 409, 503).

use lambda_http::{Body, Request, Response};
use shared::apigw::http::{body_bytes, gateway_request_id, parse_json, path_param, Route};
use shared::patch::UserPatch;
use shared::stamp::{api, Stamp};
use shared::user::User;
use shared::values::UserId;
use shared::{AppState, Error, Result};

use crate::dialect::{
    account_status, body_error, forbidden, password_not_internal, render, updated,
    UpdateUserProfile, UpdateUserProfileBody, INTERNAL_AUTH, MAX_INT32,
};
use crate::merge::{merge_preferences, merge_properties};

pub const ROUTES: &[Route] = &[Route {
    method: "PUT",
    path: "/api/AAA/UserProfiles/{id}",
}];

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let principal = match state.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e)),
    };
    let raw_id = path_param(&req, "id").unwrap_or_default();
    let id = match parse_id(&raw_id) {
        Ok(id) => id,
        Err(e) => return render(&e),
    };
    let admin = principal.is_admin();
    if !admin && principal.user_id != id {
        return render(&Error::Forbidden(
            "only an administrator may update another user's profile".into(),
        ));
    }
    let body: UpdateUserProfileBody = match parse_json(body_bytes(&req)) {
        Ok(b) => b,
        Err(e) => return body_error(&e),
    };
    let update = match body.parse() {
        Ok(u) => u,
        Err(e) => return render(&e),
    };
    let stamp = Stamp::by(&principal, api::AAA, gateway_request_id(&req));
    match apply(state, id, admin, update, &stamp).await {
        Ok(user) => {
            tracing::info!(
                user_id = id.get(),
                by = principal.user_id.get(),
                "user profile updated"
            );
            updated(&user)
        }
        Err(e) => render(&e),
    }
}

/// The path id: an int32 user id (1 to 2147483647).
fn parse_id(raw: &str) -> Result<UserId> {
    UserId::parse("id", raw)
        .ok()
        .filter(|id| id.get() <= MAX_INT32)
        .ok_or_else(|| {
            Error::invalid(
                "id",
                format!("must be an integer user id from 1 to {MAX_INT32}, got {raw:?}"),
            )
        })
}

async fn apply(
    state: &AppState,
    id: UserId,
    admin: bool,
    mut update: UpdateUserProfile,
    stamp: &Stamp,
) -> Result<User> {
    if update.is_empty() {
        // Nothing to write: answer with the user as it is.
        return state.store.get_as(id, stamp).await?.ok_or(Error::NotFound);
    }
    let needs_read = !admin || update.needs_read();
    let mut base = std::mem::take(&mut update.patch);
    if let Some(password) = update.password.take() {
        // Hashed once, outside the optimistic write loop.
        base.password_hash = Some(shared::password::hash(password).await?);
        // An administrator's reset ends NEWM's lockout; one's own change here does not.
        base.reset_password_failures = stamp.actor != Some(id);
    }
    if !needs_read {
        // Nothing depends on the stored user: one conditional UpdateItem (or the store's
        // transaction when the email lock moves).
        return state.store.update(id, &base, &[], stamp).await;
    }
    state
        .store
        .update_after_read(id, stamp, |current| decide(current, &base, &update, admin))
        .await
}

/// What to write over `current`, or why not: authorization of a non-administrator, the stored
/// authentication type for a password, and the entry upserts merged with the stored entries.
fn decide(
    current: &User,
    base: &UserPatch,
    update: &UpdateUserProfile,
    admin: bool,
) -> Result<UserPatch> {
    let mut patch = base.clone();
    if !admin {
        // A value equal to the stored one is allowed (clients PUT back what they GET) and then
        // not written.
        if let Some(status) = patch.status.take() {
            if account_status(status) != account_status(current.status) {
                return Err(forbidden(
                    "AccountStatus",
                    "only an administrator may change it",
                ));
            }
        }
        if let Some(auth) = patch.auth_type.take() {
            if auth != current.auth_type {
                return Err(forbidden(
                    "AuthenticationType",
                    "only an administrator may change it",
                ));
            }
            patch.clear_password = false;
        }
    }
    if patch.password_hash.is_some()
        && patch.auth_type.unwrap_or(current.auth_type) != INTERNAL_AUTH
    {
        return Err(password_not_internal());
    }
    for (pid, pref) in merge_preferences(&current.preferences, &update.preferences)? {
        let stored = current.preferences.get(&pid);
        if stored == Some(&pref) {
            continue; // unchanged: nothing to write (and no refusal for a locked one)
        }
        if !admin {
            if stored.is_some_and(|s| s.locked) {
                return Err(forbidden(
                    "Preferences",
                    format!("preference {pid} is locked (Override 1): only an administrator may change it"),
                ));
            }
            if pref.locked {
                return Err(forbidden(
                    "Preferences",
                    format!("only an administrator may lock preference {pid} (Override 1)"),
                ));
            }
        }
        patch.preferences.push(pref);
    }
    for (pid, prop) in merge_properties(&current.properties, &update.properties)? {
        if current.properties.get(&pid) != Some(&prop) {
            patch.properties.push(prop);
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    //! What is refused before the store is asked, against a state with no DynamoDB behind it.

    use serde_json::Value;
    use shared::testing::{bearer, json_of, offline_state, request};

    use super::*;

    async fn put(path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
        let state = offline_state().await;
        let req = request(ROUTES, "PUT", path, auth, body.as_bytes());
        json_of(&handle(&state, req).await)
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let admin = bearer(1, &["admin"]);
        let user = bearer(2, &[]);
        let cases = [
            (
                "/api/AAA/UserProfiles/2",
                None,
                "{}",
                401,
                "Unauthorized",
                None,
            ),
            (
                "/api/AAA/UserProfiles/abc",
                Some(&admin),
                "{}",
                400,
                "Validation failed",
                Some("id"),
            ),
            (
                "/api/AAA/UserProfiles/0",
                Some(&admin),
                "{}",
                400,
                "Validation failed",
                Some("id"),
            ),
            (
                "/api/AAA/UserProfiles/2147483648",
                Some(&admin),
                "{}",
                400,
                "Validation failed",
                Some("id"),
            ),
            (
                "/api/AAA/UserProfiles/3",
                Some(&user),
                "{}",
                403,
                "Forbidden",
                None,
            ),
            (
                "/api/AAA/UserProfiles/2",
                Some(&user),
                "[]",
                400,
                "The request body must be a JSON object",
                None,
            ),
            (
                "/api/AAA/UserProfiles/2",
                Some(&user),
                r#"{"EmailAddress":"x"}"#,
                400,
                "Validation failed",
                Some("EmailAddress"),
            ),
            (
                "/api/AAA/UserProfiles/2",
                Some(&user),
                r#"{"Password":"long-enough-1","RepeatPassword":"long-enough-2"}"#,
                400,
                "Validation failed",
                Some("RepeatPassword"),
            ),
        ];
        for (path, auth, body, status, message, field) in cases {
            let (got, json) = put(path, auth.map(String::as_str), body).await;
            assert_eq!(
                (got, json["message"].as_str()),
                (status, Some(message)),
                "{path} {body}: {json}"
            );
            assert_eq!(json["success"], false);
            match field {
                Some(f) => assert!(json["errors"][0][f].is_string(), "{json}"),
                None => assert_eq!(json["errors"], serde_json::json!([]), "{json}"),
            }
        }
    }

    #[tokio::test]
    async fn a_valid_request_reaches_the_store() {
        let (status, json) = put(
            "/api/AAA/UserProfiles/2",
            Some(&bearer(1, &["admin"])),
            r#"{"AccountStatus":0}"#,
        )
        .await;
        assert_eq!(status, 503, "{json}");
    }
}
