"""Number and keyword text as stored and compared: E.164 for long numbers and DNIS, plain digits for
short codes, keywords upper-case letters and digits."""

from __future__ import annotations

import re

from kontor.core import phone

SHORT_CODE = re.compile(r"^\d{3,8}$")
KEYWORD = re.compile(r"^[^\W_]{1,20}$")
# The first word of an inbound message with the punctuation around it removed ("acme!" → "ACME").
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_SEPARATORS = re.compile(r"[\s\-().]")
STOP_WORDS = frozenset({"STOP", "STOPP", "UNSUBSCRIBE", "END"})


def short_code(text: str) -> str | None:
    """`72000` → "72000"; anything that is not 3 to 8 digits → None."""
    value = (text or "").strip()
    return value if SHORT_CODE.match(value) else None


def e164(text: str, region: str | None = None) -> str | None:
    """A long number in E.164 ("+46701234567"), read with `region` as the default country when it has
    no international prefix; None when it is not a possible phone number."""
    return phone.e164(text, region=region, check=phone.Check.POSSIBLE, tidy=True)


def inbound_address(text: str) -> str | None:
    """The number an inbound message was sent to, as stored: short code digits, or E.164 whether or
    not the connector kept the leading "+"."""
    value = _SEPARATORS.sub("", (text or "").strip())
    if short_code(value):
        return value
    if value.isdigit():
        value = "+" + value.lstrip("0") if not value.startswith("00") else value
    return e164(value)


def keyword(text: str) -> str | None:
    """A keyword as stored (upper-case), or None when it is not 1 to 20 letters or digits."""
    value = (text or "").strip()
    return value.upper() if KEYWORD.match(value) else None


def first_word(text: str) -> tuple[str, str]:
    """(the first word upper-cased without surrounding punctuation, the rest of the message)."""
    parts = (text or "").strip().split(None, 1)
    if not parts:
        return "", ""
    word = _EDGE_PUNCTUATION.sub("", parts[0]).upper()
    return word, parts[1] if len(parts) > 1 else ""
