"""CSV downloads. A list's Table declares the columns and its FilterSet the rows, so what people see
and filter is what they download; the file streams in constant memory.

The CSV of a Table has its columns in the Table's order, without those marked
`exclude_from_export=True` and with the hidden ones (`visible=False`, columns only integrations need,
such as raw ids). A column's CSV header is its name, or what the Table's `export_names` maps it to.
A cell is the raw value of the column's accessor (an ISO time, a status code rather than its label,
yes/no for a flag), or what the Table's `value_<name>(value, record)` returns; an empty value is an
empty cell, as on the page."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import django_tables2 as tables
from django.db import models
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_tables2.utils import Accessor

# Rows fetched per round trip: the export never holds more than this many records.
CHUNK_SIZE = 2000


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """A CSV download that streams row by row, so exports of any size use constant memory."""
    writer = csv.writer(_Echo())

    def generate() -> Iterator[str]:
        yield "\ufeff"  # lets spreadsheet programs read UTF-8
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(["" if v is None else _safe_cell(v) for v in row])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


_PHONE = re.compile(r"^\+[0-9]{4,15}$")


def _safe_cell(value: Any) -> Any:
    # A cell starting with =, +, - or @ would run as a formula in a spreadsheet (CSV injection); a bare
    # E.164 number cannot, and integrations need it as it is.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PHONE.match(value):
        return "'" + value
    return value


def raw(value: Any) -> Any:
    """A value as a CSV cell: times in ISO 8601, flags as yes/no, related rows by their text."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, models.Model):
        return str(value)
    return value


def json_cell(value: Any) -> str:
    """A structure (before/after values) as one cell: JSON with sorted keys, empty for none."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[Any], Any]


def _value_method(table: tables.Table, name: str) -> Callable[[Any, Any], Any] | None:
    method = getattr(table, f"value_{name}", None)
    if method is None:
        return None
    # Which of value and record the method takes is read once here, not per cell.
    wanted = set(inspect.signature(method).parameters)
    takes_value, takes_record = "value" in wanted, "record" in wanted

    def call(value: Any, record: Any) -> Any:
        kwargs = {}
        if takes_value:
            kwargs["value"] = value
        if takes_record:
            kwargs["record"] = record
        return method(**kwargs)

    return call


def _getter(accessor: str, model: type[models.Model] | None) -> Callable[[Any], Any]:
    """What Accessor.resolve finds for model rows (attributes along `a__b`, callables called, None past
    a missing relation), without its dictionary and index attempts: an export resolves every cell,
    and those failed attempts made it ten times slower."""
    bits = Accessor(accessor).bits
    if model is not None and len(bits) == 1 and bits[0] in _plain_fields(model):
        return operator.attrgetter(bits[0])  # a column of the row itself, never callable

    def get(record: Any) -> Any:
        current = record
        for bit in bits:
            current = current.get(bit) if isinstance(current, dict) else getattr(current, bit, None)
            if callable(current) and not getattr(current, "do_not_call_in_templates", False):
                if getattr(current, "alters_data", False):
                    return None
                current = current()
            if current is None:
                return None
        return current

    return get


def _plain_fields(model: type[models.Model]) -> set[str]:
    return {f.attname for f in model._meta.concrete_fields} | {"pk"}


def _export_column(table: tables.Table, bound: Any) -> _Column:
    get = _getter(bound.accessor, table._meta.model)
    empty = tuple(bound.column.empty_values)
    method = _value_method(table, bound.name)

    def cell(record: Any) -> Any:
        value = get(record)
        if empty and value in empty:
            return None
        if method is not None:
            value = method(value, record)
        kind = type(value)
        return value if kind is str or kind is int else raw(value)

    return _Column(header=getattr(table, "export_names", {}).get(bound.name, bound.name), cell=cell)


def table_columns(table_class: type[tables.Table]) -> list[_Column]:
    """The CSV columns a Table declares, in its order."""
    table = table_class([])
    return [_export_column(table, bound) for bound in table.columns.iterall() if not bound.column.exclude_from_export]


def table_rows(columns: Sequence[_Column], records: Iterable[Any]) -> Iterator[list[Any]]:
    for record in records:
        yield [column.cell(record) for column in columns]


def table_csv(filename: str, table_class: type[tables.Table], queryset: QuerySet[Any]) -> StreamingHttpResponse:
    """`queryset` as the CSV of `table_class`, streamed."""
    columns = table_columns(table_class)
    records = queryset.iterator(chunk_size=CHUNK_SIZE)
    return stream_csv(filename, [c.header for c in columns], table_rows(columns, records))
