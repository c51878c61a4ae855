//! DeviceHive `user/update` as the route handler of an API Gateway WebSocket API. It also answers
//! `$connect`/`$disconnect` and turns any other action (`$default`) into DeviceHive's error
//! message, so a client never meets silence.

use serde_json::{json, Value};
use shared::auth::AuthError;
use shared::wire::devicehive::{
    failure, read_frame, refusal_for, success, ws_response, ConnectionPrincipal, Refusal, Target,
    UpdateMessage, WsEvent, ACTION,
};
use shared::{AppState, Error};

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
