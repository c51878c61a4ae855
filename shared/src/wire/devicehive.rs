//! DeviceHive `user/update` over an API Gateway WebSocket API: the message in, the message out,
//! the `$connect` authorizer's answer, and the one place `Error` becomes DeviceHive's error message.
//!
//! Texts follow the DeviceHive Java server: `User with such login already exists. Please, select
//! another one` (403), `Admin permissions required for this action` (403), `User with id = N not
//! found` (404), `Password can contain only from 6 to 128 symbols!` (400), `Malformed Json
//! received.` (400), `Illegal argument: <action>` (400) for an unknown action.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::apigw::MAX_BODY_BYTES;
use crate::auth::{now_unix, AuthError, Principal, LEEWAY_SECONDS};
use crate::error::{Error, Invalid, UniqueField};
use crate::user::{JsonObject, Password, Role, RolesChange, Status, UserId, UserPatch, Username};

pub const ACTION: &str = "user/update";
/// The routes of the WebSocket API, as API Gateway selects them on `$request.body.action`.
pub const ROUTE_KEYS: &[&str] = &["$connect", "$disconnect", "$default", ACTION];

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

/// The `$connect` authorizer's context: who the connection belongs to, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPrincipal {
    pub principal: Principal,
    /// The token's `exp`: messages after it (plus leeway) are refused.
    pub expires_at: i64,
}

impl ConnectionPrincipal {
    /// The authorizer `context` (API Gateway allows only strings, numbers and booleans).
    pub fn to_context(&self) -> Value {
        let roles: Vec<&str> = self.principal.roles.iter().map(String::as_str).collect();
        json!({
            "userId": self.principal.user_id.get().to_string(),
            "roles": roles.join(","),
            "exp": self.expires_at,
        })
    }

    pub fn from_context(ctx: &HashMap<String, Value>) -> Result<Self, AuthError> {
        let missing = || AuthError::Rejected("no authorizer context on this connection".into());
        let id = match ctx.get("userId") {
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .and_then(|id| UserId::new(id).ok())
        .ok_or_else(missing)?;
        let roles: BTreeSet<String> = ctx
            .get("roles")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let expires_at = match ctx.get("exp") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(missing)?;
        if now_unix() > expires_at + LEEWAY_SECONDS as i64 {
            return Err(AuthError::Expired);
        }
        Ok(Self {
            principal: Principal { user_id: id, roles },
            expires_at,
        })
    }
}

/// The IAM policy a REQUEST authorizer returns to allow the connection.
pub fn allow_policy(method_arn: &str, who: &ConnectionPrincipal) -> Value {
    json!({
        "principalId": who.principal.user_id.get().to_string(),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": method_arn
            }]
        },
        "context": who.to_context()
    })
}

/// `userId`: an integer or `"current"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(UserId),
    Current,
}

/// A parsed `user/update` message.
#[derive(Debug)]
pub struct UpdateMessage {
    pub request_id: Option<Value>,
    pub target: Target,
    pub patch: UserPatch,
    /// The new password, hashed later off the executor.
    pub password: Option<Password>,
    /// Fields only an administrator may send (`login`, `role`, `status`).
    pub admin_fields: Vec<&'static str>,
}

/// Why a message was refused before the store: DeviceHive's code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub error: String,
}

impl Refusal {
    fn bad(error: impl Into<String>) -> Self {
        Self {
            code: 400,
            error: error.into(),
        }
    }
}

