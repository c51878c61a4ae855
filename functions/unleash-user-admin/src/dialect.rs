//! Unleash `PUT /api/admin/user-admin/:id`: `updateUserSchema` in, `createUserResponseSchema`
//! out, errors as `{ id, name, message }`.

use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use shared::apigw::http::{json_response, BodyError};
use shared::auth::AuthError;
use shared::error::{Error, UniqueField};
use shared::patch::{RolesChange, UserPatch};
use shared::user::User;
use shared::values::{Email, Role, Text};

/// Unleash's root roles with their ids: Admin, Editor and Viewer are the root roles Unleash seeds
/// (1-3); Owner and Member are its seeded project roles (4, 5), reused here as root roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootRole {
    Admin = 1,
    Editor = 2,
    Viewer = 3,
    Owner = 4,
    Member = 5,
}

impl RootRole {
    const ALL: [RootRole; 5] = [
        RootRole::Admin,
        RootRole::Editor,
        RootRole::Viewer,
        RootRole::Owner,
        RootRole::Member,
    ];

    pub fn id(self) -> i64 {
        self as i64
    }

    pub fn name(self) -> &'static str {
        match self {
            RootRole::Admin => "Admin",
            RootRole::Editor => "Editor",
            RootRole::Viewer => "Viewer",
            RootRole::Owner => "Owner",
            RootRole::Member => "Member",
        }
    }

    pub fn from_id(id: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// `rootRole` as sent: Unleash echoes it back in the same form.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RootRoleValue {
    Id(i64),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserBody {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub root_role: Option<RootRoleValue>,
}

/// The parsed request: only what was sent.
#[derive(Debug)]
pub struct UpdateUser {
    pub patch: UserPatch,
    pub root_role_sent: Option<RootRoleValue>,
}

impl UpdateUserBody {
    /// As Unleash's `updateUser` does: an empty `name` or `email` keeps the stored value
    /// (`name || preUser.name`), `rootRole` 0 (what its admin UI sends when no role is picked)
    /// changes no role, and a numeric string is a role id.
    pub fn parse(mut self) -> Result<UpdateUser, Error> {
        let mut patch = UserPatch::default();
        self.email = self.email.filter(|e| !e.is_empty());
        self.name = self.name.filter(|n| !n.is_empty());
        if let Some(RootRoleValue::Name(name)) = &self.root_role {
            if let Ok(id) = name.parse::<i64>() {
                self.root_role = Some(RootRoleValue::Id(id));
            }
        }
        if let Some(email) = &self.email {
            patch.email = Some(Email::parse(email).map_err(|_| {
                Error::invalid(
                    "email",
                    format!("must be a valid email address. You sent {email:?}"),
                )
            })?);
        }
        if let Some(name) = &self.name {
            patch.name = Some(Text::parse("name", name)?);
        }
        if let Some(sent) = self
            .root_role
            .as_ref()
            .filter(|r| **r != RootRoleValue::Id(0))
        {
            let role = match sent {
                RootRoleValue::Id(id) => RootRole::from_id(*id),
                RootRoleValue::Name(name) => RootRole::from_name(name),
            }
            .ok_or_else(|| {
                Error::invalid(
                    "rootRole",
                    format!(
                        "must be one of the role ids 1-5 or the names Admin, Editor, Viewer, Owner, Member. You sent {}",
                        serde_json::to_string(sent).unwrap_or_default()
                    ),
                )
            })?;
            patch.root_role = Some(role.id());
            patch.roles = Some(if role == RootRole::Admin {
                RolesChange::Grant(Role::admin())
            } else {
                RolesChange::Revoke(Role::admin())
            });
        }
        Ok(UpdateUser {
            patch,
            root_role_sent: self.root_role,
        })
    }
}

/// `createUserResponseSchema`. Fields the directory does not hold are left out, never made up.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    pub id: i64,
    pub name: Option<String>,
    pub email: String,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_role: Option<RootRoleValue>,
    pub seen_at: Option<String>,
    pub created_at: String,
    pub account_type: String,
    #[serde(rename = "isAPI")]
    pub is_api: bool,
    pub permissions: Vec<String>,
}

