"""Small shared validators that turn bad input into Invalid errors naming the field."""

from __future__ import annotations

import zoneinfo

from kontor.core import phone
from kontor.core.errors import Invalid


def e164(value: str, *, region: str | None = None, field: str = "phone") -> str:
    """A phone number in E.164 (+46701234567), or Invalid naming the field."""
    text = (value or "").strip()
    normalised = phone.e164(text, region=region, check=phone.Check.VALID)
    if normalised is None:
        if not phone.parses(text, region=region):
            raise Invalid.field(field, f"“{text}” is not a phone number; use international form, e.g. +46701234567.")
        raise Invalid.field(field, f"“{text}” is not a valid phone number.")
    return normalised


def time_zone(value: str, *, field: str = "time_zone") -> str:
    text = (value or "").strip()
    if text not in zoneinfo.available_timezones():
        raise Invalid.field(field, f"“{text}” is not an IANA time zone (e.g. Europe/Stockholm).")
    return text


def country(value: str, *, field: str = "country") -> str:
    """An ISO 3166 alpha-2 country code, upper case."""
    import pycountry  # its tables load on first use, not at start-up

    code = (value or "").strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise Invalid.field(field, f"“{value}” is not an ISO 3166 country code (e.g. SE, GB, US).")
    return code


def required_text(value: str | None, *, field: str, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid.field(field, f"{label} is required.")
    if len(text) > max_length:
        raise Invalid.field(field, f"{label} can be at most {max_length} characters.")
    return text


def merge(*errors: Invalid) -> Invalid:
    fields: dict[str, list[str]] = {}
    for err in errors:
        for name, messages in err.fields.items():
            fields.setdefault(name, []).extend(messages)
    codes = {err.code for err in errors}
    # One kind of problem keeps its specific code (e.g. duplicate); a mix is a plain validation error.
    return Invalid("Please correct the errors below.", fields=fields, code=codes.pop() if len(codes) == 1 else None)
