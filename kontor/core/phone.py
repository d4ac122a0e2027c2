"""The one E.164 normaliser. Callers differ only in how much they trust the text, so the differences
are parameters: how strictly the number is checked, and whether a connector's bare digits are
international."""

from __future__ import annotations

import functools
import re
from enum import StrEnum

import phonenumbers

# What a person or a connector puts between digits; removed before the length and prefix checks.
_SEPARATORS = re.compile(r"[\s\-().]")
# Longer than any phone number written with a prefix: not worth handing to the parser.
_MAX_TIDY_LENGTH = 20


class Check(StrEnum):
    """How much a number must be worth to come back."""

    VALID = "valid"  # an allocated range of a real numbering plan (what we send to)
    POSSIBLE = "possible"  # the right length for its country (inventory, inbound senders)
    NONE = "none"  # anything the parser reads (a search box)


def e164(
    text: str,
    *,
    region: str | None = None,
    check: Check = Check.VALID,
    tidy: bool = False,
    bare_digits_international: bool = False,
) -> str | None:
    """`text` in E.164 ("+46701234567"), or None when it is not a number by `check`.

    `region` is the country a number without an international prefix is read in. `tidy` first removes
    separators, refuses more than 20 characters and reads a leading "00" as "+", as numbers typed by
    staff and sent by connectors come. `bare_digits_international` reads bare digits as an
    international number without its "+" (connectors often drop it); it implies `tidy`."""
    value = (text or "").strip()
    if tidy or bare_digits_international:
        value = _SEPARATORS.sub("", value)
        if bare_digits_international and value.isdigit() and not value.startswith("00"):
            value = "+" + value
        if not value or len(value) > _MAX_TIDY_LENGTH:
            return None
        if value.startswith("00"):
            value = "+" + value[2:]
    return _normalised(value, (region or "").upper() or None, check)


@functools.lru_cache(maxsize=8192)
def _normalised(text: str, region: str | None, check: Check) -> str | None:
    # phonenumbers' parse and validation is most of what sending a message costs in Python, and
    # senders repeat their recipients: a pure function of its arguments, worth reusing.
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if check is Check.VALID and not phonenumbers.is_valid_number(number):
        return None
    if check is Check.POSSIBLE and not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parses(text: str, *, region: str | None = None) -> bool:
    """Whether the parser reads `text` as a number at all (to tell "not a number" from "not valid")."""
    try:
        phonenumbers.parse((text or "").strip(), (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return False
    return True
