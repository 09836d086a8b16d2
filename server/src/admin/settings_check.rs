//! What an app's settings may be on this installation, beyond their own validity: the operator's
//! ceilings (a tenant admin cannot ask for unbounded history, payloads or presence), origins that
//! are origins, and webhook endpoints outside the operator's network (checked on the URL and on
//! what its name resolves to now; deliveries check again). Only the settings a request sets are
//! checked, so an app saved before a ceiling was lowered can still be renamed.

use crate::config::AppCeilings;
use crate::store::SettingsPatch;
use crate::webhooks::egress::{EgressPolicy, Refused};

use super::error::AdminError;

/// Longest list of allowed origins.
const MAX_ORIGINS: usize = 100;

/// Checks a request's settings against the installation's ceilings and egress policy.
pub async fn check(ceilings: &AppCeilings, egress: &EgressPolicy, patch: &SettingsPatch) -> Result<(), AdminError> {
    for (field, url) in check_sync(ceilings, egress, patch)? {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        // A name that does not resolve now may later: the delivery checks what it resolves to then.
        let resolved: Vec<_> = match tokio::net::lookup_host((host.clone(), port)).await {
            Ok(addresses) => addresses.collect(),
            Err(_) => Vec::new(),
        };
        egress
            .check_resolved(&host, &resolved)
            .map_err(|e| refused(&field, e))?;
    }
    Ok(())
}

/// The checks that need no name resolution; gives back each webhook URL with its field name, for
/// the check of what it resolves to.
pub(crate) fn check_sync(
    ceilings: &AppCeilings,
    egress: &EgressPolicy,
    patch: &SettingsPatch,
) -> Result<Vec<(String, reqwest::Url)>, AdminError> {
    check_ceilings(ceilings, patch)?;
    check_origins(patch)?;
    let mut urls = Vec::new();
    for (i, endpoint) in patch.webhooks.iter().flatten().enumerate() {
        let field = format!("settings.webhooks[{i}].url");
        let url = reqwest::Url::parse(endpoint.url.as_str()).map_err(|e| AdminError::bad(&field, e.to_string()))?;
        egress.check_url(&url).map_err(|e| refused(&field, e))?;
        urls.push((field, url));
    }
    Ok(urls)
}

fn refused(field: &str, e: Refused) -> AdminError {
    AdminError::bad(field, e.to_string())
}

fn check_ceilings(c: &AppCeilings, patch: &SettingsPatch) -> Result<(), AdminError> {
    let limits = [
        (
            "client_event_rate",
            patch.client_event_rate,
            c.client_event_rate,
            "ceiling_client_event_rate",
        ),
        (
            "max_presence_members",
            patch.max_presence_members,
            c.presence_members,
            "ceiling_presence_members",
        ),
        (
            "max_presence_member_bytes",
            patch.max_presence_member_bytes,
            c.presence_member_bytes,
            "ceiling_presence_member_bytes",
        ),
        (
            "max_payload_bytes",
            patch.max_payload_bytes,
            c.payload_bytes,
            "ceiling_payload_bytes",
        ),
        ("cache_ttl", patch.cache_ttl, c.cache_ttl, "ceiling_cache_ttl"),
        (
            "history_max_messages",
            patch.history_max_messages,
            c.history_messages,
            "ceiling_history_messages",
        ),
        (
            "history_max_age",
            patch.history_max_age,
            c.history_age,
            "ceiling_history_age",
        ),
        (
            "idempotency_window",
            patch.idempotency_window,
            c.idempotency_window,
            "ceiling_idempotency_window",
        ),
    ];
    for (name, asked, ceiling, key) in limits {
        if let Some(asked) = asked.filter(|a| *a > ceiling) {
            return Err(AdminError::bad(
                &format!("settings.{name}"),
                format!("{name} {asked} is above this installation's ceiling of {ceiling} (the operator's {key})"),
            ));
        }
    }
    match (patch.max_connections, c.connections) {
        (Some(0), ceiling) if ceiling > 0 => Err(AdminError::bad(
            "settings.max_connections",
            format!(
                "max_connections 0 (unlimited) is above this installation's ceiling of {ceiling} (ceiling_connections)"
            ),
        )),
        (Some(asked), ceiling) if ceiling > 0 && asked > ceiling => Err(AdminError::bad(
            "settings.max_connections",
            format!("max_connections {asked} is above this installation's ceiling of {ceiling} (ceiling_connections)"),
        )),
        _ => Ok(()),
    }
}

/// Each allowed origin is `scheme://host[:port]` (what browsers send), with no path.
fn check_origins(patch: &SettingsPatch) -> Result<(), AdminError> {
    let Some(origins) = &patch.allowed_origins else {
        return Ok(());
    };
    if origins.len() > MAX_ORIGINS {
        return Err(AdminError::bad(
            "settings.allowed_origins",
            format!("at most {MAX_ORIGINS} origins"),
        ));
    }
    for (i, origin) in origins.iter().enumerate() {
        let parsed = reqwest::Url::parse(origin).ok();
        let is_origin = parsed.as_ref().is_some_and(|u| {
            u.has_host() && u.path() == "/" && u.query().is_none() && u.fragment().is_none() && u.username().is_empty()
        }) && !origin.trim_end_matches('/').contains(['?', '#'])
            && origin.matches('/').count() <= 3;
        if !is_origin || origin.ends_with('/') {
            return Err(AdminError::bad(
                &format!("settings.allowed_origins[{i}]"),
                format!("{origin:?} is not an origin: give scheme://host[:port], e.g. https://app.example.com"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> SettingsPatch {
        SettingsPatch {
            allowed_origins: Some(list.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn origins_must_be_origins() {
        assert!(check_origins(&origins(&["https://app.example.com", "http://localhost:3000"])).is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/",
            "*",
            "javascript:alert(1)",
        ] {
            assert!(check_origins(&origins(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_setting_above_its_ceiling_is_refused_naming_both() {
        let ceilings = AppCeilings::default();
        let patch = SettingsPatch {
            max_payload_bytes: Some(u32::MAX),
            ..Default::default()
        };
        let err = check_ceilings(&ceilings, &patch).unwrap_err().to_string();
        assert!(
            err.contains("max_payload_bytes 4294967295") && err.contains("ceiling"),
            "{err}"
        );
        let within = SettingsPatch {
            max_payload_bytes: Some(1024),
            history_max_messages: Some(ceilings.history_messages),
            ..Default::default()
        };
        assert!(check_ceilings(&ceilings, &within).is_ok());
    }
}
