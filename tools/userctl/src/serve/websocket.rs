//! The DeviceHive WebSocket API of `userctl serve`, as API Gateway runs it: the `$connect`
//! REQUEST authorizer decides on the handshake, then every frame becomes the WebSocket event of the
//! route `$request.body.action` selects, and the two-way route's answer goes back on the socket.

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use shared::apigw::websocket::{select_route, ws_event};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::reply::plain;
use super::state::State;

/// Where the DeviceHive WebSocket API is served.
pub const PATH: &str = "/ws";

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

pub async fn accept(
    state: &'static State,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (app, settings) = (&state.app, &state.devicehive);
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
    else {
        return plain(400, r#"{"message":"Expected a WebSocket upgrade"}"#);
    };
    let headers: Map<String, Value> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_owned(),
                Value::String(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let query: Map<String, Value> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let connection_id = format!("local-{}", CONNECTIONS.fetch_add(1, Ordering::Relaxed));
    let authorizer_event = json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:local:000000000000:local/local/$connect",
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": connection_id}
    });
    let context = match state.authorizer.authorize(&authorizer_event) {
        Ok(policy) => policy["context"].clone(),
        // API Gateway's answer when the authorizer says "Unauthorized".
        Err(_) => return plain(401, r#"{"message":"Unauthorized"}"#),
    };
    let connected = devicehive_user_update::handle(
        app,
        settings,
        ws_event("$connect", &connection_id, None, Some(&context)),
    )
    .await;
    if connected["statusCode"] != 200 {
        return plain(403, r#"{"message":"Forbidden"}"#);
    }

    let accept_key = derive_accept_key(&key);
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let (mut tx, mut rx) = ws.split();
        while let Some(Ok(message)) = rx.next().await {
            let frame = match message {
                Message::Text(t) => t.to_string(),
                // Not JSON text: API Gateway routes it to $default.
                Message::Binary(_) => String::new(),
                // Pings and a close are answered by the next read (tungstenite queues the pong or
                // the close reply and flushes it there); DeviceHive's client waits for both.
                _ => continue,
            };
            let route = select_route(&frame, devicehive_user_update::dialect::ROUTE_KEYS);
            let out = devicehive_user_update::handle(
                app,
                settings,
                ws_event(route, &connection_id, Some(&frame), Some(&context)),
            )
            .await;
            if let Some(body) = out["body"].as_str() {
                if tx.send(Message::Text(body.to_owned())).await.is_err() {
                    break;
                }
            }
        }
        devicehive_user_update::handle(
            app,
            settings,
            ws_event("$disconnect", &connection_id, None, Some(&context)),
        )
        .await;
    });
    hyper::Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept_key)
        .body(Full::new(Bytes::new()))
        .expect("static response")
}
