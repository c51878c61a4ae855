//! NEWM `PATCH /v1/users/me` and `PATCH /v1/users/{userId}`: a user updates its own profile;
//! an email change needs a 2FA code, a password change the current password.

use lambda_http::{Body, Request, Response};
use shared::apigw::{body_bytes, empty_response, parse_json, path_param, Route};
use shared::auth::Principal;
use shared::store::{Expect, Store};
use shared::user::{User, UserPatch};
use shared::wire::newm::{
    body_error, reject, render, NewPassword, PatchUserBody, LOCKOUT_SECONDS, MAX_PASSWORD_FAILURES,
};
use shared::{AppState, Error};

pub const ROUTES: &[Route] = &[
    Route {
        method: "PATCH",
        path: "/v1/users/me",
    },
    Route {
        method: "PATCH",
        path: "/v1/users/{userId}",
    },
];

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let principal = match state.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e)),
    };
    // `/v1/users/{userId}` names the requester by UUID; only the requester itself is allowed,
    // which the write checks as a condition on the requester's own item.
    let mut expect = Vec::new();
    if let Some(raw) = path_param(&req, "userId") {
        match uuid::Uuid::parse_str(&raw) {
            Ok(u) => expect.push(Expect::Uuid(u.to_string())),
            Err(_) => return render(&Error::invalid("userId", raw)),
        }
    }
    let body: PatchUserBody = match parse_json(body_bytes(&req)) {
        Ok(b) => b,
        Err(e) => return body_error(&e),
    };
    let request = match body.parse() {
        Ok(r) => r,
        Err(r) => return reject(&r),
    };
    let result = match request.new_password {
        Some(password) => {
            change_with_password(&state.store, &principal, request.patch, password, &expect).await
        }
        None if request.patch.is_empty() => exists(&state.store, &principal, &expect).await,
        None => {
            state
                .store
                .apply(principal.user_id, &request.patch, &expect)
                .await
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(user_id = principal.user_id.get(), "profile updated");
            empty_response(204)
        }
        Err(e) => render(&e),
    }
}

fn check_expectations(user: &User, expect: &[Expect]) -> Result<(), Error> {
    if expect.iter().all(|e| e.holds(user)) {
        Ok(())
    } else {
        Err(Error::PreconditionFailed)
    }
}

/// An empty patch writes nothing, but still answers 403/404 as a real one would.
async fn exists(store: &Store, principal: &Principal, expect: &[Expect]) -> Result<(), Error> {
    let user = store.get(principal.user_id).await?.ok_or(Error::NotFound)?;
    check_expectations(&user, expect)
}

/// Count the attempt and read the user (one conditional write), verify the current password
/// against the hash read, write on that version: two round trips. The new hash is made once,
/// before the loop. A wrong password stays counted; a success resets the count.
async fn change_with_password(
    store: &Store,
    principal: &Principal,
    mut patch: UserPatch,
    password: NewPassword,
    expect: &[Expect],
) -> Result<(), Error> {
    patch.password_hash = Some(shared::password::hash(password.new).await?);
    patch.reset_password_failures = true;
    for attempt in 0..Store::ATTEMPTS {
        shared::store::retry_pause(attempt).await;
        let current = store
            .begin_password_change(
                principal.user_id,
                expect,
                MAX_PASSWORD_FAILURES,
                LOCKOUT_SECONDS,
            )
            .await?;
        let verified =
            shared::password::verify(current.password_hash.clone(), password.current.clone())
                .await?;
        if !verified {
            tracing::warn!(user_id = principal.user_id.get(), "wrong current password");
            return Err(Error::WrongPassword);
        }
        if store.write_versioned(&current, &patch).await?.is_some() {
            return Ok(());
        }
    }
    Err(Error::Contention)
}
