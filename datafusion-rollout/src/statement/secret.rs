//! Secrets in statements: a [`Secret`] is compared by value and never printed; hashes are
//! salted argon2id in PHC form, made off the async workers.

use std::fmt;

use argon2::password_hash::{PasswordHasher, SaltString};

use crate::error::{Error, Result};

/// A secret as a statement holds it: compared by value, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'********'")
    }
}

/// 16 bytes from the OS's random source (through uuid's v4, which reads getrandom).
pub(super) fn random_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// The salted argon2id hash of `secret`, in PHC form; slow on purpose, so run off the
/// async workers.
pub(super) async fn hash_secret(secret: &str) -> Result<String> {
    let secret = secret.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes())
            .map_err(|e| Error::internal(format!("salt: {e}")))?;
        argon2::Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing a secret: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing a secret: {e}")))?
}
