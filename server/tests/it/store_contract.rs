//! The control store's behaviour, the same suite against SQLite and Postgres (no HTTP): tenants,
//! apps, keys, revisions and snapshots, admins, refresh and API tokens, the audit log, and that a
//! failed write leaves nothing behind. The webhook queue has its own suite (`webhook_store.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::store_fixture::{actor, fixture, new_app};
use crate::common::Backend;
use herald::clock::unix_secs;
use herald::store::prelude::*;
use herald::store::{
    Actor, AppPatch, EventRow, NewApp, NewKey, RefreshUse, Role, SettingsPatch, StoreError, TenantLimits, TenantPatch,
    TenantStatus,
};

fn limits(max_apps: i64) -> TenantLimits {
    TenantLimits {
        max_apps,
        ..Default::default()
    }
}

async fn tenants_are_created_updated_and_validated(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = s
        .create_tenant("  Acme  ", "acme", limits(3), &actor())
        .await
        .expect("create");
    assert_eq!(
        (t.name.as_str(), t.slug.as_str(), t.status),
        ("Acme", "acme", TenantStatus::Active)
    );
    assert_eq!(t.limits.max_apps, 3);
    assert_eq!(s.get_tenant(&t.id).await.unwrap(), t);
    assert_eq!(s.tenant_by_slug("acme").await.unwrap(), t);

    let dup = s
        .create_tenant("Other", "acme", TenantLimits::default(), &actor())
        .await;
    assert!(matches!(dup, Err(StoreError::Duplicate("slug"))), "{dup:?}");
    let too_long = "a".repeat(64);
    for bad in ["Acme", "has space", "-lead", "trail-", "", too_long.as_str()] {
        let res = s.create_tenant("x", bad, TenantLimits::default(), &actor()).await;
        assert!(
            matches!(res, Err(StoreError::Invalid { field: "slug", .. })),
            "slug {bad:?}: {res:?}"
        );
    }
    let res = s
        .create_tenant(&"n".repeat(101), "long", TenantLimits::default(), &actor())
        .await;
    assert!(matches!(res, Err(StoreError::Invalid { field: "name", .. })), "{res:?}");
    let res = s.create_tenant("neg", "neg", limits(-1), &actor()).await;
    assert!(
        matches!(res, Err(StoreError::Invalid { field: "limits", .. })),
        "{res:?}"
    );
    assert_eq!(
        s.list_tenants().await.unwrap().len(),
        1,
        "failed creates left rows behind"
    );

    let new_limits = TenantLimits {
        max_apps: 5,
        max_connections: 100,
        max_messages_per_day: 1000,
    };
    let patch = TenantPatch {
        status: Some(TenantStatus::Suspended),
        max_apps: Some(new_limits.max_apps),
        max_connections: Some(new_limits.max_connections),
        max_messages_per_day: Some(new_limits.max_messages_per_day),
        ..Default::default()
    };
    let updated = s.update_tenant(&t.id, patch, &actor()).await.expect("update");
    assert_eq!(
        (updated.status, updated.limits, updated.name.as_str()),
        (TenantStatus::Suspended, new_limits, "Acme")
    );
    assert_eq!(s.get_tenant(&t.id).await.unwrap(), updated);
    let missing = s.update_tenant("nope", TenantPatch::default(), &actor()).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}
both_backends!(
    tenants_are_created_updated_and_validated,
    tenants_are_created_updated_and_validated
);

