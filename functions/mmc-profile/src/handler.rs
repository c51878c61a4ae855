//! Cedalo Mosquitto Management Center `PUT /api/profile/{userName}`: a user edits its own
//! profile (password; its roles only by repeating them), an administrator edits anyone's.

use lambda_http::{Body, Request, Response};
use shared::apigw::http::{body_bytes, gateway_request_id, json_response, path_param, Route};
use shared::auth::Principal;
use shared::config::{env_flag, ConfigError};
use shared::patch::{RolesChange, UserPatch};
use shared::stamp::{api, Stamp};
use shared::store::Expect;
use shared::user::User;
use shared::{AppState, Error};

use crate::dialect::{plugin_not_found, render, MmcUser, MmcUserBody, ProfileUpdate};

pub const ROUTES: &[Route] = &[Route {
    method: "PUT",
    path: "/api/profile/{userName}",
}];

/// MMC's own configuration, read once per cold start beside the shared state.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// MMC's user management plugin switch: off answers every request with 404.
    pub user_management_enabled: bool,
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Ok(Settings {
            user_management_enabled: env_flag("USER_MANAGEMENT_ENABLED", true)?,
        })
    }
}

pub async fn handle(app: &AppState, settings: &Settings, req: Request) -> Response<Body> {
    if !settings.user_management_enabled {
        return plugin_not_found();
    }
    let principal = match app.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e)),
    };
    let path_username = path_param(&req, "userName").unwrap_or_default();
    let update =
        match MmcUserBody::from_bytes(body_bytes(&req)).and_then(|b| b.parse(&path_username)) {
            Ok(u) => u,
            Err(e) => return render(&e),
        };
    let stamp = Stamp::by(&principal, api::MMC, gateway_request_id(&req));
    let result = if principal.is_admin() {
        update_as_admin(app, &path_username, update, &stamp).await
    } else {
        update_self(app, &principal, &path_username, update, &stamp).await
    };
    match result {
        Ok(user) => {
            tracing::info!(
                user_id = user.id.get(),
                by = principal.user_id.get(),
                "profile updated"
            );
            json_response(200, &MmcUser::new(&user))
        }
        Err(e) => render(&e),
    }
}

/// The password hash (when a new password was sent). Only an administrator's reset of another
/// user ends NEWM's lockout (`resets_failures`); one's own change here does not.
async fn password_patch(
    update: &mut ProfileUpdate,
    resets_failures: bool,
) -> Result<UserPatch, Error> {
    let mut patch = UserPatch::default();
    if let Some(password) = update.password.take() {
        patch.password_hash = Some(shared::password::hash(password).await?);
        patch.reset_password_failures = resets_failures;
    }
    Ok(patch)
}

/// An administrator: any user, roles replaced when sent. A username no user holds exactly is 410.
async fn update_as_admin(
    app: &AppState,
    path_username: &str,
    mut update: ProfileUpdate,
    stamp: &Stamp,
) -> Result<User, Error> {
    let Some(id) = app.store.id_by_username(path_username).await? else {
        // Only a token that still administers learns that nobody holds the name.
        app.store.confirm_admin(stamp).await?;
        return Err(Error::NotFound);
    };
    let mut patch = password_patch(&mut update, stamp.actor != Some(id)).await?;
    patch.roles = update.roles.take().map(RolesChange::Replace);
    if patch.is_empty() {
        // Nothing to write: answer with the user as it is, if it is the one named.
        return match app.store.get_as(id, stamp).await? {
            Some(user) if user.username == path_username => Ok(user),
            _ => Err(Error::NotFound),
        };
    }
    app.store
        .update(
            id,
            &patch,
            &[Expect::Username(path_username.to_owned())],
            stamp,
        )
        .await
}

