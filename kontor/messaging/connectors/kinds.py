"""What each kind of connector is configured with: its options, validated here for the staff pages, the
API and the registry alike, and its secrets (passwords, tokens), which are write-only.

Options are stored as given (only what staff set); `effective()` adds the defaults, and is what a
connector is built with. Field errors are keyed `options.<name>` and `secrets.<name>`."""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from kontor.core.errors import Invalid

OptionType = Literal["text", "url", "int", "number", "bool", "choice", "path", "map"]
OMIT = "-"  # an HTTP field name of "-" leaves that field out of the request
DLR_OUTCOMES = ("delivered", "failed", "expired", "ignore")
MAX_MAP_ENTRIES = 50
_PATH = re.compile(r"^[^\s.]+(\.[^\s.]+)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class Option:
    name: str
    label: str
    type: OptionType = "text"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 200
    map_values: tuple[str, ...] = ()  # allowed values of a map (lower case); empty: any text
    help: str = ""


@dataclass(frozen=True)
class Secret:
    name: str
    label: str
    min_length: int = 1
    max_length: int = 200
    help: str = ""


Errors = dict[str, list[str]]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    options: tuple[Option, ...] = ()
    secrets: tuple[Secret, ...] = ()
    # Rules across fields, given the cleaned options and the secrets as they will be stored.
    check: Callable[[dict[str, Any], Mapping[str, str]], Errors] | None = None

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


# --- the kinds -----------------------------------------------------------------------------------

SIMULATOR = KindSpec("simulator", "Simulator")


def _smpp_check(options: dict[str, Any], secrets: Mapping[str, str]) -> Errors:
    """The SMPP connector's own parsing has the last word, where it is installed."""
    try:
        from kontor.messaging.connectors.smpp import SmppOptions  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return {}
    password = {"password": secrets["password"]} if secrets.get("password") else {}
    try:
        SmppOptions.parse({**options, **password})
    except ValueError as exc:
        option = str(getattr(exc, "option", "") or "")
        key = "secrets.password" if option == "password" else (f"options.{option}" if option else "options")
        return {key: [str(exc)]}
    return {}


SMPP = KindSpec(
    "smpp",
    "SMPP 3.4",
    options=(
        Option("host", "Host", required=True, max_length=253, help="The SMSC's host name or address."),
        Option("port", "Port", "int", default=2775, minimum=1, maximum=65535),
        Option("system_id", "System ID", max_length=15, help="The login (at most 15 characters)."),
        Option("system_type", "System type", max_length=12),
        Option("service_type", "Service type", max_length=5),
        Option("bind", "Bind as", "choice", default="transceiver", choices=("transceiver", "transmitter", "receiver")),
        Option("source_addr_ton", "Source TON", "int", minimum=0, maximum=255, help="Empty: chosen from the sender."),
        Option("source_addr_npi", "Source NPI", "int", minimum=0, maximum=255, help="Empty: chosen from the sender."),
        Option("dest_addr_ton", "Destination TON", "int", default=1, minimum=0, maximum=255),
        Option("dest_addr_npi", "Destination NPI", "int", default=1, minimum=0, maximum=255),
        Option("enquire_link_seconds", "Enquire link every (s)", "number", default=30, minimum=1, maximum=3600),
        Option("timeout_seconds", "Response timeout (s)", "number", default=10, minimum=0.1, maximum=600),
        Option("reconnect_base_seconds", "First reconnect after (s)", "number", default=1, minimum=0.1, maximum=3600),
        Option("reconnect_max_seconds", "Reconnect at most every (s)", "number", default=60, minimum=1, maximum=86400),
        Option("window", "Window (requests in flight)", "int", default=10, minimum=1, maximum=1000),
        Option("registered_delivery", "Request delivery receipts", "bool", default=True),
        Option("use_message_payload", "Long texts in one message_payload", "bool", default=False),
        Option(
            "concatenation",
            "Concatenation",
            "choice",
            default="udh",
            choices=("udh", "sar"),
            help="How the parts of a long message are joined.",
        ),
    ),
    secrets=(Secret("password", "Password", max_length=8, help="At most 8 characters (SMPP 3.4)."),),
    check=_smpp_check,
)


def _http_check(options: dict[str, Any], secrets: Mapping[str, str]) -> Errors:
    errors: Errors = {}
    auth = options.get("auth", "none")
    if auth == "bearer" and not secrets.get("auth_token"):
        errors["secrets.auth_token"] = ["Bearer authentication needs a token."]
    if auth == "basic":
        if not options.get("auth_username"):
            errors["options.auth_username"] = ["Basic authentication needs a user name."]
        if not secrets.get("basic_password"):
            errors["secrets.basic_password"] = ["Basic authentication needs a password."]
    if options.get("success_value") and not options.get("success_path"):
        errors["options.success_value"] = ["Give the JSON path of the field to compare as well."]
    for required in ("field_to", "field_text"):
        if options.get(required) == OMIT:
            errors[f"options.{required}"] = ["The recipient and the text are always sent."]
    return errors


HTTP = KindSpec(
    "http",
    "HTTP provider",
    options=(
        Option("url", "URL", "url", required=True, max_length=500, help="Where messages are sent (http or https)."),
        Option("method", "Method", "choice", default="POST", choices=("POST", "GET")),
        Option(
            "body_format",
            "Body format",
            "choice",
            default="json",
            choices=("json", "form"),
            help="JSON object or form-encoded; with GET the fields go in the query string.",
        ),
        Option("field_to", "Field: recipient", default="to", max_length=100),
        Option("field_from", "Field: sender", default="from", max_length=100, help=f"“{OMIT}” leaves it out."),
        Option("field_text", "Field: text", default="text", max_length=100),
        Option(
            "field_reference",
            "Field: reference",
            default="reference",
            max_length=100,
            help=f"Our reference (message:<id>); the provider should dedupe on it. “{OMIT}” leaves it out.",
        ),
        Option("extra_fields", "Extra fields", "map", help="Sent with every message, one “name = value” per line."),
        Option("auth", "Authentication", "choice", default="none", choices=("none", "bearer", "basic")),
        Option("auth_username", "Basic auth user name", max_length=200),
        Option("timeout_seconds", "Timeout (s)", "number", default=10, minimum=1, maximum=60),
        Option(
            "success_path",
            "Success field (JSON path)",
            "path",
            help="Dotted, e.g. result.status. Empty: any 2xx answer is a success.",
        ),
        Option(
            "success_value",
            "Success value",
            max_length=200,
            help="What the success field must say (case-insensitive); empty: any true, non-empty value.",
        ),
        Option(
            "id_path",
            "Message id (JSON path)",
            "path",
            help="Dotted, e.g. messages.0.id. Empty, or missing in the answer: our reference is the id.",
        ),
        Option("error_code_path", "Error code (JSON path)", "path"),
        Option("error_text_path", "Error text (JSON path)", "path"),
        Option(
            "lookup_url",
            "Lookup URL",
            "url",
            max_length=500,
            help="Where to ask whether the provider has a message whose submission was cut off: a GET, with "
            "{reference} replaced by our reference. 2xx (and the success rule): it has it (its id from the "
            "message id path); 404: it never got it, so it is submitted again; anything else: cannot tell, "
            "and the resubmission policy decides. Empty: no lookup.",
        ),
        Option("dlr_id_field", "DLR: message id field", "path", default="id"),
        Option("dlr_status_field", "DLR: status field", "path", default="status"),
        Option("dlr_error_code_field", "DLR: error code field", "path", default="error_code"),
        Option("dlr_error_text_field", "DLR: error text field", "path", default="error_text"),
        Option(
            "dlr_status_map",
            "DLR: status map",
            "map",
            map_values=DLR_OUTCOMES,
            help="The provider's statuses, one “status = delivered|failed|expired|ignore” per line, added to "
            "the built-in ones (DELIVRD, UNDELIV, EXPIRED, REJECTD, ENROUTE…).",
        ),
    ),
    secrets=(
        Secret("auth_token", "Bearer token", help="Sent as Authorization: Bearer <token>."),
        Secret("basic_password", "Basic auth password"),
        Secret(
            "dlr_token",
            "DLR callback token",
            min_length=16,
            help="The provider sends it with its delivery reports (Authorization: Bearer, or ?token=). "
            "At least 16 characters. Not set: the callback is off.",
        ),
    ),
    check=_http_check,
)

KINDS: dict[str, KindSpec] = {k.kind: k for k in (SIMULATOR, SMPP, HTTP)}

# Status words of common providers and of SMPP receipts, lower case; a connector's map is added on top.
DEFAULT_DLR_STATUS_MAP: dict[str, str] = {
    "delivered": "delivered",
    "delivrd": "delivered",
    "failed": "failed",
    "undeliv": "failed",
    "undelivered": "failed",
    "undeliverable": "failed",
    "rejectd": "failed",
    "rejected": "failed",
    "deleted": "failed",
    "expired": "expired",
    "enroute": "ignore",
    "accepted": "ignore",
    "acceptd": "ignore",
    "buffered": "ignore",
    "queued": "ignore",
    "sent": "ignore",
}


def spec(kind: str) -> KindSpec:
    found = KINDS.get(str(kind))
    if found is None:
        raise Invalid.field("kind", f"A connector is one of: {', '.join(KINDS)}.")
    return found


def unavailable(kind: str) -> str:
    """Why connectors of this kind cannot run in this process; "" when they can."""
    if kind != "smpp":
        return ""
    try:
        module = importlib.import_module("kontor.messaging.connectors.smpp")
        module.SmppConnector  # noqa: B018 - the import is what is being checked
    except (ImportError, AttributeError) as exc:
        return f"The SMPP connector is not available on this server ({type(exc).__name__}: {exc})."
    return ""


def valid_name(name: Any) -> str:
    text = str(name or "").strip()
    if not _NAME.match(text):
        raise Invalid.field(
            "name", "Lower-case letters, digits and dashes, at most 40, starting with a letter or digit."
        )
    return text


# --- options -------------------------------------------------------------------------------------


def unstorable(text: str) -> bool:
    """Control characters, or lone surrogates (which no database text column takes)."""
    return any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else None


def _clean_map(option: Option, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("Give an object of names and values.")
    if len(value) > MAX_MAP_ENTRIES:
        raise ValueError(f"At most {MAX_MAP_ENTRIES} entries.")
    out: dict[str, str] = {}
    for key, raw in value.items():
        name = str(key).strip()
        text = _as_text(raw)
        if not name or len(name) > 100:
            raise ValueError("Every name has 1 to 100 characters.")
        if text is None or len(text) > 500:
            raise ValueError(f"“{name}”: give a text of at most 500 characters.")
        if unstorable(name) or unstorable(text):
            raise ValueError("No control characters.")
        text = text.strip()
        if option.map_values:
            name, text = name.lower(), text.lower()
            if text not in option.map_values:
                raise ValueError(f"“{name}”: one of {', '.join(option.map_values)}.")
        out[name] = text
    return out


def _clean_value(option: Option, value: Any) -> Any:
    """The cleaned value, or ValueError with the message for the field."""
    kind = option.type
    if kind == "map":
        return _clean_map(option, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("Give true or false.")
        return value
    if kind in ("int", "number"):
        # NaN would pass every range check below (it compares false), and jsonb cannot store it.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Give a number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("Give a number.")
        if kind == "int" and (isinstance(value, float) and not value.is_integer()):
            raise ValueError("Give a whole number.")
        number: int | float = int(value) if kind == "int" else value
        if (option.minimum is not None and number < option.minimum) or (
            option.maximum is not None and number > option.maximum
        ):
            raise ValueError(f"From {option.minimum or 0:g} to {option.maximum or float('inf'):g}.")
        return number
    if not isinstance(value, str):
        raise ValueError("Give a text.")
    text = value.strip()
    if len(text) > option.max_length:
        raise ValueError(f"At most {option.max_length} characters.")
    if unstorable(text):
        raise ValueError("No control characters.")
    if kind == "choice":
        match = next((c for c in option.choices if c.lower() == text.lower()), None)
        if match is None:
            raise ValueError(f"One of {', '.join(option.choices)}.")
        return match
    if kind == "url":
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
            raise ValueError("An http:// or https:// URL with a host.")
        return text
    if kind == "path" and not _PATH.match(text):
        raise ValueError("Names separated by dots, e.g. data.id or messages.0.id.")
    return text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, Mapping) and not value)


def clean_options(kind: str, raw: Any, secrets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options to store for a connector of `kind`: unknown names are refused (a typo should not do
    nothing), blank values dropped (their default applies). With `secrets` (as they will be stored),
    the rules across fields are checked too. Invalid with every field error at once."""
    kind_spec = spec(kind)
    if not isinstance(raw, Mapping):
        raise Invalid.field("options", "Give the options as an object.")
    errors: Errors = {}
    out: dict[str, Any] = {}
    for name in raw:
        if kind_spec.option(str(name)) is None:
            known = ", ".join(o.name for o in kind_spec.options) or "none"
            errors[f"options.{name}"] = [f"Not an option of a {kind_spec.label} connector (options: {known})."]
    for option in kind_spec.options:
        value = raw.get(option.name)
        if _blank(value):
            if option.required:
                errors[f"options.{option.name}"] = ["Required."]
            continue
        try:
            out[option.name] = _clean_value(option, value)
        except ValueError as exc:
            errors[f"options.{option.name}"] = [str(exc)]
    if not errors and secrets is not None and kind_spec.check is not None:
        errors.update(kind_spec.check(out, secrets))
    if errors:
        raise Invalid("Please correct the connector's settings.", fields=errors)
    return out


def effective(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The stored options with the defaults of the ones not set."""
    kind_spec = spec(kind)
    out = {o.name: o.default for o in kind_spec.options if o.default is not None}
    out.update({k: v for k, v in options.items() if not _blank(v)})
    return out


# --- secrets -------------------------------------------------------------------------------------


def merge_secrets(kind: str, changes: Mapping[str, str | None], current: Mapping[str, str]) -> dict[str, str]:
    """The secrets after `changes`: a text sets one, None clears it, a name left out keeps it."""
    kind_spec = spec(kind)
    known = {s.name: s for s in kind_spec.secrets}
    out = {k: v for k, v in current.items() if k in known and v}
    errors: Errors = {}
    for name, value in changes.items():
        secret = known.get(str(name))
        if secret is None:
            errors[f"secrets.{name}"] = [
                f"Not a secret of a {kind_spec.label} connector (secrets: {', '.join(known) or 'none'})."
            ]
        elif value is None:
            out.pop(secret.name, None)
        elif not isinstance(value, str) or not secret.min_length <= len(value) <= secret.max_length:
            errors[f"secrets.{name}"] = [f"From {secret.min_length} to {secret.max_length} characters."]
        elif unstorable(value):
            errors[f"secrets.{name}"] = ["No control characters."]
        else:
            out[secret.name] = value
    if errors:
        raise Invalid("Please correct the connector's secrets.", fields=errors)
    return out
