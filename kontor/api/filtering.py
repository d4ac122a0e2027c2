"""An API list filters through the FilterSet of its page, so a filter has one name and one meaning on the
page, in its CSV and in the API.

The operation's query schema documents and type-checks the parameters (OpenAPI); `filtered` hands
them to the FilterSet and answers its field errors as a 422 problem naming the parameter. A schema may
keep old parameter names working: `aliases = {"since": "date_from"}` on the schema (a ClassVar), the
old name's field marked `deprecated` there and in docs/api.md. When a request gives both, the new name
wins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Schema

from kontor.api.schemas import PageQuery
from kontor.core.errors import Invalid

# A day or a time as DateOrTimeField reads it, so the schema refuses what the FilterSet would.
DAY_OR_TIME = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4]):?[0-5][0-9])?)?$"
)
# Paging is the schema's, not a filter.
_NOT_FILTERS = frozenset({"limit", "offset"})


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # as PageQuery reads a time without an offset
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def filter_data(query: Schema | Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """The FilterSet's data from a query schema (or request.GET): texts under the FilterSet's names,
    empty parameters left out."""
    if aliases is None:
        aliases = getattr(type(query), "aliases", {}) if isinstance(query, Schema) else {}
    params = query.dict() if isinstance(query, Schema) else dict(query.items())
    data: dict[str, str] = {}
    for name, value in params.items():
        if name in _NOT_FILTERS or value is None or value == "":
            continue
        target = aliases.get(name, name)
        if target != name and params.get(target) not in (None, ""):
            continue  # the current name wins over its deprecated alias
        data[target] = _text(value)
    return data


def filtered(
    request: HttpRequest,
    filterset_class: type[django_filters.FilterSet],
    queryset: QuerySet[Any],
    query: Schema | Mapping[str, Any],
) -> QuerySet[Any]:
    """`queryset` filtered by `filterset_class` with the operation's query parameters, or Invalid (422)
    with the FilterSet's errors under the parameter names the caller used."""
    aliases: Mapping[str, str] = getattr(type(query), "aliases", {}) if isinstance(query, Schema) else {}
    data = filter_data(query, aliases)
    fs = filterset_class(data, queryset=queryset, request=request)
    if not fs.is_valid():
        params = query.dict() if isinstance(query, Schema) else dict(query.items())
        # An error is named after the parameter that gave the value: the deprecated one only if it was alone.
        sent = {
            target: name
            for name, target in aliases.items()
            if params.get(name) not in (None, "") and params.get(target) in (None, "")
        }
        fields = {sent.get(name, name): [str(m) for m in messages] for name, messages in fs.errors.items()}
        raise Invalid(_("The filters are not valid."), fields=fields)
    return fs.qs


class DateRange(Schema):
    """A date range under the FilterSets' names (DateFromFilter, DateToFilter), with the names the API
    had before as deprecated aliases."""

    aliases: ClassVar[dict[str, str]] = {"since": "date_from", "until": "date_to"}

    date_from: str | None = Field(
        None,
        max_length=40,
        pattern=DAY_OR_TIME,
        description="From this day (2026-03-05) or this time (2026-03-05T10:00:00Z) on.",
    )
    date_to: str | None = Field(
        None, max_length=40, pattern=DAY_OR_TIME, description="Up to and including this day, or before this time."
    )
    since: dt.datetime | None = Field(None, deprecated=True, description="Deprecated: use `date_from`.")
    until: dt.datetime | None = Field(None, deprecated=True, description="Deprecated: use `date_to` with a time.")


class DateRangeQuery(PageQuery, DateRange):
    """Paging and a date range."""
