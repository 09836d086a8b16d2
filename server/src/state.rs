//! The state every handler shares, as an `axum::extract::State`.

use std::sync::Arc;

use crate::admin::AdminAuth;
use crate::apps::AppDirectory;
use crate::config::Config;
use crate::hub::Hub;
use crate::publish::Publisher;
use crate::quota::DailyQuota;
use crate::shutdown::Shutdown;
use crate::store::ControlStore;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub apps: Arc<AppDirectory>,
    pub hub: Arc<Hub>,
    pub publisher: Arc<Publisher>,
    pub store: Arc<dyn ControlStore>,
    pub shutdown: Shutdown,
    pub quota: Arc<DailyQuota>,
    pub admin: Arc<AdminAuth>,
}
