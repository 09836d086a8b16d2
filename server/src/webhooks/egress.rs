//! Where webhooks may go: never into the operator's own network unless the operator allows it. An
//! address that is loopback, private (RFC 1918, unique-local), link-local (the cloud metadata
//! addresses 169.254.169.254 and fd00:ec2::254 among them), shared (CGNAT), multicast, reserved,
//! broadcast or unspecified is refused — also inside IPv4-mapped IPv6 — unless one of the operator's
//! `webhook_allowed_networks` holds it.
//!
//! Checked twice: when an endpoint is saved (its host, and what the host resolves to then) and at
//! each delivery, on the addresses the name resolves to at that moment (a name may be re-pointed at
//! a private address after it was saved), by the delivery client's own resolver. URLs with
//! credentials are refused. What a tenant is told of a refusal never names the operator's network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// The addresses webhooks may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Networks allowed although they are internal (the operator's choice).
    pub allowed: Vec<IpNet>,
}

/// Why a webhook URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("webhook URLs may not carry credentials (user:password@): use the signature to authenticate")]
    Credentials,
    #[error("{host} is {what}: webhooks may not reach internal addresses (an operator can allow networks with webhook_allowed_networks)")]
    Internal { host: String, what: &'static str },
}

impl EgressPolicy {
    /// Whether webhooks may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        internal(ip).is_none() || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks a URL's form and, when its host is an address, the address. A name is checked when it
    /// is resolved (`check_resolved`).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(name)) => return self.check_name(name),
            None => return Ok(()),
        };
        self.check_ip(&ip.to_string(), ip)
    }

    /// Names that are the machine itself, whatever they resolve to.
    fn check_name(&self, name: &str) -> Result<(), Refused> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") || name == "metadata.google.internal" {
            return Err(Refused::Internal {
                host: name,
                what: "the machine itself or its cloud metadata service",
            });
        }
        Ok(())
    }

    /// Checks the addresses `host` resolved to: all must be permitted.
    pub fn check_resolved(&self, host: &str, addresses: &[SocketAddr]) -> Result<(), Refused> {
        addresses.iter().try_for_each(|a| self.check_ip(host, a.ip()))
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        match internal(ip) {
            Some(what) if !self.permits(ip) => Err(Refused::Internal {
                host: host.to_string(),
                what,
            }),
            _ => Ok(()),
        }
    }
}

/// What kind of internal address `ip` is, if it is one.
fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    match () {
        _ if ip.is_unspecified() || a == 0 => Some("an unspecified address"),
        _ if ip.is_loopback() => Some("a loopback address"),
        _ if ip.is_private() => Some("a private address"),
        _ if ip.is_link_local() => Some("a link-local address (where cloud metadata lives)"),
        _ if a == 100 && (64..128).contains(&b) => Some("a shared (carrier-grade NAT) address"),
        _ if ip.is_multicast() => Some("a multicast address"),
        _ if ip.is_broadcast() || a >= 240 => Some("a reserved address"),
        _ if a == 192 && b == 0 && ip.octets()[2] == 0 => Some("an IETF protocol address"),
        _ => None,
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    match () {
        _ if ip.is_unspecified() => Some("an unspecified address"),
        _ if ip.is_loopback() => Some("a loopback address"),
        _ if first & 0xfe00 == 0xfc00 => Some("a unique-local (private) address"),
        _ if first & 0xffc0 == 0xfe80 => Some("a link-local address"),
        _ if ip.is_multicast() => Some("a multicast address"),
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) carry an IPv4 address inside.
        _ if ip.segments()[..6] == [0; 6] => internal_v4(Ipv4Addr::from((ip.to_bits() & 0xffff_ffff) as u32)),
        _ if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => {
            internal_v4(Ipv4Addr::from((ip.to_bits() & 0xffff_ffff) as u32))
        }
        _ => None,
    }
}

/// The delivery client's resolver: resolves as the system does, then refuses the name when any of
/// its addresses is not permitted (the request then fails with "refused by policy").
pub struct PolicyResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            policy.check_resolved(&host, &addresses)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        let url = reqwest::Url::parse(raw).unwrap();
        EgressPolicy::default().check_url(&url).is_err()
    }

    #[test]
    fn internal_hosts_in_every_spelling_are_refused() {
        for raw in [
            "http://127.0.0.1:5432/",
            "http://[::1]:80/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://0.0.0.0:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00:ec2::254]/",
            "http://10.0.0.1/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.1.2.3]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://localhost:6001/",
            "http://api.localhost/",
            "http://metadata.google.internal/",
            "http://user:pw@example.com/",
        ] {
            assert!(refused(raw), "{raw} must be refused");
        }
        for raw in [
            "https://example.com/hooks",
            "http://93.184.216.34/",
            "http://[2606:4700::1111]/",
        ] {
            assert!(!refused(raw), "{raw} is public");
        }
    }

    #[test]
    fn an_allowed_network_is_let_through_and_resolved_names_are_checked() {
        let policy = EgressPolicy {
            allowed: vec!["10.1.0.0/16".parse().unwrap()],
        };
        let url = |raw: &str| reqwest::Url::parse(raw).unwrap();
        assert!(policy.check_url(&url("http://10.1.2.3/")).is_ok());
        assert!(policy.check_url(&url("http://10.2.2.3/")).is_err());
        let loopback = [SocketAddr::from(([127, 0, 0, 1], 0))];
        let err = policy.check_resolved("rebound.example", &loopback).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
