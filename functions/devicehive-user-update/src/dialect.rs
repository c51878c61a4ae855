//! DeviceHive's wire format, over the WebSocket API and the REST API: messages and bodies in,
//! messages and bodies out, the user as DeviceHive shows it, and the one place `Error` becomes
//! DeviceHive's code and text.
//!
//! Texts follow the DeviceHive Java server (`messages.properties`, `DeviceHiveWebSocketHandler`,
//! the REST exception mappers): `User with such login already exists. Please, select another one`
//! (403), `Admin permissions required for this action` (403), `User with id = N not found` (404),
//! `Password can contain only from 6 to 128 symbols!` (400), `User is required` (400), `User id is
//! wrong or empty` (400), `Malformed Json received.` (400), `Illegal argument: <action>` (400),
//! `Unauthorized`, `Invalid credentials` and `Token expired` (401), `Access is denied` (403).

use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};
use shared::apigw::http::{json_response, MAX_BODY_BYTES};
use shared::auth::AuthError;
use shared::error::{Error, UniqueField};
use shared::patch::{Change, RolesChange, UserPatch};
use shared::user::User;
use shared::values::{Invalid, JsonObject, Password, Role, Status, UserId, Username};

pub const AUTHENTICATE: &str = "authenticate";
pub const SERVER_INFO: &str = "server/info";
pub const USER_GET: &str = "user/get";
pub const USER_GET_CURRENT: &str = "user/getCurrent";
pub const USER_UPDATE: &str = "user/update";
pub const USER_UPDATE_CURRENT: &str = "user/updateCurrent";

/// The routes of the WebSocket API, as API Gateway selects them on `$request.body.action`.
pub const ROUTE_KEYS: &[&str] = &[
    "$connect",
    "$disconnect",
    "$default",
    AUTHENTICATE,
    SERVER_INFO,
    USER_GET,
    USER_GET_CURRENT,
    USER_UPDATE,
    USER_UPDATE_CURRENT,
];

/// The DeviceHive API version `server/info` and `GET info` report: this implementation's.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which user a message or path names: an id, or the caller (`"current"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(UserId),
    Current,
}

impl Target {
    /// `userId` as DeviceHive reads it with gson: a number, or a string holding one (`"5"`), or
    /// `"current"`.
    pub fn parse(raw: Option<&Value>) -> Result<Self, Refusal> {
        let id = match raw {
            Some(Value::String(s)) if s == "current" => return Ok(Target::Current),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        id.and_then(|id| UserId::new(id).ok())
            .map(Target::Id)
            .ok_or_else(|| Refusal::bad("User id is wrong or empty"))
    }

    pub fn resolve(&self, caller: UserId) -> UserId {
        match self {
            Target::Current => caller,
            Target::Id(id) => *id,
        }
    }
}

/// A parsed `user` object (`UserUpdate`): what to write, and what must wait for hashing.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub patch: UserPatch,
    /// The new password, hashed later off the executor.
    pub password: Option<Password>,
    /// Fields only an administrator may send (`login`, `role`, `status`).
    pub admin_fields: Vec<&'static str>,
}

