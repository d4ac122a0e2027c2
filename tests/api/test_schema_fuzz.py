"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis, every check).

Every operation is called with generated valid and invalid input and its answer held to every check
schemathesis has (no 5xx, documented status codes, content types and headers, response bodies matching
their schemas, invalid data refused, valid data accepted, auth not ignored, 405 with Allow for
undocumented methods, …), authenticated as its caller would be:

- the customer operations with world.acme's master key holding every customer permission;
- the provider's operations (/staff/…) with a staff admin's browser session (and its CSRF token);
- `/messages/inbound` with the inbound token (KONTOR_INBOUND_TOKEN);
- the connectors' DLR callback with no credentials a fuzzer could know (it must refuse, never fail).

A check is switched off only for an operation where it cannot apply, each with its reason (EXCLUDED).
The run is bounded and deterministic (derandomize) so it stays fast and does not flake."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from kontor.access.services import create_api_key
from kontor.wsgi import application
from tests.api.conftest import ALL_PERMS

EXAMPLES = 6
INBOUND_TOKEN = "fuzz-inbound-token-0123456789"
CSRF = "f" * 32

CONFIG = schemathesis.Config.from_dict(
    {
        # NUL is refused by every text field (api.schemas.Input) and tested there; here it would only make
        # valid-looking strings fail the positive check.
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "allow-x00": False},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)

# Loaded from the running app at collection: the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
BY_NAME = {check.__name__: check for check in ALL_CHECKS}

# Valid-looking input the schema cannot tell from valid input: a referenced row that must exist and
# belong to the caller (ids), a phone number or email address that must parse, or state (an MO number
# to claim keywords on, enough credits). The API answers these 422 with the field named, by design.
REFERENCES = "ids in the body must name existing rows of the caller's customer, which the schema cannot know"
PHONE = "a phone number must parse as a number (per country); the schema cannot express that"
EMAIL = "an email address must be deliverable-looking and unique per customer; the schema cannot express that"
POSITIVE = "positive_data_acceptance"

# operation id -> {check name: why it cannot apply there}
EXCLUDED: dict[str, dict[str, str]] = {
    "staff_onboard_customer": {POSITIVE: EMAIL + "; a time zone, a country and a billing ID must be known ones"},
    "staff_add_number": {POSITIVE: PHONE},
    "set_ip_allowlist": {POSITIVE: "each entry must parse as an IPv4 or IPv6 address or subnet"},
    "create_account": {POSITIVE: REFERENCES + " (cost center, MO number)"},
    "update_account": {POSITIVE: REFERENCES + " (cost center, MO number)"},
    "create_team": {POSITIVE: REFERENCES + " (office)"},
    "update_team": {POSITIVE: REFERENCES + " (office)"},
    "create_user": {POSITIVE: EMAIL + "; " + REFERENCES + " (offices, team, accounts, roles)"},
    "update_user": {POSITIVE: EMAIL + "; " + REFERENCES + " (offices, team)"},
    "set_membership": {POSITIVE: REFERENCES + " (role)"},
    "create_role": {POSITIVE: "permissions must be ones the caller holds, and role names unique per customer"},
    "update_role": {POSITIVE: "permissions must be ones the caller holds, and role names unique per customer"},
    "create_api_key": {POSITIVE: "a key's permissions must be ones its creator holds in the account"},
    "purchase_credits": {POSITIVE: "billing details need a company or a contact name, and a known payment method"},
    "transfer_credits": {POSITIVE: REFERENCES + " (wallets)"},
    "batch_transfer_credits": {POSITIVE: REFERENCES + " (wallets)"},
    "set_mo_number": {POSITIVE: REFERENCES + " (number)"},
    "claim_keyword": {POSITIVE: "a keyword is claimed on the account's own MO number, which it may not have"},
    "order_keyword": {POSITIVE: REFERENCES + " (number)"},
    "contacts_opt_out_create": {POSITIVE: PHONE},
    "send_message": {POSITIVE: PHONE},
    "send_message_batch": {POSITIVE: PHONE},
    "preview_campaign": {POSITIVE: "a campaign needs a phonebook of the account or parseable numbers"},
    "send_campaign": {POSITIVE: "a campaign needs a phonebook of the account or parseable numbers"},
}


def _excluded(operation_id: str | None) -> list:
    return [BY_NAME[name] for name in EXCLUDED.get(operation_id or "", {})]


@pytest.fixture
def keep_connection():
    """The real WSGI handler closes the database connection after each request, which would end the
    test's transaction on PostgreSQL; Django's own test client unhooks this the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# The current test's credentials by caller (filled by the `callers` fixture), as (headers, cookies).
CREDENTIALS: dict[str, tuple[dict[str, str], dict[str, str]]] = {}


@schema.auth(refresh_interval=None)
class Callers:
    """Authenticates each case as its operation's caller. Set as schemathesis auth (not as extra
    headers) so that `ignored_auth` knows them and can strip or spoil them to see that they matter."""

    def get(self, case, context):
        return CREDENTIALS.get(caller_of(case.operation.definition.raw.get("operationId", "")))

    def set(self, case, data, context):
        headers, cookies = data
        case.headers = {**(case.headers or {}), **headers}
        case.cookies = {**(case.cookies or {}), **cookies}


@pytest.fixture
def callers(world, keep_connection, settings):
    """The headers and cookies each kind of operation is called with."""
    settings.KONTOR_INBOUND_TOKEN = INBOUND_TOKEN
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Fuzz", perms=ALL_PERMS)
    browser = Client()
    browser.force_login(world.staff["admin"])
    session = browser.cookies["sessionid"].value
    CREDENTIALS.update(
        {
            "customer": ({"Authorization": f"Bearer {issued.secret}"}, {}),
            "staff": ({"X-CSRFToken": CSRF}, {"sessionid": session, "csrftoken": CSRF}),
            "inbound": ({"Authorization": f"Bearer {INBOUND_TOKEN}"}, {}),
        }
    )
    yield CREDENTIALS
    CREDENTIALS.clear()


def caller_of(operation_id: str) -> str:
    if operation_id.startswith("staff_"):
        return "staff"
    if operation_id == "receive_inbound_message":
        return "inbound"
    if operation_id == "receive_connector_dlr":
        return "public"
    return "customer"


def test_each_caller_is_let_in(callers):
    """The fuzz run means something only if its credentials work: each caller gets a 200."""
    for caller, path, method in (
        ("customer", "/api/v1/me", "GET"),
        ("staff", "/api/v1/staff/customers", "GET"),
        ("inbound", "/api/v1/messages/inbound", "POST"),
    ):
        operation = schema[path][method]
        body = {"from": "+46701740605", "to": "72000", "text": "hi"} if method == "POST" else None
        case = operation.Case(body=body) if body else operation.Case()
        headers, cookies = callers[caller]
        response = case.call(headers=headers, cookies=cookies)
        assert response.status_code == 200, (caller, response.text)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_its_contract_under_every_check(case, callers):
    operation_id = case.operation.definition.raw.get("operationId", "")
    case.call_and_validate(
        checks=ALL_CHECKS,
        excluded_checks=_excluded(operation_id),
    )
