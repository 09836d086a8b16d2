//! The connection registry as the admin API shows it: a view of each live connection, filters, and
//! paging over the views every node returns.
//!
//! Each node keeps its own connections (in the hub); a cluster gathers the views from every node. This
//! module only shapes and selects; it never closes or changes a connection.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::hub::{Connection, Hub};

/// One live connection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub socket_id: String,
    pub app_id: String,
    /// The node that holds it.
    pub node: String,
    pub remote_address: Option<String>,
    pub user_agent: Option<String>,
    /// The client library and version from the connect URL (`client=js&version=8.4.0`).
    pub client: Option<String>,
    pub version: Option<String>,
    pub protocol: u8,
    /// The signed-in user (`pusher:signin`).
    pub user_id: Option<String>,
    pub channels: Vec<String>,
    /// Unix milliseconds.
    pub connected_at: i64,
    /// When the client last sent something (Unix milliseconds).
    pub last_activity: i64,
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
    /// Frames waiting to be written to it.
    pub queue_depth: usize,
}

impl ConnectionView {
    pub fn of(conn: &Connection, node: &str) -> Self {
        let membership = conn.membership();
        let traffic = conn.traffic_totals();
        ConnectionView {
            socket_id: conn.socket_id.to_string(),
            app_id: conn.app_id.to_string(),
            node: node.to_string(),
            remote_address: conn.meta.remote.map(|a| a.to_string()),
            user_agent: conn.meta.user_agent.as_deref().map(str::to_string),
            client: conn.meta.client.as_deref().map(str::to_string),
            version: conn.meta.version.as_deref().map(str::to_string),
            protocol: conn.meta.protocol,
            user_id: membership.user_id.as_deref().map(str::to_string),
            channels: membership.channels.iter().map(|c| c.to_string()).collect(),
            connected_at: conn.meta.connected_at_ms,
            last_activity: conn.traffic.last_activity_ms.load(Ordering::Relaxed),
            messages_in: traffic.messages_in,
            bytes_in: traffic.bytes_in,
            messages_out: traffic.messages_out,
            bytes_out: traffic.bytes_out,
            queue_depth: conn.queue_depth(),
        }
    }
}

/// The views of this node's connections of an app that pass `filter`.
pub fn local_views(hub: &Hub, app_id: &str, node: &str, filter: &ConnectionFilter, now_ms: i64) -> Vec<ConnectionView> {
    hub.connections_of(app_id)
        .iter()
        .map(|c| ConnectionView::of(c, node))
        .filter(|v| filter.matches(v, now_ms))
        .collect()
}

/// Which connections to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionFilter {
    pub user_id: Option<String>,
    pub channel: Option<String>,
    pub node: Option<String>,
    /// Connected at least / at most this many seconds ago.
    pub min_age: Option<u64>,
    pub max_age: Option<u64>,
}

impl ConnectionFilter {
    pub fn matches(&self, view: &ConnectionView, now_ms: i64) -> bool {
        let age_s = (now_ms - view.connected_at).max(0) as u64 / 1000;
        self.user_id.as_ref().is_none_or(|u| view.user_id.as_ref() == Some(u))
            && self.channel.as_ref().is_none_or(|c| view.channels.contains(c))
            && self.node.as_ref().is_none_or(|n| *n == view.node)
            && self.min_age.is_none_or(|m| age_s >= m)
            && self.max_age.is_none_or(|m| age_s <= m)
    }
}

/// One page of connections, oldest first, and the cursor of the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionPage {
    pub connections: Vec<ConnectionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Orders every node's views (by connection time, then socket id) and cuts the page after `cursor`.
pub fn page(mut views: Vec<ConnectionView>, cursor: Option<&str>, limit: usize) -> ConnectionPage {
    let key = |v: &ConnectionView| format!("{:016}:{}", v.connected_at, v.socket_id);
    views.sort_by_key(key);
    let start = cursor
        .map(|c| views.partition_point(|v| key(v).as_str() <= c))
        .unwrap_or(0);
    let rest = views.len().saturating_sub(start);
    let connections: Vec<ConnectionView> = views.into_iter().skip(start).take(limit).collect();
    let next_cursor = (rest > limit).then(|| connections.last().map(key)).flatten();
    ConnectionPage {
        connections,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(socket: &str, at: i64, user: Option<&str>) -> ConnectionView {
        ConnectionView {
            socket_id: socket.into(),
            app_id: "a".into(),
            node: "n1".into(),
            remote_address: None,
            user_agent: None,
            client: None,
            version: None,
            protocol: 7,
            user_id: user.map(str::to_string),
            channels: vec!["c".into()],
            connected_at: at,
            last_activity: at,
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
            queue_depth: 0,
        }
    }

    #[test]
    fn pages_follow_each_other_without_overlap() {
        let views = vec![view("3.3", 30, None), view("1.1", 10, None), view("2.2", 20, None)];
        let first = page(views.clone(), None, 2);
        let ids: Vec<_> = first.connections.iter().map(|v| v.socket_id.as_str()).collect();
        assert_eq!(ids, ["1.1", "2.2"]);
        let second = page(views, first.next_cursor.as_deref(), 2);
        assert_eq!(second.connections.len(), 1);
        assert_eq!(second.connections[0].socket_id, "3.3");
        assert!(second.next_cursor.is_none());
    }

    #[test]
    fn filters_by_user_channel_and_age() {
        let v = view("1.1", 10_000, Some("u1"));
        let f = |f: ConnectionFilter| f.matches(&v, 70_000);
        assert!(f(ConnectionFilter::default()));
        assert!(f(ConnectionFilter {
            user_id: Some("u1".into()),
            ..Default::default()
        }));
        assert!(!f(ConnectionFilter {
            user_id: Some("u2".into()),
            ..Default::default()
        }));
        assert!(!f(ConnectionFilter {
            channel: Some("d".into()),
            ..Default::default()
        }));
        assert!(f(ConnectionFilter {
            min_age: Some(60),
            ..Default::default()
        }));
        assert!(!f(ConnectionFilter {
            max_age: Some(30),
            ..Default::default()
        }));
    }
}
