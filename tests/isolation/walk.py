"""Enumerates every web URL pattern and API operation, and knows which model each id in a path names,
so the sweeps cover whatever exists today and fail loudly when something new is not understood."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from kontor.access.models import ApiKey, Role, User
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, CostCenter, CustomColumn, Customer, Feature, Membership, Office, Team

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


# (regex on "namespace:name", path kwarg) -> the model that kwarg's id names. A new URL with an int
# kwarg must be added here, or the sweeps fail: that is what keeps them honest.
WEB_KWARG_MODELS: list[tuple[str, str, type[models.Model]]] = [
    (r"^access:(user_|membership_)", "pk", User),
    (r"^access:membership_", "mpk", Membership),
    (r"^access:role_", "pk", Role),
    (r"^access:api_key_", "pk", ApiKey),
    (r"^audit:", "pk", AuditEntry),
    (r"^tenancy:account_", "pk", Account),
    (r"^tenancy:office_", "pk", Office),
    (r"^tenancy:team_", "pk", Team),
    (r"^tenancy:(column_|custom_column)", "pk", CustomColumn),
    (r"^staff:customer", "pk", Customer),
    (r"^staff:customer", "user_pk", User),
    (r"^staff:cost_center_", "pk", CostCenter),
    (r"^staff:feature_", "pk", Feature),
    (r"^staff:staff_user_", "pk", User),
    (r"^staff:audit_entry", "pk", AuditEntry),
]


def web_kwarg_model(route: WebRoute, kwarg: str) -> type[models.Model] | None:
    for pattern, name, model in WEB_KWARG_MODELS:
        if name == kwarg and re.search(pattern, route.name):
            return model
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
        return self.path.startswith("/api/v1/staff/")

    def url(self, values: dict[str, Any]) -> str:
        out = self.path
        for name, value in values.items():
            out = out.replace("{" + name + "}", str(value))
        return out


def openapi() -> dict[str, Any]:
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


API_PARAM_MODELS: dict[str, type[models.Model]] = {
    "account_id": Account,
    "user_id": User,
    "office_id": Office,
    "team_id": Team,
    "role_id": Role,
    "key_id": ApiKey,
    "api_key_id": ApiKey,
    "membership_id": Membership,
    "column_id": CustomColumn,
    "customer_id": Customer,
    "entry_id": AuditEntry,
    "audit_id": AuditEntry,
    "cost_center_id": CostCenter,
    "feature_id": Feature,
}


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
        return []
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