/// The frame as JSON, and the `action` and `requestId` to echo whatever else is wrong with it.
pub fn read_frame(body: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::bad(format!(
            "Message is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal::bad("Malformed Json received.")),
    }
}

impl UpdateMessage {
    pub fn parse(msg: &serde_json::Map<String, Value>) -> Result<Self, Refusal> {
        let target = match msg.get("userId") {
            Some(Value::String(s)) if s == "current" => Target::Current,
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|id| UserId::new(id).ok())
                .map(Target::Id)
                .ok_or_else(|| Refusal::bad("User id is wrong or empty"))?,
            _ => return Err(Refusal::bad("User id is wrong or empty")),
        };
        let user = match msg.get("user") {
            Some(Value::Object(u)) => u,
            _ => return Err(Refusal::bad("User is required")),
        };
        let mut patch = UserPatch::default();
        let mut admin_fields = Vec::new();
        let field = |name: &str| user.get(name).filter(|v| !v.is_null());

        if let Some(v) = field("login") {
            admin_fields.push("login");
            let login = v
                .as_str()
                .map(str::trim)
                .filter(|l| (1..=128).contains(&l.chars().count()))
                .ok_or_else(|| {
                    Refusal::bad("Field login cannot be empty. The length of login should not be more than 128 symbols.")
                })?;
            patch.username = Some(
                Username::parse(login)
                    .map_err(|e| Refusal::bad(format!("Invalid login: {}", e.reason)))?,
            );
        }
        if let Some(v) = field("role") {
            admin_fields.push("role");
            patch.roles = Some(match v.as_i64() {
                Some(0) => RolesChange::Grant(Role::admin()),
                Some(1) => RolesChange::Revoke(Role::admin()),
                _ => {
                    return Err(Refusal::bad(format!(
                        "Invalid user role: {v} (0 administrator, 1 client)"
                    )))
                }
            });
        }
        if let Some(v) = field("status") {
            admin_fields.push("status");
            patch.status = Some(match v.as_i64() {
                Some(0) => Status::Active,
                Some(1) => Status::Locked,
                Some(2) => Status::Disabled,
                _ => {
                    return Err(Refusal::bad(format!(
                        "Invalid user status: {v} (0 active, 1 locked out, 2 disabled)"
                    )))
                }
            });
        }
        let password = match field("password") {
            None => None,
            Some(v) => {
                let raw = v
                    .as_str()
                    .filter(|p| (6..=128).contains(&p.chars().count()))
                    .ok_or_else(|| {
                        Refusal::bad("Password can contain only from 6 to 128 symbols!")
                    })?;
                Some(Password::parse("password", raw, 6).map_err(|e| Refusal::bad(e.to_string()))?)
            }
        };
        if let Some(v) = field("data") {
            patch.data = Some(
                JsonObject::parse("data", v.clone())
                    .map_err(|e| Refusal::bad(format!("Invalid user data: {}", e.reason)))?,
            );
        }
        if let Some(v) = field("introReviewed") {
            patch.intro_reviewed = Some(
                v.as_bool()
                    .ok_or_else(|| Refusal::bad("Invalid introReviewed: must be true or false"))?,
            );
        }
        Ok(Self {
            request_id: msg.get("requestId").cloned(),
            target,
            patch,
            password,
            admin_fields,
        })
    }
}

/// DeviceHive's success message.
pub fn success(request_id: &Option<Value>) -> Value {
    let mut m = json!({"action": ACTION, "status": "success"});
    if let Some(r) = request_id {
        m["requestId"] = r.clone();
    }
    m
}

/// DeviceHive's error message.
pub fn failure(
    action: Option<&Value>,
    request_id: Option<&Value>,
    code: u16,
    error: &str,
) -> Value {
    let mut m = json!({"status": "error", "code": code, "error": error});
    if let Some(a) = action {
        m["action"] = a.clone();
    }
    if let Some(r) = request_id {
        m["requestId"] = r.clone();
    }
    m
}

