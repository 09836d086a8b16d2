//! The admin API answers on both backends: the owner logs in and sees itself.

use crate::common::{spawn_app, Backend};

async fn owner_logs_in_and_sees_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, me) = app.get("/me", Some(&app.owner_token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["admin"]["email"], crate::common::OWNER_EMAIL);
}

both_backends!(owner_logs_in, owner_logs_in_and_sees_itself);
