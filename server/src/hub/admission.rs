//! This node's live connections: admission against the node's, the app's and the tenant's connection
//! limits, the counts, the traffic totals, and closing connections by key, app, id or all at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Connection, Hub, Limits};
use crate::apps::Revoked;
use crate::metrics::TrafficTotals;
use crate::protocol::{CloseCode, SocketId};

impl Hub {
    /// Counts a new connection against the node's, the app's and the tenant's limits.
    pub fn admit(&self, conn: &Arc<Connection>, limits: Limits) -> Result<(), CloseCode> {
        if limits.node > 0 && self.total.load(Ordering::Relaxed) >= limits.node {
            return Err(CloseCode::OverCapacity);
        }
        // Lock order: address, tenant, then app. The counts move together or not at all.
        let mut address = conn.meta.remote.map(|ip| self.per_address.entry(ip).or_insert(0));
        if let Some(count) = address.as_deref() {
            if limits.address > 0 && *count >= limits.address {
                return Err(CloseCode::OverCapacity);
            }
        }
        let mut tenant = self.per_tenant.entry(conn.tenant_id.clone()).or_insert(0);
        let mut app = self.per_app.entry(conn.app_id.clone()).or_insert(0);
        let (app_elsewhere, tenant_elsewhere) = limits.elsewhere;
        if (limits.app > 0 && *app + app_elsewhere >= limits.app)
            || (limits.tenant > 0 && *tenant + tenant_elsewhere >= limits.tenant)
        {
            return Err(CloseCode::AppOverQuota);
        }
        *app += 1;
        *tenant += 1;
        if let Some(count) = address.as_deref_mut() {
            *count += 1;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        self.live.insert(conn.socket_id.clone(), conn.clone());
        Ok(())
    }

    /// Releases what `admit` counted; the connection's traffic joins the totals of ended connections.
    pub fn release(&self, conn: &Connection) {
        conn.outbound.finish();
        if self.live.remove(&conn.socket_id).is_none() {
            return;
        }
        for (map, key) in [(&self.per_tenant, &conn.tenant_id), (&self.per_app, &conn.app_id)] {
            if let Some(mut count) = map.get_mut(key) {
                *count = count.saturating_sub(1);
            }
        }
        if let Some(ip) = conn.meta.remote {
            // An address without connections is forgotten, so the map holds only live addresses.
            self.per_address.remove_if_mut(&ip, |_, count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
        let t = conn.traffic_totals();
        let values = [t.messages_in, t.bytes_in, t.messages_out, t.bytes_out];
        for (total, value) in self.ended_traffic.iter().zip(values) {
            total.fetch_add(value, Ordering::Relaxed);
        }
    }

    /// Closes every connection of this node (shutdown: 4200, clients reconnect elsewhere).
    pub fn close_all(&self, code: CloseCode, message: &str) {
        for conn in self.live.iter() {
            conn.close(code, message);
        }
    }

    /// WebSocket traffic of this node since it started: ended connections and live ones.
    pub fn traffic(&self) -> TrafficTotals {
        let [messages_in, bytes_in, messages_out, bytes_out] =
            self.ended_traffic.each_ref().map(|a| a.load(Ordering::Relaxed));
        let mut totals = TrafficTotals {
            messages_in,
            bytes_in,
            messages_out,
            bytes_out,
        };
        for conn in self.live.iter() {
            totals.add(conn.traffic_totals());
        }
        totals
    }

    /// Closes the connections of revoked keys (4001) and disabled apps (4003).
    pub fn close_revoked(&self, revoked: &Revoked) {
        for conn in self.live.iter() {
            if revoked.keys.iter().any(|k| **k == *conn.key) {
                conn.close(CloseCode::UnknownApp, "The app key was revoked");
            } else if revoked.apps.iter().any(|a| **a == *conn.app_id) {
                conn.close(CloseCode::AppDisabled, CloseCode::AppDisabled.message());
            }
        }
    }

    /// This node's live connections of an app.
    pub fn connections_of(&self, app_id: &str) -> Vec<Arc<Connection>> {
        self.live
            .iter()
            .filter(|c| &*c.app_id == app_id)
            .map(|c| c.value().clone())
            .collect()
    }

    /// Closes one connection of an app on this node; false when this node does not hold it.
    pub fn disconnect(&self, app_id: &str, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        let Some(socket) = SocketId::parse(socket_id) else {
            return false;
        };
        match self.live.get(&socket).filter(|c| &*c.app_id == app_id) {
            Some(conn) => {
                conn.close_because(code, reason, Some("admin"));
                true
            }
            None => false,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn app_connection_count(&self, app_id: &str) -> usize {
        self.per_app.get(app_id).map(|c| *c).unwrap_or(0)
    }

    /// Frames delivered to this node's subscribers of an app since the node started.
    pub fn delivered(&self, app_id: &str) -> u64 {
        self.delivered.get(app_id)
    }

    pub fn tenant_connection_count(&self, tenant_id: &str) -> usize {
        self.per_tenant.get(tenant_id).map(|c| *c).unwrap_or(0)
    }
}