/// The one place `Error` becomes DeviceHive's code and text.
pub fn refusal_for(err: &Error, user_id: Option<UserId>) -> Refusal {
    let r = |code: u16, error: String| Refusal { code, error };
    match err {
        Error::Unauthenticated(AuthError::Expired) => r(401, "Token expired".into()),
        Error::Unauthenticated(_) => r(401, "Unauthorized".into()),
        Error::Forbidden(_) | Error::PreconditionFailed => {
            r(403, "Admin permissions required for this action".into())
        }
        Error::NotFound => r(
            404,
            match user_id {
                Some(id) => format!("User with id = {id} not found"),
                None => "User not found".into(),
            },
        ),
        Error::Conflict {
            field: UniqueField::Username,
            ..
        } => r(
            403,
            "User with such login already exists. Please, select another one".into(),
        ),
        Error::Conflict { field, value } => r(
            403,
            format!("User with such {field} already exists: {value}"),
        ),
        Error::Invalid(Invalid { field, reason }) => r(400, format!("Invalid {field}: {reason}")),
        Error::TooLarge(what) => r(400, what.clone()),
        Error::Unavailable(_) | Error::Contention => {
            super::log_unexpected("devicehive", err);
            r(503, "Service temporarily unavailable, retry later".into())
        }
        Error::CodeRejected
        | Error::WrongPassword
        | Error::TooManyAttempts { .. }
        | Error::Internal(_) => {
            super::log_unexpected("devicehive", err);
            r(500, "Internal server error".into())
        }
    }
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
        "requestId": format!("local-{now_ms}"),
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

/// The route API Gateway selects for a frame on `$request.body.action`.
pub fn select_route(frame: &str) -> &'static str {
    match serde_json::from_str::<Value>(frame) {
        Ok(v) if v.get("action").and_then(Value::as_str) == Some(ACTION) => ACTION,
        _ => "$default",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<UpdateMessage, Refusal> {
        UpdateMessage::parse(v.as_object().unwrap())
    }

    #[test]
    fn messages_parse_like_devicehive() {
        let m = parse(
            json!({"action": "user/update", "requestId": {"a": 1}, "userId": "current",
            "user": {"password": "secret1", "data": {"x": 1}, "introReviewed": true}}),
        )
        .unwrap();
        assert_eq!(m.target, Target::Current);
        assert!(m.admin_fields.is_empty());
        assert_eq!(m.request_id, Some(json!({"a": 1})));
        let m = parse(json!({"userId": 5, "user": {"login": " bob ", "role": 0, "status": 2}}))
            .unwrap();
        assert_eq!(m.admin_fields, vec!["login", "role", "status"]);
        assert_eq!(m.patch.username.unwrap().as_str(), "bob");
        assert_eq!(m.patch.status, Some(Status::Disabled));
        assert_eq!(
            parse(json!({"user": {}})).unwrap_err().error,
            "User id is wrong or empty"
        );
        assert_eq!(
            parse(json!({"userId": 1})).unwrap_err().error,
            "User is required"
        );
        assert_eq!(
            parse(json!({"userId": 1, "user": {"password": "12345"}}))
                .unwrap_err()
                .error,
            "Password can contain only from 6 to 128 symbols!"
        );
        assert_eq!(
            parse(json!({"userId": 1, "user": {"role": 7}}))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            parse(json!({"userId": 1, "user": {"data": [1]}}))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            read_frame(b"nope").unwrap_err().error,
            "Malformed Json received."
        );
    }

    #[test]
    fn authorizer_context_round_trips_and_expires() {
        let who = ConnectionPrincipal {
            principal: Principal {
                user_id: UserId::new(3).unwrap(),
                roles: BTreeSet::from(["admin".to_owned(), "x".to_owned()]),
            },
            expires_at: now_unix() + 100,
        };
        let ctx: HashMap<String, Value> = serde_json::from_value(who.to_context()).unwrap();
        assert_eq!(ConnectionPrincipal::from_context(&ctx).unwrap(), who);
        let old = ConnectionPrincipal {
            expires_at: now_unix() - 1000,
            ..who
        };
        let ctx: HashMap<String, Value> = serde_json::from_value(old.to_context()).unwrap();
        assert_eq!(
            ConnectionPrincipal::from_context(&ctx),
            Err(AuthError::Expired)
        );
        assert!(ConnectionPrincipal::from_context(&HashMap::new()).is_err());
    }
}
