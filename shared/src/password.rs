//! argon2id password hashing at OWASP's minimum parameters, off the async executor.

use std::fmt;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::user::Password;

/// A PHC-format argon2id hash. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts a stored PHC string; anything else is treated as "no usable password".
    pub fn from_phc(phc: String) -> Option<Self> {
        argon2::PasswordHash::new(&phc).ok()?;
        Some(Self(phc))
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

fn argon2id() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_blocking(password: &Password) -> Result<PasswordHash, Error> {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| Error::Internal(format!("argon2 hashing failed: {e}")))
}

/// Constant-time check (argon2's verifier compares digests in constant time).
pub fn verify_blocking(hash: &PasswordHash, candidate: &str) -> bool {
    match argon2::PasswordHash::new(&hash.0) {
        // The parameters are read from the PHC string, so older hashes still verify.
        Ok(parsed) => Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hashes on the blocking pool: ~20 ms of CPU must not stall the executor.
pub async fn hash(password: Password) -> Result<PasswordHash, Error> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

pub async fn verify(hash: Option<PasswordHash>, candidate: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_blocking(&h, &candidate),
        None => {
            // Same work as a real check, so timing does not tell "no password" from "wrong".
            let _ = verify_blocking(&dummy_hash(), &candidate);
            false
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("verification task failed: {e}")))
}

fn dummy_hash() -> PasswordHash {
    static DUMMY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            hash_blocking(&Password::parse("password", "not-a-real-password", 1).expect("valid"))
                .expect("argon2 works")
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let p = Password::parse("p", "correct horse battery", 8).unwrap();
        let h = hash_blocking(&p).unwrap();
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking(&h, "correct horse battery"));
        assert!(!verify_blocking(&h, "correct horse battery!"));
        assert!(!format!("{h:?}").contains("argon2"));
        assert!(PasswordHash::from_phc("plaintext".into()).is_none());
    }
}
