//! DeviceHive's REST API for users (`/api/rest`, on the HTTP API), as devicehive-java-server's
//! `UserResource` and `ApiInfoResource` answer: the same rules and the same store calls as the
//! WebSocket messages, DeviceHive's REST statuses (204 for an update) and its error body
//! `{"error": <status>, "message": <text>}`.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::apigw::http::{
    body_bytes, empty_response, gateway_request_id, json_response, path_param, Route,
};
use shared::auth::{AuthError, Principal};
use shared::stamp::{api, Stamp};
use shared::values::UserId;
use shared::AppState;

use crate::dialect::{
    read_body, refusal_for, rest_failure, rest_info, user_json, Refusal, UserUpdate,
};
use crate::handler::Settings;
use crate::users;

const INFO: Route = Route {
    method: "GET",
    path: "/api/rest/info",
};
const GET_CURRENT: Route = Route {
    method: "GET",
    path: "/api/rest/user/current",
};
const GET_BY_ID: Route = Route {
    method: "GET",
    path: "/api/rest/user/{id}",
};
const PUT_CURRENT: Route = Route {
    method: "PUT",
    path: "/api/rest/user/current",
};
const PUT_BY_ID: Route = Route {
    method: "PUT",
    path: "/api/rest/user/{id}",
};

/// `current` before `{id}`: API Gateway picks the most specific route, and so must a local runner
/// that tries them in order.
pub const ROUTES: &[Route] = &[INFO, GET_CURRENT, GET_BY_ID, PUT_CURRENT, PUT_BY_ID];

pub async fn handle(app: &AppState, settings: &Settings, req: Request) -> Response<Body> {
    let route = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let result = if route == INFO.key() {
        info(app, settings, &req)
    } else {
        user_route(app, &route, &req).await
    };
    result.unwrap_or_else(|r| rest_failure(&r))
}

/// No token needed; a token that is sent must be valid (DeviceHive's authentication filter runs
/// before every route).
fn info(app: &AppState, settings: &Settings, req: &Request) -> Result<Response<Body>, Refusal> {
    if req
        .headers()
        .contains_key(lambda_http::http::header::AUTHORIZATION)
    {
        caller(app, req)?;
    }
    Ok(json_response(
        200,
        &rest_info(settings.websocket_url.as_deref()),
    ))
}

fn caller(app: &AppState, req: &Request) -> Result<Principal, Refusal> {
    app.verifier
        .authenticate(req.headers())
        .map_err(|e| match e {
            AuthError::Expired => Refusal::new(401, "Token expired"),
            _ => Refusal::unauthorized(),
        })
}

async fn user_route(app: &AppState, route: &str, req: &Request) -> Result<Response<Body>, Refusal> {
    let caller = caller(app, req)?;
    let target = if route == GET_BY_ID.key() || route == PUT_BY_ID.key() {
        let raw = path_param(req, "id").unwrap_or_default();
        // Jersey's answer when a path parameter does not convert to the resource's Long.
        UserId::parse("id", &raw).map_err(|_| Refusal::new(404, "HTTP 404 Not Found"))?
    } else {
        caller.user_id
    };
    let stamp = Stamp::by(&caller, api::DEVICEHIVE, gateway_request_id(req));
    if route == GET_CURRENT.key() || route == GET_BY_ID.key() {
        let user = users::get(app, &caller, target, &stamp).await?;
        return Ok(json_response(200, &user_json(&user)));
    }
    if route != PUT_CURRENT.key() && route != PUT_BY_ID.key() {
        return Err(refusal_for(&shared::Error::NotFound, None));
    }
    // DeviceHive reads the body whatever its Content-Type (its own client sends none); an empty
    // body changes nothing.
    let body = read_body(body_bytes(req))?;
    users::update(app, &caller, target, UserUpdate::parse(&body)?, &stamp).await?;
    Ok(empty_response(204))
}

#[cfg(test)]
mod tests {
    //! What is refused before the store is asked, against a state with no DynamoDB behind it.

    use serde_json::{json, Value};
    use shared::testing::{bearer, json_of, offline_state, request};

    use super::*;

    async fn call(method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
        let app = offline_state().await;
        let settings = Settings {
            rest_url: None,
            websocket_url: Some("ws://example/ws".into()),
        };
        let req = request(ROUTES, method, path, auth, body.as_bytes());
        json_of(&handle(&app, &settings, req).await)
    }

    #[tokio::test]
    async fn info_needs_no_token_but_refuses_a_bad_one() {
        let (status, body) = call("GET", "/api/rest/info", None, "").await;
        assert_eq!(status, 200);
        assert_eq!(body["webSocketServerUrl"], "ws://example/ws");
        assert!(body["apiVersion"].is_string() && body["serverTimestamp"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 3);
        assert_eq!(
            call("GET", "/api/rest/info", Some("Bearer nope"), "").await,
            (401, json!({"error": 401, "message": "Unauthorized"}))
        );
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let client = bearer(2, &[]);
        // (method, path, authorization, body, status, message)
        let cases = [
            (
                "PUT",
                "/api/rest/user/current",
                None,
                "{}",
                401,
                "Unauthorized",
            ),
            (
                "GET",
                "/api/rest/user/2",
                Some("Bearer x.y.z"),
                "",
                401,
                "Unauthorized",
            ),
            (
                "GET",
                "/api/rest/user/3",
                Some(&client),
                "",
                403,
                "Access is denied",
            ),
            (
                "PUT",
                "/api/rest/user/abc",
                Some(&client),
                "{}",
                404,
                "HTTP 404 Not Found",
            ),
            (
                "PUT",
                "/api/rest/user/current",
                Some(&client),
                "[1]",
                400,
                "Invalid request parameters",
            ),
            (
                "PUT",
                "/api/rest/user/current",
                Some(&client),
                r#"{"status":1}"#,
                403,
                "Admin permissions required for this action",
            ),
            (
                "PUT",
                "/api/rest/user/3",
                Some(&client),
                r#"{"data":{}}"#,
                403,
                "Admin permissions required for this action",
            ),
            (
                "PUT",
                "/api/rest/user/current",
                Some(&client),
                r#"{"password":"short"}"#,
                400,
                "Password can contain only from 6 to 128 symbols!",
            ),
        ];
        for (method, path, auth, body, status, message) in cases {
            assert_eq!(
                call(method, path, auth, body).await,
                (status, json!({"error": status, "message": message})),
                "{method} {path} {body}"
            );
        }
    }

    #[tokio::test]
    async fn a_valid_request_reaches_the_store() {
        let (status, body) = call(
            "PUT",
            "/api/rest/user/current",
            Some(&bearer(2, &[])),
            r#"{"data":{"a":1}}"#,
        )
        .await;
        assert_eq!(status, 503, "{body}");
    }
}
