//! Admin passwords: argon2id hashes (PHC strings), verified in constant time by argon2.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::Alphanumeric;
use rand::Rng;

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (and checked at login): argon2 hashes anything, this bounds the work.
pub const MAX_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("password must not be only spaces")]
    Blank,
    #[error("password hashing failed")]
    Hash,
}

pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    if password.trim().is_empty() {
        return Err(PasswordError::Blank);
    }
    Ok(())
}

/// An argon2id PHC string for `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_strength(password)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// True when `password` matches the stored `phc` hash.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A random 20-character password, printed once by the CLI.
pub fn generate() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// A hash to verify against when the email is unknown, so a login takes as long either way.
pub fn decoy() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$y0qH4LNxRsJ3nmYz9ycwOpS4aCL0kChwZaqOgdNuVh8"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a hash"));
        assert!(hash("short").is_err());
        assert!(matches!(check_strength(&" ".repeat(12)), Err(PasswordError::Blank)));
        assert!(!verify("anything-long-enough", decoy()));
    }
}
