//! The control-plane model: tenants, keys, admins, API tokens, audit entries.
//! (Apps and their settings are in `app.rs`.)

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An organization: owns apps, admins and API tokens.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    #[serde(flatten)]
    pub limits: TenantLimits,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    /// Its apps refuse connections (4003) and publishes (403).
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        }
    }
}

/// Plan limits; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(default)]
pub struct TenantLimits {
    pub max_apps: i64,
    /// Summed over the tenant's apps.
    pub max_connections: i64,
    pub max_messages_per_day: i64,
}

/// A key/secret pair of an app.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct AppKey {
    pub key: String,
    pub app_id: String,
    /// Only present where the caller may see it (on creation, or when an admin asks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl AppKey {
    /// Usable now: not revoked, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// What an admin or API token may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, on every tenant.
    Owner,
    /// Everything on one tenant.
    TenantAdmin,
    /// Read-only on one tenant.
    TenantViewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::TenantAdmin => "tenant_admin",
            Role::TenantViewer => "tenant_viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "tenant_admin" => Some(Role::TenantAdmin),
            "tenant_viewer" => Some(Role::TenantViewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub created_at: i64,
}

/// An API token for automation, scoped to one tenant. The token itself is shown once.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    pub fn cli() -> Self {
        Actor("cli".into())
    }

    pub fn system() -> Self {
        Actor("system".into())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: i64,
}
