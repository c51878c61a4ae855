//! `userctl serve`: every function in-process behind one listener on 127.0.0.1, the HTTP API's
//! routes and the DeviceHive WebSocket API side by side, each as API Gateway runs it.

mod http;
mod reply;
mod state;
mod stream;
mod websocket;

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use self::http::Endpoint;
use self::state::State;

/// Every route `serve` answers, as `METHOD /path/{param}`.
pub fn route_keys() -> Vec<String> {
    http::endpoints().iter().map(Endpoint::route_key).collect()
}

pub async fn serve(config: &shared::config::Config, port: u16) -> Result<(), String> {
    shared::telemetry::init();
    let mut state = State::from_env(crate::audit::table_name(config)).await?;
    // DeviceHive's `server/info` and `GET info` name this server unless configured otherwise.
    let urls = &mut state.devicehive;
    urls.rest_url
        .get_or_insert_with(|| format!("http://127.0.0.1:{port}/api/rest"));
    urls.websocket_url
        .get_or_insert_with(|| format!("ws://127.0.0.1:{port}{}", websocket::PATH));
    let state: &'static State = Box::leak(Box::new(state));
    tokio::spawn(stream::run(
        config.dynamodb(),
        config.table_name.clone(),
        &state.audit,
    ));
    let endpoints: &'static [Endpoint] = Box::leak(http::endpoints().into_boxed_slice());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("userctl serve: listening on http://{addr}");
    for e in endpoints {
        println!("  {}", e.route_key());
    }
    println!(
        "  WebSocket ws://{addr}{}  (DeviceHive: authenticate, server/info, user/get, user/getCurrent, user/update, user/updateCurrent)",
        websocket::PATH
    );
    println!(
        "  audit log: the stream of {} into {} (userctl audit --user ID)",
        config.table_name,
        state.audit.table()
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        tokio::spawn(async move {
            let service = service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| async move {
                    let response = if req.uri().path() == websocket::PATH && req.method() == "GET" {
                        websocket::accept(state, req).await
                    } else {
                        http::dispatch(state, endpoints, req).await
                    };
                    Ok::<_, Infallible>(response)
                },
            );
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
