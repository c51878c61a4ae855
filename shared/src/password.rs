//! argon2id password hashing at OWASP's minimum parameters, off the async executor.

use std::sync::Mutex;

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::Error;
use crate::values::{Password, PasswordHash};

fn params() -> Params {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid")
}

/// argon2's 19 MiB working memory, allocated once per process and reused. A fresh 19 MiB
/// allocation per hash lets glibc's heap grow across threads and arenas: peak RSS passed 200 MiB
/// over 1,000 invocations, more than a 128 MB function has. Hashes in one process take turns,
/// which costs nothing in Lambda (one request at a time).
static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

fn argon2_into(
    argon: &Argon2<'_>,
    blocks: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let mut memory = MEMORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
}

pub fn hash_blocking(password: &Password) -> Result<PasswordHash, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Internal(format!("argon2 hashing failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| fail(&e))?;
    let params = params();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        &argon,
        params.block_count(),
        password.expose().as_bytes(),
        salt_bytes,
        &mut out,
    )
    .map_err(|e| fail(&e))?;
    let phc = argon2::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    PasswordHash::from_phc(phc.to_string())
        .ok_or_else(|| Error::Internal("argon2 produced an unparsable PHC string".into()))
}

/// Constant-time check: `Output`'s equality is constant-time. The parameters are read from the
/// PHC string, so hashes made with other parameters still verify.
pub fn verify_blocking(hash: &PasswordHash, candidate: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash.as_phc()) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    argon2_into(
        &argon,
        params.block_count(),
        candidate.as_bytes(),
        salt_bytes,
        &mut out,
    )
    .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
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
        // Interoperable: the argon2 crate's own verifier accepts our PHC string and vice versa.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let parsed = argon2::PasswordHash::new(h.as_phc()).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let theirs = Argon2::default()
            .hash_password(b"another one", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_blocking(
            &PasswordHash::from_phc(theirs).unwrap(),
            "another one"
        ));
        assert!(!verify_blocking(&h, "correct horse battery!"));
        assert!(!format!("{h:?}").contains("argon2"));
        assert!(PasswordHash::from_phc("plaintext".into()).is_none());
    }
}