impl UserUpdate {
    /// Reads the `user` object. As DeviceHive does: a field sent as `null` is not sent, except
    /// `data`, which `null` clears; an empty `password` leaves the password as it is. Unlike
    /// DeviceHive, a `data` left out stays as it is (only what a request names is written).
    pub fn parse(user: &Map<String, Value>) -> Result<Self, Refusal> {
        let mut update = UserUpdate::default();
        let field = |name: &str| user.get(name).filter(|v| !v.is_null());

        if let Some(v) = field("login") {
            update.admin_fields.push("login");
            let login = v
                .as_str()
                .map(str::trim)
                .filter(|l| (1..=128).contains(&l.chars().count()))
                .ok_or_else(|| {
                    Refusal::bad("Field login cannot be empty. The length of login should not be more than 128 symbols.")
                })?;
            update.patch.username = Some(
                Username::parse(login)
                    .map_err(|e| Refusal::bad(format!("Invalid login: {}", e.reason)))?,
            );
        }
        if let Some(v) = field("role") {
            update.admin_fields.push("role");
            update.patch.roles = Some(match v.as_i64() {
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
            update.admin_fields.push("status");
            update.patch.status = Some(match v.as_i64() {
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
        update.password = match field("password") {
            None => None,
            Some(Value::String(p)) if p.is_empty() => None,
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
        match user.get("data") {
            None => {}
            Some(Value::Null) => update.patch.data = Some(Change::Clear),
            Some(v) => {
                update.patch.data = Some(Change::Set(
                    JsonObject::parse("data", v.clone())
                        .map_err(|e| Refusal::bad(format!("Invalid user data: {}", e.reason)))?,
                ))
            }
        }
        if let Some(v) = field("introReviewed") {
            update.patch.intro_reviewed = Some(
                v.as_bool()
                    .ok_or_else(|| Refusal::bad("Invalid introReviewed: must be true or false"))?,
            );
        }
        Ok(update)
    }
}

/// The `user` object of a message: required, and an object.
pub fn user_object(msg: &Map<String, Value>) -> Result<&Map<String, Value>, Refusal> {
    match msg.get("user") {
        None | Some(Value::Null) => Err(Refusal::bad("User is required")),
        Some(Value::Object(u)) => Ok(u),
        Some(_) => Err(Refusal::bad("Malformed Json received.")),
    }
}

/// The user as DeviceHive publishes it (`UserVO`, `USER_PUBLISHED`). The directory keeps no login
/// history and no device-type restrictions: `lastLogin` is `null`, `allDeviceTypesAvailable` is
/// `true` (DeviceHive's default for a new user).
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.get(),
        "login": user.username,
        "role": if user.is_admin() { 0 } else { 1 },
        "status": match user.status {
            Status::Active => 0,
            Status::Locked => 1,
            Status::Disabled => 2,
        },
        "lastLogin": null,
        "data": user.data_json(),
        "introReviewed": user.intro_reviewed.unwrap_or(false),
        "allDeviceTypesAvailable": true,
    })
}

/// DeviceHive's timestamp: `yyyy-MM-dd'T'HH:mm:ss.SSS` in UTC, without a zone.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// `server/info`'s `info` (the WebSocket flavour: `restServerUrl`).
pub fn websocket_info(rest_url: Option<&str>) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "serverTimestamp": timestamp(time::OffsetDateTime::now_utc()),
        "restServerUrl": rest_url,
    })
}

/// `GET info`'s body (the REST flavour: `webSocketServerUrl`).
pub fn rest_info(websocket_url: Option<&str>) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "serverTimestamp": timestamp(time::OffsetDateTime::now_utc()),
        "webSocketServerUrl": websocket_url,
    })
}

/// Why a request was refused: DeviceHive's code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub error: String,
}

impl Refusal {
    pub fn new(code: u16, error: impl Into<String>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }

    fn bad(error: impl Into<String>) -> Self {
        Self::new(400, error)
    }

    /// A message on a connection that never authenticated, or a REST call without a token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    /// What DeviceHive's permission check answers a caller without the permission an action
    /// needs (reading another user is for administrators).
    pub fn access_denied() -> Self {
        Self::new(403, "Access is denied")
    }

    /// An `authenticate` whose token is refused: DeviceHive's `Unauthorized` for no token,
    /// `Token expired`, and `Invalid credentials` for anything else.
    pub fn for_token(err: &AuthError) -> Self {
        match err {
            AuthError::MissingToken => Self::unauthorized(),
            AuthError::Expired => Self::new(401, "Token expired"),
            AuthError::MalformedHeader | AuthError::Rejected(_) => {
                Self::new(401, "Invalid credentials")
            }
        }
    }
}

/// The frame as JSON, and the `action` and `requestId` to echo whatever else is wrong with it.
pub fn read_frame(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
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

/// A REST body: empty is "nothing sent"; anything but a JSON object is DeviceHive's 400.
pub fn read_body(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::new(413, "Request entity too large"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal::bad("Invalid request parameters")),
    }
}

