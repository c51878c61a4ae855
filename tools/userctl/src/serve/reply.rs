//! API Gateway's own short answers (a route it does not have, a refused handshake...).

use http_body_util::Full;
use hyper::body::Bytes;

pub fn plain(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response")
}
