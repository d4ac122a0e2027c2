"""Bulk changes as plan → preview → apply.

A `BulkAction` says what one kind of bulk change reads of each row, how it decides each row (a pure
function of the row, the change and what `context()` read) and how it writes all decided rows at once.
The engine around it:

- `plan(action, queryset)` reads the rows and decides each: a `Plan` of per-row changes (before/after,
  or why the row is refused) and a fingerprint of the rows, their versions and the refusals. It writes
  nothing; `decide()` itself is pure, so the same rows always give the same plan.
- `preview(plan, ...)` is what a page or an API answer shows: counts by outcome and one page of rows.
- `apply(action, queryset, fingerprint, actor=...)` re-plans under lock (the rows locked in primary-key
  order, the one lock order every bulk change uses), refuses with `PlanChanged` if the fingerprint
  differs, and hands the ids to `write()`: set-based statements (one UPDATE or DELETE, one INSERT … SELECT
  of audit rows) inside the same transaction. Refused rows are skipped and reported; anything else
  applies fully or not at all unless the caller asked for per-row results (`partial=True`), in which
  case rows `write()` reports as failed are left out and the rest commits.

Ids go to the database as ONE parameter (`IdSet`, a JSON array the database unpacks), so 100,000 ids
neither hit a parameter limit nor make a statement per chunk."""

from __future__ import annotations

import hashlib
import json
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

from django.db import connections, models, router, transaction
from django.db.models import Expression, Func, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kontor.core.errors import Conflict, ErrorCode

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=models.Model)

Row = Mapping[str, Any]


# --- the plan ------------------------------------------------------------------------------------


class RowChange(NamedTuple):
    """One row of a plan: what it is now, what it will be (None: it goes away), or why it is refused.

    `refusal` is a stable code (it enters the fingerprint and the API); `reason` the sentence for people.
    A tuple rather than a dataclass: a plan of 100,000 rows makes 100,000 of them, and a frozen dataclass
    takes several times longer to build."""

    pk: int
    label: str
    before: Mapping[str, Any]
    after: Mapping[str, Any] | None = None
    refusal: str = ""
    reason: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.refusal)


@dataclass(frozen=True)
class Plan:
    action: str
    params: Mapping[str, Any]
    changes: tuple[RowChange, ...]
    fingerprint: str

    @cached_property
    def ids(self) -> tuple[int, ...]:
        """The rows that will change, in primary-key order."""
        return tuple(c.pk for c in self.changes if not c.refused)

    @cached_property
    def changing(self) -> tuple[RowChange, ...]:
        return tuple(c for c in self.changes if not c.refused)

    @cached_property
    def refused(self) -> tuple[RowChange, ...]:
        return tuple(c for c in self.changes if c.refused)

    def refusals(self) -> list[tuple[str, str, int]]:
        """(code, reason, count) per kind of refusal, most frequent first."""
        counts = Counter(c.refusal for c in self.refused)
        reasons: dict[str, str] = {}
        for change in self.refused:
            reasons.setdefault(change.refusal, change.reason)
        return [(code, reasons[code], n) for code, n in counts.most_common()]


