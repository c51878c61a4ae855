//! DeviceHive over an API Gateway WebSocket API, as devicehive-java-server's handlers answer:
//! `authenticate`, `server/info`, `user/get`, `user/getCurrent`, `user/update`,
//! `user/updateCurrent`; `$connect`/`$disconnect`; and DeviceHive's error message for any other
//! action (`$default`), so a client never meets silence.
//!
//! Who is calling: the principal the `$connect` authorizer put in the connection's context when
//! it opened with a token (no DynamoDB call), else the one an in-band `authenticate` bound to the
//! connection id in the table (one `GetItem`), so any Lambda instance sees it.

use serde_json::{json, Map, Value};
use shared::apigw::websocket::{ws_response, WsEvent};
use shared::auth::Principal;
use shared::authorizer_context::ConnectionPrincipal;
use shared::config::ConfigError;
use shared::stamp::{api, Stamp};
use shared::{AppState, Error};

use crate::dialect::{
    failure, read_frame, refusal_for, success, user_json, user_object, websocket_info, Refusal,
    Target, UserUpdate, AUTHENTICATE, SERVER_INFO, USER_GET, USER_GET_CURRENT, USER_UPDATE,
    USER_UPDATE_CURRENT,
};
use crate::users;

/// DeviceHive's own configuration: where each API is, for `server/info` and `GET info`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The REST API's base URL (`.../api/rest`), `DEVICEHIVE_REST_URL`.
    pub rest_url: Option<String>,
    /// The WebSocket API's URL, `DEVICEHIVE_WEBSOCKET_URL`.
    pub websocket_url: Option<String>,
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Settings {
            rest_url: get("DEVICEHIVE_REST_URL"),
            websocket_url: get("DEVICEHIVE_WEBSOCKET_URL"),
        })
    }
}

/// Handles one API Gateway WebSocket event; the answer's `body` goes back on the socket.
pub async fn handle(app: &AppState, settings: &Settings, event: Value) -> Value {
    let event: WsEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "not an API Gateway WebSocket event");
            return json!({"statusCode": 400});
        }
    };
    match event.request_context.route_key.as_str() {
        // The authorizer already decided who may open the connection.
        "$connect" => json!({"statusCode": 200}),
        "$disconnect" => {
            disconnect(app, &event).await;
            json!({"statusCode": 200})
        }
        route => ws_response(&message(app, settings, route, &event).await),
    }
}

fn frame(event: &WsEvent) -> &[u8] {
    // Binary frames arrive base64-encoded; they are never a DeviceHive JSON message.
    if event.is_base64_encoded {
        return b"";
    }
    event.body.as_deref().unwrap_or("").as_bytes()
}

async fn message(app: &AppState, settings: &Settings, route: &str, event: &WsEvent) -> Value {
    let msg = match read_frame(frame(event)) {
        Ok(m) => m,
        Err(r) => return failure(None, &r),
    };
    let answer = match route {
        AUTHENTICATE => authenticate(app, event, &msg).await.map(|()| None),
        SERVER_INFO => Ok(Some(("info", websocket_info(settings.rest_url.as_deref())))),
        USER_GET | USER_GET_CURRENT | USER_UPDATE | USER_UPDATE_CURRENT => {
            user_action(app, route, event, &msg).await
        }
        _ => Err(unknown_action(&msg)),
    };
    match answer {
        Ok(payload) => success(route, msg.get("requestId"), payload),
        Err(r) => failure(Some(&msg), &r),
    }
}

fn unknown_action(msg: &Map<String, Value>) -> Refusal {
    match msg.get("action") {
        Some(Value::String(a)) => Refusal::new(400, format!("Illegal argument: {a}")),
        _ => Refusal::new(400, "'action' field could not be parsed to known endpoint"),
    }
}

