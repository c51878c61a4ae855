//! Cedalo Mosquitto Management Center `PUT /api/profile/{userName}`: an `MMCUser` in and out,
//! errors as `{ code, message }` with the document's enumerated values only.

use std::collections::BTreeSet;

use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use shared::apigw::http::{json_response, parse_json, BodyError};
use shared::error::Error;
use shared::user::User;
use shared::values::{Invalid, Password, Role, Username};

/// MMC's minimum password length.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The `Invalid` reason that becomes "User must have at least one role".
const NO_ROLE: &str = "must hold at least one role";

/// The `MMCUser` as a client sends it. Unknown fields are ignored (the profile page sends back the
/// whole profile it holds: `sessionId`, `isAdmin`, `isEditor`, `isViewer`, `groups`,
/// `connections`...); `null` counts as not sent.
#[derive(Debug, Deserialize)]
pub struct MmcUserBody {
    pub username: String,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The parsed request: only what was sent, each value checked.
#[derive(Debug)]
pub struct ProfileUpdate {
    pub username: Username,
    /// `None`: roles unchanged. Never empty.
    pub roles: Option<BTreeSet<Role>>,
    /// The new plaintext password, to be hashed before it goes anywhere near the store.
    pub password: Option<Password>,
}

impl MmcUserBody {
    /// Reads the request body: anything that is not a JSON object of the right shape is `Invalid`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        parse_json(bytes).map_err(|e| match e {
            BodyError::TooLarge => Error::TooLarge(e.to_string()),
            BodyError::Shape { path, message } => Error::invalid(path, message),
            other => Error::invalid("body", other.to_string()),
        })
    }

    /// Checks the body against the path's `userName` (which it must repeat exactly).
    pub fn parse(self, path_username: &str) -> Result<ProfileUpdate, Error> {
        let roles = self
            .roles
            .map(|names| {
                names
                    .iter()
                    .map(|n| Role::parse(n))
                    .collect::<Result<BTreeSet<_>, _>>()
            })
            .transpose()?;
        // MMC's profile page sends `password: ""` when the password was not changed (its admin
        // page sends `null`): both mean "keep it".
        let password = self
            .password
            .filter(|raw| !raw.is_empty())
            .map(|raw| Password::parse("password", &raw, MIN_PASSWORD_CHARS))
            .transpose()?;
        let username = Username::parse(&self.username)?;
        if username.as_str() != path_username {
            return Err(Error::invalid(
                "username",
                "must be the same as userName in the path",
            ));
        }
        if roles.as_ref().is_some_and(BTreeSet::is_empty) {
            return Err(no_role());
        }
        Ok(ProfileUpdate {
            username,
            roles,
            password,
        })
    }
}

/// The error for an empty `roles` array.
pub fn no_role() -> Error {
    Error::Invalid(Invalid::new("roles", NO_ROLE))
}

/// `MMCUser` as answered: never a password or a hash.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MmcUser {
    pub username: String,
    pub roles: Vec<String>,
}

