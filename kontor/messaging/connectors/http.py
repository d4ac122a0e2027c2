"""A configurable HTTP provider: one request per message, shaped by the connector's options (see
kinds.HTTP), and the reading of the provider's answer.

    2xx and the success rule holds  accepted; the downstream id from `id_path` (else our reference)
    2xx, success rule not met       refused, with the error code/text from their JSON paths
    408, 429                        ConnectionError: the provider asks us to come back later
    other 4xx                       refused, with the provider's error (or "http-<status>")
    1xx, 3xx, 5xx, timeout, refused connection, broken answer
                                    ConnectionError: the message stays queued and is retried

Redirects are not followed and no proxy from the environment is used: the configured URL is the one
called. Downstream ids are stored as "<connector name>:<provider's id>", so that two providers that
number their messages alike never confuse each other's delivery reports (kontor.messaging.api.dlr adds
the same prefix). The provider should dedupe on our reference (`field_reference`): a message whose worker
died mid-request may be submitted again under the same reference. Before that, recovery asks the
provider when a `lookup_url` is configured (`lookup`): 2xx and the success rule, it has the message; 404,
it never got it (ABSENT); anything else, nobody can tell and the connector's resubmission policy decides."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from kontor.messaging.connectors.base import ABSENT, Absent, SubmitResult
from kontor.messaging.connectors.kinds import OMIT, clean_options, effective

if TYPE_CHECKING:
    from kontor.messaging.models import Message

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 65536
RETRY_LATER = frozenset({408, 429})
SECRET_NAMES = ("auth_token", "basic_password", "dlr_token")
_MISSING = object()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path ("messages.0.id": keys of objects, indexes of lists); _MISSING if the
    data has nothing there."""
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def scalar_text(value: Any) -> str | None:
    """A JSON scalar as text (true/false for booleans), without control characters or lone surrogates
    (neither fits in a PostgreSQL text column); None for objects, lists, null or nothing."""
    if value is _MISSING or value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON → "?"
    return "".join(ch if ch >= " " else " " for ch in text).strip()


def lookup_text(data: Any, path: str) -> str | None:
    return scalar_text(get_path(data, path)) if path and data is not None else None


def namespaced(connector_name: str, provider_id: str) -> str:
    return f"{connector_name}:{provider_id}"


class HttpConnector:
    """`HttpConnector(name, options)`; `options` are the stored options with the secrets added
    (auth_token, basic_password); invalid ones raise Invalid."""

    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        secrets = {k: str(v) for k, v in options.items() if k in SECRET_NAMES and v}
        plain = {k: v for k, v in options.items() if k not in SECRET_NAMES}
        self.name = name
        self.options = effective("http", clean_options("http", plain, secrets))
        self._secrets = secrets

    # --- the request ---------------------------------------------------------------------------

    def fields(self, message: Message) -> dict[str, str]:
        o = self.options
        out: dict[str, str] = {str(k): str(v) for k, v in (o.get("extra_fields") or {}).items()}
        for option, value in (
            ("field_to", message.to_number),
            ("field_from", message.from_number),
            ("field_text", message.text),
            ("field_reference", message.reference),
        ):
            if o[option] != OMIT:
                out[o[option]] = value
        return out

    def request(self, message: Message) -> urllib.request.Request:
        o = self.options
        fields = self.fields(message)
        headers = {"Accept": "application/json", "User-Agent": "Kontor-Connector/1"}
        auth = o.get("auth", "none")
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {self._secrets.get('auth_token', '')}"
        elif auth == "basic":
            pair = f"{o.get('auth_username', '')}:{self._secrets.get('basic_password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        url, data = o["url"], None
        if o["method"] == "GET":
            url += ("&" if "?" in url else "?") + urlencode(fields)
        elif o["body_format"] == "form":
            data = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        else:
            data = json.dumps(fields, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        return urllib.request.Request(url, data=data, method=o["method"], headers=headers)  # noqa: S310 - http(s) only (kinds)

    def _call(self, request: urllib.request.Request) -> tuple[int, str, bytes]:
        """(status, reason, first bytes of the answer); ConnectionError when there is no answer."""
        try:
            with _opener.open(request, timeout=float(self.options["timeout_seconds"])) as response:
                return int(response.status), str(response.reason), response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read(MAX_ANSWER_BYTES)
            except (OSError, http.client.HTTPException):
                body = b""
            return int(exc.code), str(exc.reason), body
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConnectionError(f"{self.name}: no answer from the provider ({type(exc).__name__}: {reason})") from exc

    # --- the answer ----------------------------------------------------------------------------

    def submit(self, message: Message) -> SubmitResult:
        status, reason, body = self._call(self.request(message))
        return self.read_answer(message, status, reason, body)

    def lookup(self, message: Message) -> SubmitResult | Absent | None:
        """What the provider says about a message we may have handed it (see the module docstring)."""
        template = self.options.get("lookup_url") or ""
        if not template:
            return None
        url = template.replace("{reference}", quote(message.reference, safe=""))
        request = urllib.request.Request(  # noqa: S310 - http(s) only (kinds)
            url, method="GET", headers={"Accept": "application/json", "User-Agent": "Kontor-Connector/1"}
        )
        self._authorise(request)
        try:
            status, _, body = self._call(request)
        except ConnectionError:
            return None
        if status == 404:
            return ABSENT
        if not 200 <= status < 300:
            return None
        data = _json(body)
        if not self._succeeded(data):
            return None
        return SubmitResult(True, downstream_id=namespaced(self.name, self._downstream_id(message, data)))

    def _authorise(self, request: urllib.request.Request) -> None:
        auth = self.options.get("auth", "none")
        if auth == "bearer":
            request.add_header("Authorization", f"Bearer {self._secrets.get('auth_token', '')}")
        elif auth == "basic":
            pair = f"{self.options.get('auth_username', '')}:{self._secrets.get('basic_password', '')}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))

    def read_answer(self, message: Message, status: int, reason: str, body: bytes) -> SubmitResult:
        if status in RETRY_LATER or not 200 <= status < 500 or 300 <= status < 400:
            raise ConnectionError(f"{self.name}: HTTP {status} {reason}".strip())
        data = _json(body)
        if 200 <= status < 300:
            if self._succeeded(data):
                return SubmitResult(True, downstream_id=namespaced(self.name, self._downstream_id(message, data)))
            return self._refused(data, "refused", "The provider did not confirm the message (success rule).")
        excerpt = scalar_text(body[:200].decode("utf-8", "replace")) or ""
        return self._refused(data, f"http-{status}", f"HTTP {status} {reason}: {excerpt}".strip(" :"))

    def _succeeded(self, data: Any) -> bool:
        path = self.options.get("success_path")
        if not path:
            return True
        value = get_path(data, path) if data is not None else _MISSING
        expected = self.options.get("success_value")
        if expected:
            text = scalar_text(value)
            return text is not None and text.lower() == str(expected).lower()
        return value is not _MISSING and bool(value) and value not in ("0", "false")

    def _downstream_id(self, message: Message, data: Any) -> str:
        path = self.options.get("id_path")
        found = lookup_text(data, path) if path else None
        if found:
            return found
        if path:
            log.warning("connector %s: no id at %r in the answer for %s", self.name, path, message.reference)
        return message.reference

    def _refused(self, data: Any, code: str, text: str) -> SubmitResult:
        code = lookup_text(data, self.options.get("error_code_path", "")) or code
        text = lookup_text(data, self.options.get("error_text_path", "")) or text
        return SubmitResult(False, error_code=code[:32], error_text=text[:300])


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
