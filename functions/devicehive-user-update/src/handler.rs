//! DeviceHive `user/update` as the route handler of an API Gateway WebSocket API. It also answers
//! `$connect`/`$disconnect` and turns any other action (`$default`) into DeviceHive's error
//! message, so a client never meets silence.

use serde_json::{json, Value};
use shared::apigw::websocket::{ws_response, WsEvent};
use shared::auth::AuthError;
use shared::authorizer_context::ConnectionPrincipal;
use shared::{AppState, Error};

use crate::dialect::{
    failure, read_frame, refusal_for, success, Refusal, Target, UpdateMessage, ACTION,
};

/// Handles one API Gateway WebSocket event; the answer's `body` goes back on the socket.
pub async fn handle(state: &AppState, event: Value) -> Value {
    let event: WsEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "not an API Gateway WebSocket event");
            return json!({"statusCode": 400});
        }
    };
    match event.request_context.route_key.as_str() {
        // The authorizer already decided; nothing to keep per connection.
        "$connect" | "$disconnect" => json!({"statusCode": 200}),
        ACTION => ws_response(&update(state, &event).await),
        _ => ws_response(&unknown_action(&event)),
    }
}

fn frame(event: &WsEvent) -> &[u8] {
    // Binary frames arrive base64-encoded; they are never a DeviceHive JSON message.
    if event.is_base64_encoded {
        return b"";
    }
    event.body.as_deref().unwrap_or("").as_bytes()
}

fn unknown_action(event: &WsEvent) -> Value {
    match read_frame(frame(event)) {
        Err(r) => failure(None, None, r.code, &r.error),
        Ok(msg) => {
            let action = msg.get("action");
            let error = match action {
                Some(Value::String(a)) => format!("Illegal argument: {a}"),
                _ => "'action' field could not be parsed to known endpoint".to_owned(),
            };
            failure(action, msg.get("requestId"), 400, &error)
        }
    }
}

async fn update(state: &AppState, event: &WsEvent) -> Value {
    let action = json!(ACTION);
    let msg = match read_frame(frame(event)) {
        Ok(m) => m,
        Err(r) => return failure(Some(&action), None, r.code, &r.error),
    };
    let request_id = msg.get("requestId");
    let fail = |r: Refusal| failure(Some(&action), request_id, r.code, &r.error);

    let who = match event
        .request_context
        .authorizer
        .as_ref()
        .ok_or(AuthError::MissingToken)
        .and_then(ConnectionPrincipal::from_context)
    {
        Ok(w) => w.principal,
        Err(e) => return fail(refusal_for(&Error::Unauthenticated(e), None)),
    };
    let message = match UpdateMessage::parse(&msg) {
        Ok(m) => m,
        Err(r) => return fail(r),
    };
    let target = match message.target {
        Target::Current => who.user_id,
        Target::Id(id) => id,
    };
    // A client changes only its own password, data and introReviewed.
    if !who.is_admin() && (target != who.user_id || !message.admin_fields.is_empty()) {
        return fail(refusal_for(
            &Error::Forbidden("client".into()),
            Some(target),
        ));
    }
    let mut patch = message.patch;
    if let Some(password) = message.password {
        match shared::password::hash(password).await {
            Ok(h) => patch.password_hash = Some(h),
            Err(e) => return fail(refusal_for(&e, Some(target))),
        }
        patch.reset_password_failures = true;
    }
    let result = if patch.is_empty() {
        state
            .store
            .get(target)
            .await
            .and_then(|u| u.map(drop).ok_or(Error::NotFound))
    } else {
        state.store.apply(target, &patch, &[]).await
    };
    match result {
        Ok(()) => {
            tracing::info!(user_id = target.get(), "user updated");
            success(&message.request_id)
        }
        Err(e) => fail(refusal_for(&e, Some(target))),
    }
}

#[cfg(test)]
mod tests {
    //! What is refused before the store is asked, against a state with no DynamoDB behind it.

    use shared::apigw::websocket::ws_event;
    use shared::auth::{now_unix, Principal};
    use shared::testing::offline_state;
    use shared::values::UserId;

    use super::*;

    fn context(id: i64, roles: &[&str], expires_at: i64) -> Value {
        ConnectionPrincipal {
            principal: Principal {
                user_id: UserId::new(id).unwrap(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
            expires_at,
        }
        .to_context()
    }

    async fn send(route: &str, ctx: Option<&Value>, frame: &str) -> Value {
        let state = offline_state().await;
        let answer = handle(&state, ws_event(route, "c1", Some(frame), ctx)).await;
        assert_eq!(answer["statusCode"], 200);
        serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn refusals_before_the_store() {
        let client = context(2, &[], now_unix() + 600);
        let expired = context(2, &[], now_unix() - 600);
        let update = |user_id: Value, user: Value| {
            json!({"action": ACTION, "requestId": 9, "userId": user_id, "user": user}).to_string()
        };
        let cases: Vec<(&str, Option<&Value>, String, u16, &str)> = vec![
            (
                ACTION,
                None,
                update(json!("current"), json!({})),
                401,
                "Unauthorized",
            ),
            (
                ACTION,
                Some(&expired),
                update(json!("current"), json!({})),
                401,
                "Token expired",
            ),
            (
                ACTION,
                Some(&client),
                "{".into(),
                400,
                "Malformed Json received.",
            ),
            (
                ACTION,
                Some(&client),
                update(json!(null), json!({})),
                400,
                "User id is wrong or empty",
            ),
            (
                ACTION,
                Some(&client),
                update(json!(3), json!({"data": {}})),
                403,
                "Admin permissions required for this action",
            ),
            (
                ACTION,
                Some(&client),
                update(json!("current"), json!({"login": "new"})),
                403,
                "Admin permissions required for this action",
            ),
            (
                "$default",
                Some(&client),
                json!({"action": "device/list", "requestId": 9}).to_string(),
                400,
                "Illegal argument: device/list",
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
    async fn a_valid_message_reaches_the_store() {
        let client = context(2, &[], now_unix() + 600);
        let frame = json!({"action": ACTION, "requestId": 1, "userId": "current", "user": {"data": {"a": 1}}});
        let answer = send(ACTION, Some(&client), &frame.to_string()).await;
        assert_eq!(
            (answer["code"].as_u64(), answer["requestId"].as_u64()),
            (Some(503), Some(1)),
            "{answer}"
        );
    }
}