/// Anyone else: only itself, and its roles only as they are.
async fn update_self(
    app: &AppState,
    principal: &Principal,
    path_username: &str,
    mut update: ProfileUpdate,
    stamp: &Stamp,
) -> Result<User, Error> {
    let id = principal.user_id;
    let sent_roles: Option<std::collections::BTreeSet<String>> = update
        .roles
        .take()
        .map(|r| r.iter().map(|r| r.as_str().to_owned()).collect());
    let patch = password_patch(&mut update, false).await?;
    let result = match (&sent_roles, patch.is_empty()) {
        // Nothing to write: the stored user, if it is the caller and its roles are as sent.
        (_, true) => match app.store.get(id).await? {
            None => Err(Error::NotFound),
            Some(user) if user.username != path_username => Err(Error::PreconditionFailed),
            Some(user) if sent_roles.as_ref().is_some_and(|r| *r != user.roles) => Err(
                Error::Forbidden("a user may not change its own roles".into()),
            ),
            Some(user) => Ok(user),
        },
        // One conditional write, no read: the caller's own item, on condition it is the one named.
        (None, false) => {
            app.store
                .update(
                    id,
                    &patch,
                    &[Expect::Username(path_username.to_owned())],
                    stamp,
                )
                .await
        }
        // Roles sent with a password: read to compare them, then write the password only.
        (Some(roles), false) => {
            app.store
                .update_after_read(id, stamp, |current: &User| {
                    if current.username != path_username {
                        Err(Error::PreconditionFailed)
                    } else if *roles != current.roles {
                        Err(Error::Forbidden(
                            "a user may not change its own roles".into(),
                        ))
                    } else {
                        Ok(patch.clone())
                    }
                })
                .await
        }
    };
    // The caller is not the user named (or no longer exists): 403 whether or not anyone else
    // holds the name, so that a non-administrator cannot list usernames by their answers.
    result.map_err(|e| match e {
        Error::PreconditionFailed | Error::NotFound => {
            Error::Forbidden("may only edit its own profile".into())
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    //! What is refused before the store is asked, against a state with no DynamoDB behind it.

    use serde_json::{json, Value};
    use shared::testing::{bearer, json_of, offline_state, request};

    use super::*;

    async fn put(enabled: bool, auth: Option<&str>, body: &str) -> (u16, Value) {
        let state = offline_state().await;
        let settings = Settings {
            user_management_enabled: enabled,
        };
        let req = request(ROUTES, "PUT", "/api/profile/bob", auth, body.as_bytes());
        json_of(&handle(&state, &settings, req).await)
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let bob = bearer(2, &["viewer"]);
        let invalid = json!({"code": "INVALID", "message": "User object invalid"});
        let cases: [(bool, Option<&str>, &str, u16, Value); 7] = [
            (
                false,
                Some(&bob),
                r#"{"username":"bob"}"#,
                404,
                json!({"code": "NOT_FOUND", "message": "Plugin not found"}),
            ),
            (
                true,
                None,
                r#"{"username":"bob"}"#,
                401,
                json!({"code": "UNAUTHORIZED", "message": "Unauthorized"}),
            ),
            (true, Some(&bob), "not json", 400, invalid.clone()),
            (
                true,
                Some(&bob),
                r#"{"username":"alice"}"#,
                400,
                invalid.clone(),
            ),
            (
                true,
                Some(&bob),
                r#"{"username":"bob","roles":"admin"}"#,
                400,
                invalid.clone(),
            ),
            (
                true,
                Some(&bob),
                r#"{"username":"bob","password":"short"}"#,
                400,
                invalid,
            ),
            (
                true,
                Some(&bob),
                r#"{"username":"bob","roles":[]}"#,
                400,
                json!({"code": "INVALID", "message": "User must have at least one role"}),
            ),
        ];
        for (enabled, auth, body, status, expected) in cases {
            assert_eq!(put(enabled, auth, body).await, (status, expected), "{body}");
        }
    }

    #[tokio::test]
    async fn a_valid_request_reaches_the_store() {
        // MMC's document has no 503: an outage is its 500.
        let (status, json) = put(
            true,
            Some(&bearer(2, &["viewer"])),
            r#"{"username":"bob","password":"long-enough-1"}"#,
        )
        .await;
        assert_eq!(status, 500, "{json}");
    }
}
