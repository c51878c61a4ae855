//! API Gateway WebSocket APIs: the event a route's integration receives, the answer a two-way
//! route returns, and the route selection on `$request.body.action` (for the local runner).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The part of API Gateway's WebSocket event the function reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsEvent {
    pub request_context: WsContext,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsContext {
    pub route_key: String,
    #[serde(default)]
    pub connection_id: String,
    #[serde(default)]
    pub request_id: Option<String>,
    /// What the `$connect` authorizer returned as `context`, handed to every later message.
    #[serde(default)]
    pub authorizer: Option<HashMap<String, Value>>,
}

/// What a two-way route returns to API Gateway: the message goes back on the socket.
pub fn ws_response(message: &Value) -> Value {
    json!({"statusCode": 200, "body": message.to_string()})
}

/// An API Gateway WebSocket event as AWS delivers it to the route's integration, for the local
/// runner and tests. `authorizer` is the `$connect` authorizer's context, if any.
pub fn ws_event(
    route_key: &str,
    connection_id: &str,
    body: Option<&str>,
    authorizer: Option<&Value>,
) -> Value {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let event_type = match route_key {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    let mut context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "connectionId": connection_id,
        "requestId": uuid::Uuid::new_v4().to_string(),
        "messageDirection": "IN",
        "domainName": "127.0.0.1",
        "stage": "local",
        "apiId": "local",
        "connectedAt": now_ms,
        "requestTimeEpoch": now_ms,
    });
    if let Some(a) = authorizer {
        context["authorizer"] = a.clone();
    }
    let mut event = json!({"requestContext": context, "isBase64Encoded": false});
    if let Some(b) = body {
        event["body"] = Value::String(b.to_owned());
    }
    event
}

/// The route API Gateway selects for a frame on `$request.body.action`: the route whose key is the
/// frame's `action`, else `$default`.
pub fn select_route<'a>(frame: &str, route_keys: &[&'a str]) -> &'a str {
    let action = serde_json::from_str::<Value>(frame)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
    action
        .and_then(|a| {
            route_keys
                .iter()
                .find(|k| !k.starts_with('$') && **k == a)
                .copied()
        })
        .unwrap_or("$default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_selected_on_the_action() {
        let keys = ["$connect", "$default", "user/update"];
        assert_eq!(
            select_route(r#"{"action":"user/update"}"#, &keys),
            "user/update"
        );
        assert_eq!(select_route(r#"{"action":"nope"}"#, &keys), "$default");
        assert_eq!(select_route(r#"{"action":"$connect"}"#, &keys), "$default");
        assert_eq!(select_route("not json", &keys), "$default");
    }
}
