//! `herald_meta`: the master key's fingerprint. The first process to open a store records the
//! fingerprint of its key (after checking the key opens a secret already sealed, for stores older
//! than the fingerprint); every later one compares, so a node or CLI call with another key is
//! refused when it starts rather than when it first reads a secret.

use sqlx::Row;

use super::SqlStore;
use crate::store::StoreError;

const FINGERPRINT: &str = "master_key_fingerprint";

impl SqlStore {
    /// Checks that this store's master key is the one its secrets are sealed with.
    pub async fn check_master_key(&self) -> Result<(), StoreError> {
        let mine = self.secrets.fingerprint();
        if let Some(recorded) = self.recorded_fingerprint().await? {
            return match recorded == mine {
                true => Ok(()),
                false => Err(StoreError::MasterKeyMismatch { recorded, given: mine }),
            };
        }
        // No fingerprint yet (a new store, or one from before fingerprints): a sealed secret tells.
        let sealed: Option<String> =
            sqlx::query("SELECT secret_enc FROM app_keys WHERE secret_enc IS NOT NULL LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("secret_enc"))
                .transpose()?;
        if sealed.is_some_and(|s| self.secrets.open(&s).is_err()) {
            return Err(StoreError::MasterKeyMismatch {
                recorded: "(not recorded; the stored secrets do not open with this key)".into(),
                given: mine,
            });
        }
        sqlx::query("INSERT INTO herald_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(FINGERPRINT)
            .bind(&mine)
            .execute(&self.pool)
            .await?;
        // Two processes with different keys starting together: the one whose insert lost finds out here.
        match self.recorded_fingerprint().await? {
            Some(recorded) if recorded != mine => Err(StoreError::MasterKeyMismatch { recorded, given: mine }),
            _ => Ok(()),
        }
    }

    async fn recorded_fingerprint(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM herald_meta WHERE name = $1")
            .bind(FINGERPRINT)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }
}
