//! Who is calling the admin API: short-lived JWTs for admins (plus single-use refresh tokens), and
//! hashed API tokens for automation. `Principal` is the extractor; its methods say what it may do.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::AdminError;
pub use super::login_limiter::LoginLimiter;
use crate::clock::unix_secs;
use crate::state::AppState;
use crate::store::{Actor, Role, StoreError};

/// Lifetime of an access token.
pub const ACCESS_TTL: i64 = 15 * 60;
/// Lifetime of a refresh token.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;
/// API tokens start with this, so they are told apart from JWTs.
pub const API_TOKEN_PREFIX: &str = "hrld_";

/// Signing keys, the login limiter and the password-check slots of the admin API.
pub struct AdminAuth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    limiter: LoginLimiter,
    /// Password checks (argon2: ~19 MiB and tens of milliseconds each) running at once.
    checks: Semaphore,
}

/// Password checks at once on a node: more wait (up to `CHECK_WAIT`), then are refused.
const CONCURRENT_CHECKS: usize = 4;
/// How long a password check waits for a slot before the request is answered 503.
const CHECK_WAIT: Duration = Duration::from_secs(3);

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    email: String,
    role: Role,
    tenant: Option<String>,
    iat: i64,
    exp: i64,
}

impl AdminAuth {
    pub fn new(signing_key: &[u8]) -> Self {
        AdminAuth {
            encoding: EncodingKey::from_secret(signing_key),
            decoding: DecodingKey::from_secret(signing_key),
            limiter: LoginLimiter::default(),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    /// A slot to check a password in; 503 when none frees up soon (a flood of logins).
    pub async fn check_slot(&self) -> Result<SemaphorePermit<'_>, AdminError> {
        match tokio::time::timeout(CHECK_WAIT, self.checks.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AdminError::Unavailable(
                "too many sign-ins at once on this node; retry in a few seconds".into(),
            )),
        }
    }

    /// An access token for an admin.
    pub fn issue(&self, admin_id: &str, email: &str, role: Role, tenant: Option<&str>) -> Result<String, AdminError> {
        let iat = unix_secs();
        let claims = Claims {
            sub: admin_id.into(),
            email: email.into(),
            role,
            tenant: tenant.map(Into::into),
            iat,
            exp: iat + ACCESS_TTL,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| AdminError::Internal)
    }

    fn check(&self, token: &str) -> Result<Claims, AdminError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| AdminError::Unauthorized(format!("invalid access token ({e}); log in again or refresh")))
    }

    pub fn limiter(&self) -> &LoginLimiter {
        &self.limiter
    }
}

/// A random opaque token (refresh or API token body).
pub fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Tokens are stored as SHA-256 hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    pub tenant_id: Option<String>,
    /// Admin id, or `None` for API tokens.
    pub admin_id: Option<String>,
    /// For the audit log: `admin:<email>` or `token:<name>`.
    pub actor: Actor,
    /// What it authenticated with, to check again on a long-lived request.
    credential: Credential,
}

/// A bearer token, never printed.
#[derive(Clone)]
struct Credential(Arc<str>);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

impl Principal {
    /// May read the tenant's data. Another tenant's data is reported as not found.
    pub fn read(&self, tenant_id: &str) -> Result<(), AdminError> {
        match (&self.role, &self.tenant_id) {
            (Role::Owner, _) => Ok(()),
            (_, Some(own)) if own == tenant_id => Ok(()),
            _ => Err(AdminError::NotFound("not found".into())),
        }
    }

    /// May change the tenant's data.
    pub fn write(&self, tenant_id: &str) -> Result<(), AdminError> {
        self.read(tenant_id)?;
        if self.role == Role::TenantViewer {
            return Err(AdminError::Forbidden("viewers have read-only access".into()));
        }
        Ok(())
    }

    /// Whether the caller's credentials still hold as they did: the token not revoked or expired,
    /// the admin not deleted, the role and tenant unchanged. A store that does not answer is no
    /// reason to stop (the node serves from its cache meanwhile).
    pub async fn still_holds(&self, state: &AppState) -> bool {
        match Principal::authenticate(state, &self.credential.0).await {
            Ok(now) => now.role == self.role && now.tenant_id == self.tenant_id,
            Err(AdminError::Unavailable(_)) => true,
            Err(_) => false,
        }
    }

    /// The caller of an `Authorization` header's value.
    async fn authenticate(state: &AppState, header: &str) -> Result<Principal, AdminError> {
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| AdminError::Unauthorized("send Authorization: Bearer <access token or API token>".into()))?;
        let credential = Credential(Arc::from(header));
        if let Some(body) = token.strip_prefix(API_TOKEN_PREFIX) {
            let found = state.store.api_token_by_hash(&token_hash(body)).await?;
            let t = found.ok_or_else(|| AdminError::Unauthorized("unknown or revoked API token".into()))?;
            return Ok(Principal {
                role: t.role,
                tenant_id: Some(t.tenant_id),
                admin_id: None,
                actor: Actor(format!("token:{}", t.name)),
                credential,
            });
        }
        let claims = state.admin.check(token)?;
        // The admin as stored now: a deleted admin loses access at once, a changed role applies at once.
        let admin = match state.store.get_admin(&claims.sub).await {
            Ok(admin) => admin,
            Err(StoreError::NotFound(_)) => return Err(AdminError::Unauthorized("this admin no longer exists".into())),
            Err(e) => return Err(e.into()),
        };
        Ok(Principal {
            role: admin.role,
            tenant_id: admin.tenant_id,
            admin_id: Some(admin.id),
            actor: Actor(format!("admin:{}", admin.email)),
            credential,
        })
    }

    /// Platform-wide operations.
    pub fn owner(&self) -> Result<(), AdminError> {
        if self.role == Role::Owner {
            Ok(())
        } else {
            Err(AdminError::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Principal::authenticate(state, header).await
    }
}

/// Shared by the state.
pub type SharedAdminAuth = Arc<AdminAuth>;