impl MmcUser {
    pub fn new(user: &User) -> Self {
        Self {
            username: user.username.clone(),
            roles: user.roles.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &ErrorBody {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    )
}

/// 404: the user management plugin is switched off (`USER_MANAGEMENT_ENABLED=false`).
pub fn plugin_not_found() -> Response<Body> {
    error(404, "NOT_FOUND", "Plugin not found")
}

/// The one place `Error` becomes MMC's error body.
pub fn render(err: &Error) -> Response<Body> {
    match err {
        Error::Unauthenticated(_) => error(401, "UNAUTHORIZED", "Unauthorized"),
        Error::ReauthenticationRequired { max_age_seconds } => error(
            401,
            "UNAUTHORIZED",
            &format!("Sign in again to change the password: it needs a sign-in within the last {max_age_seconds} seconds"),
        ),
        Error::TooManyAttempts { retry_at } => error(
            429,
            "TOO_MANY_ATTEMPTS",
            &format!(
                "Too many failed password attempts: password changes are locked for {} more seconds",
                (retry_at - shared::auth::now_unix()).max(1)
            ),
        ),
        Error::Forbidden(_) => error(403, "NOT_ALLOWED", "Not allowed"),
        Error::NotFound | Error::PreconditionFailed => error(410, "GONE", "User does not exist"),
        Error::Invalid(inv) if inv.field == "roles" && inv.reason == NO_ROLE => {
            error(400, "INVALID", "User must have at least one role")
        }
        Error::Invalid(_) | Error::TooLarge(_) => error(400, "INVALID", "User object invalid"),
        Error::Conflict { .. }
        | Error::CodeRejected
        | Error::WrongPassword
        | Error::Unavailable(_)
        | Error::Contention
        | Error::Internal(_) => {
            shared::telemetry::log_unexpected("mmc", err);
            error(500, "INTERNAL_ERROR", "An internal server error occurred")
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared::auth::AuthError;
    use shared::error::UniqueField;
    use shared::testing::json_of;

    use super::*;

    #[test]
    fn every_error_renders_with_the_documents_values() {
        let cases: Vec<(Error, u16, &str, &str)> = vec![
            (
                Error::Unauthenticated(AuthError::MissingToken),
                401,
                "UNAUTHORIZED",
                "Unauthorized",
            ),
            (
                Error::Forbidden("x".into()),
                403,
                "NOT_ALLOWED",
                "Not allowed",
            ),
            (Error::NotFound, 410, "GONE", "User does not exist"),
            (
                Error::PreconditionFailed,
                410,
                "GONE",
                "User does not exist",
            ),
            (
                no_role(),
                400,
                "INVALID",
                "User must have at least one role",
            ),
            (
                Error::invalid("username", "x"),
                400,
                "INVALID",
                "User object invalid",
            ),
            (
                Error::TooLarge("big".into()),
                400,
                "INVALID",
                "User object invalid",
            ),
        ];
        let internal = [
            Error::Conflict {
                field: UniqueField::Username,
                value: "x".into(),
            },
            Error::Unavailable("down".into()),
            Error::Contention,
            Error::Internal("bug".into()),
            Error::WrongPassword,
        ];
        let cases = cases.into_iter().chain(internal.into_iter().map(|e| {
            (
                e,
                500,
                "INTERNAL_ERROR",
                "An internal server error occurred",
            )
        }));
        for (err, status, code, message) in cases {
            assert_eq!(
                json_of(&render(&err)),
                (status, json!({"code": code, "message": message})),
                "{err:?}"
            );
        }
        assert_eq!(
            json_of(&plugin_not_found()),
            (
                404,
                json!({"code": "NOT_FOUND", "message": "Plugin not found"})
            )
        );
    }

    #[test]
    fn the_body_must_name_the_user_of_the_path() {
        let parse = |body: serde_json::Value, path: &str| {
            MmcUserBody::from_bytes(body.to_string().as_bytes()).and_then(|b| b.parse(path))
        };
        let ok = parse(
            json!({"username": "bob", "roles": ["viewer"], "password": "long-enough"}),
            "bob",
        )
        .unwrap();
        assert_eq!(ok.username.as_str(), "bob");
        assert_eq!(ok.roles.unwrap().len(), 1);
        assert!(ok.password.is_some());
        assert!(parse(json!({"username": "bob"}), "Bob").is_err());
        assert!(parse(json!({"username": "bob", "password": "short"}), "bob").is_err());
        for unchanged in [json!(""), json!(null)] {
            let kept = parse(json!({"username": "bob", "password": unchanged}), "bob").unwrap();
            assert!(kept.password.is_none());
        }
        let no_roles = parse(json!({"username": "bob", "roles": []}), "bob").unwrap_err();
        assert_eq!(
            json_of(&render(&no_roles)).1["message"],
            "User must have at least one role"
        );
    }
}