/// DeviceHive's success message, with the answer's payload under its key.
pub fn success(action: &str, request_id: Option<&Value>, payload: Option<(&str, Value)>) -> Value {
    let mut m = json!({"action": action, "requestId": request_id, "status": "success"});
    if let Some((key, value)) = payload {
        m[key] = value;
    }
    m
}

/// DeviceHive's error message. It echoes the request's `action` and `requestId` (`null` when
/// the request had none); a frame that was not JSON has nothing to echo.
pub fn failure(request: Option<&Map<String, Value>>, refusal: &Refusal) -> Value {
    let mut m = json!({"status": "error", "code": refusal.code, "error": refusal.error});
    if let Some(request) = request {
        m["action"] = request.get("action").cloned().unwrap_or(Value::Null);
        m["requestId"] = request.get("requestId").cloned().unwrap_or(Value::Null);
    }
    m
}

/// DeviceHive's REST error body: `{"error": <status>, "message": <text>}`.
pub fn rest_failure(refusal: &Refusal) -> Response<Body> {
    json_response(
        refusal.code,
        &json!({"error": refusal.code, "message": refusal.error}),
    )
}

/// The one place `Error` becomes DeviceHive's code and text.
pub fn refusal_for(err: &Error, user_id: Option<UserId>) -> Refusal {
    match err {
        Error::Unauthenticated(AuthError::Expired) => Refusal::new(401, "Token expired"),
        Error::Unauthenticated(_) => Refusal::unauthorized(),
        Error::ReauthenticationRequired { max_age_seconds } => Refusal::new(
            401,
            format!("Sign in again to change the password or email: it needs a sign-in within the last {max_age_seconds} seconds"),
        ),
        Error::TooManyAttempts { retry_at } => Refusal::new(
            429,
            format!(
                "Too many failed password attempts: password changes are locked for {} more seconds",
                (retry_at - shared::auth::now_unix()).max(1)
            ),
        ),
        Error::Forbidden(_) | Error::PreconditionFailed => {
            Refusal::new(403, "Admin permissions required for this action")
        }
        Error::NotFound => Refusal::new(
            404,
            match user_id {
                Some(id) => format!("User with id = {id} not found"),
                None => "User not found".into(),
            },
        ),
        Error::Conflict {
            field: UniqueField::Username,
            ..
        } => Refusal::new(
            403,
            "User with such login already exists. Please, select another one",
        ),
        Error::Conflict { field, value } => Refusal::new(
            403,
            format!("User with such {field} already exists: {value}"),
        ),
        Error::Invalid(Invalid { field, reason }) => {
            Refusal::bad(format!("Invalid {field}: {reason}"))
        }
        Error::TooLarge(what) => Refusal::bad(what.clone()),
        Error::Unavailable(_) | Error::Contention => {
            shared::telemetry::log_unexpected("devicehive", err);
            Refusal::new(503, "Service temporarily unavailable, retry later")
        }
        Error::CodeRejected | Error::WrongPassword | Error::Internal(_) => {
            shared::telemetry::log_unexpected("devicehive", err);
            Refusal::new(500, "Internal server error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(user: Value) -> Result<UserUpdate, Refusal> {
        UserUpdate::parse(user.as_object().unwrap())
    }

    #[test]
    fn user_objects_parse_like_devicehive() {
        let u =
            parse(json!({"password": "secret1", "data": {"x": 1}, "introReviewed": true})).unwrap();
        assert!(u.admin_fields.is_empty());
        assert!(u.password.is_some());
        let u = parse(json!({"login": " bob ", "role": 0, "status": 2})).unwrap();
        assert_eq!(u.admin_fields, vec!["login", "role", "status"]);
        assert_eq!(u.patch.username.unwrap().as_str(), "bob");
        assert_eq!(u.patch.status, Some(Status::Disabled));
        assert_eq!(
            parse(json!({"password": "12345"})).unwrap_err().error,
            "Password can contain only from 6 to 128 symbols!"
        );
        assert_eq!(parse(json!({"role": 7})).unwrap_err().code, 400);
        assert_eq!(parse(json!({"data": [1]})).unwrap_err().code, 400);
        // DeviceHive's own semantics: an empty password changes nothing, `data: null` clears.
        let u = parse(json!({"password": "", "data": null, "login": null})).unwrap();
        assert!(u.password.is_none());
        assert_eq!(u.patch.data, Some(Change::Clear));
        assert!(u.admin_fields.is_empty(), "null is not sent");
        assert!(parse(json!({})).unwrap().patch.is_empty());
    }

    #[test]
    fn user_ids_are_read_as_gson_reads_a_long() {
        assert_eq!(Target::parse(Some(&json!("current"))), Ok(Target::Current));
        assert_eq!(
            Target::parse(Some(&json!(5))),
            Ok(Target::Id(UserId::new(5).unwrap()))
        );
        assert_eq!(
            Target::parse(Some(&json!("5"))),
            Ok(Target::Id(UserId::new(5).unwrap()))
        );
        for bad in [
            json!(null),
            json!(""),
            json!("abc"),
            json!(true),
            json!({}),
            json!(0),
        ] {
            assert_eq!(
                Target::parse(Some(&bad)).unwrap_err().error,
                "User id is wrong or empty",
                "{bad}"
            );
        }
        assert!(Target::parse(None).is_err());
    }

    #[test]
    fn messages_and_frames() {
        let msg = json!({"user": 3}).as_object().unwrap().clone();
        assert_eq!(
            user_object(&msg).unwrap_err().error,
            "Malformed Json received."
        );
        let msg = json!({"userId": 1}).as_object().unwrap().clone();
        assert_eq!(user_object(&msg).unwrap_err().error, "User is required");
        assert_eq!(
            read_frame(b"nope").unwrap_err().error,
            "Malformed Json received."
        );
        assert_eq!(read_body(b"").unwrap(), Map::new());
        assert_eq!(
            read_body(b"[1]").unwrap_err().error,
            "Invalid request parameters"
        );
    }

    #[test]
    fn answers_have_devicehives_shape() {
        assert_eq!(
            success(USER_UPDATE, Some(&json!("r")), None),
            json!({"action": USER_UPDATE, "requestId": "r", "status": "success"})
        );
        assert_eq!(
            success(USER_GET, None, Some(("user", json!({"id": 1})))),
            json!({"action": USER_GET, "requestId": null, "status": "success", "user": {"id": 1}})
        );
        let request = json!({"action": USER_UPDATE, "requestId": 7});
        assert_eq!(
            failure(request.as_object(), &Refusal::new(403, "no")),
            json!({"action": USER_UPDATE, "requestId": 7, "status": "error", "code": 403, "error": "no"})
        );
        assert_eq!(
            failure(json!({"requestId": 7}).as_object(), &Refusal::bad("x")),
            json!({"action": null, "requestId": 7, "status": "error", "code": 400, "error": "x"})
        );
        assert_eq!(
            failure(None, &Refusal::bad("Malformed Json received.")),
            json!({"status": "error", "code": 400, "error": "Malformed Json received."})
        );
        let info = websocket_info(Some("http://h/api/rest"));
        assert_eq!(info.as_object().unwrap().len(), 3);
        let ts = info["serverTimestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2018-05-25T12:00:00.123".len(), "{ts}");
        assert!(!ts.ends_with('Z'));
        assert_eq!(rest_info(None)["webSocketServerUrl"], Value::Null);
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
            Refusal::for_token(&AuthError::MissingToken).error,
            "Unauthorized"
        );
        assert_eq!(
            Refusal::for_token(&AuthError::Expired).error,
            "Token expired"
        );
        assert_eq!(
            Refusal::for_token(&AuthError::Rejected("x".into())).error,
            "Invalid credentials"
        );
    }
}
