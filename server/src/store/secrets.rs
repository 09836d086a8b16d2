//! Secrets at rest: app secrets are sealed with AES-256-GCM under the master key
//! (`HERALD_MASTER_KEY`, or a key generated into the data directory on first start).
//!
//! App secrets cannot be hashed (they verify HMACs), so they are encrypted; tokens and passwords
//! are hashed elsewhere. Neither the master key nor any secret is ever logged.

use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StoreError;

const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the master key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    master: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From a base64 master key of 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, StoreError> {
        let bytes = B64.decode(encoded.trim()).map_err(|_| bad_key())?;
        let master: [u8; 32] = bytes.try_into().map_err(|_| bad_key())?;
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&master)),
            master,
        })
    }

    /// The configured key, or the one in `data_dir/master.key` (created, mode 0600, on first start).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        if let Some(key) = configured {
            return Self::from_base64(key);
        }
        let path = data_dir.join("master.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Self::from_base64(&existing);
        }
        let key = B64.encode(Aes256Gcm::generate_key(OsRng));
        std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
        write_private(&path, &key).map_err(StoreError::Io)?;
        Self::from_base64(&key)
    }

    /// base64(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption only fails for inputs over 64 GiB.
        let ct = self.cipher.encrypt(&nonce, plaintext.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, StoreError> {
        let raw = B64.decode(sealed).map_err(|_| StoreError::Decrypt)?;
        if raw.len() < NONCE_LEN {
            return Err(StoreError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| StoreError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| StoreError::Decrypt)
    }

    /// A key for another purpose (e.g. signing admin JWTs), derived from the master key.
    /// A short public name of the key (it reveals nothing of it): the first 8 bytes of a key derived
    /// for this purpose, in hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive("herald master key fingerprint")[..8])
    }

    pub fn derive(&self, purpose: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.master).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

fn bad_key() -> StoreError {
    StoreError::Invalid {
        field: "master_key",
        message: "must be 32 bytes, base64-encoded".into(),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let b = SecretBox::from_base64(&B64.encode([7u8; 32])).unwrap();
        let sealed = b.seal("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(b.open(&sealed).unwrap(), "s3cret");
        let other = SecretBox::from_base64(&B64.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(SecretBox::from_base64("short").is_err());
    }

    #[test]
    fn generated_key_persists() {
        let dir = std::env::temp_dir().join(format!("herald-mk-{}", uuid::Uuid::new_v4()));
        let a = SecretBox::load(None, &dir).unwrap();
        let b = SecretBox::load(None, &dir).unwrap();
        assert_eq!(b.open(&a.seal("x")).unwrap(), "x");
        let _ = std::fs::remove_dir_all(dir);
    }
}
