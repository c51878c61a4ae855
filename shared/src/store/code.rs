//! 2FA codes for a NEWM email change: issued by `userctl code`, stored hashed, bound to the user
//! and the new email, single use, dead after too many wrong guesses.

use sha2::{Digest, Sha256};

use super::item::{n, s};
use super::keys::{code_pk, key, PK, TTL_ATTRIBUTE};
use super::sdk_error::{classify, is_conditional_failure};
use super::Store;
use crate::error::Result;
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
    pub(super) async fn count_code_failure(&self, id: UserId, email_key: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(code_pk(id, email_key))))
            .update_expression("ADD attempts :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(classify(e)),
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
