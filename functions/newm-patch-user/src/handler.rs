//! NEWM `PATCH /v1/users/me` and `PATCH /v1/users/{userId}`: a user updates its own profile;
//! an email change needs a 2FA code, a password change the current password.

use lambda_http::{Body, Request, Response};
use shared::apigw::http::{
    body_bytes, empty_response, gateway_request_id, parse_json, path_param, Route,
};
use shared::auth::Principal;
use shared::patch::UserPatch;
use shared::stamp::{api, Stamp};
use shared::store::{Expect, Store};
use shared::user::User;
use shared::{AppState, Error};

use crate::dialect::{
    body_error, reject, render, NewPassword, PatchUserBody, LOCKOUT_SECONDS, MAX_PASSWORD_FAILURES,
};

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
    let stamp = Stamp::by(&principal, api::NEWM, gateway_request_id(&req));
    let result = match request.new_password {
        Some(password) => {
            change_with_password(
                &state.store,
                &principal,
                request.patch,
                password,
                &expect,
                &stamp,
            )
            .await
        }
        None if request.patch.is_empty() => exists(&state.store, &principal, &expect).await,
        None => {
            state
                .store
                .apply(principal.user_id, &request.patch, &expect, &stamp)
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
///
/// A request sent again after its first send landed converges: its "current" password is then
/// the old one, but its new password is what is stored, so it is answered as done. A write whose
/// answer was lost is recognised by the stamp it left on the user.
async fn change_with_password(
    store: &Store,
    principal: &Principal,
    mut patch: UserPatch,
    password: NewPassword,
    expect: &[Expect],
    stamp: &Stamp,
) -> Result<(), Error> {
    let new_plaintext = password.new.expose().to_owned();
    let new_hash = shared::password::hash(password.new).await?;
    // The hash made here (its salt fresh) is stored only if this request's write landed.
    let landed = |user: &User, written_on: Option<i64>| {
        user.password_hash.as_ref() == Some(&new_hash)
            || written_on.is_some_and(|v| user.applied_since(stamp, v))
    };
    patch.password_hash = Some(new_hash.clone());
    patch.reset_password_failures = true;
    let mut written_on: Option<i64> = None;
    let mut code_counted = false;
    for attempt in 0..Store::ATTEMPTS {
        shared::store::retry_pause(attempt).await;
        let current = store
            .begin_password_change(
                principal.user_id,
                expect,
                MAX_PASSWORD_FAILURES,
                LOCKOUT_SECONDS,
                stamp,
            )
            .await?;
        if landed(&current, written_on) {
            return Ok(());
        }
        let verified =
            shared::password::verify(current.password_hash.clone(), password.current.clone())
                .await?;
        if !verified {
            if already_changed(&current, &password.current, &new_plaintext).await? {
                // This very change landed before (its answer was lost): only the count it just
                // took is undone.
                let reset = UserPatch {
                    reset_password_failures: true,
                    ..Default::default()
                };
                store.write_versioned(&current, &reset, stamp).await?;
                return Ok(());
            }
            tracing::warn!(user_id = principal.user_id.get(), "wrong current password");
            return Err(Error::WrongPassword);
        }
        patch.superseded_hash = current.password_hash.clone();
        // An email sent with the password: its 2FA guess is counted before it is checked, as
        // on its own (an email the user already holds needs none).
        let patch = patch.clone().without_unchanged_unique(&current);
        if let (Some(code), Some(email), false) = (&patch.email_code, &patch.email, code_counted) {
            if let Err(refused) = store
                .check_code(principal.user_id, email, code, stamp)
                .await
            {
                // The password was right: its counted attempt is undone, the code's stays.
                let reset = UserPatch {
                    reset_password_failures: true,
                    ..Default::default()
                };
                store.write_versioned(&current, &reset, stamp).await?;
                return Err(refused);
            }
            code_counted = true;
        }
        written_on = Some(current.version);
        match store.write_versioned(&current, &patch, stamp).await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => continue,
            Err(Error::Unavailable(why)) => {
                return match store.get(principal.user_id).await {
                    Ok(Some(user)) if landed(&user, Some(current.version)) => Ok(()),
                    _ => Err(Error::Unavailable(why)),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Contention)
}

/// How long after a password change the same change sent again is recognised as done.
const RESEND_WINDOW_SECONDS: i64 = 600;

/// Whether the request is a change that already happened: its "current" password is the one the
/// last change replaced, recently, and its new password is the one stored.
async fn already_changed(
    current: &User,
    sent_current: &str,
    sent_new: &str,
) -> Result<bool, Error> {
    let recent = current
        .password_changed_at
        .is_some_and(|at| shared::auth::now_unix() - at <= RESEND_WINDOW_SECONDS);
    let (Some(superseded), true) = (current.superseded_hash.clone(), recent) else {
        return Ok(false);
    };
    Ok(
        shared::password::verify(Some(superseded), sent_current.to_owned()).await?
            && shared::password::verify(current.password_hash.clone(), sent_new.to_owned()).await?,
    )
}

#[cfg(test)]
mod tests {
    //! What is refused before the store is asked, against a state with no DynamoDB behind it.

    use serde_json::Value;
    use shared::testing::{bearer, json_of, offline_state, request};

    use super::*;

    async fn patch(path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
        let state = offline_state().await;
        let req = request(ROUTES, "PATCH", path, auth, body.as_bytes());
        json_of(&handle(&state, req).await)
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let me = bearer(3, &[]);
        let cases: [(&str, Option<&str>, &str, u16, &str); 8] = [
            (
                "/v1/users/me",
                None,
                "{}",
                401,
                "Invalid or expired access token",
            ),
            (
                "/v1/users/me",
                Some("Bearer x.y.z"),
                "{}",
                401,
                "Invalid or expired access token",
            ),
            (
                "/v1/users/not-a-uuid",
                Some(&me),
                "{}",
                422,
                "Invalid userId: not-a-uuid",
            ),
            ("/v1/users/me", Some(&me), "nope", 400, ""),
            (
                "/v1/users/me",
                Some(&me),
                r#"{"email":"a@b.io"}"#,
                400,
                "Missing authCode",
            ),
            (
                "/v1/users/me",
                Some(&me),
                r#"{"newPassword":"Abcdefg1"}"#,
                400,
                "Missing password confirmation",
            ),
            (
                "/v1/users/me",
                Some(&me),
                r#"{"nickname":7}"#,
                422,
                "Invalid nickname: expected a string",
            ),
            (
                "/v1/users/me",
                Some(&me),
                r#"{"websiteUrl":"nope"}"#,
                422,
                "Invalid url: nope",
            ),
        ];
        for (path, auth, body, status, cause) in cases {
            let (got, json) = patch(path, auth, body).await;
            assert_eq!(got, status, "{path} {body}: {json}");
            assert_eq!(json["code"], status, "{json}");
            if !cause.is_empty() {
                assert_eq!(json["cause"], cause, "{path} {body}");
            }
        }
    }

    #[tokio::test]
    async fn a_valid_request_reaches_the_store() {
        let (status, json) =
            patch("/v1/users/me", Some(&bearer(3, &[])), r#"{"nickname":"n"}"#).await;
        assert_eq!(status, 503, "{json}");
    }
}
