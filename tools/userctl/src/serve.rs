//! `userctl serve`: every function in-process behind one HTTP listener on 127.0.0.1. Each request
//! becomes the API Gateway HTTP API (payload 2.0) event the function gets in AWS, goes through
//! the same `lambda_http` conversion and the same handler, and the answer goes back as HTTP.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, Request, Response};
use shared::apigw::{match_route, HttpEvent, Route};
use tokio::net::TcpListener;

/// Where the DeviceHive WebSocket API is served.
pub const WS_PATH: &str = "/ws";

/// API Gateway's own payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

type Handled = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

struct Endpoint {
    route: Route,
    call: fn(&'static States, Request) -> Handled,
}

/// What the functions build at cold start, built once here.
pub struct States {
    mmc: mmc_profile::State,
    authorizer: devicehive_authorizer::Authorizer,
}

impl States {
    fn app(&self) -> &shared::AppState {
        &self.mmc.app
    }
}

fn endpoints() -> Vec<Endpoint> {
    let mut all = Vec::new();
    for route in unleash_user_admin::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(unleash_user_admin::handle(s.app(), r)),
        });
    }
    for route in newm_patch_user::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(newm_patch_user::handle(s.app(), r)),
        });
    }
    for route in mmc_profile::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(mmc_profile::handle(&s.mmc, r)),
        });
    }
    for route in aaa_user_profile::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(aaa_user_profile::handle(s.app(), r)),
        });
    }
    all
}

/// Every route `serve` answers, as `METHOD /path/{param}`.
pub fn route_keys() -> Vec<String> {
    endpoints().iter().map(|e| e.route.key()).collect()
}

pub async fn serve(port: u16) -> Result<(), String> {
    shared::telemetry::init();
    let mmc = mmc_profile::State::from_env()
        .await
        .map_err(|e| e.to_string())?;
    let authorizer = devicehive_authorizer::Authorizer::from_env()
        .await
        .map_err(|e| e.to_string())?;
    let states: &'static States = Box::leak(Box::new(States { mmc, authorizer }));
    let endpoints: &'static [Endpoint] = Box::leak(endpoints().into_boxed_slice());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("userctl serve: listening on http://{addr}");
    for e in endpoints {
        println!("  {}", e.route.key());
    }
    println!("  WebSocket ws://{addr}{WS_PATH}?token=<JWT>  (DeviceHive user/update)");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        tokio::spawn(async move {
            let service = service_fn(move |req| dispatch(states, endpoints, req));
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

async fn dispatch(
    states: &'static States,
    endpoints: &'static [Endpoint],
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if path == WS_PATH && method == "GET" {
        return Ok(crate::websocket::accept(states.app(), &states.authorizer, req).await);
    }
    let found = endpoints.iter().find_map(|e| {
        (e.route.method == method)
            .then(|| match_route(e.route.path, &path))
            .flatten()
            .map(|params| (e, params))
    });
    let Some((endpoint, params)) = found else {
        // API Gateway's answer for a route it does not have.
        return Ok(plain(404, r#"{"message":"Not Found"}"#));
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let body = match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Ok(plain(413, r#"{"message":"Request Entity Too Large"}"#)),
    };
    let event = HttpEvent {
        method,
        path,
        route_key: endpoint.route.key(),
        path_parameters: params,
        headers,
        query,
        body,
    };
    let response = (endpoint.call)(states, event.to_request()).await;
    Ok(to_hyper(response))
}

pub(crate) fn plain(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response")
}

fn to_hyper(response: Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
