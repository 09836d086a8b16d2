//! The admin API's OpenAPI document: every admin route and the Pusher API's history extension,
//! described with utoipa from the handlers' own annotations. Served at `/api/v1/openapi.json`,
//! checked in as `openapi/openapi.json` (a test fails when they differ), and the source of the web
//! console's generated types.
//!
//! Above `admin` and `http`: it names their handlers, they never name it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{admin, http};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald admin API", description = "Tenants, apps, keys, admins and audit of a Herald installation, and the Pusher HTTP API's history extension."),
    paths(
        admin::session::login, admin::session::refresh, admin::session::logout, admin::session::me,
        admin::session::change_password,
        admin::tenants::list, admin::tenants::create, admin::tenants::get, admin::tenants::update, admin::tenants::delete,
        admin::apps::list, admin::apps::create, admin::apps::get, admin::apps::update, admin::apps::delete, admin::apps::stats,
        admin::stats::series_of, admin::messages::publish_message,
        admin::channels::list, admin::channels::get, admin::channels::members, admin::channels::history,
        admin::keys::list, admin::keys::create, admin::keys::revoke, admin::keys::update,
        admin::admins::list, admin::admins::create, admin::admins::delete, admin::admins::update, admin::admins::list_tokens, admin::admins::create_token, admin::admins::revoke_token,
        admin::audit::list,
        admin::webhooks::deliveries, admin::webhooks::redeliver, admin::webhooks::test,
        admin::connections::list, admin::connections::get, admin::connections::disconnect, admin::failures::failed,
        admin::events::list, admin::events::live,
        http::history::history,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "tenants"), (name = "apps"), (name = "keys"), (name = "admins"), (name = "tokens"), (name = "audit"), (name = "webhooks", description = "Webhook deliveries; the endpoints are app settings (`settings.webhooks`)"), (name = "connections"), (name = "channels", description = "Occupied channels, presence members and stored history, for admins"), (name = "events"), (name = "history", description = "Channel history, on the Pusher HTTP API (signed as Pusher signs requests)"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An access token (JWT) from /auth/login, or an API token (hrld_…)"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI document, as checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
