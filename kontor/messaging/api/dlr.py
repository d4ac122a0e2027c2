"""POST /connectors/{connector_name}/dlr: where an HTTP provider delivers its delivery reports.

For providers, not customers: authenticated by the connector's own DLR token (`Authorization: Bearer
<token>`, or `?token=<token>` for providers that cannot set headers), never by a customer's key or
session. A connector that is unknown, not HTTP, or has no DLR token answers 401 exactly as a wrong token
does, after comparing the token with a dummy, so connector names cannot be probed.

The body is a JSON object, a JSON array of objects (up to MAX_REPORTS), or a form. Which field holds
the message id, the status and the error is set in the connector's options (dotted paths for nested
JSON); the status goes through the status map to delivered, failed, expired or ignore (an intermediate
report such as ENROUTE). A body that cannot be read is 400 `bad_request`; one that names no message or
an unknown status is 422 `validation_error` with the field errors, and nothing of it is applied; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE is 413 `payload_too_large`."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, QueryDict
from ninja import Field, Router, Schema

from kontor.api.permissions import public
from kontor.api.schemas import errors
from kontor.core.errors import DomainError, ErrorCode, Invalid
from kontor.core.problems import problem
from kontor.messaging.connectors import kinds
from kontor.messaging.connectors.http import get_path, namespaced, scalar_text
from kontor.messaging.delivery.outbound import handle_dlr
from kontor.messaging.models import ConnectorConfig, ConnectorKind

log = logging.getLogger(__name__)

router = Router(tags=["connectors"])

MAX_REPORTS = 1000
BAD_REQUEST = "bad_request"


class DlrOut(Schema):
    applied: int = Field(..., description="Reports applied to their message.")
    pending: int = Field(..., description="Reports for an id no message carries yet: kept and applied on acceptance.")
    ignored: int = Field(..., description="Intermediate reports (mapped to ignore).")


class DlrTokenRefused(DomainError):
    status = 401
    code = ErrorCode.NOT_AUTHENTICATED


# Compared against when the connector is unknown or its callback is off, so that such a name costs the
# same comparison as a known one with a wrong token (a random value no caller can send).
_DUMMY_TOKEN = secrets.token_urlsafe(32)


def _authenticated_connector(name: str, token: str) -> ConnectorConfig:
    """The connector `name` if `token` is its DLR token. Unknown, not HTTP, callback off and wrong token
    are all the one 401: a 404 for the first would tell which connector names exist."""
    config = ConnectorConfig.objects.filter(name=name[:40], kind=ConnectorKind.HTTP).first()
    expected = str((config.secrets or {}).get("dlr_token") or "") if config is not None else ""
    matches = hmac.compare_digest(token.encode(), (expected or _DUMMY_TOKEN).encode())
    if config is None or not expected or not matches:
        raise DlrTokenRefused("Send the connector's DLR token as `Authorization: Bearer <token>` or `?token=`.")
    return config


def _token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.GET.get("token", "")


class Unreadable(Exception):
    """The body cannot be read: answered 400 `bad_request`."""


def _reports(request: HttpRequest) -> list[Any]:
    """The reports in the body; Unreadable when it cannot be read."""
    raw = request.body  # over DATA_UPLOAD_MAX_MEMORY_SIZE: RequestDataTooBig, answered 413 by the API
    content_type = (request.content_type or "").lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            form = QueryDict(raw, encoding=request.encoding or "utf-8")
        except (UnicodeDecodeError, ValueError):
            raise Unreadable("The form body cannot be read.") from None
        return [{key: form.get(key) for key in form}]
    if content_type not in ("application/json", "", "text/plain"):
        raise Unreadable("Send the report as JSON or as a form (application/x-www-form-urlencoded).")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Unreadable("The body is not JSON.") from None
    reports = data if isinstance(data, list) else [data]
    if not reports or len(reports) > MAX_REPORTS:
        raise Unreadable(f"Send from 1 to {MAX_REPORTS} reports.")
    return reports


def _field(report: Mapping[str, Any], path: str) -> str | None:
    """A field by dotted path; a flat (form) key containing dots is found too."""
    if not path:
        return None
    value = report[path] if path in report else get_path(report, path)
    text = scalar_text(value)
    return text.strip() if text is not None and text.strip() else None


def _read(index: int | None, report: Any, options: Mapping[str, Any], statuses: Mapping[str, str]) -> tuple[Any, ...]:
    """(downstream id, outcome, error code, error text) of one report; field errors keyed by its index."""
    where = f"{index}." if index is not None else ""
    if not isinstance(report, Mapping):
        raise Invalid.field(f"{where}body".strip("."), "A report is an object of fields.")
    errors_: dict[str, list[str]] = {}
    provider_id = _field(report, options["dlr_id_field"])
    if provider_id is None or len(provider_id) > 100:
        errors_[where + options["dlr_id_field"]] = ["The message id is missing (or longer than 100 characters)."]
    status = _field(report, options["dlr_status_field"])
    outcome = statuses.get((status or "").lower())
    if outcome is None:
        shown = f"“{status[:40]}”" if status else "missing"
        errors_[where + options["dlr_status_field"]] = [
            f"The status is {shown}; map it to delivered, failed, expired or ignore in the connector's status map."
        ]
    if errors_:
        raise Invalid("The delivery report cannot be applied.", fields=errors_)
    code = _field(report, options.get("dlr_error_code_field", ""))
    text = _field(report, options.get("dlr_error_text_field", ""))
    return provider_id, outcome, code, text or ""


@router.post(
    "/{connector_name}/dlr",
    auth=None,
    url_name="connector_dlr",
    response={200: DlrOut, **errors()},
    operation_id="receive_connector_dlr",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": True}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}},
            }
        }
    },
    description="For HTTP providers, not customers: deliver one delivery report (or a JSON array of them). "
    "Authenticated by the connector's DLR token (Bearer, or ?token=). The fields are read as configured "
    "on the connector. A report for a message not accepted yet is kept and applied on acceptance.",
)
@public("a connector's provider, authenticated by the connector's DLR token (Bearer or ?token=)")
def receive_connector_dlr(request: HttpRequest, connector_name: str) -> Any:
    config = _authenticated_connector(connector_name, _token(request))
    try:
        reports = _reports(request)
    except Unreadable as exc:
        return problem(400, BAD_REQUEST, str(exc))
    options = kinds.effective(config.kind, config.options or {})
    statuses = {**kinds.DEFAULT_DLR_STATUS_MAP, **(options.get("dlr_status_map") or {})}
    read: list[tuple[Any, ...]] = []
    problems: dict[str, list[str]] = {}
    for index, report in enumerate(reports):
        try:
            read.append(_read(index if len(reports) > 1 else None, report, options, statuses))
        except Invalid as exc:
            problems.update(exc.fields)
    if problems:
        raise Invalid("The delivery report cannot be applied; nothing was changed.", fields=problems)
    counts = {"applied": 0, "pending": 0, "ignored": 0}
    for provider_id, outcome, code, text in read:
        if outcome == "ignore":
            counts["ignored"] += 1
            continue
        message = handle_dlr(namespaced(config.name, provider_id), outcome, code, text)
        counts["applied" if message is not None else "pending"] += 1
    log.info("connector %s: DLRs %s", config.name, counts)
    return counts
