//! The HTTP API of `userctl serve`, as API Gateway runs it: each request becomes the HTTP API
//! (payload 2.0) event the function gets in AWS, goes through the same `lambda_http` conversion
//! and the same handler, and the answer goes back as HTTP.

use std::future::Future;
use std::pin::Pin;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use lambda_http::{Body, Request, Response};
use shared::apigw::http::{match_route, HttpEvent, Route};

use super::reply::plain;
use super::state::State;

/// API Gateway's own payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

type Handled = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pub struct Endpoint {
    route: Route,
    call: fn(&'static State, Request) -> Handled,
}

pub fn endpoints() -> Vec<Endpoint> {
    let mut all = Vec::new();
    for route in unleash_user_admin::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(unleash_user_admin::handle(&s.app, r)),
        });
    }
    for route in newm_patch_user::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(newm_patch_user::handle(&s.app, r)),
        });
    }
    for route in mmc_profile::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(mmc_profile::handle(&s.app, &s.mmc, r)),
        });
    }
    for route in aaa_user_profile::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| Box::pin(aaa_user_profile::handle(&s.app, r)),
        });
    }
    for route in devicehive_user_update::rest::ROUTES {
        all.push(Endpoint {
            route: *route,
            call: |s, r| {
                Box::pin(devicehive_user_update::rest::handle(
                    &s.app,
                    &s.devicehive,
                    r,
                ))
            },
        });
    }
    all
}

impl Endpoint {
    pub fn route_key(&self) -> String {
        self.route.key()
    }
}

/// Answers one HTTP request with the function whose route matches, or API Gateway's 404.
pub async fn dispatch(
    state: &'static State,
    endpoints: &'static [Endpoint],
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let found = endpoints.iter().find_map(|e| {
        (e.route.method == method)
            .then(|| match_route(e.route.path, &path))
            .flatten()
            .map(|params| (e, params))
    });
    let Some((endpoint, params)) = found else {
        // API Gateway's answer for a route it does not have.
        return plain(404, r#"{"message":"Not Found"}"#);
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
        Err(_) => return plain(413, r#"{"message":"Request Entity Too Large"}"#),
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
    let response = (endpoint.call)(state, event.to_request()).await;
    to_hyper(response)
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
