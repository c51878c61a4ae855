//! AAA `PUT /api/AAA/UserProfiles/{id}`: the user-profile body (PascalCase) in, the
//! `SuccessfulUpdateOperation` envelope with one `AAAUsersRead` out, errors as
//! `{ success: false, message, errors: [{ <record field>: <text> }] }`.
//!
//! Errors are keyed by the top-level record field they concern (`EmailAddress`, `Preferences`,
//! ...); the text names the exact place (`Preferences[2].Override ...`). Failures that concern no
//! field (not JSON, 401, 404, 503, ...) carry `errors: []`.

use std::collections::BTreeMap;
use std::fmt;

use lambda_http::{Body, Response};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use shared::apigw::http::{json_response, BodyError};
use shared::error::{Error, UniqueField};
use shared::patch::UserPatch;
use shared::user::User;
use shared::values::{Email, Invalid, Password, Status, Text, MAX_ENTRIES};

/// `AuthenticationType` 1: the directory holds the password. Every other id is external.
pub const INTERNAL_AUTH: i64 = 1;
/// Minimum password length.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Largest id the API's int32 fields carry.
pub const MAX_INT32: i64 = i32::MAX as i64;

/// The record fields an error may be keyed by.
const RECORD_FIELDS: &[&str] = &[
    "id",
    "UserID",
    "UserName",
    "AccountStatus",
    "AuthenticationType",
    "EmailAddress",
    "Password",
    "RepeatPassword",
    "Preferences",
    "Properties",
];

/// The AAA record field for a field name a shared constructor used.
fn record_field(field: &str) -> &str {
    match field {
        "email" => "EmailAddress",
        "password" => "Password",
        "username" => "UserName",
        "status" => "AccountStatus",
        other => other,
    }
}