/// The connection's principal, if it has one: the authorizer's context while its token is
/// valid, else what an in-band `authenticate` bound to the connection.
async fn caller(app: &AppState, event: &WsEvent) -> Result<Principal, Refusal> {
    let expired = |e| refusal_for(&Error::Unauthenticated(e), None);
    let opened_with = ConnectionPrincipal::in_context(event.request_context.authorizer.as_ref());
    if let Ok(Some(opened_with)) = opened_with {
        return Ok(opened_with.principal);
    }
    let bound = app
        .store
        .connection(&event.request_context.connection_id)
        .await
        .map_err(|e| refusal_for(&e, None))?;
    match (bound, opened_with) {
        (Some(bound), _) => bound.check_expiry().map(|b| b.principal).map_err(expired),
        // Its handshake token has expired and nothing was bound since.
        (None, Err(e)) => Err(expired(e)),
        (None, Ok(_)) => Err(Refusal::unauthorized()),
    }
}

/// `authenticate {token}`: verifies the token and binds its principal to the connection. A
/// refused token changes nothing. A connection that opened with a token keeps its user: another
/// user's token is refused (open a new connection for it).
async fn authenticate(
    app: &AppState,
    event: &WsEvent,
    msg: &Map<String, Value>,
) -> Result<(), Refusal> {
    let token = match msg.get("token") {
        None | Some(Value::Null) => "",
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(Refusal::new(400, "Malformed Json received.")),
    };
    if token.is_empty() {
        return Err(Refusal::unauthorized());
    }
    let (principal, expires_at) = app
        .verifier
        .verify_with_expiry(token)
        .map_err(|e| Refusal::for_token(&e))?;
    let opened_with = event
        .request_context
        .authorizer
        .as_ref()
        .and_then(|c| ConnectionPrincipal::read_context(c).ok());
    if opened_with.is_some_and(|o| o.principal.user_id != principal.user_id) {
        return Err(Refusal::new(
            403,
            "This connection was opened by another user; open a new connection to authenticate as this one",
        ));
    }
    let who = ConnectionPrincipal {
        principal,
        expires_at,
    };
    app.store
        .bind_connection(&event.request_context.connection_id, &who)
        .await
        .map_err(|e| refusal_for(&e, None))?;
    tracing::info!(
        user_id = who.principal.user_id.get(),
        "connection authenticated"
    );
    Ok(())
}

async fn user_action(
    app: &AppState,
    route: &str,
    event: &WsEvent,
    msg: &Map<String, Value>,
) -> Result<Option<(&'static str, Value)>, Refusal> {
    let caller = caller(app, event).await?;
    let stamp = Stamp::by(
        &caller,
        api::DEVICEHIVE,
        event.request_context.request_id.clone().unwrap_or_default(),
    );
    match route {
        USER_GET => {
            let target = Target::parse(msg.get("userId"))?.resolve(caller.user_id);
            let user = users::get(app, &caller, target, &stamp).await?;
            Ok(Some(("user", user_json(&user))))
        }
        USER_GET_CURRENT => {
            let user = users::get(app, &caller, caller.user_id, &stamp).await?;
            Ok(Some(("current", user_json(&user))))
        }
        // DeviceHive's order: the user object, then the id, then the rules.
        USER_UPDATE => {
            let user = user_object(msg)?;
            let target = Target::parse(msg.get("userId"))?.resolve(caller.user_id);
            users::update(app, &caller, target, UserUpdate::parse(user)?, &stamp).await?;
            Ok(None)
        }
        _ => {
            let user = user_object(msg)?;
            users::update(
                app,
                &caller,
                caller.user_id,
                UserUpdate::parse(user)?,
                &stamp,
            )
            .await?;
            Ok(None)
        }
    }
}

/// Forgets what an in-band `authenticate` bound to the connection (the TTL would, later).
async fn disconnect(app: &AppState, event: &WsEvent) {
    if let Err(e) = app
        .store
        .unbind_connection(&event.request_context.connection_id)
        .await
    {
        shared::telemetry::log_unexpected("devicehive", &e);
    }
}

#[cfg(test)]
mod tests {
    //! What is answered before the store is asked, against a state with no DynamoDB behind it
    //! (a handler that asked would answer 503).

    use shared::apigw::websocket::ws_event;
    use shared::auth::{now_unix, Principal};
    use shared::testing::{offline_state, token};
    use shared::values::UserId;

    use super::*;

