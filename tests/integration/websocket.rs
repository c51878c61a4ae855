//! DeviceHive over a real WebSocket client, through `userctl serve`'s `/ws` (the `$connect`
//! authorizer, route selection on `action`, the two-way route's answer back on the socket).

use crate::USERCTL;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shared::values::UserId;
use testkit::{fresh_store, seed, token, Served};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(served: &Served, token: &str) -> Socket {
    let url = format!("ws://127.0.0.1:{}/ws?token={token}", served.port);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket handshake")
        .0
}

pub(crate) async fn ask(socket: &mut Socket, message: &Value) -> Value {
    socket
        .send(Message::Text(message.to_string()))
        .await
        .unwrap();
    loop {
        match socket.next().await.expect("a reply").unwrap() {
            Message::Text(t) => {
                testkit::assert_no_secrets(&t);
                return serde_json::from_str(&t).unwrap();
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_update_round_trips_over_a_websocket() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    seed(&store, 3, &[]).await;
    let served = Served::start(USERCTL, &config);

    let mut client = connect(&served, &token(2, &[])).await;
    let reply = ask(
        &mut client,
        &json!({"action": "user/update", "requestId": "a1", "userId": "current",
        "user": {"data": {"theme": "dark"}, "introReviewed": true, "password": "fresh-pass"}}),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "user/update", "requestId": "a1", "status": "success"})
    );
    let reply = ask(
        &mut client,
        &json!({"action": "user/update", "requestId": "a2", "userId": 2, "user": {"role": 0}}),
    )
    .await;
    assert_eq!(
        (reply["status"].as_str(), reply["code"].as_u64()),
        (Some("error"), Some(403))
    );
    let reply = ask(
        &mut client,
        &json!({"action": "device/list", "requestId": 5}),
    )
    .await;
    assert_eq!(
        reply,
        json!({"action": "device/list", "requestId": 5, "status": "error", "code": 400, "error": "Illegal argument: device/list"})
    );
    client
        .send(Message::Text("not json".to_owned()))
        .await
        .unwrap();
    let reply = match client.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (reply["code"].as_u64(), reply["error"].as_str()),
        (Some(400), Some("Malformed Json received."))
    );

    let u = store.get(UserId::new(2).unwrap()).await.unwrap().unwrap();
    assert_eq!(u.data_json(), json!({"theme": "dark"}));
    assert!(!u.is_admin());
    assert!(shared::password::verify_blocking(
        u.password_hash.as_ref().unwrap(),
        "fresh-pass"
    ));

    // Two admin sockets race to give two users one login: exactly one wins.
    let mut a = connect(&served, &token(1, &["admin"])).await;
    let mut b = connect(&served, &token(1, &["admin"])).await;
    let ma =
        json!({"action": "user/update", "requestId": 1, "userId": 2, "user": {"login": "winner"}});
    let mb =
        json!({"action": "user/update", "requestId": 2, "userId": 3, "user": {"login": "Winner"}});
    let (ra, rb) = tokio::join!(ask(&mut a, &ma), ask(&mut b, &mb));
    let mut statuses = vec![
        ra["status"].as_str().unwrap().to_owned(),
        rb["status"].as_str().unwrap().to_owned(),
    ];
    statuses.sort();
    assert_eq!(statuses, vec!["error", "success"]);
    let loser = if ra["status"] == "error" { &ra } else { &rb };
    assert_eq!(loser["code"], 403);
    assert_eq!(
        loser["error"],
        "User with such login already exists. Please, select another one"
    );
    let holder = store
        .id_by_username("WINNER")
        .await
        .unwrap()
        .map(|i| i.get());
    assert!(matches!(holder, Some(2 | 3)), "{holder:?}");
}

#[tokio::test]
async fn a_token_at_the_handshake_must_be_valid_in_the_query_or_the_header() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let served = Served::start(USERCTL, &config);
    let bad = format!("ws://127.0.0.1:{}/ws?token=garbage", served.port);
    match tokio_tungstenite::connect_async(bad).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401)
        }
        other => panic!("handshake with a bad token: {:?}", other.map(|_| ())),
    }
    let mut request = format!("ws://127.0.0.1:{}/ws", served.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token(1, &[])).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("header token accepted");
    let reply = ask(
        &mut socket,
        &json!({"action": "user/update", "userId": "current", "user": {"introReviewed": true}}),
    )
    .await;
    assert_eq!(reply["status"], "success", "{reply}");
}

/// DeviceHive's session as its client runs it: connect bare, `server/info`, `authenticate`
/// in-band, read and update, disconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_authenticated_in_band() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &[]).await;
    let served = Served::start(USERCTL, &config);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", served.port))
            .await
            .expect("a connection without a token opens");

    let info = ask(
        &mut socket,
        &json!({"action": "server/info", "requestId": "i"}),
    )
    .await;
    assert_eq!(info["status"], "success", "{info}");
    assert_eq!(
        info["info"]["restServerUrl"],
        served.url("/api/rest").as_str()
    );
    assert!(info["info"]["apiVersion"].is_string() && info["info"]["serverTimestamp"].is_string());

    let refused = ask(
        &mut socket,
        &json!({"action": "user/getCurrent", "requestId": 1}),
    )
    .await;
    assert_eq!(
        refused,
        json!({"action": "user/getCurrent", "requestId": 1, "status": "error", "code": 401, "error": "Unauthorized"})
    );
    let refused = ask(
        &mut socket,
        &json!({"action": "authenticate", "requestId": 2, "token": "garbage"}),
    )
    .await;
    assert_eq!(
        (refused["code"].as_u64(), refused["error"].as_str()),
        (Some(401), Some("Invalid credentials"))
    );

    let ok = ask(
        &mut socket,
        &json!({"action": "authenticate", "requestId": 3, "token": token(1, &[])}),
    )
    .await;
    assert_eq!(
        ok,
        json!({"action": "authenticate", "requestId": 3, "status": "success"})
    );
    let bound: Vec<String> = testkit::all_keys(&store)
        .await
        .into_iter()
        .filter(|k| k.starts_with("CONN#"))
        .collect();
    assert_eq!(bound.len(), 1, "one connection bound: {bound:?}");

    let current = ask(
        &mut socket,
        &json!({"action": "user/getCurrent", "requestId": 4}),
    )
    .await;
    assert_eq!(current["current"]["login"], "user1", "{current}");
    let updated = ask(
        &mut socket,
        &json!({"action": "user/updateCurrent", "requestId": 5, "user": {"data": {"k": "v"}}}),
    )
    .await;
    assert_eq!(updated["status"], "success", "{updated}");
    let u = store.get(UserId::new(1).unwrap()).await.unwrap().unwrap();
    assert_eq!(u.data_json(), json!({"k": "v"}));

    // Closing the socket runs `$disconnect`, which forgets the binding.
    socket.close(None).await.unwrap();
    let mut forgotten = false;
    for _ in 0..50 {
        if testkit::all_keys(&store)
            .await
            .iter()
            .all(|k| !k.starts_with("CONN#"))
        {
            forgotten = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(forgotten, "the connection item outlived its connection");
}