/// The top-level record field of a path such as `Preferences[0].PreferenceValue`.
fn top_field(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// `PreferenceValue`: an integer or a string in the request, always a string once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseString(pub String);

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LooseString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseString, E> {
                Ok(LooseString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseString, E> {
                Ok(LooseString(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseString, E> {
                Ok(LooseString(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LooseString, E> {
                Ok(LooseString(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
pub struct PreferenceBody {
    #[serde(rename = "PreferenceID", default)]
    pub preference_id: Option<i64>,
    #[serde(rename = "PreferenceName", default)]
    pub preference_name: Option<String>,
    #[serde(rename = "PreferenceValue", default)]
    pub preference_value: Option<LooseString>,
    #[serde(rename = "Override", default)]
    pub override_: Option<i64>,
    #[serde(rename = "Description", default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PropertyBody {
    #[serde(rename = "PropertyID", default)]
    pub property_id: Option<i64>,
    #[serde(rename = "PropertyName", default)]
    pub property_name: Option<String>,
    #[serde(rename = "PropertyValue", default)]
    pub property_value: Option<String>,
    #[serde(rename = "Description", default)]
    pub description: Option<String>,
}

/// The request body. Every field is optional (`null` is "not sent"); unknown fields, such as the
/// read-only ones of `AAAUsersRead` a client PUTs back, are ignored.
#[derive(Debug, Deserialize)]
pub struct UpdateUserProfileBody {
    #[serde(rename = "AccountStatus", default)]
    pub account_status: Option<i64>,
    #[serde(rename = "AuthenticationType", default)]
    pub authentication_type: Option<i64>,
    #[serde(rename = "EmailAddress", default)]
    pub email_address: Option<String>,
    #[serde(rename = "Password", default)]
    pub password: Option<String>,
    #[serde(rename = "RepeatPassword", default)]
    pub repeat_password: Option<String>,
    #[serde(rename = "Preferences", default)]
    pub preferences: Option<Vec<PreferenceBody>>,
    #[serde(rename = "Properties", default)]
    pub properties: Option<Vec<PropertyBody>>,
}

/// One sent preference: its id and the sub-fields that were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceInput {
    pub id: i64,
    pub name: Option<String>,
    pub value: Option<String>,
    pub locked: Option<bool>,
    pub description: Option<String>,
}

/// One sent property: its id and the sub-fields that were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyInput {
    pub id: i64,
    pub name: Option<String>,
    pub value: Option<String>,
    pub description: Option<String>,
}

/// The parsed request: only what was sent, every value checked.
#[derive(Debug, Default)]
pub struct UpdateUserProfile {
    /// `status`, `auth_type` (+ `clear_password` for external) and `email`, as sent.
    pub patch: UserPatch,
    /// The new password (already checked against `RepeatPassword`); hash it before writing.
    pub password: Option<Password>,
    pub preferences: Vec<PreferenceInput>,
    pub properties: Vec<PropertyInput>,
}

impl UpdateUserProfile {
    /// Whether the request asked for nothing.
    pub fn is_empty(&self) -> bool {
        self.patch.is_empty()
            && self.password.is_none()
            && self.preferences.is_empty()
            && self.properties.is_empty()
    }

    /// Whether applying the request needs the stored user: entries are merged with the stored
    /// ones, and a password is only accepted when the stored authentication type is Internal.
    pub fn needs_read(&self) -> bool {
        !self.preferences.is_empty()
            || !self.properties.is_empty()
            || (self.password.is_some() && self.patch.auth_type.is_none())
    }
}

/// `AccountStatus` as sent: 1 enabled, 0 disabled.
pub fn account_status(status: Status) -> i64 {
    i64::from(status == Status::Active)
}

fn auth_type_name(id: i64) -> &'static str {
    if id == INTERNAL_AUTH {
        "Internal"
    } else {
        "External"
    }
}

/// A bounded text of an entry, keyed by its array (`Preferences`), naming its exact path.
fn entry_text(key: &str, path: String, raw: Option<String>) -> Result<Option<String>, Invalid> {
    raw.map(|raw| {
        Text::parse(key, &raw)
            .map(Text::into_string)
            .map_err(|e| Invalid::new(key, format!("{path} {}", e.reason)))
    })
    .transpose()
}

fn entry_id(key: &str, path: String, id: Option<i64>) -> Result<i64, Invalid> {
    match id {
        None => Err(Invalid::new(key, format!("{path} is required"))),
        Some(id) if (1..=MAX_INT32).contains(&id) => Ok(id),
        Some(id) => Err(Invalid::new(
            key,
            format!("{path} must be an integer from 1 to {MAX_INT32}, got {id}"),
        )),
    }
}

fn check_entries<T>(key: &str, entries: &[T]) -> Result<(), Invalid> {
    if entries.len() > MAX_ENTRIES {
        return Err(Invalid::new(
            key,
            format!(
                "at most {MAX_ENTRIES} entries are allowed, got {}",
                entries.len()
            ),
        ));
    }
    Ok(())
}

impl UpdateUserProfileBody {
    /// Checks every sent value. Needs no stored state: what depends on the stored user
    /// (authorization, entry merges, the stored authentication type) is decided by the caller.
    pub fn parse(self) -> Result<UpdateUserProfile, Error> {
        let mut out = UpdateUserProfile::default();
        if let Some(raw) = self.account_status {
            out.patch.status = Some(match raw {
                1 => Status::Active,
                0 => Status::Disabled,
                other => {
                    return Err(Error::invalid(
                        "AccountStatus",
                        format!("must be 1 (enabled) or 0 (disabled), got {other}"),
                    ))
                }
            });
        }
        if let Some(raw) = self.authentication_type {
            if !(1..=MAX_INT32).contains(&raw) {
                return Err(Error::invalid(
                    "AuthenticationType",
                    format!("must be an authentication type id from 1 to {MAX_INT32} (1 is Internal), got {raw}"),
                ));
            }
            out.patch.auth_type = Some(raw);
            // External authentication holds no password here.
            out.patch.clear_password = raw != INTERNAL_AUTH;
        }
        if let Some(raw) = &self.email_address {
            out.patch.email =
                Some(Email::parse(raw).map_err(|e| Invalid::new("EmailAddress", e.reason))?);
        }
        if self.password.is_some() || self.repeat_password.is_some() {
            if out.patch.auth_type.is_some_and(|t| t != INTERNAL_AUTH) {
                return Err(password_not_internal());
            }
            let password = self
                .password
                .as_deref()
                .map(|raw| Password::parse("Password", raw, MIN_PASSWORD_CHARS))
                .transpose()?;
            // Both must be sent, and be equal.
            if password.is_none() || self.password != self.repeat_password {
                return Err(Error::invalid("RepeatPassword", "Passwords do not match"));
            }
            out.password = password;
        }
        if let Some(prefs) = self.preferences {
            check_entries("Preferences", &prefs)?;
            for (i, p) in prefs.into_iter().enumerate() {
                let at = |f: &str| format!("Preferences[{i}].{f}");
                let locked = match p.override_ {
                    None => None,
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    Some(other) => {
                        return Err(Error::invalid(
                            "Preferences",
                            format!(
                                "{} must be 0 (unlocked) or 1 (locked), got {other}",
                                at("Override")
                            ),
                        ))
                    }
                };
                out.preferences.push(PreferenceInput {
                    id: entry_id("Preferences", at("PreferenceID"), p.preference_id)?,
                    name: entry_text("Preferences", at("PreferenceName"), p.preference_name)?,
                    value: entry_text(
                        "Preferences",
                        at("PreferenceValue"),
                        p.preference_value.map(|v| v.0),
                    )?,
                    locked,
                    description: entry_text("Preferences", at("Description"), p.description)?,
                });
            }
        }
        if let Some(props) = self.properties {
            check_entries("Properties", &props)?;
            for (i, p) in props.into_iter().enumerate() {
                let at = |f: &str| format!("Properties[{i}].{f}");
                out.properties.push(PropertyInput {
                    id: entry_id("Properties", at("PropertyID"), p.property_id)?,
                    name: entry_text("Properties", at("PropertyName"), p.property_name)?,
                    value: entry_text("Properties", at("PropertyValue"), p.property_value)?,
                    description: entry_text("Properties", at("Description"), p.description)?,
                });
            }
        }
        Ok(out)
    }
}

/// A password sent for a user whose (resulting) authentication type is external.
pub fn password_not_internal() -> Error {
    Error::invalid(
        "Password",
        "is only accepted for Internal authentication (AuthenticationType 1)",
    )
}

/// A refusal concerning one record field: rendered as 403 with `errors: [{ field: reason }]`.
pub fn forbidden(field: &str, reason: impl fmt::Display) -> Error {
    Error::Forbidden(format!("{field}: {reason}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceRead {
    #[serde(rename = "PreferenceID")]
    pub preference_id: i64,
    #[serde(rename = "PreferenceName")]
    pub preference_name: String,
    #[serde(rename = "PreferenceValue")]
    pub preference_value: String,
    #[serde(rename = "Override")]
    pub override_: i64,
    #[serde(rename = "Description")]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyRead {
    #[serde(rename = "PropertyID")]
    pub property_id: i64,
    #[serde(rename = "PropertyName")]
    pub property_name: String,
    #[serde(rename = "PropertyValue")]
    pub property_value: String,
    #[serde(rename = "Description")]
    pub description: String,
}

/// `AAAUsersRead`. `Password`/`RepeatPassword` are write-only and never answered; login
/// history, expirations and subgroups are not held by the directory and answered with the
/// document's "never / none" values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersRead {
    #[serde(rename = "UserID")]
    pub user_id: i64,
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "FullName")]
    pub full_name: String,
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
    #[serde(rename = "AccountStatus")]
    pub account_status: i64,
    #[serde(rename = "AuthenticationType")]
    pub authentication_type: IdName,
    #[serde(rename = "AuthenticationTypeName")]
    pub authentication_type_name: String,
    #[serde(rename = "UserGroup")]
    pub user_group: IdName,
    #[serde(rename = "UserGroupName")]
    pub user_group_name: String,
    #[serde(rename = "Subgroups")]
    pub subgroups: Vec<i64>,
    #[serde(rename = "Preferences")]
    pub preferences: Vec<PreferenceRead>,
    #[serde(rename = "Properties")]
    pub properties: Vec<PropertyRead>,
    #[serde(rename = "FailedLoginCount")]
    pub failed_login_count: u32,
    #[serde(rename = "LastLoginFailed")]
    pub last_login_failed: i64,
    #[serde(rename = "LastLoginSuccess")]
    pub last_login_success: i64,
    #[serde(rename = "AccountExpiration")]
    pub account_expiration: String,
    #[serde(rename = "PasswordExpiration")]
    pub password_expiration: String,
    #[serde(rename = "SupportUsername")]
    pub support_username: String,
}

impl UsersRead {
    pub fn new(user: &User) -> Self {
        let auth = auth_type_name(user.auth_type);
        let group = if user.is_admin() {
            IdName {
                id: 1,
                name: "Administrators".into(),
            }
        } else {
            IdName {
                id: 2,
                name: "Users".into(),
            }
        };
        Self {
            user_id: user.id.get(),
            user_name: user.username.clone(),
            full_name: user.display_name().unwrap_or_default(),
            email_address: user.email.clone(),
            account_status: account_status(user.status),
            authentication_type: IdName {
                id: user.auth_type,
                name: auth.into(),
            },
            authentication_type_name: auth.into(),
            user_group_name: group.name.clone(),
            user_group: group,
            subgroups: Vec::new(),
            preferences: user
                .preferences
                .values()
                .map(|p| PreferenceRead {
                    preference_id: p.id,
                    preference_name: p.name.clone(),
                    preference_value: p.value.clone(),
                    override_: i64::from(p.locked),
                    description: p.description.clone(),
                })
                .collect(),
            properties: user
                .properties
                .values()
                .map(|p| PropertyRead {
                    property_id: p.id,
                    property_name: p.name.clone(),
                    property_value: p.value.clone(),
                    description: p.description.clone(),
                })
                .collect(),
            failed_login_count: user.password_failures,
            last_login_failed: 0,
            last_login_success: 0,
            account_expiration: "[Never]".into(),
            password_expiration: "2147483647".into(),
            support_username: String::new(),
        }
    }
}

/// `SuccessfulUpdateOperation` with its one record.
#[derive(Debug, Serialize, Deserialize)]
pub struct SuccessBody {
    pub success: bool,
    pub message: String,
    pub data: Vec<UsersRead>,
    pub total: i64,
}

pub fn updated(user: &User) -> Response<Body> {
    json_response(
        200,
        &SuccessBody {
            success: true,
            message: "Updated record".into(),
            data: vec![UsersRead::new(user)],
            total: 1,
        },
    )
}

/// The failed-operation body: `errors` keyed by record field.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub success: bool,
    pub message: String,
    pub errors: Vec<BTreeMap<String, String>>,
}

fn failure(status: u16, message: &str, errors: Vec<BTreeMap<String, String>>) -> Response<Body> {
    json_response(
        status,
        &ErrorBody {
            success: false,
            message: message.to_owned(),
            errors,
        },
    )
}

fn keyed(field: &str, text: impl Into<String>) -> Vec<BTreeMap<String, String>> {
    vec![BTreeMap::from([(field.to_owned(), text.into())])]
}

/// A body that is not the request schema: 400. A wrong type is keyed by its top-level record
/// field; not JSON, not an object, empty or over the size limit carry `errors: []`.
pub fn body_error(e: &BodyError) -> Response<Body> {
    match e {
        BodyError::Shape { path, message } => {
            let field = top_field(path);
            let text = if matches!(field, "Password" | "RepeatPassword") {
                // serde's text quotes the value sent, and a password is never echoed.
                format!("{field} must be a string")
            } else {
                format!("{path}: {message}")
            };
            failure(400, "Validation failed", keyed(field, text))
        }
        // The message never quotes the body: serde_json reports only line and column.
        other => failure(400, &capitalize(&other.to_string()), Vec::new()),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The one place `Error` becomes AAA's failed-operation body.
///
/// `Error::TooLarge` (the user item would outgrow DynamoDB's limit) is a 400 like every other
/// invalid request: the document lists no other status for bad input, and a client fixes it the
/// same way (send fewer or shorter entries).
pub fn render(err: &Error) -> Response<Body> {
    match err {
        Error::Unauthenticated(_) => failure(401, "Unauthorized", Vec::new()),
        Error::ReauthenticationRequired { max_age_seconds } => failure(
            401,
            &format!("Sign in again to change the email address or password: it needs a sign-in within the last {max_age_seconds} seconds"),
            Vec::new(),
        ),
        Error::TooManyAttempts { retry_at } => failure(
            429,
            &format!(
                "Too many failed password attempts: password changes are locked for {} more seconds",
                (retry_at - shared::auth::now_unix()).max(1)
            ),
            Vec::new(),
        ),
        Error::Forbidden(reason) => {
            let errors = match reason.split_once(": ") {
                Some((field, text)) if RECORD_FIELDS.contains(&field) => keyed(field, text),
                _ => Vec::new(),
            };
            failure(403, "Forbidden", errors)
        }
        Error::NotFound | Error::PreconditionFailed => failure(404, "Record not found", Vec::new()),
        Error::Invalid(inv) => failure(
            400,
            "Validation failed",
            keyed(record_field(&inv.field), inv.reason.clone()),
        ),
        Error::TooLarge(what) => failure(400, &format!("Request too large: {what}"), Vec::new()),
        Error::Conflict { field, value } => {
            let field = match field {
                UniqueField::Email => "EmailAddress",
                UniqueField::Username => "UserName",
                UniqueField::Id => "UserID",
                UniqueField::Uuid => "UUID",
            };
            failure(
                409,
                "Duplicate record",
                keyed(field, format!("{value} already in use")),
            )
        }
        Error::Unavailable(_) | Error::Contention => {
            shared::telemetry::log_unexpected("aaa", err);
            failure(
                503,
                "Service temporarily unavailable, please retry",
                Vec::new(),
            )
        }
        Error::CodeRejected | Error::WrongPassword | Error::Internal(_) => {
            shared::telemetry::log_unexpected("aaa", err);
            failure(500, "Exception thrown", Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shared::auth::AuthError;
    use shared::testing::json_of;

    use super::*;

    fn failure_body(message: &str, errors: Value) -> Value {
        json!({"success": false, "message": message, "errors": errors})
    }

    #[test]
    fn every_error_renders_as_a_failed_operation_keyed_by_record_field() {
        let cases: Vec<(Error, u16, Value)> = vec![
            (
                Error::Unauthenticated(AuthError::Expired),
                401,
                failure_body("Unauthorized", json!([])),
            ),
            (
                forbidden("AccountStatus", "only an administrator may change it"),
                403,
                failure_body(
                    "Forbidden",
                    json!([{"AccountStatus": "only an administrator may change it"}]),
                ),
            ),
            (
                Error::Forbidden("not a record field: x".into()),
                403,
                failure_body("Forbidden", json!([])),
            ),
            (
                Error::NotFound,
                404,
                failure_body("Record not found", json!([])),
            ),
            (
                Error::PreconditionFailed,
                404,
                failure_body("Record not found", json!([])),
            ),
            (
                Error::invalid("email", "not a valid email address: x"),
                400,
                failure_body(
                    "Validation failed",
                    json!([{"EmailAddress": "not a valid email address: x"}]),
                ),
            ),
            (
                Error::TooLarge("big".into()),
                400,
                failure_body("Request too large: big", json!([])),
            ),
            (
                Error::Conflict {
                    field: UniqueField::Email,
                    value: "a@b.io".into(),
                },
                409,
                failure_body(
                    "Duplicate record",
                    json!([{"EmailAddress": "a@b.io already in use"}]),
                ),
            ),
            (
                Error::Unavailable("down".into()),
                503,
                failure_body("Service temporarily unavailable, please retry", json!([])),
            ),
            (
                Error::Contention,
                503,
                failure_body("Service temporarily unavailable, please retry", json!([])),
            ),
            (
                Error::Internal("bug".into()),
                500,
                failure_body("Exception thrown", json!([])),
            ),
        ];
        for (err, status, body) in cases {
            assert_eq!(json_of(&render(&err)), (status, body), "{err:?}");
        }
    }

    #[test]
    fn bodies_that_are_not_the_schema_never_echo_a_password() {
        let shape = |path: &str| BodyError::Shape {
            path: path.into(),
            message: "invalid type: integer `12345678`, expected a string".into(),
        };
        assert_eq!(
            json_of(&body_error(&shape("Password"))),
            (
                400,
                failure_body(
                    "Validation failed",
                    json!([{"Password": "Password must be a string"}])
                )
            )
        );
        let (status, body) = json_of(&body_error(&shape("Preferences[0].PreferenceName")));
        assert_eq!(status, 400);
        assert!(body["errors"][0]["Preferences"].is_string(), "{body}");
        assert_eq!(
            json_of(&body_error(&BodyError::NotObject)),
            (
                400,
                failure_body("The request body must be a JSON object", json!([]))
            )
        );
    }

    #[test]
    fn values_are_checked_without_the_store() {
        let parse = |v: Value| {
            serde_json::from_value::<UpdateUserProfileBody>(v)
                .unwrap()
                .parse()
        };
        let field = |v: Value| match parse(v).unwrap_err() {
            Error::Invalid(i) => record_field(&i.field).to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"AccountStatus": 3})), "AccountStatus");
        assert_eq!(
            field(json!({"AuthenticationType": 0})),
            "AuthenticationType"
        );
        assert_eq!(field(json!({"EmailAddress": "nope"})), "EmailAddress");
        assert_eq!(
            field(json!({"Password": "long-enough-1", "RepeatPassword": "other-one-22"})),
            "RepeatPassword"
        );
        assert_eq!(
            field(json!({"Password": "long-enough-1"})),
            "RepeatPassword"
        );
        assert_eq!(
            field(
                json!({"AuthenticationType": 2, "Password": "long-enough-1", "RepeatPassword": "long-enough-1"})
            ),
            "Password"
        );
        assert_eq!(
            field(json!({"Preferences": [{"PreferenceID": 1, "Override": 2}]})),
            "Preferences"
        );
        assert_eq!(
            field(json!({"Properties": [{"PropertyName": "x"}]})),
            "Properties"
        );
        let ok =
            parse(json!({"Preferences": [{"PreferenceID": 3, "PreferenceValue": 7}]})).unwrap();
        assert_eq!(ok.preferences[0].value.as_deref(), Some("7"));
        assert!(ok.needs_read());
    }
}
