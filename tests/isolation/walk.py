"""Enumerates every web URL pattern and API operation, and knows which model each id in a path names,
so the sweeps cover whatever exists today and fail loudly when something new is not understood."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from kontor.access.models import Role
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import CostCenter, Feature, Membership

STAFF_USER = "staff-user"  # a provider staff user: belongs to no customer
# The provider's catalogue: shared by all customers, so not a cross-tenant question.
CATALOGUE = {
    "tenancy.Feature",
    "billing.PriceList",
    "billing.PriceTier",
    "billing.CountryTax",
    "messaging.RateCardEntry",
    "messaging.ConnectorConfig",
}
MISSING = 987_654_321


# --- web -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebRoute:
    name: str  # "namespace:name"
    route: str  # e.g. "users/<int:pk>/"
    callback: Any
    int_kwargs: tuple[str, ...]
    other_kwargs: tuple[str, ...]
    default_args: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return getattr(self.callback, "kind", None)

    @property
    def required_perms(self) -> tuple[str, ...]:
        return tuple(str(p) for p in getattr(self.callback, "required_perms", ()))


def web_routes() -> list[WebRoute]:
    out: list[WebRoute] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                if not p.name:
                    continue
                converters = getattr(p.pattern, "converters", {})
                ints = tuple(k for k, c in converters.items() if isinstance(c, IntConverter))
                others = tuple(k for k in converters if k not in ints)
                qualified = f"{namespace}:{p.name}" if namespace else p.name
                out.append(WebRoute(qualified, prefix + str(p.pattern), p.callback, ints, others, dict(p.default_args)))

    walk(get_resolver().url_patterns, "", "")
    return [r for r in out if not r.name.startswith("api:")]


# (regex on "namespace:name", path kwarg) -> the model ("app_label.Model") that kwarg's id names. A new
# URL with an int kwarg must be added here, or the sweeps fail: that is what keeps them honest.
WEB_KWARG_MODELS: list[tuple[str, str, str]] = [
    (r"^access:(user_|membership_)", "pk", "access.User"),
    (r"^access:membership_", "mpk", "tenancy.Membership"),
    (r"^access:role_", "pk", "access.Role"),
    (r"^access:api_key_", "pk", "access.ApiKey"),
    (r"^audit:", "pk", "audit.AuditEntry"),
    (r"^tenancy:account_", "pk", "tenancy.Account"),
    (r"^tenancy:office_", "pk", "tenancy.Office"),
    (r"^tenancy:team_", "pk", "tenancy.Team"),
    (r"^tenancy:(column_|custom_column)", "pk", "tenancy.CustomColumn"),
    (r"^staff:customer", "pk", "tenancy.Customer"),
    (r"^staff:customer", "user_pk", "access.User"),
    (r"^staff:cost_center_", "pk", "tenancy.CostCenter"),
    (r"^staff:feature_", "pk", "tenancy.Feature"),
    (r"^staff:staff_user_", "pk", STAFF_USER),
    (r"^staff:audit_entry", "pk", "audit.AuditEntry"),
    (r"^ledger:staff_", "customer_pk", "tenancy.Customer"),
    (r"^ledger:", "pk", "ledger.Wallet"),
    (r"^billing:invoice", "pk", "billing.Invoice"),
    (r"^billing:(price_list_|tier_add)", "pk", "billing.PriceList"),
    (r"^billing:tier_add", "list_pk", "billing.PriceList"),
    (r"^billing:tier_", "pk", "billing.PriceTier"),
    (r"^billing:country_tax", "pk", "billing.CountryTax"),
    (r"^messaging:(message|sent)$", "pk", "messaging.Message"),
    (r"^messaging:rate_", "pk", "messaging.RateCardEntry"),
    (r"^messaging:campaign_", "pk", "messaging.Campaign"),
    (r"^messaging:webhook_delivery_", "pk", "messaging.WebhookDelivery"),
    (r"^messaging:connector_(edit|enabled)$", "pk", "messaging.ConnectorConfig"),
    (r"^messaging:connector_routes$", "pk", "tenancy.Customer"),
    (r"^messaging:staff_send_rate", "pk", "tenancy.Customer"),
    (r"^messaging:staff_send_rate", "account_pk", "tenancy.Account"),
    (r"^contacts:phonebook_", "pk", "contacts.Phonebook"),
    (r"^contacts:contact_", "pk", "contacts.Contact"),
    (r"^contacts:opt_out_", "pk", "contacts.OptOut"),
    (r"^numbers:keyword_release", "pk", "numbers.Keyword"),
    (r"^numbers:(unmatched_set|number_edit)", "pk", "numbers.Number"),
    (r"^numbers:order_(approve|reject)", "pk", "numbers.KeywordOrder"),
]


def web_kwarg_model(route: WebRoute, kwarg: str) -> str | None:
    for pattern, name, label in WEB_KWARG_MODELS:
        if name == kwarg and re.search(pattern, route.name):
            return label
    return None


# --- API -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiOperation:
    method: str
    path: str  # "/api/v1/accounts/{account_id}"
    operation_id: str
    path_params: tuple[str, ...]
    spec: dict[str, Any]

    @property
    def is_staff(self) -> bool:
        # Staff operations of an app's own router (e.g. /numbers/inventory) carry the tag "staff".
        return self.path.startswith("/api/v1/staff/") or "staff" in self.spec.get("tags", [])

    def url(self, values: dict[str, Any]) -> str:
        out = self.path
        for name, value in values.items():
            out = out.replace("{" + name + "}", str(value))
        return out


@functools.cache
def openapi() -> dict[str, Any]:
    """Built once per run: generating the schema costs seconds, and the sweeps ask for it per call."""
    import kontor.urls  # noqa: F401  (mounts the routers)
    from kontor.api.core import api

    return api.get_openapi_schema()


def api_operations() -> list[ApiOperation]:
    schema = openapi()
    out: list[ApiOperation] = []
    for path, ops in schema["paths"].items():
        for method, spec in ops.items():
            if method.lower() not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = tuple(p["name"] for p in spec.get("parameters", []) if p.get("in") == "path")
            out.append(ApiOperation(method.upper(), path, spec.get("operationId", ""), params, spec))
    return out


API_PARAM_MODELS: dict[str, str] = {
    "account_id": "tenancy.Account",
    "user_id": "access.User",
    "office_id": "tenancy.Office",
    "team_id": "tenancy.Team",
    "role_id": "access.Role",
    "key_id": "access.ApiKey",
    "api_key_id": "access.ApiKey",
    "membership_id": "tenancy.Membership",
    "column_id": "tenancy.CustomColumn",
    "customer_id": "tenancy.Customer",
    "entry_id": "audit.AuditEntry",
    "audit_id": "audit.AuditEntry",
    "cost_center_id": "tenancy.CostCenter",
    "feature_id": "tenancy.Feature",
    "wallet_id": "ledger.Wallet",
    "invoice_id": "billing.Invoice",
    "message_id": "messaging.Message",
    "campaign_id": "messaging.Campaign",
    "phonebook_id": "contacts.Phonebook",
    "contact_id": "contacts.Contact",
    "opt_out_id": "contacts.OptOut",
    "number_id": "numbers.Number",
    "keyword_id": "numbers.Keyword",
    "keyword_order_id": "numbers.KeywordOrder",
    "connector_id": "messaging.ConnectorConfig",
    "connector_name": "messaging.ConnectorConfig",
}


# --- one object of each kind per customer -------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """Stands in for a catalogue row the sweeps need only an id of."""

    pk: int


def _custom_role(cw: Any) -> Any:
    from kontor.access.services import save_role

    name = f"{cw.customer.name} custom"
    return Role.objects.filter(customer=cw.customer, name=name).first() or save_role(
        cw.customer, None, actor=cw.master, name=name, perms=["send_sms"]
    )


def _wallet(cw: Any) -> Any:
    wallet = apps.get_model("ledger", "Wallet")
    return wallet.objects.get_or_create(kind="pool", unit="SMS", customer=cw.customer, account=cw.account)[0]


def _invoice(cw: Any) -> Any:
    from django.utils import timezone

    invoice = apps.get_model("billing", "Invoice")
    number = f"SWEEP-{cw.customer.pk}"
    return invoice.objects.filter(number=number).first() or invoice.objects.create(
        customer=cw.customer,
        number=number,
        issued_at=timezone.now(),
        quantity=100,
        currency="SEK",
        net_minor=10000,
        vat_rate_bp=2500,
        vat_minor=2500,
        gross_minor=12500,
        payment_method="card",
        status="paid",
    )


def _numbers(cw: Any) -> dict[str, Any]:
    """A number assigned to the customer and used by its account, a keyword there and a keyword order."""
    number_model = apps.get_model("numbers", "Number")
    number = number_model.objects.get_or_create(
        value=f"+4670{cw.customer.pk:07d}",
        defaults={"kind": "long_code", "country": "SE", "two_way": True, "status": "assigned", "customer": cw.customer},
    )[0]
    own = {"customer": cw.customer, "account": cw.account}
    apps.get_model("numbers", "AccountNumber").objects.get_or_create(**own, defaults={"number": number})
    keyword = apps.get_model("numbers", "Keyword").objects.get_or_create(**own, number=number, word="SWEEP")[0]
    order = apps.get_model("numbers", "KeywordOrder").objects.get_or_create(**own, number=number, word="SWEEPORDER")[0]
    return {"number": number, "keyword": keyword, "order": order}


def _message(cw: Any) -> Any:
    message = apps.get_model("messaging", "Message")
    return message.objects.filter(account=cw.account).first() or message.objects.create(
        customer=cw.customer,
        account=cw.account,
        user=cw.users["sender"],
        from_number="Kontor",
        to_number="+46701234567",
        text="Sweep",
        encoding="gsm7",
        status="delivered",
    )


def _campaign(cw: Any) -> Any:
    campaign = apps.get_model("messaging", "Campaign")
    return campaign.objects.filter(account=cw.account).first() or campaign.objects.create(
        customer=cw.customer, account=cw.account, name="Sweep", text="Sweep", status="sent"
    )


def _webhook_delivery(cw: Any) -> Any:
    webhook = apps.get_model("messaging", "Webhook")
    delivery = apps.get_model("messaging", "WebhookDelivery")
    own = {"customer": cw.customer, "account": cw.account}
    hook = webhook.objects.get_or_create(**own, defaults={"url": "https://example.com/hook", "secret": "s"})[0]
    return delivery.objects.filter(webhook=hook).first() or delivery.objects.create(
        **own, webhook=hook, event="webhook.test", status="failed", attempts=6
    )


def _connector_config() -> Any:
    config = apps.get_model("messaging", "ConnectorConfig")
    return config.objects.get_or_create(name="sweep", defaults={"kind": "simulator"})[0]


def side_objects(world: Any, cw: Any) -> dict[str, Any]:
    """For each model label a path can name, one object of the customer `cw` (world.acme/globex)."""
    user = cw.users["sender"]
    return {
        "access.User": user,
        STAFF_USER: world.staff["csr"],
        "tenancy.Membership": Membership.objects.get(user=user, account=cw.account),
        "access.Role": _custom_role(cw),
        "access.ApiKey": cw.key,
        "audit.AuditEntry": AuditEntry.objects.filter(customer=cw.customer).order_by("id").first(),
        "tenancy.Account": cw.account,
        "tenancy.Office": cw.branch,
        "tenancy.Team": cw.team,
        "tenancy.CustomColumn": cw.columns[0],
        "tenancy.Customer": cw.customer,
        "tenancy.CostCenter": CostCenter.objects.get_or_create(
            code=f"CC-{cw.customer.name.upper()}", defaults={"name": cw.customer.name, "customer": cw.customer}
        )[0],
        "tenancy.Feature": Feature.objects.get_or_create(code="sweep", defaults={"name": "Sweep"})[0],
        "ledger.Wallet": _LazyObject(lambda: _wallet(cw)),
        "billing.Invoice": _LazyObject(lambda: _invoice(cw)),
        "numbers.Number": _LazyObject(lambda: _numbers(cw)["number"]),
        "numbers.Keyword": _LazyObject(lambda: _numbers(cw)["keyword"]),
        "numbers.KeywordOrder": _LazyObject(lambda: _numbers(cw)["order"]),
        "billing.PriceList": Ref(MISSING),
        "billing.PriceTier": Ref(MISSING),
        "billing.CountryTax": Ref(MISSING),
        "messaging.Message": _LazyObject(lambda: _message(cw)),
        "messaging.RateCardEntry": Ref(MISSING),
        "messaging.Campaign": _LazyObject(lambda: _campaign(cw)),
        "messaging.WebhookDelivery": _LazyObject(lambda: _webhook_delivery(cw)),
        "messaging.ConnectorConfig": _LazyObject(_connector_config),
        **_contact_objects(cw),
    }


class _LazyObject:
    """Created on first use, so that a sweep of apps that are not installed never touches them."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._obj: Any = None

    @property
    def pk(self) -> int:
        if self._obj is None:
            self._obj = self._make()
        return int(self._obj.pk)


