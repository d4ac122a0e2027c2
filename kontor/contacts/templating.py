"""Message templates with custom-column placeholders: "Hi {Name}, your order {Order} is ready".

`{{` and `}}` stand for a literal brace. A placeholder naming a column the account does not have is an
error before anything is sent, never an empty string; a known column a contact has no value for
renders as "". Column names match case-insensitively (they are unique that way per account)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from kontor.contacts.models import Contact
from kontor.core.errors import Invalid
from kontor.tenancy.models import Account, CustomColumn

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{")

# A parsed template: literal text, and placeholder names (lower-cased) marked by a tuple.
Part = str | tuple[str, str]  # text, or (key, name as written)


@lru_cache(maxsize=256)
def _parse(text: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    pos = 0
    buf: list[str] = []
    for match in _TOKEN.finditer(text):
        buf.append(text[pos : match.start()])
        token = match.group(0)
        if token == "{{":
            buf.append("{")
        elif token == "}}":
            buf.append("}")
        elif token == "{":
            raise Invalid.field(
                "text", "The text has a { that is never closed; write {{ for a literal brace, or {Column}."
            )
        else:
            name = (match.group(1) or "").strip()
            if not name:
                raise Invalid.field("text", "The text has an empty placeholder {}; write {{}} for literal braces.")
            parts.append("".join(buf))
            buf = []
            parts.append((name.lower(), name))
        pos = match.end()
    buf.append(text[pos:])
    parts.append("".join(buf))
    return tuple(p for p in parts if p != "")


def template_columns(text: str) -> list[str]:
    """The placeholder names in `text`, as written, each once, in order of first use."""
    seen: dict[str, str] = {}
    for part in _parse(text or ""):
        if isinstance(part, tuple):
            seen.setdefault(part[0], part[1])
    return list(seen.values())


def check_template(account: Account, text: str, columns: Iterable[CustomColumn] | None = None) -> list[CustomColumn]:
    """The account's columns the template uses; Invalid on the field "text" naming an unknown one."""
    known = (
        list(columns)
        if columns is not None
        else list(CustomColumn.objects.filter(account=account).order_by("position"))
    )
    by_key = {c.name.lower(): c for c in known}
    used: list[CustomColumn] = []
    for name in template_columns(text):
        column = by_key.get(name.lower())
        if column is None:
            listing = (
                f"this account's columns are {', '.join(c.name for c in known)}"
                if known
                else "this account has no custom columns"
            )
            raise Invalid.field("text", f"Unknown column {{{name}}}: {listing}.")
        used.append(column)
    return used


def render(text: str, values_by_name: Mapping[str, str]) -> str:
    """`text` with each {Column} replaced by its value in `values_by_name` (keys matched
    case-insensitively). A name not in the mapping is an error: check_template first."""
    lowered = {str(k).lower(): v for k, v in values_by_name.items()}
    out: list[str] = []
    for part in _parse(text or ""):
        if isinstance(part, tuple):
            if part[0] not in lowered:
                raise Invalid.field("text", f"Unknown column {{{part[1]}}}.")
            value = lowered[part[0]]
            out.append("" if value is None else str(value))
        else:
            out.append(part)
    return "".join(out)


def contact_values_by_name(contact: Contact, columns: Iterable[CustomColumn]) -> dict[str, str]:
    """{column name: the contact's value or ""} for every column given (so render never misses one)."""
    values = contact.values or {}
    return {c.name: str(values.get(str(c.pk), "")) for c in columns}
