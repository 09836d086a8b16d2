//! What each lifecycle event moves in the metrics: the one place that maps the log's events to
//! Prometheus counters, so every connection, subscription, publish and webhook attempt is counted
//! exactly once, where it is logged. Labels stay bounded (see `metrics`): the app and a word, never
//! a channel or socket.

use super::{EventKind, LifecycleEvent};
use crate::metrics::Metrics;

/// Counts `e` in `metrics`.
pub fn count(metrics: &Metrics, e: &LifecycleEvent) {
    let app = e.app_id.as_str();
    match e.kind {
        EventKind::ConnectionOpened => metrics.connection_opened(app),
        EventKind::ConnectionClosed => {
            let cause = e.detail.as_ref().and_then(|d| d.text("cause")).unwrap_or("unknown");
            metrics.connection_closed(app, cause)
        }
        EventKind::SubscriptionSucceeded => metrics.subscribed(app, true),
        EventKind::SubscriptionRefused => metrics.subscribed(app, false),
        EventKind::PublishAccepted => {
            let messages = e.detail.as_ref().and_then(|d| d.messages()).unwrap_or(1);
            metrics.published(app, "api", messages)
        }
        EventKind::ClientEvent => metrics.published(app, "client", 1),
        EventKind::PublishRefused => metrics.publish_refused(app, e.code.unwrap_or(0)),
        EventKind::WebhookDelivered => metrics.webhook_attempt(app, true),
        EventKind::WebhookFailed => metrics.webhook_attempt(app, false),
        EventKind::Signin | EventKind::SigninRefused => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{NodeFigures, TrafficTotals};

    fn rendered(metrics: &Metrics) -> String {
        metrics.render(NodeFigures {
            apps: vec![],
            bus_up: true,
            store_up: true,
            webhook_queue: None,
            traffic: TrafficTotals::default(),
        })
    }

    #[test]
    fn closes_count_by_cause_and_publishes_by_messages_without_channel_or_socket() {
        let metrics = Metrics::default();
        let closed = LifecycleEvent::new(EventKind::ConnectionClosed, "app1")
            .socket("1.2")
            .channel("secret-channel")
            .detail(serde_json::json!({ "cause": "ping_timeout" }));
        count(&metrics, &closed);
        let batch =
            LifecycleEvent::new(EventKind::PublishAccepted, "app1").detail(serde_json::json!({ "messages": 3 }));
        count(&metrics, &batch);
        let text = rendered(&metrics);
        assert!(
            text.contains(r#"herald_connections_closed_total{app="app1",cause="ping_timeout"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"herald_messages_published_total{app="app1",origin="api"} 3"#),
            "{text}"
        );
        assert!(!text.contains("secret-channel") && !text.contains("1.2\""));
    }
}
