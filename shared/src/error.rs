//! The one error type of the domain and the store. Each API renders it in its own body, in one
//! place (its function crate's `dialect` module).

use std::fmt;

use crate::auth::AuthError;
use crate::values::Invalid;

/// The unique values of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Id,
    Uuid,
    Username,
    Email,
}

impl fmt::Display for UniqueField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UniqueField::Id => "id",
            UniqueField::Uuid => "uuid",
            UniqueField::Username => "username",
            UniqueField::Email => "email",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not authenticated: {0}")]
    Unauthenticated(#[from] AuthError),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A change of one's own email or password with a token whose sign-in is older than this.
    #[error("a sign-in within the last {max_age_seconds} s is required")]
    ReauthenticationRequired { max_age_seconds: i64 },
    #[error("user not found")]
    NotFound,
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    /// The body, or the user item it would produce, is larger than allowed.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Another user holds this unique value.
    #[error("{field} already in use: {value}")]
    Conflict { field: UniqueField, value: String },
    /// A 2FA code that is wrong, expired, used, or issued for another email.
    #[error("2FA code rejected")]
    CodeRejected,
    #[error("current password is wrong")]
    WrongPassword,
    /// Password changes are refused until `retry_at` (unix seconds) after repeated wrong guesses.
    #[error("too many failed password attempts")]
    TooManyAttempts { retry_at: i64 },
    /// A condition the caller placed on the write (say "the uuid is mine") did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Throttling, a DynamoDB 5xx or a network failure that outlived the SDK's retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers to one user kept winning over this one, past the retry bound.
    #[error("too much contention on one user")]
    Contention,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid(Invalid::new(field, reason))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
