//! When Postgres goes away, a node keeps serving realtime traffic from its cached apps and keys,
//! answers admin writes with 503 (and stays ready), and recovers by itself when Postgres returns.
//! This test runs its own Postgres (scripts/postgres-throwaway) so it can stop and restart it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use herald::config::Secret;
use herald::shutdown::Shutdown;
use herald::startup::Application;
use herald::store::{Actor, NewApp, TenantLimits};
use serde_json::json;

fn script(args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres-throwaway");
    let out = Command::new(path)
        .args(args)
        .output()
        .expect("scripts/postgres-throwaway runs");
    assert!(
        out.status.success(),
        "postgres-throwaway {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops the private Postgres when the test ends, pass or fail.
struct PrivatePostgres {
    url: String,
    dir: String,
}

impl PrivatePostgres {
    fn start() -> Self {
        let exports = script(&[]);
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .expect(name)
                .to_string()
        };
        PrivatePostgres {
            url: value("HERALD_TEST_PG_URL"),
            dir: value("HERALD_TEST_PG_DIR"),
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres-throwaway"))
            .args(["stop", &self.dir])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_serves_from_cache_while_postgres_is_down_and_recovers() {
    let pg = PrivatePostgres::start();
    let (mut config, _) = crate::common::test_config(crate::common::Backend::Sqlite).await;
    config.store.database_url = Some(Secret(pg.url.clone()));
    config.store.master_key = Some(Secret(crate::common::TEST_MASTER_KEY.into()));
    let store = crate::common::open_store(&config).await;
    {
        use herald::store::prelude::*;
        let tenant = store
            .create_tenant("Acme", "acme", TenantLimits::default(), &Actor::cli())
            .await
            .expect("tenant");
        let new = NewApp {
            name: "shop".into(),
            id: Some("77".into()),
            key: Some("acme-key".into()),
            secret: Some("acme-secret".into()),
            ..Default::default()
        };
        store.create_app(&tenant.id, new, &Actor::cli()).await.expect("app");
    }
    let shutdown = Shutdown::new();
    let app = Application::build(config.clone(), shutdown.clone())
        .await
        .expect("node builds");
    let base = format!("http://127.0.0.1:{}", app.local_addr().expect("addr").port());
    tokio::spawn(app.run());
    let client = reqwest::Client::new();
    let body = br#"{"name":"e","channels":["c"],"data":"{}"}"#;
    let publish = || async {
        let url = crate::common::pusher_signed_url(&base, "POST", "/apps/77/events", "acme-key", "acme-secret", body);
        client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(publish().await, 200);

    script(&["pause", &pg.dir]);
    // Realtime keeps working from the cache; the node stays ready.
    assert_eq!(publish().await, 200, "publish while Postgres is down");
    let ready = client.get(format!("{base}/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    // Admin writes fail clearly.
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "a@b.c", "password": "whatever-long-enough"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 503);
    let err: serde_json::Value = login.json().await.expect("json");
    assert_eq!(err["error"]["code"], "unavailable");

    script(&["resume", &pg.dir]);
    // The node recovers by itself: the store answers again and changes flow to the cache.
    let mut recovered = false;
    for _ in 0..100 {
        use herald::store::prelude::*;
        if let Ok(app) = store.get_app("77").await {
            let patch = herald::store::AppPatch {
                name: None,
                settings: herald::store::SettingsPatch {
                    enabled: Some(false),
                    ..Default::default()
                },
            };
            if store.update_app(&app.id, patch, &Actor::cli()).await.is_ok() {
                recovered = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store accepts writes after Postgres returns");
    let mut status = 0;
    for _ in 0..50 {
        status = publish().await;
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 403, "the node picked up the change made after the outage");
    shutdown.trigger();
}
