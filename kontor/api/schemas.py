"""Schemas and helpers shared by every router: the problem body, pages of results, input hygiene,
and the renaming of a service's field errors to the names the API uses."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import ConfigDict, field_validator

from kontor.core.errors import Invalid

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# Offsets beyond this are refused rather than sent to the database, where they could overflow.
MAX_OFFSET = 1_000_000_000


class Problem(Schema):
    """An error, as `application/problem+json` (RFC 9457) with a stable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(..., description="Stable machine-readable error code, e.g. `permission_denied`.")
    errors: dict[str, list[str]] | None = Field(
        None, description="Field errors by field name (dotted for nested fields), on 422."
    )


def errors(*codes: int) -> dict[int, type[Problem]]:
    """Problem responses for the docs: 401 and 403 always (every operation needs a credential and a
    permission), plus `codes`."""
    return {code: Problem for code in sorted({401, 403, *codes})}


def _check_text(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Text may not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("Text must be valid Unicode.") from None
    elif isinstance(value, list | tuple | set):
        for item in value:
            _check_text(item)
    return value


class Input(Schema):
    """A request body. Unknown fields are refused (a typo should not silently do nothing), and text
    the database cannot store (NUL, lone surrogates) is a field error, not a crash."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _check_text(value)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("The time is out of range.") from None


class PageQuery(Schema):
    """`limit` (1 to 200, default 50) and `offset` query parameters; filters extend this."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT}.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return _aware(value)
        return _check_text(value)


class Page(Schema, Generic[T]):
    items: list[T]
    count: int = Field(..., description="Rows matching the filters, over all pages.")
    limit: int
    offset: int


def page(qs: QuerySet[Any], query: PageQuery, render: Any) -> dict[str, Any]:
    """One page of `qs` as a Page body, each row passed through `render`."""
    rows = list(qs[query.offset : query.offset + query.limit])
    return {
        "items": [render(row) for row in rows],
        "count": qs.count(),
        "limit": query.limit,
        "offset": query.offset,
    }


class Deleted(Schema):
    """No body: 204."""


@contextmanager
def field_names(mapping: Mapping[str, str]) -> Iterator[None]:
    """Services name fields after the model (`role`, `cost_center`); the API after the body (`role_id`).
    Re-raise a service's Invalid with the body's names so a client can place the error."""
    try:
        yield
    except Invalid as exc:
        if not exc.fields:
            raise
        renamed: dict[str, list[str]] = {}
        for name, messages in exc.fields.items():
            renamed.setdefault(mapping.get(name, name), []).extend(messages)
        raise Invalid(exc.message, code=exc.code, fields=renamed) from None


def collect(fields: dict[str, list[str]], message: str = "Please correct the errors below.") -> None:
    """Raise one Invalid naming every field in `fields`, if any."""
    if fields:
        raise Invalid(message, fields=fields)