class BulkAction(ABC, Generic[M]):
    """One kind of bulk change. Subclasses set `name` (stable, e.g. "contacts.delete") and `fields` (what
    `decide()` reads of each row besides pk and `version_field`), and implement `decide` and `write`."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]] = ()
    # A column that changes whenever the row does; with the pk it is the row's version in the fingerprint.
    version_field: ClassVar[str] = "updated_at"

    def params(self) -> Mapping[str, Any]:
        """The change itself, JSON-safe (e.g. the target's id): part of the fingerprint, and what a
        scheduled or repeated change stores to plan again."""
        return {}

    def context(self, queryset: QuerySet[M]) -> Any:
        """Whatever `decide()` needs besides the row (read here, so that decide stays pure)."""
        return None

    @abstractmethod
    def decide(self, row: Row, context: Any) -> RowChange:
        """The change of one row: pure, from the row's values, `params()` and `context`."""

    @abstractmethod
    def write(self, ids: Sequence[int], batch: Batch) -> Mapping[int, str]:
        """Writes the change of these rows (already locked and decided) set-based, with their audit rows
        under `batch.id`. Returns the rows that failed, {pk: reason}, having written none of them."""

    def verb(self, count: int) -> str:
        """What will happen to `count` rows, for the preview ("12 contacts will be deleted.")."""
        return ngettext("%(count)d row will change.", "%(count)d rows will change.", count) % {"count": count}

    def done(self, count: int) -> str:
        """What happened, for the result message."""
        return ngettext("%(count)d row changed.", "%(count)d rows changed.", count) % {"count": count}


VERSION = "bulk_version"


def fingerprint(action: BulkAction[Any], rows: Iterable[tuple[int, str, str]]) -> str:
    """sha256 of the change, and of each row's (pk, version, refusal code) in pk order: any edit, new or
    vanished row, or changed refusal between preview and apply gives another fingerprint."""
    digest = hashlib.sha256()
    digest.update(json.dumps([action.name, action.params()], sort_keys=True, default=str).encode())
    digest.update("".join(f"\n{pk}\t{version}\t{refusal}" for pk, version, refusal in rows).encode())
    return digest.hexdigest()


def decide_all(action: BulkAction[M], rows: Iterable[Row], context: Any) -> Plan:
    """The pure part of planning: rows (each with "pk", the version as text under VERSION, and the
    action's fields) in, a Plan out."""
    ordered = sorted(rows, key=lambda r: r["pk"])
    changes = tuple(action.decide(row, context) for row in ordered)
    marks = ((r["pk"], r[VERSION], c.refusal) for r, c in zip(ordered, changes, strict=True))
    return Plan(
        action=action.name, params=dict(action.params()), changes=changes, fingerprint=fingerprint(action, marks)
    )


def _read(action: BulkAction[M], queryset: QuerySet[M]) -> Iterator[Row]:
    # The version is read as the database's text: it is only compared, and converting 100,000 timestamps
    # to aware datetimes took longer than the rest of the plan.
    version = Cast(action.version_field, models.TextField())
    return queryset.order_by("pk").values("pk", *action.fields, **{VERSION: version}).iterator(chunk_size=5000)


def plan(action: BulkAction[M], queryset: QuerySet[M]) -> Plan:
    """Reads the rows of `queryset` (a FilterSet's result, or explicit ids resolved in scope) and decides
    each. Writes nothing."""
    return decide_all(action, _read(action, queryset), action.context(queryset))


# --- the preview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What a preview page or answer shows: the change in words, the selection in words, counts, one page
    of the rows that change and the refused rows with their reasons."""

    plan: Plan
    summary: str
    filters: tuple[tuple[str, str], ...]
    total: int
    changing: int
    refused: int
    refusals: list[tuple[str, str, int]]
    rows: tuple[RowChange, ...]
    refused_rows: tuple[RowChange, ...]
    page: int
    pages: int
    per_page: int

    @property
    def fingerprint(self) -> str:
        return self.plan.fingerprint


def preview(
    action: BulkAction[Any],
    plan: Plan,
    *,
    filters: Iterable[tuple[str, str]] = (),
    page: int = 1,
    per_page: int = 50,
) -> Preview:
    changing = plan.changing
    refused = plan.refused
    per_page = max(1, per_page)
    pages = max(1, -(-len(changing) // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return Preview(
        plan=plan,
        summary=action.verb(len(changing)),
        filters=tuple(filters),
        total=len(plan.changes),
        changing=len(changing),
        refused=len(refused),
        refusals=plan.refusals(),
        rows=changing[start : start + per_page],
        refused_rows=refused[:per_page],
        page=page,
        pages=pages,
        per_page=per_page,
    )


# --- apply ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One application of a plan: its id (every audit row it writes carries it) and who applied it."""

    id: str
    actor: Any
    plan: Plan


@dataclass(frozen=True)
class Applied:
    batch_id: str
    plan: Plan
    failed: Mapping[int, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.plan.ids) - len(self.failed)

    def results(self) -> Iterator[tuple[int, str, str, str]]:
        """Per row: (pk, label, outcome, reason) with outcome "ok", "skipped" (refused by the plan) or
        "failed" (refused by the write, when partial results were asked for)."""
        for change in self.plan.changes:
            if change.refused:
                yield change.pk, change.label, "skipped", change.reason
            elif change.pk in self.failed:
                yield change.pk, change.label, "failed", self.failed[change.pk]
            else:
                yield change.pk, change.label, "ok", ""


class PlanChanged(Conflict):
    """The rows changed between the preview and the apply: nothing was written. `plan` is the fresh plan,
    to preview again."""

    def __init__(self, fresh: Plan) -> None:
        super().__init__(
            _(
                "The selection changed since the preview (rows were added, removed or edited meanwhile); "
                "nothing was changed. Check the new preview and confirm again."
            ),
            code=ErrorCode.BULK_PLAN_CHANGED,
        )
        self.plan = fresh


class PartlyFailed(Conflict):
    def __init__(self, failed: Mapping[int, str]) -> None:
        super().__init__(
            ngettext(
                "%(count)d row could not be changed, so nothing was changed.",
                "%(count)d rows could not be changed, so nothing was changed.",
                len(failed),
            )
            % {"count": len(failed)}
        )
        self.failed = failed


def apply(
    action: BulkAction[M],
    queryset: QuerySet[M],
    expected: str | None,
    *,
    actor: Any,
    partial: bool = False,
) -> Applied:
    """Re-plans `queryset` with its rows locked (pk order), refuses if the fingerprint is not `expected`
    (None: apply whatever the locked plan is), and writes. One transaction: a refusal writes nothing."""
    model = queryset.model
    with transaction.atomic(using=queryset.db):
        # Locking through a pk subquery keeps FOR UPDATE off the FilterSet's joins and DISTINCT.
        locked = (
            model._default_manager.using(queryset.db)
            .filter(pk__in=queryset.order_by().values("pk"))
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        rows = list(_read(action, locked))
        # The context reads beside the locked rows, not through them (no FOR UPDATE in a subquery).
        chosen = model._default_manager.using(queryset.db).filter(pk__in=IdSet(r["pk"] for r in rows))
        fresh = decide_all(action, rows, action.context(chosen))
        if expected is not None and fresh.fingerprint != expected:
            raise PlanChanged(fresh)
        batch = Batch(id=uuid.uuid4().hex, actor=actor, plan=fresh)
        failed = dict(action.write(fresh.ids, batch)) if fresh.ids else {}
        if failed and not partial:
            raise PartlyFailed(failed)
        return Applied(batch_id=batch.id, plan=fresh, failed=failed)


# --- set-based SQL helpers -----------------------------------------------------------------------


class IdSet(Expression):
    """`filter(pk__in=IdSet(ids))`: any number of ids as one JSON parameter the database unpacks
    (json_each on SQLite, jsonb_array_elements_text on PostgreSQL)."""

    output_field = models.BigIntegerField()

    def __init__(self, ids: Iterable[int]) -> None:
        super().__init__()
        self.ids = [int(i) for i in ids]

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        return "SELECT value FROM json_each(%s)", [json.dumps(self.ids)]

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        return "SELECT CAST(jsonb_array_elements_text(CAST(%s AS jsonb)) AS bigint)", [json.dumps(self.ids)]


class AsJson(Func):
    """A JSON column as JSON inside JSONObject(): SQLite stores JSON as text and would embed it as a
    string; PostgreSQL's jsonb needs nothing."""

    output_field = models.JSONField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"json({sql})", list(params)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return sql, list(params)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column


def insert_select(model: type[models.Model], queryset: QuerySet[Any], columns: Mapping[str, Any]) -> int:
    """INSERT INTO model's table (columns) SELECT <expressions> FROM queryset: one statement, however
    many rows. `columns` maps a concrete field name of `model` to an expression over `queryset`'s rows."""
    names = list(columns)
    aliases = {f"_bulk_{i}": expression for i, expression in enumerate(columns.values())}
    select = queryset.order_by("pk").annotate(**aliases).values_list(*aliases)
    sql, params = select.query.sql_with_params()
    db = router.db_for_write(model)
    connection = connections[db]
    quote = connection.ops.quote_name
    targets = ", ".join(quote(_column(model, name)) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({targets}) {sql}", params)
        return int(cursor.rowcount)
