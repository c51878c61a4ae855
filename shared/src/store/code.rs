//! 2FA codes for a NEWM email change: issued by `userctl code`, stored hashed, bound to the user
//! and the new email, single use, dead after too many wrong guesses.

use sha2::{Digest, Sha256};

use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{get_n, get_s, n, s};
use super::keys::{code_pk, key, PK, TTL_ATTRIBUTE};
use super::sdk_error::{classify, is_conditional_failure};
use super::Store;
use crate::error::{Error, Result};
use crate::stamp::Stamp;
use crate::values::{Email, UserId};

/// How long a 2FA code is valid.
pub const CODE_TTL_SECONDS: i64 = 600;
/// Wrong guesses a 2FA code survives before it is useless.
pub const CODE_MAX_ATTEMPTS: i64 = 5;

pub(super) fn code_hash(id: UserId, email_key: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{id}\n{email_key}\n{code}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn random_code() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    // Rejection sampling keeps the six digits uniform.
    loop {
        let v = OsRng.next_u32();
        if v < 4_294_000_000 {
            return format!("{:06}", v % 1_000_000);
        }
    }
}

impl Store {
    /// Counts a guess at the code for `id`'s change to `email`, then checks it. The count comes
    /// first, in one conditional `UpdateItem` that also reads the code, so no burst of parallel
    /// guesses gets past [`CODE_MAX_ATTEMPTS`]; the same count sent again (its answer lost)
    /// counts once. A right guess is consumed later, in the transaction that changes the email.
    pub async fn check_code(
        &self,
        id: UserId,
        email: &Email,
        code: &str,
        stamp: &Stamp,
    ) -> Result<()> {
        let key_text = email.key();
        let now = crate::auth::now_unix();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(code_pk(id, &key_text))))
            .update_expression("SET attempts = attempts + :one, last_guess = :request")
            .condition_expression(
                "attribute_exists(pk) AND attempts < :max AND expires_at > :now \
                 AND (attribute_not_exists(last_guess) OR last_guess <> :request)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(CODE_MAX_ATTEMPTS))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":request", s(&stamp.request_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let stored = match result {
            Ok(out) => out.attributes().cloned(),
            Err(e) if is_conditional_failure(&e) => {
                // Missing, expired, dead, or already counted for this very request.
                let item = self.item(code_pk(id, &key_text)).await?;
                item.filter(|i| {
                    get_s(i, "last_guess").as_deref() == Some(stamp.request_id.as_str())
                        && get_n(i, TTL_ATTRIBUTE).is_some_and(|at| at > now)
                })
            }
            Err(e) => return Err(classify(e)),
        };
        match stored {
            Some(item) if get_s(&item, "code_hash") == Some(code_hash(id, &key_text, code)) => {
                Ok(())
            }
            _ => Err(Error::CodeRejected),
        }
    }

    /// Issues a 6-digit code for `id`'s change of email to `email`, replacing any earlier one.
    /// Only its hash is stored.
    pub async fn issue_code(&self, id: UserId, email: &Email) -> Result<String> {
        let code = random_code();
        let key = email.key();
        let now = crate::auth::now_unix();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(code_pk(id, &key)))
            .item("code_hash", s(code_hash(id, &key, &code)))
            .item("user_id", n(id))
            .item("attempts", n(0))
            .item(TTL_ATTRIBUTE, n(now + CODE_TTL_SECONDS))
            .send()
            .await;
        result.map_err(classify)?;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_hashes_bind_user_and_email() {
        for _ in 0..100 {
            let c = random_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
        let id = UserId::new(1).unwrap();
        let other = UserId::new(2).unwrap();
        assert_ne!(
            code_hash(id, "a@x.io", "123456"),
            code_hash(other, "a@x.io", "123456")
        );
        assert_ne!(
            code_hash(id, "a@x.io", "123456"),
            code_hash(id, "b@x.io", "123456")
        );
    }
}
