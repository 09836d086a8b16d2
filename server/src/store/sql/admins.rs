//! Admins, refresh tokens and API tokens in SQL. Passwords arrive here already hashed (argon2id);
//! tokens arrive as SHA-256 hashes.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{audit, missing, opt_i64, unique, SqlStore};
use crate::clock::unix_secs;
use crate::store::app::{check_name, invalid};
use crate::store::{Actor, Admin, AdminCredentials, AdminStore, ApiToken, RefreshUse, Role, StoreError};

const ADMIN_COLUMNS: &str = "id, email, role, tenant_id, created_at";
const TOKEN_COLUMNS: &str = "id, tenant_id, name, role, created_at, last_used_at, revoked_at";

fn role(row: &AnyRow) -> Result<Role, StoreError> {
    let raw: String = row.try_get("role")?;
    Role::parse(&raw).ok_or_else(|| invalid("role", "unknown role in the database"))
}

fn admin_from_row(row: &AnyRow) -> Result<Admin, StoreError> {
    Ok(Admin {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: role(row)?,
        tenant_id: row.try_get::<Option<String>, _>("tenant_id")?,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        role: role(row)?,
        created_at: row.try_get("created_at")?,
        last_used_at: opt_i64(row, "last_used_at")?,
        revoked_at: opt_i64(row, "revoked_at")?,
    })
}

/// An email: something@something, at most 254 characters, stored lower-case.
fn check_email(raw: &str) -> Result<String, StoreError> {
    let email = raw.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.'))
        && !email.contains(char::is_whitespace);
    ok.then_some(email)
        .ok_or_else(|| invalid("email", "must be an email address"))
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn create_admin(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        tenant_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Admin, StoreError> {
        let email = check_email(email)?;
        if (role == Role::Owner) != tenant_id.is_none() {
            return Err(invalid(
                "tenant",
                "owners have no tenant; tenant admins and viewers need one",
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO admins (id, email, password_hash, role, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(&email)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(tenant_id)
            .bind(unix_secs())
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("tenant"),
                other => unique("email")(other),
            })?;
        audit(
            &mut tx,
            tenant_id,
            actor,
            "admin.create",
            &email,
            serde_json::json!({ "role": role }),
        )
        .await?;
        tx.commit().await?;
        self.get_admin(&id).await
    }

    async fn admin_credentials(&self, email: &str) -> Result<Option<AdminCredentials>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS}, password_hash FROM admins WHERE email = $1"
        ))
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(AdminCredentials {
                admin: admin_from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })),
            None => Ok(None),
        }
    }

    async fn get_admin(&self, id: &str) -> Result<Admin, StoreError> {
        let row = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("admin"))?;
        admin_from_row(&row)
    }

    async fn list_admins(&self, tenant_id: Option<&str>) -> Result<Vec<Admin>, StoreError> {
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!(
                    "SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 ORDER BY created_at, email"
                ))
                .bind(t)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {ADMIN_COLUMNS} FROM admins ORDER BY created_at, email"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(admin_from_row).collect()
    }

    async fn delete_admin(&self, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let admin = self.get_admin(id).await?;
        let mut tx = self.write_tx().await?;
        if admin.role == Role::Owner {
            keep_an_owner(&mut tx, "remove").await?;
        }
        sqlx::query("DELETE FROM admins WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            admin.tenant_id.as_deref(),
            actor,
            "admin.delete",
            &admin.email,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_admin(
        &self,
        id: &str,
        role: Role,
        tenant_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Admin, StoreError> {
        if (role == Role::Owner) != tenant_id.is_none() {
            return Err(invalid(
                "tenant_id",
                "owners have no tenant; tenant admins and viewers need one",
            ));
        }
        let admin = self.get_admin(id).await?;
        let mut tx = self.write_tx().await?;
        if admin.role == Role::Owner && role != Role::Owner {
            keep_an_owner(&mut tx, "demote").await?;
        }
        sqlx::query("UPDATE admins SET role = $1, tenant_id = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("tenant"),
                other => StoreError::Database(other),
            })?;
        let detail = serde_json::json!({ "role": role, "tenant_id": tenant_id, "was": admin.role });
        audit(
            &mut tx,
            tenant_id.or(admin.tenant_id.as_deref()),
            actor,
            "admin.update",
            &admin.email,
            detail,
        )
        .await?;
        tx.commit().await?;
        self.get_admin(id).await
    }

    async fn set_admin_password(&self, id: &str, password_hash: &str, actor: &Actor) -> Result<(), StoreError> {
        let admin = self.get_admin(id).await?;
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE admin_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({});
        audit(
            &mut tx,
            admin.tenant_id.as_deref(),
            actor,
            "admin.password",
            &admin.email,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_refresh_token(
        &self,
        token_hash: &str,
        admin_id: &str,
        family: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO refresh_tokens (token_hash, admin_id, family, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(admin_id)
            .bind(family)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT admin_id, family, used_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(RefreshUse::Unknown);
        };
        let (admin_id, family): (String, String) = (row.try_get("admin_id")?, row.try_get("family")?);
        let used_at = opt_i64(&row, "used_at")?;
        let outcome = match used_at {
            // Used a moment ago: most likely the same client twice (two tabs refreshing at once).
            // Refused, but the sign-in is not ended for it.
            Some(at) if now - at < REUSE_GRACE_SECS => RefreshUse::Unknown,
            Some(_) => {
                sqlx::query("DELETE FROM refresh_tokens WHERE family = $1 AND family <> ''")
                    .bind(&family)
                    .execute(&mut *tx)
                    .await?;
                RefreshUse::Reused { admin_id }
            }
            None => {
                sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                RefreshUse::Valid { admin_id, family }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_refresh_family(&self, family: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM refresh_tokens WHERE family = $1")
            .bind(family)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_api_token(
        &self,
        tenant_id: &str,
        name: &str,
        role: Role,
        token_hash: &str,
        actor: &Actor,
    ) -> Result<ApiToken, StoreError> {
        let name = check_name("name", name)?;
        if role == Role::Owner {
            return Err(invalid("role", "API tokens are tenant_admin or tenant_viewer"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(tenant_id)
            .bind(&name)
            .bind(role.as_str())
            .bind(token_hash)
            .bind(unix_secs())
            .execute(&mut *tx)
            .await
            .map_err(missing("tenant"))?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "token.create",
            &name,
            serde_json::json!({ "id": id, "role": role }),
        )
        .await?;
        tx.commit().await?;
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"))
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
        token_from_row(&row)
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_api_tokens(&self, tenant_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at, name"
        ))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_api_token(&self, tenant_id: &str, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(unix_secs())
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("active API token"));
        }
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "token.revoke",
            id,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Seconds after its use in which a refresh token presented again is only refused: two requests of
/// one client racing. Later, it means a copy, and its sign-in ends.
const REUSE_GRACE_SECS: i64 = 10;

/// Refuses to `what` an owner when it is the last one (inside the caller's write transaction, so two
/// such changes cannot both pass): without an owner only the CLI could manage the installation.
async fn keep_an_owner(tx: &mut sqlx::Transaction<'static, sqlx::Any>, what: &str) -> Result<(), StoreError> {
    let (owners,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM admins WHERE role = 'owner'")
        .fetch_one(&mut **tx)
        .await?;
    match owners {
        0 | 1 => Err(StoreError::Limit(format!(
            "cannot {what} the last owner: make another admin an owner first"
        ))),
        _ => Ok(()),
    }
}
