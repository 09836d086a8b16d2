//! Prometheus metrics of this node, served at `/metrics` in the text format.
//!
//! Counters of things that happen are moved by the lifecycle log (one place sees every connection,
//! subscription, publish and webhook) and by a few hot-path statics (bytes and frames in and out,
//! gap fills); gauges are read from the hub and the publisher at scrape time. Labels are bounded: an
//! app id, a close cause, an HTTP status, an event kind; never channel names or socket ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::clock::unix_ms;

/// Stored messages a node delivered from the store because the live path had lost them.
pub static GAP_FILLS: AtomicU64 = AtomicU64::new(0);

/// Bus lag: from a message's acceptance (on whichever node) to its arrival on this node's live path.
static BUS_LAG: LazyLock<Histogram> = LazyLock::new(|| Histogram::new(exponential_buckets(0.000_25, 2.0, 16)));

/// Records the bus lag of a message accepted at `published_ms` (Unix ms) that arrived now. Nodes'
/// clocks differ a little: a negative lag counts as zero.
pub fn observe_bus_lag(published_ms: i64) {
    if published_ms > 0 {
        let lag_ms = (unix_ms() - published_ms).max(0);
        BUS_LAG.observe(lag_ms as f64 / 1000.0);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    pub app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    pub app: String,
    pub cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub app: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OriginLabels {
    pub app: String,
    pub origin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub app: String,
    pub status: String,
}

/// Figures read at scrape time for one app.
pub struct AppFigures {
    pub app: String,
    pub connections: usize,
    pub channels: usize,
    pub subscriptions: usize,
    pub deliveries: u64,
}

/// Node-wide figures read at scrape time.
pub struct NodeFigures {
    pub apps: Vec<AppFigures>,
    pub bus_up: bool,
    pub store_up: bool,
    pub webhook_queue: Option<u64>,
    /// WebSocket messages and bytes in and out since the node started.
    pub traffic: TrafficTotals,
}

/// Messages and bytes, in and out, summed over connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrafficTotals {
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
}

impl TrafficTotals {
    pub fn add(&mut self, other: TrafficTotals) {
        self.messages_in += other.messages_in;
        self.bytes_in += other.bytes_in;
        self.messages_out += other.messages_out;
        self.bytes_out += other.bytes_out;
    }
}

pub struct Metrics {
    registry: Registry,
    connections: Family<AppLabels, Gauge>,
    channels: Family<AppLabels, Gauge>,
    subscriptions: Family<AppLabels, Gauge>,
    deliveries: Family<AppLabels, Counter>,
    opened: Family<AppLabels, Counter>,
    closed: Family<CloseLabels, Counter>,
    subscribes: Family<ResultLabels, Counter>,
    published: Family<OriginLabels, Counter>,
    refused: Family<StatusLabels, Counter>,
    webhooks: Family<ResultLabels, Counter>,
    publish_seconds: Histogram,
    totals: [Counter; 5],
    bus_up: Gauge,
    store_up: Gauge,
    webhook_queue: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let m = Metrics {
            connections: Family::default(),
            channels: Family::default(),
            subscriptions: Family::default(),
            deliveries: Family::default(),
            opened: Family::default(),
            closed: Family::default(),
            subscribes: Family::default(),
            published: Family::default(),
            refused: Family::default(),
            webhooks: Family::default(),
            publish_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            totals: Default::default(),
            bus_up: Gauge::default(),
            store_up: Gauge::default(),
            webhook_queue: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("connections", "Open WebSocket connections", m.connections.clone());
        r.register("channels", "Channels with subscribers on this node", m.channels.clone());
        r.register(
            "subscriptions",
            "Channel subscriptions on this node",
            m.subscriptions.clone(),
        );
        r.register("deliveries", "Frames queued to subscribers", m.deliveries.clone());
        r.register("connections_opened", "Connections accepted", m.opened.clone());
        r.register("connections_closed", "Connections closed, by cause", m.closed.clone());
        r.register(
            "subscribes",
            "Subscriptions, succeeded or refused",
            m.subscribes.clone(),
        );
        r.register(
            "messages_published",
            "Messages published, by origin (api, client)",
            m.published.clone(),
        );
        r.register(
            "publishes_refused",
            "HTTP publishes refused, by status",
            m.refused.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result",
            m.webhooks.clone(),
        );
        r.register(
            "publish_duration_seconds",
            "HTTP publish handling time",
            m.publish_seconds.clone(),
        );
        let [bytes_in, bytes_out, frames_in, frames_out, gaps] = &m.totals;
        r.register(
            "websocket_bytes_received",
            "Bytes of WebSocket messages received",
            bytes_in.clone(),
        );
        r.register(
            "websocket_bytes_sent",
            "Bytes of WebSocket messages sent",
            bytes_out.clone(),
        );
        r.register(
            "websocket_messages_received",
            "WebSocket messages received",
            frames_in.clone(),
        );
        r.register("websocket_messages_sent", "WebSocket messages sent", frames_out.clone());
        r.register(
            "bus_gap_fills",
            "Stored messages delivered from the store after the live path lost them",
            gaps.clone(),
        );
        r.register("bus_up", "1 while the bus (NATS) is reachable", m.bus_up.clone());
        r.register(
            "bus_lag_seconds",
            "From a message's acceptance on any node to its arrival from the bus on this one (cluster mode)",
            BUS_LAG.clone(),
        );
        r.register("store_up", "1 while the control store answers", m.store_up.clone());
        r.register(
            "webhook_queue_depth",
            "Webhook deliveries waiting",
            m.webhook_queue.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// A connection was accepted.
    pub fn connection_opened(&self, app: &str) {
        self.opened.get_or_create(&app_labels(app)).inc();
    }

    /// A connection closed, for `cause` (a bounded word such as `ping_timeout`).
    pub fn connection_closed(&self, app: &str, cause: &str) {
        let labels = CloseLabels {
            app: app.to_string(),
            cause: cause.to_string(),
        };
        self.closed.get_or_create(&labels).inc();
    }

    /// A subscription succeeded or was refused.
    pub fn subscribed(&self, app: &str, succeeded: bool) {
        let result = if succeeded { "succeeded" } else { "refused" };
        self.subscribes.get_or_create(&result_labels(app, result)).inc();
    }

    /// `messages` were published, from the HTTP API (`api`) or as client events (`client`).
    pub fn published(&self, app: &str, origin: &str, messages: u64) {
        let labels = OriginLabels {
            app: app.to_string(),
            origin: origin.to_string(),
        };
        self.published.get_or_create(&labels).inc_by(messages);
    }

    /// An HTTP publish was refused with `status`.
    pub fn publish_refused(&self, app: &str, status: u16) {
        let labels = StatusLabels {
            app: app.to_string(),
            status: status.to_string(),
        };
        self.refused.get_or_create(&labels).inc();
    }

    /// A webhook delivery attempt succeeded or failed.
    pub fn webhook_attempt(&self, app: &str, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.webhooks.get_or_create(&result_labels(app, result)).inc();
    }

    pub fn observe_publish(&self, seconds: f64) {
        self.publish_seconds.observe(seconds);
    }

    /// The text exposition, after reading the gauges from `figures`.
    pub fn render(&self, figures: NodeFigures) -> String {
        for a in figures.apps {
            let labels = AppLabels { app: a.app };
            self.connections.get_or_create(&labels).set(a.connections as i64);
            self.channels.get_or_create(&labels).set(a.channels as i64);
            self.subscriptions.get_or_create(&labels).set(a.subscriptions as i64);
            self.deliveries
                .get_or_create(&labels)
                .inner()
                .store(a.deliveries, Ordering::Relaxed);
        }
        let t = figures.traffic;
        let values = [
            t.bytes_in,
            t.bytes_out,
            t.messages_in,
            t.messages_out,
            GAP_FILLS.load(Ordering::Relaxed),
        ];
        // A connection that ends during a scrape can be missed from both sums for a moment: a counter
        // never goes back (Prometheus would read a reset).
        for (counter, value) in self.totals.iter().zip(values) {
            counter.inner().fetch_max(value, Ordering::Relaxed);
        }
        self.bus_up.set(figures.bus_up as i64);
        self.store_up.set(figures.store_up as i64);
        self.webhook_queue.set(figures.webhook_queue.unwrap_or(0) as i64);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        out
    }
}

fn app_labels(app: &str) -> AppLabels {
    AppLabels { app: app.to_string() }
}

fn result_labels(app: &str, result: &str) -> ResultLabels {
    ResultLabels {
        app: app.to_string(),
        result: result.to_string(),
    }
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counted_events_with_bounded_labels() {
        let m = Metrics::default();
        m.connection_closed("app1", "ping_timeout");
        let text = m.render(NodeFigures {
            apps: vec![],
            bus_up: true,
            store_up: true,
            webhook_queue: None,
            traffic: TrafficTotals::default(),
        });
        assert!(
            text.contains(r#"herald_connections_closed_total{app="app1",cause="ping_timeout"} 1"#),
            "{text}"
        );
        assert!(text.contains("herald_bus_up 1"));
    }
}