def authenticated_get_path() -> str | None:
    """A customer GET operation that needs a credential and no path parameter (/me if it exists)."""
    candidates = [
        op
        for op in api_operations()
        if op.method == "GET" and not op.path_params and not op.is_staff and op.spec.get("security")
    ]
    for op in candidates:
        if op.path.rstrip("/").endswith("/me"):
            return op.path
    return candidates[0].path if candidates else None


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def example_value(schema: dict[str, Any], node: dict[str, Any], name: str = "", *, full: bool = False) -> Any:
    """A small valid value for a JSON-schema node: required properties only, or all with `full`."""
    node = _resolve(schema, node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(schema, o).get("type") != "null"]
            return example_value(schema, options[0] if options else node[key][0], name, full=full)
    if "default" in node and not (full and node["default"] is None):
        return node["default"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        names = list(props) if full else [k for k in node.get("required", []) if k in props]
        return {k: example_value(schema, props[k], k, full=full) for k in names}
    if kind == "array":
        return [example_value(schema, node.get("items", {}), name, full=full)] * node.get("minItems", 0)
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = node.get("format", "")
    if fmt == "email" or "email" in name:
        return "sweep@example.com"
    if fmt == "date-time":
        return "2030-01-01T00:00:00Z"
    if fmt == "date":
        return "2030-01-01"
    if "pin" in name:
        return "1234"
    if "time_zone" in name:
        return "Europe/Stockholm"
    if "country" in name:
        return "SE"
    if "phone" in name:
        return "+46701234567"
    if "pattern" in node:  # e.g. a connector name: the first simple text the pattern takes
        fits = [t for t in ("sweep-test", "SWEEP", "1", "x") if re.search(node["pattern"], t)]
        if fits:
            return fits[0]
    text = "Sweep test"
    return text[: node.get("maxLength", len(text))].ljust(node.get("minLength", 0), "x")


def example_body(op: ApiOperation, *, full: bool = False) -> dict[str, Any] | None:
    body = op.spec.get("requestBody")
    if not body:
        return None
    content = body.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    if not media:
        return None
    return example_value(openapi(), media.get("schema", {}), full=full)


def iter_fills(names: tuple[str, ...], foreign: dict[str, Any], own: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """All names foreign; then, with several, each one foreign while the rest are the caller's own."""
    yield {n: foreign[n] for n in names}
    if len(names) > 1:
        for n in names:
            yield {m: (foreign[m] if m == n else own[m]) for m in names}


def _contact_objects(cw: Any) -> dict[str, Any]:
    """A phonebook with one contact, and one opt-out, in the customer's Sales account. Made at once
    (not lazily): the services write audit rows, which must exist before the sweep counts them."""
    from kontor.contacts import services

    book = services.create_phonebook(cw.account, actor=cw.master, name="Sweep")
    return {
        "contacts.Phonebook": book,
        "contacts.Contact": services.add_contact(book, actor=cw.master, phone="+46701234567"),
        "contacts.OptOut": services.opt_out(cw.account, "+46701234568", source="manual", actor=cw.master),
    }
