//! API Gateway plumbing shared by the HTTP functions: bodies in, JSON out, and the payload 2.0
//! event that the local runner and the tests build for a request.

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest request body accepted: profile updates are small; anything bigger is refused early.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a body could not be read as the API's request type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is empty")]
    Empty,
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the request body is not valid UTF-8")]
    NotUtf8,
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the request body must be a JSON object")]
    NotObject,
    /// Valid JSON of the wrong shape: `path` is the field (`email`, `user.role`, ...).
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
}

impl BodyError {
    /// The field the error concerns, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            BodyError::Shape { path, .. } => Some(path),
            _ => None,
        }
    }
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parses a JSON object body into `T`, saying which field was wrong when the shape is off.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let value = parse_json_value(bytes)?;
    if !value.is_object() {
        return Err(BodyError::NotObject);
    }
    from_value(value)
}

/// Parses any JSON value, with the size and encoding checks.
pub fn parse_json_value(bytes: &[u8]) -> Result<serde_json::Value, BodyError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8)?;
    serde_json::from_str(text).map_err(|e| BodyError::NotJson(e.to_string()))
}

pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, BodyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = without_value(&e.into_inner().to_string());
        BodyError::Shape { path, message }
    })
}

/// serde quotes the offending value ("invalid type: integer `123456`, expected a string"); the
/// value may be a password or a 2FA code, so only what was expected is kept.
fn without_value(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((_, expected)) => format!("expected {expected}"),
        None if message.starts_with("invalid") => "has an invalid value".to_owned(),
        None => message.to_owned(),
    }
}

pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .expect("a static response is valid")
}

pub fn empty_response(status: u16) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::Empty)
        .expect("a static response is valid")
}

/// A path parameter by name, as API Gateway extracted it.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

/// API Gateway's id of this request (`requestContext.requestId`): what a write is stamped with.
/// Empty when there is none (a `Stamp` then makes one up).
pub fn gateway_request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
            ctx.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// A request as API Gateway's HTTP API (payload 2.0) would hand it to the function.
#[derive(Debug, Clone, Default)]
pub struct HttpEvent {
    pub method: String,
    pub path: String,
    /// `PUT /api/profile/{userName}`: the route template that matched.
    pub route_key: String,
    pub path_parameters: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
    pub query: String,
    pub body: Vec<u8>,
}

impl HttpEvent {
    /// The event JSON exactly as API Gateway sends it.
    pub fn to_json(&self) -> serde_json::Value {
        use std::collections::BTreeMap;
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        let mut cookies = Vec::new();
        for (k, v) in &self.headers {
            let k = k.to_ascii_lowercase();
            if k == "cookie" {
                cookies.extend(v.split(';').map(|c| c.trim().to_owned()));
                continue;
            }
            // API Gateway joins repeated headers with commas.
            headers
                .entry(k)
                .and_modify(|e| {
                    e.push(',');
                    e.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
        let (body, is_base64) = match std::str::from_utf8(&self.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (base64_encode(&self.body), true),
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": self.route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "domainPrefix": "local",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("user-agent").cloned().unwrap_or_default()
                },
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": self.route_key,
                "stage": "$default",
                "time": "",
                "timeEpoch": now_ms
            },
            "isBase64Encoded": is_base64
        });
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = serde_json::json!(self.path_parameters);
        }
        if !cookies.is_empty() {
            event["cookies"] = serde_json::json!(cookies);
        }
        if !self.body.is_empty() {
            event["body"] = serde_json::Value::String(body);
        }
        event
    }

    /// The `lambda_http::Request` the function receives for this event: the same conversion
    /// the Lambda runtime performs.
    pub fn to_request(&self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string())
            .expect("an event we built ourselves is a valid API Gateway event")
    }
}

fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Matches `path` against a route template such as `/api/profile/{userName}`, returning the
/// decoded path parameters.
pub fn match_route(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut t = template.trim_end_matches('/').split('/');
    let mut p = path.trim_end_matches('/').split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), percent_decode(ps)?);
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_and_decode() {
        let p = match_route("/api/profile/{userName}", "/api/profile/a%20b").unwrap();
        assert_eq!(p["userName"], "a b");
        assert!(match_route("/api/profile/{userName}", "/api/profile/").is_none());
        assert!(match_route("/api/profile/{userName}", "/api/profile/a/b").is_none());
        assert!(match_route("/v1/users/me", "/v1/users/me").is_some());
    }

    #[test]
    fn event_round_trips_through_lambda_http() {
        let ev = HttpEvent {
            method: "PUT".into(),
            path: "/api/profile/bob".into(),
            route_key: "PUT /api/profile/{userName}".into(),
            path_parameters: HashMap::from([("userName".into(), "bob".into())]),
            headers: vec![("Authorization".into(), "Bearer x".into())],
            body: b"{\"a\":1}".to_vec(),
            ..Default::default()
        };
        let req = ev.to_request();
        assert_eq!(req.method(), "PUT");
        assert_eq!(path_param(&req, "userName").as_deref(), Some("bob"));
        assert_eq!(body_bytes(&req), b"{\"a\":1}");
        assert_eq!(req.headers()["authorization"], "Bearer x");
        let bin = HttpEvent {
            body: vec![0xff, 0xfe],
            ..ev
        };
        assert_eq!(body_bytes(&bin.to_request()), &[0xff, 0xfe]);
    }

    #[test]
    fn bodies_are_checked() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            a: String,
        }
        assert_eq!(parse_json::<T>(b"").unwrap_err(), BodyError::Empty);
        assert_eq!(parse_json::<T>(&[0xff]).unwrap_err(), BodyError::NotUtf8);
        assert_eq!(parse_json::<T>(b"[1]").unwrap_err(), BodyError::NotObject);
        assert!(matches!(
            parse_json::<T>(b"{").unwrap_err(),
            BodyError::NotJson(_)
        ));
        assert_eq!(
            parse_json::<T>(b"{\"a\":1}").unwrap_err().field(),
            Some("a")
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_json::<T>(&big).unwrap_err(), BodyError::TooLarge);
    }
}

/// A route a function serves, as `template.yaml` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

impl Route {
    /// API Gateway's route key: `PUT /api/profile/{userName}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}
