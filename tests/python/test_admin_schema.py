"""The admin API against its own OpenAPI document, with Schemathesis.

One node serves a tenant with an app, keys, an API token and an admin; Schemathesis generates
requests for every admin operation from /api/v1/openapi.json (valid ones, and ones that break the
document on purpose), sends them with an owner's access token and with the tenant's API token, and
checks each answer: never a 5xx, only statuses the document lists, bodies and content types as
documented, schema-breaking requests refused and (where the document can say everything the server
checks) schema-valid ones accepted. Path parameters take the set-up's real ids most of the time, so
requests get past "not found" to the handlers; resources the fuzzer may delete are spares.

Bounded: a fixed number of examples per operation (HERALD_SCHEMA_EXAMPLES, default 25), derandomised
(the same cases each run; HERALD_SCHEMA_RANDOM=1 explores new ones), a 10 s request timeout, and the
whole file must finish within HERALD_SCHEMA_BUDGET seconds (default 120).
"""
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from conftest import Herald, herald_bin

EXAMPLES = int(os.environ.get("HERALD_SCHEMA_EXAMPLES", "25"))
RANDOM = os.environ.get("HERALD_SCHEMA_RANDOM") == "1"
BUDGET = float(os.environ.get("HERALD_SCHEMA_BUDGET", "120"))
OWNER_EMAIL, OWNER_PASSWORD = "owner@example.com", "correct horse battery staple"

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
]

# Operations where a request the document calls valid may still be refused (400) for a reason the
# document cannot state: the state of the installation, the clock, or a rule across fields. The
# other checks still run on them.
STATEFUL_RULES = {
    "create_app": "settings above the operator's ceilings; origins and webhook URLs checked by URL "
                  "parsing and the egress policy (what a name resolves to)",
    "update_app": "the same settings checks as create_app",
    "create_key": "expires_at must be in the future",
    "update_key": "expires_at must be in the future",
    "change_password": "current_password must be the admin's password",
    "test_webhook": "url must be one of the app's webhook endpoints",
    "create_admin": "a tenant role needs a tenant_id when an owner creates it, an owner none",
    "update_admin": "the same role and tenant_id rule as create_admin",
    "failed_connections": "since must not be after until",
    "publish_message": "data within the app's max_payload_bytes (413); an encrypted channel alone",
}

# Operations left out: the live event stream does not end by itself (its errors are those of
# list_events); the Pusher history route is signed with an app's key and secret, not a bearer token.
EXCLUDED = {"stream_events"}


def _api(node, method, path, token, body=None):
    res = requests.request(method, f"{node.url}/api/v1{path}", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert res.status_code < 300, f"{method} {path}: {res.status_code} {res.text}"
    return res.json() if res.text else None


class Setup:
    """The node and what exists on it: ids the fuzzer's path parameters are drawn from."""

    def __init__(self, node):
        self.node = node
        self.started = time.monotonic()
        subprocess.run([node.bin, "admins", "create", "--data-dir", node.data_dir, "--email",
                        OWNER_EMAIL, "--role", "owner"], input=OWNER_PASSWORD + "\n", text=True,
                       capture_output=True, check=True, timeout=30, env=dict(os.environ, HERALD_LOG="warn"))
        login = requests.post(f"{node.url}/api/v1/auth/login", timeout=10,
                              json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert login.status_code == 200, login.text
        self.owner = login.json()["access_token"]
        own = lambda method, path, body=None: _api(node, method, path, self.owner, body)  # noqa: E731
        self.tenant = own("POST", "/tenants", {"name": "Acme", "slug": "acme"})["id"]
        created = own("POST", f"/tenants/{self.tenant}/apps", {"name": "Chat"})
        self.app, self.key = created["app"]["id"], created["key"]["key"]
        self.spare_key = own("POST", f"/apps/{self.app}/keys", {"label": "spare"})["key"]
        self.spare_app = own("POST", f"/tenants/{self.tenant}/apps", {"name": "Spare"})["app"]["id"]
        self.spare_tenant = own("POST", "/tenants", {"name": "Spare", "slug": "spare"})["id"]
        token = own("POST", f"/tenants/{self.tenant}/tokens", {"name": "ci", "role": "tenant_admin"})
        self.tenant_token = token["token"]
        self.spare_token = own("POST", f"/tenants/{self.tenant}/tokens",
                               {"name": "spare", "role": "tenant_viewer"})["api_token"]["id"]
        self.admin = own("POST", "/admins", {"email": "viewer@example.com", "role": "tenant_viewer",
                                              "tenant_id": self.tenant})["admin"]["id"]
        own("POST", f"/apps/{self.app}/messages", {"channels": ["chat"], "name": "hello", "data": "{}"})

    def config(self, token):
        """Schemathesis' configuration for requests with `token`."""
        values = {
            "tenants": [self.tenant], "apps": [self.app], "keys": [self.key],
            "channels": ["chat", "presence-room", "#server-to-user-ada"],
            "admins": [self.admin], "spare_tenants": [self.spare_tenant], "spare_apps": [self.spare_app],
            "spare_keys": [self.spare_key], "spare_tokens": [self.spare_token],
        }
        bind = lambda name, p=0.8: {"dictionary": name, "probability": p}  # noqa: E731
        spares = [("delete_tenant", "path.tenant_id", "spare_tenants"),
                  ("delete_app", "path.app_id", "spare_apps"),
                  ("revoke_key", "path.key", "spare_keys"),
                  ("revoke_api_token", "path.token_id", "spare_tokens")]
        operations = [{"include-operation-id": op, "parameters": {param: bind(name, 0.5)}}
                      for op, param, name in spares]
        operations += [{"include-operation-id": op, "checks": {"positive_data_acceptance": {"enabled": False}}}
                       for op in STATEFUL_RULES]
        # No NUL characters: the document says once, for all text, that they are refused (400), which
        # a string schema cannot say field by field; server/tests/it/nul_text.rs tests that rule.
        generation = {"max-examples": EXAMPLES, "mode": "all", "database": "none", "deterministic": not RANDOM,
                      "allow-x00": False}
        return SchemathesisConfig.from_dict({
            "base-url": self.node.url,
            "headers": {"Authorization": f"Bearer {token}"},
            "request-timeout": 10,
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"enabled": False}},
            "generation": generation,
            "dictionaries": {name: {"values": v} for name, v in values.items()},
            "parameters": {"path.tenant_id": bind("tenants"), "path.app_id": bind("apps"),
                           "path.key": bind("keys"), "path.name": bind("channels"),
                           "path.admin_id": bind("admins")},
            "operations": operations,
        })


@pytest.fixture(scope="module")
def setup():
    data_dir = tempfile.mkdtemp(prefix="herald-py-schema-")
    node = None
    try:
        node = Herald(herald_bin(), data_dir, {})
        yield Setup(node)
    finally:
        if node:
            node.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module", params=["owner", "tenant_token"])
def admin_schema(request, setup):
    token = setup.owner if request.param == "owner" else setup.tenant_token
    return schemathesis.openapi.from_url(f"{setup.node.url}/api/v1/openapi.json", config=setup.config(token))


schema = schemathesis.pytest.from_fixture("admin_schema").include(path_regex="^/api/v1/").exclude(
    operation_id=sorted(EXCLUDED))


@schema.parametrize()
def test_admin_api_matches_its_document(case, setup):
    assert time.monotonic() - setup.started < BUDGET, f"over the file's budget of {BUDGET:.0f} s"
    case.call_and_validate()
