"""One way to show a list: a FilterSet drives the page, its htmx partial and the CSV export, so what
people filter is exactly what they download."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import django_filters
import django_tables2 as tables
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.html import format_html

from kontor.web.export import CHUNK_SIZE, _safe_cell, stream_csv, table_csv

__all__ = ["_safe_cell", "stream_csv"]  # imported from here by older callers and tests


@dataclass(frozen=True)
class Action:
    label: str
    url: str


def filtered(request: HttpRequest, queryset: QuerySet, filterset_class: type[django_filters.FilterSet] | None):
    """(filterset or None, the filtered queryset). Invalid filter input filters nothing out and shows
    the error beside the field."""
    if filterset_class is None:
        return None, queryset
    fs = filterset_class(request.GET or None, queryset=queryset, request=request)
    if any(len(value) > MAX_FILTER_LENGTH for _, values in request.GET.lists() for value in values):
        fs.form.is_valid()
        fs.form.add_error(None, f"A filter value can be at most {MAX_FILTER_LENGTH} characters.")
        return fs, queryset.none()
    # An unbound FilterSet (no query string) is not 'valid' but means 'no filter': show everything.
    qs = fs.qs if (not fs.is_bound or fs.is_valid()) else queryset.none()
    return fs, qs


def list_page(
    request: HttpRequest,
    *,
    title: str,
    queryset: QuerySet,
    table_class: type[tables.Table],
    filterset_class: type[django_filters.FilterSet] | None = None,
    actions: Sequence[Action] = (),
    export_url: str | None = None,
    intro: str = "",
    per_page: int = 25,
    template: str = "web/list.html",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    fs, qs = filtered(request, queryset, filterset_class)
    table = table_class(qs)  # no request here: that would paginate before the clamp below
    # `per_page` is read and clamped here; django-tables2 would pass any number on (-1 → an error page).
    table.per_page_field = "_per_page_is_read_by_kontor"
    tables.RequestConfig(request, paginate={"per_page": clamp_per_page(request, per_page)}).configure(table)
    context = {
        "title": title,
        "table": table,
        "filter": fs,
        "actions": actions,
        "export_url": export_url,
        "intro": intro,
        **(extra or {}),
    }
    return render(request, template, context)


MAX_FILTER_LENGTH = 500
MAX_PER_PAGE = 200


def clamp_per_page(request: HttpRequest, default: int) -> int:
    try:
        wanted = int(request.GET.get("per_page", default))
    except (TypeError, ValueError):
        return default
    return max(1, min(MAX_PER_PAGE, wanted))


def export_csv(
    request: HttpRequest,
    *,
    queryset: QuerySet,
    table_class: type[tables.Table] | None = None,
    filterset_class: type[django_filters.FilterSet] | None,
    filename: str,
    columns: Sequence[tuple[str, Callable[[Any], Any]]] | None = None,
) -> StreamingHttpResponse:
    """The same filtered rows as the list page, as the streamed CSV its Table declares (see
    kontor/web/export.py). `columns` is for the lists whose Table does not declare its CSV yet."""
    _, qs = filtered(request, queryset, filterset_class)
    if table_class is not None:
        return table_csv(filename, table_class, qs)
    assert columns is not None
    header = [name for name, _ in columns]
    rows = ([getter(obj) for _, getter in columns] for obj in qs.iterator(chunk_size=CHUNK_SIZE))
    return stream_csv(filename, header, rows)


def form_errors_from(form: Any, exc: Any) -> None:
    """Put a service's Invalid/DomainError field errors beside the form's fields (inline)."""
    fields = getattr(exc, "fields", {}) or {}
    placed = False
    for name, messages in fields.items():
        for message in messages:
            if name in form.fields:
                form.add_error(name, message)
                placed = True
            else:
                form.add_error(None, message)
                placed = True
    if not placed:
        form.add_error(None, getattr(exc, "message", str(exc)))


def subscriber_id_html(customer_id: int) -> str:
    """A table cell with a customer's subscriber ID (Customer.subscriber_id) and a button that copies it."""
    value = f"S{customer_id:06d}"
    return format_html(
        # web/kontor.js copies it: the Content-Security-Policy runs no inline handler.
        '<code>{}</code> <button type="button" class="copy linklike" data-copy="{}" '
        'title="Copy the subscriber ID">Copy</button>',
        value,
        value,
    )