impl UserResponse {
    /// `rootRole` is in the answer only when the request sent one, and then as it was sent:
    /// Unleash answers `{ ...user, rootRole: normalizedRootRole }`, which drops the key when none
    /// was sent (its e2e test "should not require any fields on update").
    pub fn new(user: &User, root_role_sent: Option<RootRoleValue>) -> Self {
        Self {
            id: user.id.get(),
            name: user.display_name(),
            email: user.email.clone(),
            username: Some(user.username.clone()),
            image_url: user.newm.picture_url.clone(),
            root_role: root_role_sent,
            seen_at: None,
            created_at: user.created_at.clone(),
            account_type: "User".to_owned(),
            is_api: false,
            permissions: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub id: String,
    pub name: String,
    pub message: String,
    /// Unleash's `details` (only the content-type error carries them here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
}

/// The only content type Unleash's user-admin PUT accepts.
pub const ACCEPTED_CONTENT_TYPE: &str = "application/json";

/// Whether a `Content-Type` header value is JSON as Unleash's `type-is` check reads it:
/// `application/json`, parameters (`; charset=utf-8`) allowed, case-insensitive.
pub fn is_json_content_type(value: Option<&str>) -> bool {
    value
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(ACCEPTED_CONTENT_TYPE))
}

/// 415 `ContentTypeError`, Unleash's answer to a PUT whose body is not declared as JSON.
pub fn content_type_error(provided: Option<&str>) -> Response<Body> {
    let provided = provided
        .filter(|p| !p.is_empty())
        .unwrap_or("you didn't provide one");
    let message = format!(
        "We do not accept the content-type you provided ({provided}). Try using one of the content-types we do accept instead ({ACCEPTED_CONTENT_TYPE}) and make sure the body is in the corresponding format."
    );
    json_response(
        415,
        &ErrorBody {
            id: uuid::Uuid::new_v4().to_string(),
            name: "ContentTypeError".to_owned(),
            details: vec![ErrorDetail {
                message: message.clone(),
            }],
            message,
        },
    )
}

fn error(status: u16, name: &str, message: String) -> Response<Body> {
    json_response(
        status,
        &ErrorBody {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            message,
            details: Vec::new(),
        },
    )
}

fn validation(message: String) -> Response<Body> {
    error(
        400,
        "ValidationError",
        format!("The request payload you provided doesn't conform to the schema. {message}"),
    )
}

/// A body that is not the request schema.
pub fn body_error(e: &BodyError) -> Response<Body> {
    validation(match e {
        BodyError::Shape { path, message } => {
            format!("The .{path} property is invalid: {message}.")
        }
        other => format!("{}.", capitalize(&other.to_string())),
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The one place `Error` becomes Unleash's error body.
pub fn render(err: &Error, user_id: Option<i64>) -> Response<Body> {
    match err {
        Error::Unauthenticated(AuthError::MissingToken) => error(
            401,
            "AuthenticationRequired",
            "You must log in to use Unleash. Your request had no authorization header, so we could not authorize you. Try logging in at /auth/simple/login.".into(),
        ),
        Error::Unauthenticated(_) => error(
            401,
            "AuthenticationRequired",
            "You must log in to use Unleash. The token in your authorization header is invalid or expired. Try logging in at /auth/simple/login.".into(),
        ),
        Error::ReauthenticationRequired { max_age_seconds } => error(
            401,
            "AuthenticationRequired",
            format!("You must log in again to change your own email: your last login is more than {max_age_seconds} seconds old. Try logging in at /auth/simple/login."),
        ),
        Error::Forbidden(_) => error(
            403,
            "NoAccessError",
            "You need the \"ADMIN\" permission to perform this action.".into(),
        ),
        Error::NotFound | Error::PreconditionFailed => error(
            404,
            "NotFoundError",
            match user_id {
                Some(id) => format!("Could not find user with id {id}."),
                None => "Could not find that user.".into(),
            },
        ),
        Error::Invalid(inv) => validation(format!("The .{} property {}.", inv.field, inv.reason)),
        Error::TooLarge(what) => validation(format!("The request is too large: {what}.")),
        Error::Conflict { field, value } => error(
            409,
            "NameExistsError",
            match field {
                UniqueField::Email => format!("Another user already has the email {value}."),
                other => format!("Another user already has that {other}."),
            },
        ),
        Error::Unavailable(_) | Error::Contention => {
            shared::telemetry::log_unexpected("unleash", err);
            error(
                503,
                "ServiceUnavailableError",
                "The user store is temporarily unavailable. Please retry.".into(),
            )
        }
        Error::CodeRejected
        | Error::WrongPassword
        | Error::TooManyAttempts { .. }
        | Error::Internal(_) => {
            shared::telemetry::log_unexpected("unleash", err);
            error(500, "UnknownError", "Unexpected error".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shared::auth::AuthError;
    use shared::testing::json_of;

    use super::*;

    fn rendered(err: Error, user_id: Option<i64>) -> (u16, String, String) {
        let (status, body) = json_of(&render(&err, user_id));
        assert!(
            uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok(),
            "{body}"
        );
        let text = |k: &str| body[k].as_str().unwrap().to_owned();
        (status, text("name"), text("message"))
    }

    #[test]
    fn every_error_renders_as_unleash_does() {
        let cases: Vec<(Error, u16, &str, &str)> = vec![
            (
                Error::Unauthenticated(AuthError::MissingToken),
                401,
                "AuthenticationRequired",
                "You must log in to use Unleash. Your request had no authorization header, so we could not authorize you. Try logging in at /auth/simple/login.",
            ),
            (
                Error::Unauthenticated(AuthError::Expired),
                401,
                "AuthenticationRequired",
                "You must log in to use Unleash. The token in your authorization header is invalid or expired. Try logging in at /auth/simple/login.",
            ),
            (
                Error::Forbidden("x".into()),
                403,
                "NoAccessError",
                "You need the \"ADMIN\" permission to perform this action.",
            ),
            (Error::NotFound, 404, "NotFoundError", "Could not find user with id 7."),
            (
                Error::PreconditionFailed,
                404,
                "NotFoundError",
                "Could not find user with id 7.",
            ),
            (
                Error::invalid("email", "must be a valid email address"),
                400,
                "ValidationError",
                "The request payload you provided doesn't conform to the schema. The .email property must be a valid email address.",
            ),
            (
                Error::TooLarge("too big".into()),
                400,
                "ValidationError",
                "The request payload you provided doesn't conform to the schema. The request is too large: too big.",
            ),
            (
                Error::Conflict {
                    field: UniqueField::Email,
                    value: "a@b.io".into(),
                },
                409,
                "NameExistsError",
                "Another user already has the email a@b.io.",
            ),
            (
                Error::Unavailable("down".into()),
                503,
                "ServiceUnavailableError",
                "The user store is temporarily unavailable. Please retry.",
            ),
            (
                Error::Contention,
                503,
                "ServiceUnavailableError",
                "The user store is temporarily unavailable. Please retry.",
            ),
            (Error::Internal("bug".into()), 500, "UnknownError", "Unexpected error"),
            (Error::WrongPassword, 500, "UnknownError", "Unexpected error"),
        ];
        for (err, status, name, message) in cases {
            let what = format!("{err:?}");
            assert_eq!(
                rendered(err, Some(7)),
                (status, name.into(), message.into()),
                "{what}"
            );
        }
        assert_eq!(
            rendered(Error::NotFound, None).2,
            "Could not find that user."
        );
    }

    #[test]
    fn bodies_that_are_not_the_schema_are_validation_errors() {
        let shape = BodyError::Shape {
            path: "name".into(),
            message: "expected a string".into(),
        };
        let (status, body) = json_of(&body_error(&shape));
        assert_eq!(status, 400);
        assert_eq!(body["name"], "ValidationError");
        assert_eq!(
            body["message"],
            "The request payload you provided doesn't conform to the schema. The .name property is invalid: expected a string."
        );
        let (status, body) = json_of(&body_error(&BodyError::NotObject));
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            "The request payload you provided doesn't conform to the schema. The request body must be a JSON object."
        );
    }

    #[test]
    fn root_roles_by_id_or_name_grant_or_revoke_admin() {
        let parse = |v: Value| serde_json::from_value::<UpdateUserBody>(v).unwrap().parse();
        let admin = parse(json!({"rootRole": "Admin"})).unwrap();
        assert_eq!(admin.patch.root_role, Some(1));
        assert_eq!(admin.patch.roles, Some(RolesChange::Grant(Role::admin())));
        let editor = parse(json!({"rootRole": 2})).unwrap();
        assert_eq!(editor.patch.roles, Some(RolesChange::Revoke(Role::admin())));
        assert_eq!(editor.root_role_sent, Some(RootRoleValue::Id(2)));
        for bad in [json!({"rootRole": 9}), json!({"rootRole": "Root"})] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(i) if i.field == "rootRole"),
                "{err:?}"
            );
        }
        let err = parse(json!({"email": "not-an-email"})).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(i) if i.field == "email"),
            "{err:?}"
        );
    }
}
