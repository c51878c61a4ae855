//! Cedalo Mosquitto Management Center `PUT /api/profile/{userName}`: a user edits its own
//! profile (password; its roles only by repeating them), an administrator edits anyone's.

use lambda_http::{Body, Request, Response};
use shared::apigw::{body_bytes, json_response, path_param, Route};
use shared::auth::Principal;
use shared::config::{env_flag, ConfigError};
use shared::store::Expect;
use shared::user::{RolesChange, User, UserPatch};
use shared::wire::mmc::{plugin_not_found, render, MmcUser, MmcUserBody, ProfileUpdate};
use shared::{AppState, Error};

pub const ROUTES: &[Route] = &[Route {
    method: "PUT",
    path: "/api/profile/{userName}",
}];

/// What the function builds once per cold start.
pub struct State {
    pub app: AppState,
    /// MMC's user management plugin switch: off answers every request with 404.
    pub user_management_enabled: bool,
}

impl State {
    pub async fn from_env() -> Result<State, ConfigError> {
        let user_management_enabled = env_flag("USER_MANAGEMENT_ENABLED", true)?;
        Ok(State {
            app: AppState::from_env().await?,
            user_management_enabled,
        })
    }
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    if !state.user_management_enabled {
        return plugin_not_found();
    }
    let principal = match state.app.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e)),
    };
    let path_username = path_param(&req, "userName").unwrap_or_default();
    let update =
        match MmcUserBody::from_bytes(body_bytes(&req)).and_then(|b| b.parse(&path_username)) {
            Ok(u) => u,
            Err(e) => return render(&e),
        };
    let result = if principal.is_admin() {
        update_as_admin(&state.app, &path_username, update).await
    } else {
        update_self(&state.app, &principal, &path_username, update).await
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

/// The password hash (when a new password was sent) and the failure counter reset with it.
async fn password_patch(update: &mut ProfileUpdate) -> Result<UserPatch, Error> {
    let mut patch = UserPatch::default();
    if let Some(password) = update.password.take() {
        patch.password_hash = Some(shared::password::hash(password).await?);
        patch.reset_password_failures = true;
    }
    Ok(patch)
}

/// An administrator: any user, roles replaced when sent. A username no user holds exactly is 410.
async fn update_as_admin(
    app: &AppState,
    path_username: &str,
    mut update: ProfileUpdate,
) -> Result<User, Error> {
    let id = app
        .store
        .id_by_username(path_username)
        .await?
        .ok_or(Error::NotFound)?;
    let mut patch = password_patch(&mut update).await?;
    patch.roles = update.roles.take().map(RolesChange::Replace);
    if patch.is_empty() {
        // Nothing to write: answer with the user as it is, if it is the one named.
        return match app.store.get(id).await? {
            Some(user) if user.username == path_username => Ok(user),
            _ => Err(Error::NotFound),
        };
    }
    app.store
        .update(id, &patch, &[Expect::Username(path_username.to_owned())])
        .await
}

/// Anyone else: only itself, and its roles only as they are.
async fn update_self(
    app: &AppState,
    principal: &Principal,
    path_username: &str,
    mut update: ProfileUpdate,
) -> Result<User, Error> {
    let id = principal.user_id;
    let sent_roles: Option<std::collections::BTreeSet<String>> = update
        .roles
        .take()
        .map(|r| r.iter().map(|r| r.as_str().to_owned()).collect());
    let patch = password_patch(&mut update).await?;
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
                .update(id, &patch, &[Expect::Username(path_username.to_owned())])
                .await
        }
        // Roles sent with a password: read to compare them, then write the password only.
        (Some(roles), false) => {
            app.store
                .update_after_read(id, |current: &User| {
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
    match result {
        // The caller is not the user named (or no longer exists): is there such a user at all?
        Err(Error::PreconditionFailed | Error::NotFound) => {
            match app.store.id_by_username(path_username).await? {
                Some(other) if other != id => {
                    Err(Error::Forbidden("may only edit its own profile".into()))
                }
                // No user, or only the caller under another spelling: nobody is named exactly.
                _ => Err(Error::NotFound),
            }
        }
        other => other,
    }
}