    fn context(id: i64, roles: &[&str], expires_at: i64) -> Value {
        ConnectionPrincipal {
            principal: Principal {
                user_id: UserId::new(id).unwrap(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                authenticated_at: shared::auth::now_unix(),
            },
            expires_at,
        }
        .to_context()
    }

    async fn send(route: &str, ctx: Option<&Value>, frame: &str) -> Value {
        let state = offline_state().await;
        let settings = Settings {
            rest_url: Some("http://example/api/rest".into()),
            websocket_url: None,
        };
        let answer = handle(&state, &settings, ws_event(route, "c1", Some(frame), ctx)).await;
        assert_eq!(answer["statusCode"], 200);
        serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let client = context(2, &[], now_unix() + 600);
        let update = |user_id: Value, user: Value| {
            json!({"action": USER_UPDATE, "requestId": 9, "userId": user_id, "user": user})
                .to_string()
        };
        let cases: Vec<(&str, Option<&Value>, String, u16, &str)> = vec![
            (USER_UPDATE, Some(&client), "{".into(), 400, "Malformed Json received."),
            (
                USER_UPDATE,
                Some(&client),
                update(json!(null), json!({})),
                400,
                "User id is wrong or empty",
            ),
            (
                USER_UPDATE,
                Some(&client),
                json!({"action": USER_UPDATE, "requestId": 9, "userId": 2}).to_string(),
                400,
                "User is required",
            ),
            (
                USER_UPDATE,
                Some(&client),
                update(json!(3), json!({"data": {}})),
                403,
                "Admin permissions required for this action",
            ),
            (
                USER_UPDATE,
                Some(&client),
                update(json!("current"), json!({"login": "new"})),
                403,
                "Admin permissions required for this action",
            ),
            (
                USER_UPDATE_CURRENT,
                Some(&client),
                json!({"action": USER_UPDATE_CURRENT, "requestId": 9, "user": {"status": 1}})
                    .to_string(),
                403,
                "Admin permissions required for this action",
            ),
            (
                USER_GET,
                Some(&client),
                json!({"action": USER_GET, "requestId": 9, "userId": 3}).to_string(),
                403,
                "Access is denied",
            ),
            (
                "$default",
                Some(&client),
                json!({"action": "device/list", "requestId": 9}).to_string(),
                400,
                "Illegal argument: device/list",
            ),
            (
                AUTHENTICATE,
                None,
                json!({"action": AUTHENTICATE, "requestId": 9, "token": ""}).to_string(),
                401,
                "Unauthorized",
            ),
            (
                AUTHENTICATE,
                None,
                json!({"action": AUTHENTICATE, "requestId": 9, "token": "x.y.z"}).to_string(),
                401,
                "Invalid credentials",
            ),
            (
                AUTHENTICATE,
                Some(&client),
                json!({"action": AUTHENTICATE, "requestId": 9, "token": token(3, &[])})
                    .to_string(),
                403,
                "This connection was opened by another user; open a new connection to authenticate as this one",
            ),
        ];
        for (route, ctx, frame, code, error) in cases {
            let answer = send(route, ctx, &frame).await;
            assert_eq!(answer["status"], "error", "{frame}: {answer}");
            assert_eq!(
                (answer["code"].as_u64(), answer["error"].as_str()),
                (Some(u64::from(code)), Some(error)),
                "{frame}"
            );
        }
    }

    #[tokio::test]
    async fn server_info_needs_no_authentication() {
        let answer = send(
            SERVER_INFO,
            None,
            &json!({"action": SERVER_INFO, "requestId": "a-uuid"}).to_string(),
        )
        .await;
        assert_eq!(answer["status"], "success");
        assert_eq!(answer["requestId"], "a-uuid");
        assert_eq!(answer["action"], SERVER_INFO);
        assert_eq!(answer["info"]["restServerUrl"], "http://example/api/rest");
        let mut keys: Vec<&String> = answer["info"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["apiVersion", "restServerUrl", "serverTimestamp"]);
    }

    #[tokio::test]
    async fn a_valid_message_reaches_the_store() {
        let client = context(2, &[], now_unix() + 600);
        let frame = json!({"action": USER_UPDATE, "requestId": 1, "userId": "current", "user": {"data": {"a": 1}}});
        let answer = send(USER_UPDATE, Some(&client), &frame.to_string()).await;
        assert_eq!(
            (answer["code"].as_u64(), answer["requestId"].as_u64()),
            (Some(503), Some(1)),
            "{answer}"
        );
    }
}
