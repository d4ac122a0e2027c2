"""Choices that forms and filters of several apps offer."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def country_choices() -> list[tuple[str, str]]:
    """Every ISO 3166 country, "Sweden (SE)", sorted by name."""
    return sorted(((c.alpha_2, f"{c.name} ({c.alpha_2})") for c in pycountry.countries), key=lambda c: c[1])
