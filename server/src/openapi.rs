//! The admin API's OpenAPI document: every admin route and the Pusher API's history extension,
//! described with utoipa from the handlers' own annotations. Served at `/api/v1/openapi.json`,
//! checked in as `openapi/openapi.json` (a test fails when they differ), and the source of the web
//! console's generated types.
//!
//! The answers every admin operation may give for the same reasons (`CommonErrors`: 400 for a bad
//! parameter or body, 401 without valid credentials, 404 for a path naming nothing the caller can
//! see, 503 while the control database does not answer) are added here once, so no operation can
//! leave them out; the handlers' annotations list the rest (403, 409, 413, 429).
//!
//! Above `admin` and `http`: it names their handlers, they never name it.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::{admin, http};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald admin API", description = "Tenants, apps, keys, admins and audit of a Herald installation, and the Pusher HTTP API's history extension. No text may contain a NUL character (U+0000), in a body, a path or a query: such a request is a 400."),
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
    modifiers(&BearerAuth, &CommonErrors),
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

/// The admin API's answers that do not depend on the operation, added to every admin operation that
/// can give them; an error answer documented without a description gets the standard one.
struct CommonErrors;

/// What each error status of the admin API means, in the document.
const ERROR_STATUSES: [(&str, &str); 8] = [
    (
        "400",
        "The request is malformed: a parameter or the body; `field` names what to fix when one field is at fault",
    ),
    ("401", "No credentials, or bad, expired or revoked ones"),
    ("403", "Authenticated, but the role does not allow this"),
    ("404", "No such resource, or one the caller's tenant cannot see"),
    (
        "409",
        "A unique field is taken, a limit is reached, or the resource is not in a state that allows this",
    ),
    ("413", "Over the app's size limit"),
    ("429", "Too many attempts; retry later"),
    (
        "503",
        "The control database does not answer (the node keeps serving realtime traffic); retry shortly",
    ),
];

impl CommonErrors {
    fn add(operation: &mut Operation) {
        let params = operation.parameters.iter().flatten();
        let in_path = params.clone().any(|p| p.parameter_in == ParameterIn::Path);
        let in_query = params.clone().any(|p| p.parameter_in == ParameterIn::Query);
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let has_body = operation.request_body.is_some();
        let wanted = [
            ("400", in_path || in_query || has_body),
            ("401", secured),
            ("404", in_path),
            ("503", true),
        ];
        let responses = &mut operation.responses.responses;
        for (status, _) in wanted.iter().filter(|(_, applies)| *applies) {
            responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(error_response("")));
        }
        for (status, description) in ERROR_STATUSES {
            if let Some(RefOr::T(response)) = responses.get_mut(status) {
                if response.description.is_empty() {
                    *response = error_response(description);
                }
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let admin = openapi
            .paths
            .paths
            .iter_mut()
            .filter(|(path, _)| path.starts_with("/api/v1/"));
        for (_, item) in admin {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            operations.into_iter().flatten().for_each(CommonErrors::add);
        }
    }
}

/// The OpenAPI document, as checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
