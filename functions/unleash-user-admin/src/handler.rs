//! Unleash `PUT /api/admin/user-admin/{id}`: an administrator updates a user's email, name or
//! root role.

use lambda_http::{Body, Request, Response};
use shared::apigw::http::{
    body_bytes, gateway_request_id, json_response, parse_json, path_param, Route,
};
use shared::stamp::{api, Stamp};
use shared::values::UserId;
use shared::{AppState, Error};

use crate::dialect::{
    body_error, content_type_error, is_json_content_type, render, UpdateUserBody, UserResponse,
};

pub const ROUTES: &[Route] = &[Route {
    method: "PUT",
    path: "/api/admin/user-admin/{id}",
}];

/// Unleash's order: authentication (401), the ADMIN permission (403), the content type (415),
/// the path and body against the schema (400), then the user's existence (404).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let principal = match state.verifier.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return render(&Error::Unauthenticated(e), None),
    };
    if !principal.is_admin() {
        return render(&Error::Forbidden("admin required".into()), None);
    }
    let content_type = req
        .headers()
        .get(lambda_http::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_json_content_type(content_type) {
        return content_type_error(content_type);
    }
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
    let body: UpdateUserBody = match parse_json(body_bytes(&req)) {
        Ok(b) => b,
        Err(e) => return body_error(&e),
    };
    let update = match body.parse() {
        Ok(u) => u,
        Err(e) => return render(&e, Some(id.get())),
    };
    let stamp = Stamp::by(&principal, api::UNLEASH, gateway_request_id(&req));
    let result = if update.patch.is_empty() {
        // Nothing to write: answer with the user as it is.
        state
            .store
            .get_as(id, &stamp)
            .await
            .and_then(|u| u.ok_or(Error::NotFound))
    } else {
        state.store.update(id, &update.patch, &[], &stamp).await
    };
    match result {
        Ok(user) => {
            tracing::info!(user_id = id.get(), "user updated");
            json_response(200, &UserResponse::new(&user, update.root_role_sent))
        }
        Err(e) => render(&e, Some(id.get())),
    }
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
        let viewer = bearer(2, &["viewer"]);
        let cases: [(&str, Option<&str>, &str, u16, &str); 7] = [
            (
                "/api/admin/user-admin/2",
                None,
                "{}",
                401,
                "AuthenticationRequired",
            ),
            (
                "/api/admin/user-admin/2",
                Some("Bearer not-a-jwt"),
                "{}",
                401,
                "AuthenticationRequired",
            ),
            (
                "/api/admin/user-admin/two",
                Some(&admin),
                "{}",
                400,
                "ValidationError",
            ),
            (
                "/api/admin/user-admin/2",
                Some(&viewer),
                "{}",
                403,
                "NoAccessError",
            ),
            (
                "/api/admin/user-admin/2",
                Some(&admin),
                "[1]",
                400,
                "ValidationError",
            ),
            (
                "/api/admin/user-admin/2",
                Some(&admin),
                r#"{"email":"nope"}"#,
                400,
                "ValidationError",
            ),
            (
                "/api/admin/user-admin/2",
                Some(&admin),
                r#"{"name":7}"#,
                400,
                "ValidationError",
            ),
        ];
        for (path, auth, body, status, name) in cases {
            let (got, json) = put(path, auth, body).await;
            assert_eq!(
                (got, json["name"].as_str()),
                (status, Some(name)),
                "{path} {body}: {json}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_not_declared_as_json_is_415_after_the_permission_check() {
        let state = offline_state().await;
        let admin = bearer(1, &["admin"]);
        let mut req = request(
            ROUTES,
            "PUT",
            "/api/admin/user-admin/2",
            Some(&admin),
            b"{}",
        );
        req.headers_mut().insert(
            lambda_http::http::header::CONTENT_TYPE,
            lambda_http::http::HeaderValue::from_static("text/plain"),
        );
        let (status, json) = json_of(&handle(&state, req).await);
        assert_eq!(
            (status, json["name"].as_str()),
            (415, Some("ContentTypeError"))
        );
        assert_eq!(
            json["message"],
            "We do not accept the content-type you provided (text/plain). Try using one of the content-types we do accept instead (application/json) and make sure the body is in the corresponding format."
        );
        assert_eq!(json["details"][0]["message"], json["message"]);

        let mut req = request(
            ROUTES,
            "PUT",
            "/api/admin/user-admin/2",
            Some(&admin),
            b"{}",
        );
        req.headers_mut()
            .remove(lambda_http::http::header::CONTENT_TYPE);
        let (status, json) = json_of(&handle(&state, req).await);
        assert_eq!(status, 415);
        assert!(json["message"]
            .as_str()
            .unwrap()
            .contains("(you didn't provide one)"));

        // A non-admin is refused for its permission first, whatever it sends.
        let mut req = request(
            ROUTES,
            "PUT",
            "/api/admin/user-admin/2",
            Some(&bearer(2, &[])),
            b"x",
        );
        req.headers_mut()
            .remove(lambda_http::http::header::CONTENT_TYPE);
        assert_eq!(json_of(&handle(&state, req).await).0, 403);

        // Parameters are allowed, as Unleash's type-is check allows them.
        let mut req = request(
            ROUTES,
            "PUT",
            "/api/admin/user-admin/two",
            Some(&admin),
            b"{}",
        );
        req.headers_mut().insert(
            lambda_http::http::header::CONTENT_TYPE,
            lambda_http::http::HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        assert_eq!(json_of(&handle(&state, req).await).0, 400);
    }

    #[tokio::test]
    async fn a_valid_request_reaches_the_store() {
        // The offline store answers every call as an outage: this request got past every check.
        let (status, json) = put(
            "/api/admin/user-admin/2",
            Some(&bearer(1, &["admin"])),
            r#"{"name":"N"}"#,
        )
        .await;
        assert_eq!(
            (status, json["name"].as_str()),
            (503, Some("ServiceUnavailableError"))
        );
    }
}
