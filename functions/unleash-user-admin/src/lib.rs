//! Unleash `PUT /api/admin/user-admin/{id}`: an administrator updates a user's email, name or
//! root role.

use lambda_http::{Body, Request, Response};
use shared::apigw::{body_bytes, json_response, parse_json, path_param, Route};
use shared::user::UserId;
use shared::wire::unleash::{body_error, render, UpdateUserBody, UserResponse};
use shared::{AppState, Error};

pub const ROUTES: &[Route] = &[Route {
    method: "PUT",
    path: "/api/admin/user-admin/{id}",
}];

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let principal = match state.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e), None),
    };
    let raw_id = path_param(&req, "id").unwrap_or_default();
    let id = match UserId::parse("id", &raw_id) {
        Ok(id) => id,
        Err(_) => {
            return render(
                &Error::invalid(
                    "id",
                    format!("must be an integer user id. You sent {raw_id:?}"),
                ),
                None,
            )
        }
    };
    if !principal.is_admin() {
        return render(&Error::Forbidden("admin required".into()), Some(id.get()));
    }
    let body: UpdateUserBody = match parse_json(body_bytes(&req)) {
        Ok(b) => b,
        Err(e) => return body_error(&e),
    };
    let update = match body.parse() {
        Ok(u) => u,
        Err(e) => return render(&e, Some(id.get())),
    };
    let result = if update.patch.is_empty() {
        // Nothing to write: answer with the user as it is.
        state
            .store
            .get(id)
            .await
            .and_then(|u| u.ok_or(Error::NotFound))
    } else {
        state.store.update(id, &update.patch, &[]).await
    };
    match result {
        Ok(user) => {
            tracing::info!(user_id = id.get(), "user updated");
            json_response(200, &UserResponse::new(&user, update.root_role_sent))
        }
        Err(e) => render(&e, Some(id.get())),
    }
}
