//! DeviceHive `user/update` over an API Gateway WebSocket API: the message in, the message out,
//! and the one place `Error` becomes DeviceHive's error message.
//!
//! Texts follow the DeviceHive Java server: `User with such login already exists. Please, select
//! another one` (403), `Admin permissions required for this action` (403), `User with id = N not
//! found` (404), `Password can contain only from 6 to 128 symbols!` (400), `Malformed Json
//! received.` (400), `Illegal argument: <action>` (400) for an unknown action.

use serde_json::{json, Value};
use shared::apigw::http::MAX_BODY_BYTES;
use shared::auth::AuthError;
use shared::error::{Error, UniqueField};
use shared::patch::{Change, RolesChange, UserPatch};
use shared::values::{Invalid, JsonObject, Password, Role, Status, UserId, Username};

pub const ACTION: &str = "user/update";
/// The routes of the WebSocket API, as API Gateway selects them on `$request.body.action`.
pub const ROUTE_KEYS: &[&str] = &["$connect", "$disconnect", "$default", ACTION];

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
            patch.data = Some(Change::Set(
                JsonObject::parse("data", v.clone())
                    .map_err(|e| Refusal::bad(format!("Invalid user data: {}", e.reason)))?,
            ));
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
            shared::telemetry::log_unexpected("devicehive", err);
            r(503, "Service temporarily unavailable, retry later".into())
        }
        Error::CodeRejected
        | Error::WrongPassword
        | Error::TooManyAttempts { .. }
        | Error::Internal(_) => {
            shared::telemetry::log_unexpected("devicehive", err);
            r(500, "Internal server error".into())
        }
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
    fn every_error_becomes_devicehives_code_and_text() {
        let id = Some(UserId::new(5).unwrap());
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::Unauthenticated(AuthError::Expired),
                401,
                "Token expired",
            ),
            (
                Error::Unauthenticated(AuthError::MissingToken),
                401,
                "Unauthorized",
            ),
            (
                Error::Forbidden("x".into()),
                403,
                "Admin permissions required for this action",
            ),
            (
                Error::PreconditionFailed,
                403,
                "Admin permissions required for this action",
            ),
            (Error::NotFound, 404, "User with id = 5 not found"),
            (
                Error::Conflict {
                    field: UniqueField::Username,
                    value: "bob".into(),
                },
                403,
                "User with such login already exists. Please, select another one",
            ),
            (
                Error::invalid("data", "too big"),
                400,
                "Invalid data: too big",
            ),
            (Error::TooLarge("big".into()), 400, "big"),
            (
                Error::Unavailable("down".into()),
                503,
                "Service temporarily unavailable, retry later",
            ),
            (Error::Internal("bug".into()), 500, "Internal server error"),
        ];
        for (err, code, text) in cases {
            let r = refusal_for(&err, id);
            assert_eq!((r.code, r.error.as_str()), (code, text), "{err:?}");
        }
        assert_eq!(
            failure(Some(&json!(ACTION)), Some(&json!(7)), 403, "no"),
            json!({"action": ACTION, "requestId": 7, "status": "error", "code": 403, "error": "no"})
        );
        assert_eq!(
            success(&Some(json!("r"))),
            json!({"action": ACTION, "requestId": "r", "status": "success"})
        );
    }
}
