//! NEWM `PATCH /v1/users/me` and `/v1/users/{userId}`: the document's fields in, 204 out, errors
//! as `{ code, description, cause }`.
//!
//! Texts follow the NEWM server (`UserRepositoryImpl`, `StringExt`): `Field <name> exceeds <n>
//! chars limit`, `Invalid email: <value>`, `Invalid url: <value>`, `Password confirmation failed`
//! and the password-strength sentence (422); `Missing email`, `Missing password`, `Missing password
//! confirmation` (400); `Invalid password` (401), `2FA failed` (403), `Already exists: <email>`
//! (409). `Missing authCode` (400) is the document's own text.

use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use shared::apigw::http::{json_response, BodyError};
use shared::error::{Error, UniqueField};
use shared::patch::{Change, UserPatch};
use shared::values::{AbsoluteUrl, Email, Password, Text};

/// The NEWM server's password rule: 8 or more characters with a digit, a lower- and an
/// upper-case letter.
pub const WEAK_PASSWORD: &str =
    "Password must contain at least 8 characters, 1 uppercase letter, 1 lowercase letter and 1 number.";

/// Consecutive wrong current passwords that lock password changes, and for how long: the
/// directory's, as every API keeps to NEWM's lockout.
pub use shared::policy::{LOCKOUT_SECONDS, MAX_PASSWORD_FAILURES};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchUserBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub picture_url: Option<String>,
    pub banner_url: Option<String>,
    pub website_url: Option<String>,
    pub twitter_url: Option<String>,
    pub instagram_url: Option<String>,
    pub location: Option<String>,
    pub role: Option<String>,
    pub genre: Option<String>,
    pub biography: Option<String>,
    pub company_name: Option<String>,
    pub company_logo_url: Option<String>,
    pub company_ip_rights: Option<bool>,
    pub wallet_address: Option<String>,
    pub email: Option<String>,
    pub new_password: Option<String>,
    pub confirm_password: Option<String>,
    pub current_password: Option<String>,
    pub auth_code: Option<String>,
}

/// A request refused at the edge, before the store: NEWM's 400 for a missing field and 422 for
/// a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing(&'static str),
    Unprocessable(String),
}

/// The parsed request.
#[derive(Debug)]
pub struct PatchUser {
    /// Everything but the password (its hash is made later, off the executor).
    pub patch: UserPatch,
    pub new_password: Option<NewPassword>,
}

/// A password change: the new password (already checked) and the current one to verify.
#[derive(Debug)]
pub struct NewPassword {
    pub new: Password,
    pub current: String,
}

/// An optional text field as NEWM treats it: not sent is no change, blank clears it, anything
/// else is trimmed and stored; the length limit applies to the value as sent.
fn text_field(
    field: &'static str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<Change<Text>>, Rejection> {
    let Some(v) = value else { return Ok(None) };
    if v.chars().count() > max {
        return Err(Rejection::Unprocessable(format!(
            "Field {field} exceeds {max} chars limit"
        )));
    }
    if v.trim().is_empty() {
        return Ok(Some(Change::Clear));
    }
    Text::parse(field, v.trim())
        .map(|t| Some(Change::Set(t)))
        .map_err(|e| Rejection::Unprocessable(format!("Invalid {field}: {}", e.reason)))
}

/// A URL field as NEWM treats it: blank clears it, anything else must be an absolute URL.
fn url_field(value: &Option<String>) -> Result<Option<Change<AbsoluteUrl>>, Rejection> {
    let Some(v) = value else { return Ok(None) };
    if v.trim().is_empty() {
        return Ok(Some(Change::Clear));
    }
    AbsoluteUrl::parse("url", v.trim())
        .map(|u| Some(Change::Set(u)))
        .map_err(|_| Rejection::Unprocessable(format!("Invalid url: {v}")))
}

fn strong(raw: &str) -> bool {
    raw.chars().count() >= 8
        && raw.chars().any(|c| c.is_ascii_digit())
        && raw.chars().any(|c| c.is_lowercase())
        && raw.chars().any(|c| c.is_uppercase())
}