async fn deleting_a_tenant_cascades_to_its_apps_keys_admins_and_tokens(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = s
        .create_tenant("Gone", "gone", TenantLimits::default(), &actor())
        .await
        .unwrap();
    let keep = s
        .create_tenant("Kept", "kept", TenantLimits::default(), &actor())
        .await
        .unwrap();
    let app = s.create_app(&t.id, new_app("a"), &actor()).await.unwrap();
    let kept_app = s.create_app(&keep.id, new_app("b"), &actor()).await.unwrap();
    s.create_admin("gone@x.test", "hash", Role::TenantAdmin, Some(&t.id), &actor())
        .await
        .unwrap();
    s.create_api_token(&t.id, "ci", Role::TenantAdmin, "h-gone", &actor())
        .await
        .unwrap();

    s.delete_tenant(&t.id, &actor()).await.expect("delete");
    assert!(matches!(s.get_tenant(&t.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.get_app(&app.app.id).await, Err(StoreError::NotFound(_))));
    assert!(s.list_keys(&app.app.id).await.unwrap().is_empty());
    let keys_left = f
        .raw_count(&format!(
            "SELECT COUNT(*) FROM app_keys WHERE app_id = '{}'",
            app.app.id
        ))
        .await;
    assert_eq!(keys_left, 0);
    assert!(s.admin_credentials("gone@x.test").await.unwrap().is_none());
    assert!(s.api_token_by_hash("h-gone").await.unwrap().is_none());
    assert_eq!(
        s.get_app(&kept_app.app.id).await.unwrap().tenant_id,
        keep.id,
        "other tenants untouched"
    );
    assert!(matches!(
        s.delete_tenant(&t.id, &actor()).await,
        Err(StoreError::NotFound(_))
    ));
}
both_backends!(
    deleting_a_tenant_cascades,
    deleting_a_tenant_cascades_to_its_apps_keys_admins_and_tokens
);

async fn apps_are_created_limited_patched_and_deleted(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = s.create_tenant("T", "t", limits(2), &actor()).await.unwrap();
    let generated = s.create_app(&t.id, new_app("gen"), &actor()).await.expect("generated");
    assert!(
        generated.app.id.parse::<u32>().is_ok(),
        "generated id {}",
        generated.app.id
    );
    assert_eq!(generated.keys.len(), 1);
    let k = &generated.keys[0];
    assert_eq!((k.key.len(), k.secret.as_deref().map(str::len)), (20, Some(20)));

    let given = NewApp {
        name: "given".into(),
        id: Some("my-app".into()),
        key: Some("my-key".into()),
        secret: Some("my-secret".into()),
        settings: SettingsPatch {
            client_events: Some(true),
            max_connections: Some(7),
            ..Default::default()
        },
    };
    let given = s.create_app(&t.id, given, &actor()).await.expect("given");
    assert_eq!(given.app.id, "my-app");
    assert_eq!(
        (given.keys[0].key.as_str(), given.keys[0].secret.as_deref()),
        ("my-key", Some("my-secret"))
    );
    assert!(given.app.settings.client_events);

    let third = s.create_app(&t.id, new_app("third"), &actor()).await;
    assert!(matches!(third, Err(StoreError::Limit(_))), "{third:?}");
    assert_eq!(s.list_apps(Some(&t.id)).await.unwrap().len(), 2);

    let patch = AppPatch {
        name: None,
        settings: SettingsPatch {
            max_payload_bytes: Some(2048),
            ..Default::default()
        },
    };
    let patched = s.update_app("my-app", patch, &actor()).await.expect("patch");
    assert_eq!(patched.settings.max_payload_bytes, 2048);
    assert!(patched.settings.client_events, "unpatched settings keep their values");
    assert_eq!((patched.settings.max_connections, patched.name.as_str()), (7, "given"));
    assert_eq!(s.get_app("my-app").await.unwrap(), patched);
    let bad = AppPatch {
        name: Some(" ".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.update_app("my-app", bad, &actor()).await,
        Err(StoreError::Invalid { field: "name", .. })
    ));

    s.delete_app("my-app", &actor()).await.expect("delete");
    assert!(matches!(s.get_app("my-app").await, Err(StoreError::NotFound(_))));
    assert!(s.list_keys("my-app").await.unwrap().is_empty());
    s.create_app(&t.id, new_app("room again"), &actor())
        .await
        .expect("deleting frees a slot");
}
both_backends!(
    apps_are_created_limited_patched_and_deleted,
    apps_are_created_limited_patched_and_deleted
);

async fn keys_are_listed_decrypted_stored_encrypted_revoked_and_expire(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = f.tenant("t").await;
    let app = s.create_app(&t.id, new_app("a"), &actor()).await.unwrap().app;
    let secret = "plain-secret-XYZ-123";
    let new = NewKey::new(Some("k2".into()), Some(secret.into()), "rotation".into(), None).unwrap();
    let key = s.create_key(&app.id, new, &actor()).await.expect("create key");
    assert_eq!((key.label.as_str(), key.secret.as_deref()), ("rotation", Some(secret)));
    assert!(key.is_active(unix_secs()));

    let listed = s.list_keys(&app.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed.iter().find(|k| k.key == "k2").unwrap().secret.as_deref(),
        Some(secret)
    );

    let stored = f.raw_strings("SELECT secret_enc FROM app_keys WHERE key = 'k2'").await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(secret) && !stored[0].is_empty(),
        "secret stored in clear: {}",
        stored[0]
    );
    for sealed in f.raw_strings("SELECT secret_enc FROM app_keys").await {
        for k in &listed {
            assert!(
                !sealed.contains(k.secret.as_deref().unwrap()),
                "a secret is stored in clear"
            );
        }
    }

    let dup = NewKey::new(Some("k2".into()), None, String::new(), None).unwrap();
    assert!(matches!(
        s.create_key(&app.id, dup, &actor()).await,
        Err(StoreError::Duplicate("key"))
    ));
    assert!(
        NewKey::new(None, None, "l".repeat(101), None).is_err(),
        "over-long label refused"
    );

    let revoked = s.revoke_key(&app.id, "k2", &actor()).await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(!revoked.is_active(unix_secs()));
    let again = s.revoke_key(&app.id, "k2", &actor()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    let other_app = s.revoke_key("no-such-app", "k2", &actor()).await;
    assert!(matches!(other_app, Err(StoreError::NotFound(_))));

    let past = NewKey::new(Some("old".into()), None, String::new(), Some(unix_secs() - 10)).unwrap();
    let expired = s.create_key(&app.id, past, &actor()).await.unwrap();
    assert!(
        expired.revoked_at.is_none() && !expired.is_active(unix_secs()),
        "expired key must not be active"
    );
    let future = NewKey::new(Some("soon".into()), None, String::new(), Some(unix_secs() + 3600)).unwrap();
    let later = s.create_key(&app.id, future, &actor()).await.unwrap();
    assert!(later.is_active(unix_secs()) && !later.is_active(unix_secs() + 3601));
}
both_backends!(
    keys_lifecycle,
    keys_are_listed_decrypted_stored_encrypted_revoked_and_expire
);

async fn every_cached_write_bumps_the_revision_and_snapshot_has_everything(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let mut last = s.revision().await.unwrap();
    macro_rules! bumped {
        ($what:expr) => {{
            let r = s.revision().await.unwrap();
            assert!(r > last, "{} did not bump the revision ({last} -> {r})", $what);
            last = r;
        }};
    }
    let t = f.tenant("t").await;
    bumped!("create_tenant");
    s.update_tenant(
        &t.id,
        TenantPatch {
            name: Some("T2".into()),
            ..Default::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    bumped!("update_tenant");
    let a = s.create_app(&t.id, new_app("a"), &actor()).await.unwrap();
    bumped!("create_app");
    s.update_app(
        &a.app.id,
        AppPatch {
            name: Some("a2".into()),
            ..Default::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    bumped!("update_app");
    let nk = NewKey::new(Some("k2".into()), None, String::new(), None).unwrap();
    s.create_key(&a.app.id, nk, &actor()).await.unwrap();
    bumped!("create_key");
    s.revoke_key(&a.app.id, "k2", &actor()).await.unwrap();
    bumped!("revoke_key");
    s.touch_keys(&["k2".to_string()], unix_secs()).await.unwrap();
    assert_eq!(
        s.revision().await.unwrap(),
        last,
        "touch_keys is not cached and must not bump"
    );

    let b = s.create_app(&t.id, new_app("b"), &actor()).await.unwrap();
    bumped!("create_app b");
    let snap = s.snapshot().await.unwrap();
    assert_eq!(snap.revision, last);
    assert_eq!(snap.tenants.len(), 1);
    assert_eq!(snap.tenants[0].name, "T2");
    assert_eq!(snap.apps.len(), 2);
    let snap_a = snap
        .apps
        .iter()
        .find(|x| x.app.id == a.app.id)
        .expect("app a in snapshot");
    assert_eq!(snap_a.app.name, "a2");
    assert_eq!(snap_a.keys.len(), 2);
    assert!(
        snap_a.keys.iter().all(|k| k.secret.is_some()),
        "snapshot keys carry their secrets"
    );
    assert!(snap_a.keys.iter().any(|k| k.key == "k2" && k.revoked_at.is_some()));

    s.delete_app(&b.app.id, &actor()).await.unwrap();
    bumped!("delete_app");
    s.delete_tenant(&t.id, &actor()).await.unwrap();
    bumped!("delete_tenant");
    let snap = s.snapshot().await.unwrap();
    assert_eq!(snap.revision, last);
    assert!(snap.tenants.is_empty() && snap.apps.is_empty());
}
both_backends!(
    revision_and_snapshot,
    every_cached_write_bumps_the_revision_and_snapshot_has_everything
);

async fn admins_are_unique_case_insensitive_and_role_checked(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = f.tenant("t").await;
    let owner = s
        .create_admin("Boss@Example.COM", "h1", Role::Owner, None, &actor())
        .await
        .expect("owner");
    assert_eq!(
        (owner.email.as_str(), owner.role, owner.tenant_id.clone()),
        ("boss@example.com", Role::Owner, None)
    );
    let admin = s
        .create_admin("ann@x.test", "h2", Role::TenantAdmin, Some(&t.id), &actor())
        .await
        .unwrap();
    assert_eq!(admin.tenant_id.as_deref(), Some(t.id.as_str()));

    let dup = s
        .create_admin("BOSS@example.com", "h", Role::Owner, None, &actor())
        .await;
    assert!(matches!(dup, Err(StoreError::Duplicate("email"))), "{dup:?}");
    let owner_with_tenant = s
        .create_admin("o2@x.test", "h", Role::Owner, Some(&t.id), &actor())
        .await;
    assert!(
        matches!(owner_with_tenant, Err(StoreError::Invalid { field: "tenant", .. })),
        "{owner_with_tenant:?}"
    );
    let viewer_without = s
        .create_admin("v@x.test", "h", Role::TenantViewer, None, &actor())
        .await;
    assert!(matches!(
        viewer_without,
        Err(StoreError::Invalid { field: "tenant", .. })
    ));
    let bad_email = s.create_admin("not-an-email", "h", Role::Owner, None, &actor()).await;
    assert!(matches!(bad_email, Err(StoreError::Invalid { field: "email", .. })));
    let no_tenant = s
        .create_admin("v@x.test", "h", Role::TenantViewer, Some("missing"), &actor())
        .await;
    assert!(no_tenant.is_err(), "admin of a missing tenant: {no_tenant:?}");

    let creds = s
        .admin_credentials("  bOsS@eXaMpLe.com ")
        .await
        .unwrap()
        .expect("case-insensitive lookup");
    assert_eq!(
        (creds.admin.id.as_str(), creds.password_hash.as_str()),
        (owner.id.as_str(), "h1")
    );
    assert!(s.admin_credentials("nobody@x.test").await.unwrap().is_none());
    assert_eq!(s.list_admins(None).await.unwrap().len(), 2);
    assert_eq!(s.list_admins(Some(&t.id)).await.unwrap(), vec![admin.clone()]);
    s.delete_admin(&admin.id, &actor()).await.unwrap();
    assert!(matches!(s.get_admin(&admin.id).await, Err(StoreError::NotFound(_))));
}
both_backends!(admins, admins_are_unique_case_insensitive_and_role_checked);

async fn refresh_tokens_are_single_use_and_expire(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let admin = s
        .create_admin("a@x.test", "h", Role::Owner, None, &actor())
        .await
        .unwrap();
    let now = unix_secs();
    s.save_refresh_token("live", &admin.id, "f1", now + 60).await.unwrap();
    s.save_refresh_token("next", &admin.id, "f1", now + 60).await.unwrap();
    s.save_refresh_token("other", &admin.id, "f2", now + 60).await.unwrap();
    s.save_refresh_token("stale", &admin.id, "f3", now - 1).await.unwrap();
    let valid = RefreshUse::Valid {
        admin_id: admin.id.clone(),
        family: "f1".into(),
    };
    assert_eq!(s.take_refresh_token("live", now).await.unwrap(), valid);
    assert_eq!(
        s.take_refresh_token("live", now + 1).await.unwrap(),
        RefreshUse::Unknown,
        "a second use a moment later (a client racing itself) is refused, its sign-in kept"
    );
    assert!(matches!(
        s.take_refresh_token("next", now).await.unwrap(),
        RefreshUse::Valid { .. }
    ));
    s.save_refresh_token("next2", &admin.id, "f1", now + 60).await.unwrap();
    assert_eq!(
        s.take_refresh_token("live", now + 30).await.unwrap(),
        RefreshUse::Reused {
            admin_id: admin.id.clone()
        },
        "a second use later is a copy"
    );
    assert_eq!(
        s.take_refresh_token("next2", now).await.unwrap(),
        RefreshUse::Unknown,
        "its family went with it"
    );
    assert!(
        matches!(
            s.take_refresh_token("other", now).await.unwrap(),
            RefreshUse::Valid { .. }
        ),
        "another family stays"
    );
    assert_eq!(
        s.take_refresh_token("stale", now).await.unwrap(),
        RefreshUse::Unknown,
        "expired"
    );
    assert_eq!(s.take_refresh_token("unknown", now).await.unwrap(), RefreshUse::Unknown);
    s.save_refresh_token("later", &admin.id, "f4", now + 60).await.unwrap();
    s.revoke_refresh_family("f4").await.unwrap();
    assert_eq!(
        s.take_refresh_token("later", now).await.unwrap(),
        RefreshUse::Unknown,
        "logout revoked it"
    );
}
both_backends!(refresh_tokens, refresh_tokens_are_single_use_and_expire);

async fn api_tokens_are_found_by_hash_until_revoked(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = f.tenant("t").await;
    let tok = s
        .create_api_token(&t.id, "deploy", Role::TenantViewer, "hash-1", &actor())
        .await
        .expect("create");
    assert_eq!(
        (tok.name.as_str(), tok.role, tok.revoked_at),
        ("deploy", Role::TenantViewer, None)
    );
    assert_eq!(s.api_token_by_hash("hash-1").await.unwrap(), Some(tok.clone()));
    assert_eq!(s.api_token_by_hash("hash-2").await.unwrap(), None);
    let owner_token = s.create_api_token(&t.id, "root", Role::Owner, "hash-3", &actor()).await;
    assert!(
        matches!(owner_token, Err(StoreError::Invalid { field: "role", .. })),
        "{owner_token:?}"
    );
    assert_eq!(s.list_api_tokens(&t.id).await.unwrap(), vec![tok.clone()]);

    let other = f.tenant("o").await;
    let wrong_tenant = s.revoke_api_token(&other.id, &tok.id, &actor()).await;
    assert!(
        matches!(wrong_tenant, Err(StoreError::NotFound(_))),
        "revoked through another tenant"
    );
    s.revoke_api_token(&t.id, &tok.id, &actor()).await.expect("revoke");
    assert_eq!(s.api_token_by_hash("hash-1").await.unwrap(), None);
    assert!(s.list_api_tokens(&t.id).await.unwrap()[0].revoked_at.is_some());
    assert!(matches!(
        s.revoke_api_token(&t.id, &tok.id, &actor()).await,
        Err(StoreError::NotFound(_))
    ));
}
both_backends!(api_tokens, api_tokens_are_found_by_hash_until_revoked);

async fn audit_log_records_each_write_newest_first_and_pages(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let who = Actor("admin:ann@x.test".into());
    let t = s.create_tenant("T", "t", TenantLimits::default(), &who).await.unwrap();
    let other = s.create_tenant("O", "o", TenantLimits::default(), &who).await.unwrap();
    let app = s.create_app(&t.id, new_app("a"), &who).await.unwrap().app;
    s.update_app(
        &app.id,
        AppPatch {
            name: Some("b".into()),
            ..Default::default()
        },
        &who,
    )
    .await
    .unwrap();
    let nk = NewKey::new(
        Some("k2".into()),
        Some("hidden-secret-value".into()),
        String::new(),
        None,
    )
    .unwrap();
    s.create_key(&app.id, nk, &who).await.unwrap();
    s.revoke_key(&app.id, "k2", &who).await.unwrap();
    s.create_admin("v@x.test", "h", Role::TenantViewer, Some(&t.id), &who)
        .await
        .unwrap();
    let tok = s
        .create_api_token(&t.id, "ci", Role::TenantAdmin, "th", &who)
        .await
        .unwrap();
    s.revoke_api_token(&t.id, &tok.id, &who).await.unwrap();
    s.update_tenant(
        &t.id,
        TenantPatch {
            name: Some("T2".into()),
            ..Default::default()
        },
        &who,
    )
    .await
    .unwrap();
    s.record(Some(&t.id), &who, "login", "ann@x.test", serde_json::json!({}))
        .await
        .unwrap();
    s.delete_app(&app.id, &who).await.unwrap();
    s.create_app(&other.id, new_app("elsewhere"), &who).await.unwrap();

    let log = s.audit_log(&t.id, 100, None).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    let expected = [
        "app.delete",
        "login",
        "tenant.update",
        "token.revoke",
        "token.create",
        "admin.create",
        "key.revoke",
        "key.create",
        "app.update",
        "app.create",
        "tenant.create",
    ];
    assert_eq!(
        actions, expected,
        "newest first, one entry per write, only this tenant's"
    );
    assert!(log.windows(2).all(|w| w[0].id > w[1].id && w[0].at >= w[1].at));
    assert!(log
        .iter()
        .all(|e| e.actor == "admin:ann@x.test" && e.tenant_id.as_deref() == Some(t.id.as_str())));
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("hidden-secret-value"), "a secret reached the audit log");

    let page1 = s.audit_log(&t.id, 4, None).await.unwrap();
    let page2 = s.audit_log(&t.id, 4, Some(page1.last().unwrap().id)).await.unwrap();
    let page3 = s.audit_log(&t.id, 4, Some(page2.last().unwrap().id)).await.unwrap();
    assert_eq!((page1.len(), page2.len(), page3.len()), (4, 4, 3));
    let paged: Vec<_> = page1.into_iter().chain(page2).chain(page3).collect();
    assert_eq!(paged, log, "paging with `before` walks the same log");
    assert_eq!(s.audit_log(&other.id, 100, None).await.unwrap().len(), 2);
}
both_backends!(audit_log, audit_log_records_each_write_newest_first_and_pages);

async fn failed_writes_leave_nothing_half_written(backend: Backend) {
    let f = fixture(backend).await;
    let s = &f.store;
    let t = f.tenant("t").await;
    let first = NewApp {
        name: "first".into(),
        key: Some("taken".into()),
        ..Default::default()
    };
    s.create_app(&t.id, first, &actor()).await.unwrap();
    let revision = s.revision().await.unwrap();
    let audit = s.audit_log(&t.id, 500, None).await.unwrap().len();

    let clash = NewApp {
        name: "second".into(),
        id: Some("second".into()),
        key: Some("taken".into()),
        ..Default::default()
    };
    let res = s.create_app(&t.id, clash, &actor()).await;
    assert!(matches!(res, Err(StoreError::Duplicate("key"))), "{res:?}");
    assert!(
        matches!(s.get_app("second").await, Err(StoreError::NotFound(_))),
        "app row left behind"
    );
    assert_eq!(f.raw_count("SELECT COUNT(*) FROM apps WHERE id = 'second'").await, 0);

    let first_id = s.list_apps(Some(&t.id)).await.unwrap()[0].id.clone();
    let same_id = NewApp {
        name: "x".into(),
        id: Some(first_id),
        key: Some("fresh".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.create_app(&t.id, same_id, &actor()).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        f.raw_count("SELECT COUNT(*) FROM app_keys WHERE key = 'fresh'").await,
        0,
        "key row left behind"
    );

    let missing = s.create_app("no-such-tenant", new_app("x"), &actor()).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    assert_eq!(s.list_apps(None).await.unwrap().len(), 1);
    assert_eq!(
        s.revision().await.unwrap(),
        revision,
        "a failed write bumped the revision"
    );
    assert_eq!(
        s.audit_log(&t.id, 500, None).await.unwrap().len(),
        audit,
        "a failed write was audited"
    );
}
both_backends!(nothing_half_written, failed_writes_leave_nothing_half_written);

/// A server and a CLI command write to one store from two processes (two pools here). A write
/// transaction that reads before it writes waits for the other writer instead of failing with
/// "database is locked" (SQLite refuses a deferred transaction's late upgrade at once).
async fn writers_in_two_processes_wait_their_turn(backend: Backend) {
    let f = fixture(backend).await;
    let cli = f.second_store().await;
    let (_, app) = f.tenant_with_app("busy").await;
    let done = Arc::new(AtomicBool::new(false));
    let server = f.store.clone();
    let (app_id, stop) = (app.clone(), done.clone());
    let lifecycle_log = tokio::spawn(async move {
        let mut appended = 0;
        while !stop.load(Ordering::Relaxed) {
            let row = EventRow {
                app_id: app_id.clone(),
                time: unix_secs(),
                kind: "connection_opened",
                socket_id: Some("1.1".into()),
                user_id: None,
                channel: None,
                body: "{}".into(),
            };
            server.append_events(&[row]).await.expect("the lifecycle log writes");
            appended += 1;
        }
        appended
    });
    for n in 0..40 {
        let patch = AppPatch {
            name: Some(format!("busy-{n}")),
            ..Default::default()
        };
        let updated = cli.update_app(&app, patch, &actor()).await;
        assert!(updated.is_ok(), "update {n} failed beside another writer: {updated:?}");
    }
    done.store(true, Ordering::Relaxed);
    assert!(lifecycle_log.await.unwrap() > 0, "the other writer never wrote");
    assert_eq!(f.store.get_app(&app).await.unwrap().name, "busy-39");
}
both_backends!(two_writers, writers_in_two_processes_wait_their_turn);

/// Three processes starting together on one empty store (three pools here) make one default app
/// between them, whichever gets there first; a store with an app or another tenant gets none.
async fn processes_starting_together_make_one_first_app(backend: Backend) {
    let f = fixture(backend).await;
    let stores = [f.store.clone(), f.second_store().await, f.second_store().await];
    let starts = stores.iter().map(|s| {
        let s = s.clone();
        tokio::spawn(async move {
            s.create_first_app(("Default", "default"), new_app("default"), &actor())
                .await
        })
    });
    let made: Vec<_> = futures_util::future::join_all(starts).await;
    let made: Vec<_> = made.into_iter().map(|r| r.expect("task").expect("no error")).collect();
    assert_eq!(
        made.iter().filter(|m| m.is_some()).count(),
        1,
        "one of them made it: {made:?}"
    );
    assert_eq!(f.store.list_apps(None).await.unwrap().len(), 1);
    assert_eq!(f.store.list_tenants().await.unwrap().len(), 1);
    let again = f
        .store
        .create_first_app(("Default", "default"), new_app("x"), &actor())
        .await
        .unwrap();
    assert!(again.is_none(), "not a first start any more");
}
both_backends!(first_app_once, processes_starting_together_make_one_first_app);