impl PatchUserBody {
    /// In the NEWM server's order: field lengths, email and its code, the new password and its
    /// confirmation, URLs, and only then whether the current password was sent: every field
    /// check runs before the current password is looked at.
    pub fn parse(self) -> Result<PatchUser, Rejection> {
        let mut patch = UserPatch {
            first_name: text_field("firstName", &self.first_name, 64)?,
            last_name: text_field("lastName", &self.last_name, 64)?,
            nickname: text_field("nickname", &self.nickname, 64)?,
            ..Default::default()
        };
        let newm = &mut patch.newm;
        newm.location = text_field("location", &self.location, 64)?;
        newm.role = text_field("role", &self.role, 64)?;
        newm.genre = text_field("genre", &self.genre, 64)?;
        newm.biography = text_field("biography", &self.biography, 250)?;
        newm.company_name = text_field("companyName", &self.company_name, 64)?;
        // NEWM ignores a blank wallet address (it can be changed, never cleared).
        newm.wallet_address = match text_field("walletAddress", &self.wallet_address, 128)? {
            Some(Change::Set(t)) => Some(t),
            _ => None,
        };
        newm.company_ip_rights = self.company_ip_rights;

        if let Some(email) = &self.email {
            if email.trim().is_empty() {
                return Err(Rejection::Missing("email"));
            }
            let email = Email::parse(email)
                .map_err(|_| Rejection::Unprocessable(format!("Invalid email: {email}")))?;
            let code = self
                .auth_code
                .as_deref()
                .ok_or(Rejection::Missing("authCode"))?;
            patch.email = Some(email);
            patch.email_code = Some(code.to_owned());
        }

        let new_password = match self.new_password.as_deref() {
            None => None,
            Some(new) if new.trim().is_empty() => return Err(Rejection::Missing("password")),
            Some(new) => {
                let confirm = self
                    .confirm_password
                    .as_deref()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or(Rejection::Missing("password confirmation"))?;
                if new != confirm {
                    return Err(Rejection::Unprocessable(
                        "Password confirmation failed".into(),
                    ));
                }
                if !strong(new) {
                    return Err(Rejection::Unprocessable(WEAK_PASSWORD.into()));
                }
                Some(Password::parse("newPassword", new, 8).map_err(|e| {
                    Rejection::Unprocessable(format!("Invalid newPassword: {}", e.reason))
                })?)
            }
        };

        let newm = &mut patch.newm;
        newm.picture_url = url_field(&self.picture_url)?;
        newm.banner_url = url_field(&self.banner_url)?;
        newm.website_url = url_field(&self.website_url)?;
        newm.twitter_url = url_field(&self.twitter_url)?;
        newm.instagram_url = url_field(&self.instagram_url)?;
        newm.company_logo_url = url_field(&self.company_logo_url)?;

        let new_password = match new_password {
            None => None,
            Some(new) => Some(NewPassword {
                new,
                current: self
                    .current_password
                    .clone()
                    .ok_or(Rejection::Missing("password"))?,
            }),
        };
        Ok(PatchUser {
            patch,
            new_password,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u16,
    pub description: String,
    pub cause: String,
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn error(status: u16, cause: impl Into<String>) -> Response<Body> {
    json_response(
        status,
        &ErrorBody {
            code: status,
            description: reason_phrase(status).to_owned(),
            cause: cause.into(),
        },
    )
}

/// A request refused at the edge.
pub fn reject(r: &Rejection) -> Response<Body> {
    match r {
        Rejection::Missing(field) => error(400, format!("Missing {field}")),
        Rejection::Unprocessable(cause) => error(422, cause.clone()),
    }
}

/// A body that is not the document's shape.
pub fn body_error(e: &BodyError) -> Response<Body> {
    match e {
        BodyError::TooLarge => error(413, e.to_string()),
        BodyError::Shape { path, message } => error(422, format!("Invalid {path}: {message}")),
        other => error(400, other.to_string()),
    }
}

/// The one place `Error` becomes NEWM's error body.
pub fn render(err: &Error) -> Response<Body> {
    match err {
        Error::Unauthenticated(_) => error(401, "Invalid or expired access token"),
        Error::ReauthenticationRequired { max_age_seconds } => error(
            401,
            format!("Sign in again to change the email or password: it needs a sign-in within the last {max_age_seconds} seconds"),
        ),
        Error::WrongPassword => error(401, "Invalid password"),
        Error::Forbidden(_) | Error::PreconditionFailed => {
            error(403, "Only the requester may update itself")
        }
        Error::CodeRejected => error(403, "2FA failed"),
        Error::NotFound => error(404, "User not found"),
        Error::Invalid(inv) => error(422, format!("Invalid {}: {}", inv.field, inv.reason)),
        Error::TooLarge(what) => error(413, what.clone()),
        Error::Conflict { field: UniqueField::Email, value } => error(409, format!("Already exists: {value}")),
        Error::Conflict { field, value } => error(409, format!("Already exists: {field} {value}")),
        Error::TooManyAttempts { retry_at } => error(
            429,
            format!(
                "Too many failed password attempts: password changes are locked for {} more seconds",
                (retry_at - shared::auth::now_unix()).max(1)
            ),
        ),
        Error::Unavailable(_) | Error::Contention => {
            shared::telemetry::log_unexpected("newm", err);
            error(503, "The user store is temporarily unavailable, retry later")
        }
        Error::Internal(_) => {
            shared::telemetry::log_unexpected("newm", err);
            error(500, "Internal server error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> Result<PatchUser, Rejection> {
        serde_json::from_value::<PatchUserBody>(json)
            .unwrap()
            .parse()
    }

    #[test]
    fn checks_in_the_servers_order() {
        use serde_json::json;
        assert_eq!(
            body(json!({"email": "john.doe!gmail.com"})).unwrap_err(),
            Rejection::Unprocessable("Invalid email: john.doe!gmail.com".into())
        );
        assert_eq!(
            body(json!({"email": "a@b.io"})).unwrap_err(),
            Rejection::Missing("authCode")
        );
        assert_eq!(
            body(json!({"email": " "})).unwrap_err(),
            Rejection::Missing("email")
        );
        assert_eq!(
            body(json!({"newPassword": ""})).unwrap_err(),
            Rejection::Missing("password")
        );
        assert_eq!(
            body(json!({"newPassword": "Abcdefg1"})).unwrap_err(),
            Rejection::Missing("password confirmation")
        );
        assert_eq!(
            body(json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg1"})).unwrap_err(),
            Rejection::Missing("password")
        );
        // A mismatch is refused before the current password is even looked at.
        assert_eq!(
            body(json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg2"})).unwrap_err(),
            Rejection::Unprocessable("Password confirmation failed".into())
        );
        assert_eq!(
            body(json!({"newPassword": "abcdefg1", "confirmPassword": "abcdefg1", "currentPassword": "x"}))
                .unwrap_err(),
            Rejection::Unprocessable(WEAK_PASSWORD.into())
        );
        // So is a bad URL.
        assert_eq!(
            body(json!({"newPassword": "Abcdefg1", "confirmPassword": "Abcdefg1", "websiteUrl": "x y"}))
                .unwrap_err(),
            Rejection::Unprocessable("Invalid url: x y".into())
        );
        assert_eq!(
            body(json!({"nickname": "x".repeat(65)})).unwrap_err(),
            Rejection::Unprocessable("Field nickname exceeds 64 chars limit".into())
        );
        assert_eq!(
            body(json!({"pictureUrl": "javascript:alert(1)"})).unwrap_err(),
            Rejection::Unprocessable("Invalid url: javascript:alert(1)".into())
        );
        let ok = body(json!({"role": "Producer", "companyIpRights": true})).unwrap();
        assert_eq!(
            ok.patch.newm.role.unwrap().value().unwrap().as_str(),
            "Producer"
        );
        assert!(
            ok.patch.roles.is_none(),
            "a profession never touches access roles"
        );
    }

    #[test]
    fn blank_strings_clear_and_values_are_trimmed_as_newm_does() {
        use serde_json::json;
        let p = body(json!({
            "firstName": "", "nickname": "  ", "biography": " Bio ", "pictureUrl": "",
            "bannerUrl": "s3://bucket/banner.png", "walletAddress": " ", "location": null
        }))
        .unwrap()
        .patch;
        assert_eq!(p.first_name, Some(Change::Clear));
        assert_eq!(p.nickname, Some(Change::Clear));
        assert_eq!(p.newm.biography.unwrap().value().unwrap().as_str(), "Bio");
        assert_eq!(p.newm.picture_url, Some(Change::Clear));
        assert_eq!(
            p.newm.banner_url.unwrap().value().unwrap().as_str(),
            "s3://bucket/banner.png"
        );
        assert!(
            p.newm.wallet_address.is_none(),
            "a blank wallet address is ignored"
        );
        assert!(p.newm.location.is_none(), "null is not sent");
        assert!(p.last_name.is_none());
    }

    #[test]
    fn every_error_renders_as_newm_does() {
        use shared::auth::AuthError;
        use shared::testing::json_of;
        let cases: Vec<(Error, u16, &str, &str)> = vec![
            (
                Error::Unauthenticated(AuthError::MissingToken),
                401,
                "Unauthorized",
                "Invalid or expired access token",
            ),
            (
                Error::WrongPassword,
                401,
                "Unauthorized",
                "Invalid password",
            ),
            (
                Error::Forbidden("x".into()),
                403,
                "Forbidden",
                "Only the requester may update itself",
            ),
            (
                Error::PreconditionFailed,
                403,
                "Forbidden",
                "Only the requester may update itself",
            ),
            (Error::CodeRejected, 403, "Forbidden", "2FA failed"),
            (Error::NotFound, 404, "Not Found", "User not found"),
            (
                Error::invalid("userId", "x"),
                422,
                "Unprocessable Entity",
                "Invalid userId: x",
            ),
            (
                Error::TooLarge("big".into()),
                413,
                "Payload Too Large",
                "big",
            ),
            (
                Error::Conflict {
                    field: UniqueField::Email,
                    value: "a@b.io".into(),
                },
                409,
                "Conflict",
                "Already exists: a@b.io",
            ),
            (
                Error::Unavailable("down".into()),
                503,
                "Service Unavailable",
                "The user store is temporarily unavailable, retry later",
            ),
            (
                Error::Contention,
                503,
                "Service Unavailable",
                "The user store is temporarily unavailable, retry later",
            ),
            (
                Error::Internal("bug".into()),
                500,
                "Internal Server Error",
                "Internal server error",
            ),
        ];
        for (err, status, description, cause) in cases {
            let (got, body) = json_of(&render(&err));
            assert_eq!(got, status, "{err:?}");
            assert_eq!(
                body,
                serde_json::json!({"code": status, "description": description, "cause": cause}),
                "{err:?}"
            );
        }
        let (status, body) = json_of(&render(&Error::TooManyAttempts {
            retry_at: shared::auth::now_unix() + 600,
        }));
        assert_eq!(status, 429);
        assert!(body["cause"]
            .as_str()
            .unwrap()
            .starts_with("Too many failed password attempts"));
    }

    #[test]
    fn bodies_and_rejections_render_with_newm_statuses() {
        use shared::testing::json_of;
        let status = |r: Response<Body>| json_of(&r).0;
        assert_eq!(status(reject(&Rejection::Missing("authCode"))), 400);
        assert_eq!(
            json_of(&reject(&Rejection::Missing("authCode"))).1["cause"],
            "Missing authCode"
        );
        assert_eq!(status(reject(&Rejection::Unprocessable("x".into()))), 422);
        assert_eq!(status(body_error(&BodyError::TooLarge)), 413);
        assert_eq!(status(body_error(&BodyError::NotJson("eof".into()))), 400);
        let shape = BodyError::Shape {
            path: "firstName".into(),
            message: "expected a string".into(),
        };
        assert_eq!(
            json_of(&body_error(&shape)),
            (
                422,
                serde_json::json!({"code": 422, "description": "Unprocessable Entity",
                    "cause": "Invalid firstName: expected a string"})
            )
        );
    }
}
