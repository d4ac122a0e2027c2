"""Contacts API: phonebooks, contacts (values by custom column name), CSV import and export, opt-outs.

Ids in a path are resolved in the caller's account scope: another account's (or customer's) id
answers 404 exactly like a missing one. Reads need “view contacts” or “manage contacts”; writes
“manage contacts”."""

from datetime import datetime
from typing import Any, Literal

from django.http import StreamingHttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.api.permissions import requires
from kontor.api.schemas import Input, Page, PageQuery, Problem, errors, page
from kontor.contacts import bulk as bulk_contacts
from kontor.contacts import selectors, services
from kontor.contacts.csvimport import import_contacts
from kontor.contacts.filters import MAX_BULK_IDS, describe_selection, select_contacts
from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.core.bulk import BulkAction, Plan, PlanChanged, plan, preview
from kontor.core.errors import ErrorCode, Invalid
from kontor.core.problems import problem
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account, CustomColumn
from kontor.web.lists import stream_csv

router = Router(tags=["contacts"])

READ = (Perm.VIEW_CONTACTS, Perm.MANAGE_CONTACTS)

# --- schemas (names unique across the whole API) ---------------------------------------------------


class PhonebookOut(Schema):
    id: int
    name: str
    description: str
    contact_count: int
    created_at: datetime


class PhonebookIn(Input):
    name: str = Field(..., max_length=120)
    description: str = Field("", max_length=2000)


class PhonebookPatch(Input):
    name: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=2000)


class ContactOut(Schema):
    id: int
    phonebook_id: int
    phone: str = Field(..., description="E.164.")
    values: dict[str, str] = Field(..., description="Custom column values by column name; blank ones left out.")
    created_at: datetime
    updated_at: datetime


class ContactIn(Input):
    phone: str = Field(..., max_length=40, description="International, or national in the customer's country.")
    values: dict[str, str] = Field(default_factory=dict, description="By custom column name (case-insensitive).")


class ContactPatch(Input):
    phone: str | None = Field(None, max_length=40)
    values: dict[str, str | None] | None = Field(
        None, description="Columns to change, by name; an empty string or null clears one. Others are kept."
    )


class ContactFilters(PageQuery):
    q: str | None = Field(None, max_length=200, description="Phone or any value contains this.")


class ContactOptOutOut(Schema):
    id: int
    phone: str
    source: str
    note: str
    created_at: datetime


class ContactOptOutIn(Input):
    phone: str = Field(..., max_length=40)
    note: str = Field("", max_length=200)


class ContactOptOutFilters(PageQuery):
    phone: str | None = Field(None, max_length=40, description="Phone contains this.")


class ContactImportRowError(Schema):
    line: int = Field(..., description="Line of the file; 1 is the header.")
    reason: str
    column: str
    value: str


class ContactImportReport(Schema):
    rows: int
    valid: int
    invalid: int
    created: int
    updated: int
    unchanged: int
    applied: bool
    dry_run: bool
    only_valid: bool
    delimiter: str
    columns: list[str]
    ignored_columns: list[str]
    errors: list[ContactImportRowError]


class ContactImportProblem(Problem):
    report: ContactImportReport | None = None


class ContactBulkFilter(Input):
    q: str | None = Field(None, max_length=200, description="As the contacts list's `q`: phone or any value.")


class ContactBulkIn(Input):
    action: Literal["delete", "move", "copy"]
    target_phonebook_id: int | None = Field(None, description="For move and copy: a phonebook of this account.")
    ids: list[int] | None = Field(
        None, max_length=MAX_BULK_IDS, description="Contacts chosen one by one (or give `filter`, not both)."
    )
    filter: ContactBulkFilter | None = Field(
        None, description="Every contact of the phonebook matching it, as the list filters (`{}`: all of them)."
    )
    preview: bool = Field(True, description="True: only plan and show. False: apply the plan of `fingerprint`.")
    fingerprint: str | None = Field(
        None, max_length=64, description="From the preview; required to apply. A change since gives 409."
    )
    page: int = Field(1, ge=1, le=100_000, description="Page of the rows that change (100 per page).")
    results: bool = Field(False, description="When applying: answer the outcome of every row.")


class ContactBulkRow(Schema):
    id: int
    phone: str
    before: dict[str, Any]
    after: dict[str, Any] | None = Field(..., description="Null: the contact is deleted.")


class ContactBulkRefused(Schema):
    id: int
    phone: str
    code: str
    reason: str


class ContactBulkRefusal(Schema):
    code: str = Field(..., description="Stable, e.g. `already_in_target`.")
    reason: str
    count: int


class ContactBulkResult(Schema):
    id: int
    phone: str
    outcome: Literal["ok", "skipped", "failed"]
    reason: str


class ContactBulkOut(Schema):
    action: str
    applied: bool
    fingerprint: str = Field(..., description="Send it back with preview=false to apply exactly this plan.")
    selection: list[str] = Field(..., description="The selection in words.")
    summary: str
    total: int = Field(..., description="Contacts selected.")
    changing: int
    refused: int
    refusals: list[ContactBulkRefusal]
    rows: list[ContactBulkRow]
    refused_rows: list[ContactBulkRefused] = Field(..., description="The first 100.")
    page: int
    pages: int
    batch_id: str | None = Field(None, description="When applied: the audit batch.")
    changed: int | None = None
    results: list[ContactBulkResult] | None = None


class ContactBulkProblem(Problem):
    fingerprint: str | None = None
    preview: ContactBulkOut | None = None


# --- helpers -------------------------------------------------------------------------------------


def _account(scope: Scope) -> Account:
    assert scope.account is not None  # scope_of guarantees an account
    return scope.account


def _columns(scope: Scope) -> list[CustomColumn]:
    return selectors.columns(scope)


def _phonebook(scope: Scope, phonebook_id: int) -> Phonebook:
    return get_scoped(scope, Phonebook, pk=phonebook_id)


def _phonebook_out(book: Phonebook, count: int | None = None) -> dict[str, Any]:
    if count is None:
        count = getattr(book, "contact_count", None)
    if count is None:
        count = book.contacts.count()
    return {
        "id": book.pk,
        "name": book.name,
        "description": book.description,
        "contact_count": count,
        "created_at": book.created_at,
    }


def _contact_out(contact: Contact, columns: list[CustomColumn]) -> dict[str, Any]:
    values = contact.values or {}
    return {
        "id": contact.pk,
        "phonebook_id": contact.phonebook_id,
        "phone": contact.phone,
        "values": {c.name: values[str(c.pk)] for c in columns if values.get(str(c.pk))},
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def _opt_out_out(row: OptOut) -> dict[str, Any]:
    return {"id": row.pk, "phone": row.phone, "source": row.source, "note": row.note, "created_at": row.created_at}


# --- phonebooks ----------------------------------------------------------------------------------


@router.get("/phonebooks", response={200: Page[PhonebookOut], **errors()}, operation_id="contacts_phonebooks")
@requires(any_of=READ)
def list_phonebooks(request: ScopedRequest, query: Query[PageQuery]) -> dict[str, Any]:
    scope = request.scope
    return page(selectors.phonebooks(scope), query, _phonebook_out)


@router.post("/phonebooks", response={201: PhonebookOut, **errors(409)}, operation_id="contacts_phonebook_create")
@requires(Perm.MANAGE_CONTACTS)
def create_phonebook(request: ScopedRequest, body: PhonebookIn) -> Status[Any]:
    scope = request.scope
    book = services.create_phonebook(
        _account(scope), actor=actor_of(request), name=body.name, description=body.description
    )
    return Status(201, _phonebook_out(book, 0))


@router.get(
    "/phonebooks/{phonebook_id}", response={200: PhonebookOut, **errors(404)}, operation_id="contacts_phonebook"
)
@requires(any_of=READ)
def get_phonebook(request: ScopedRequest, phonebook_id: int) -> dict[str, Any]:
    scope = request.scope
    return _phonebook_out(get_scoped(scope, selectors.phonebooks(scope), pk=phonebook_id))


@router.patch(
    "/phonebooks/{phonebook_id}",
    response={200: PhonebookOut, **errors(404, 409)},
    operation_id="contacts_phonebook_update",
)
@requires(Perm.MANAGE_CONTACTS)
def update_phonebook(request: ScopedRequest, phonebook_id: int, body: PhonebookPatch) -> dict[str, Any]:
    scope = request.scope
    book = services.update_phonebook(
        _phonebook(scope, phonebook_id), actor=actor_of(request), name=body.name, description=body.description
    )
    return _phonebook_out(book)


@router.delete(
    "/phonebooks/{phonebook_id}", response={204: None, **errors(404, 409)}, operation_id="contacts_phonebook_delete"
)
@requires(Perm.MANAGE_CONTACTS)
def delete_phonebook(request: ScopedRequest, phonebook_id: int) -> Status[Any]:
    scope = request.scope
    services.delete_phonebook(_phonebook(scope, phonebook_id), actor=actor_of(request))
    return Status(204, None)


# --- contacts ------------------------------------------------------------------------------------


@router.get(
    "/phonebooks/{phonebook_id}/contacts",
    response={200: Page[ContactOut], **errors(404)},
    operation_id="contacts_list",
)
@requires(any_of=READ)
def list_contacts(request: ScopedRequest, phonebook_id: int, query: Query[ContactFilters]) -> dict[str, Any]:
    scope = request.scope
    book = _phonebook(scope, phonebook_id)
    columns = _columns(scope)
    qs = scoped(scope, Contact).filter(phonebook=book).order_by("phone", "pk")
    if query.q and query.q.strip():
        qs = qs.filter(selectors.search_q(query.q))
    return page(qs, query, lambda c: _contact_out(c, columns))


@router.post(
    "/phonebooks/{phonebook_id}/contacts",
    response={201: ContactOut, **errors(404, 409)},
    operation_id="contacts_create",
)
@requires(Perm.MANAGE_CONTACTS)
def create_contact(request: ScopedRequest, phonebook_id: int, body: ContactIn) -> Status[Any]:
    scope = request.scope
    book = _phonebook(scope, phonebook_id)
    contact = services.add_contact(book, actor=actor_of(request), phone=body.phone, values=body.values)
    return Status(201, _contact_out(contact, _columns(scope)))


@router.get("/contacts/{contact_id}", response={200: ContactOut, **errors(404)}, operation_id="contacts_get")
@requires(any_of=READ)
def get_contact(request: ScopedRequest, contact_id: int) -> dict[str, Any]:
    scope = request.scope
    return _contact_out(get_scoped(scope, Contact, pk=contact_id), _columns(scope))


@router.patch("/contacts/{contact_id}", response={200: ContactOut, **errors(404, 409)}, operation_id="contacts_update")
@requires(Perm.MANAGE_CONTACTS)
def update_contact(request: ScopedRequest, contact_id: int, body: ContactPatch) -> dict[str, Any]:
    scope = request.scope
    contact = services.update_contact(
        get_scoped(scope, Contact, pk=contact_id),
        actor=actor_of(request),
        phone=body.phone,
        values={k: v or "" for k, v in body.values.items()} if body.values is not None else None,
    )
    return _contact_out(contact, _columns(scope))


@router.delete("/contacts/{contact_id}", response={204: None, **errors(404, 409)}, operation_id="contacts_delete")
@requires(Perm.MANAGE_CONTACTS)
def delete_contact(request: ScopedRequest, contact_id: int) -> Status[Any]:
    scope = request.scope
    services.delete_contact(get_scoped(scope, Contact, pk=contact_id), actor=actor_of(request))
    return Status(204, None)


# --- bulk changes --------------------------------------------------------------------------------

BULK_PAGE = 100


def _bulk_out(action: BulkAction[Any], plan: Plan, selection: list[str], page_number: int) -> dict[str, Any]:
    shown = preview(action, plan, page=page_number, per_page=BULK_PAGE)
    return {
        "action": next(k for k, v in bulk_contacts.ACTIONS.items() if v == action.name),
        "applied": False,
        "fingerprint": plan.fingerprint,
        "selection": selection,
        "summary": shown.summary,
        "total": shown.total,
        "changing": shown.changing,
        "refused": shown.refused,
        "refusals": [{"code": c, "reason": r, "count": n} for c, r, n in shown.refusals],
        "rows": [{"id": c.pk, "phone": c.label, "before": c.before, "after": c.after} for c in shown.rows],
        "refused_rows": [
            {"id": c.pk, "phone": c.label, "code": c.refusal, "reason": c.reason} for c in shown.refused_rows
        ],
        "page": shown.page,
        "pages": shown.pages,
    }


@router.post(
    "/phonebooks/{phonebook_id}/contacts/bulk",
    response={200: ContactBulkOut, **errors(404), 409: ContactBulkProblem},
    operation_id="contacts_bulk",
)
@requires(Perm.MANAGE_CONTACTS)
def bulk_change(request: ScopedRequest, phonebook_id: int, body: ContactBulkIn) -> Any:
    """Delete, move or copy many contacts: plan → preview → apply. First send `preview: true` (the
    default): nothing changes, and the answer lists what would (counts, a page of rows with before and
    after, the rows that would be skipped and why) with a `fingerprint`. Then send the same request with
    `preview: false` and that fingerprint: it applies in one transaction, all or nothing apart from the
    skipped rows, unless the contacts changed since, which is 409 `bulk_plan_changed` with the fresh
    `fingerprint` and `preview`. An id that is not a contact of this phonebook answers 404."""
    scope = request.scope
    book = _phonebook(scope, phonebook_id)
    if (body.ids is None) == (body.filter is None):
        raise Invalid.field("ids", _("Give either ids or filter (an empty filter selects the whole phonebook)."))
    if not body.preview and not body.fingerprint:
        raise Invalid.field("fingerprint", _("Preview first, then apply with the preview's fingerprint."))
    target = _phonebook(scope, body.target_phonebook_id) if body.target_phonebook_id is not None else None
    action = bulk_contacts.action_for(book, body.action, target)
    filter_data = body.filter.model_dump(exclude_none=True) if body.filter is not None else None
    selection, filterset = select_contacts(scope, book, ids=body.ids, data=filter_data, must_exist=body.preview)
    in_words = describe_selection(filterset, len(set(body.ids or ())))
    if body.preview:
        return _bulk_out(action, plan(action, selection), in_words, body.page)
    try:
        applied = bulk_contacts.apply_bulk(
            action,
            selection,
            body.fingerprint,
            actor=actor_of(request),
            selected={"filter": filter_data} if filter_data is not None else {"ids": len(set(body.ids or ()))},
        )
    except PlanChanged as exc:
        fresh = _bulk_out(action, exc.plan, in_words, 1)
        return problem(409, exc.code.value, exc.message, fingerprint=exc.plan.fingerprint, preview=fresh)
    out = _bulk_out(action, applied.plan, in_words, body.page)
    out.update(applied=True, batch_id=applied.batch_id, changed=applied.count, summary=action.done(applied.count))
    if body.results:
        out["results"] = [
            {"id": pk, "phone": label, "outcome": outcome, "reason": reason}
            for pk, label, outcome, reason in applied.results()
        ]
    return out


# --- import and export ---------------------------------------------------------------------------


@router.post(
    "/phonebooks/{phonebook_id}/import",
    response={200: ContactImportReport, **errors(404, 409), 422: ContactImportProblem},
    operation_id="contacts_import",
)
@requires(Perm.MANAGE_CONTACTS)
def import_csv(
    request: ScopedRequest,
    phonebook_id: int,
    file: File[UploadedFile | None] = None,
    only_valid: Form[bool] = False,
    dry_run: Form[bool] = False,
) -> Any:
    """Multipart upload (`file`). Every bad row is reported with its line number. If any row is not
    valid nothing is imported (422 with the report) unless `only_valid` is set; `dry_run` only checks."""
    scope = request.scope
    book = _phonebook(scope, phonebook_id)
    if file is None:
        raise Invalid.field("file", "Send the CSV file as the multipart field “file”.")
    report = import_contacts(book, file, actor=actor_of(request), only_valid=only_valid, dry_run=dry_run)
    body = report.as_dict()
    if report.has_errors and not report.applied:
        detail = (
            f"{report.invalid} of {report.rows} rows are not valid; nothing was imported."
            if not report.dry_run
            else f"{report.invalid} of {report.rows} rows are not valid."
        )
        return problem(422, ErrorCode.VALIDATION.value, detail, report=body)
    return body


@router.get(
    "/phonebooks/{phonebook_id}/export.csv",
    response={200: str, **errors(404)},
    operation_id="contacts_export_csv",
)
@requires(any_of=READ)
def export_csv(request: ScopedRequest, phonebook_id: int) -> StreamingHttpResponse:
    """The phonebook as CSV (text/csv, streamed): phone, then one column per custom column."""
    scope = request.scope
    book = _phonebook(scope, phonebook_id)
    columns = _columns(scope)
    keys = [str(c.pk) for c in columns]
    rows = (
        [c.phone, *((c.values or {}).get(k, "") for k in keys)]
        for c in scoped(scope, Contact).filter(phonebook=book).order_by("phone").iterator(chunk_size=2000)
    )
    return stream_csv(f"{slugify(book.name) or 'phonebook'}.csv", ["phone", *(c.name for c in columns)], rows)


# --- opt-outs ------------------------------------------------------------------------------------


@router.get("/opt-outs", response={200: Page[ContactOptOutOut], **errors()}, operation_id="contacts_opt_outs")
@requires(any_of=READ)
def list_opt_outs(request: ScopedRequest, query: Query[ContactOptOutFilters]) -> dict[str, Any]:
    scope = request.scope
    qs = scoped(scope, OptOut).order_by("-created_at", "-pk")
    if query.phone and query.phone.strip():
        qs = qs.filter(phone__icontains=query.phone.strip().replace(" ", ""))
    return page(qs, query, _opt_out_out)


@router.post("/opt-outs", response={201: ContactOptOutOut, **errors(409)}, operation_id="contacts_opt_out_create")
@requires(Perm.MANAGE_CONTACTS)
def create_opt_out(request: ScopedRequest, body: ContactOptOutIn) -> Status[Any]:
    """Opt a number out of this account (idempotent: an existing opt-out is returned)."""
    scope = request.scope
    row = services.opt_out(
        _account(scope), body.phone, source=OptOut.Source.API, actor=actor_of(request), note=body.note
    )
    return Status(201, _opt_out_out(row))


@router.delete(
    "/opt-outs/{opt_out_id}", response={204: None, **errors(404, 409)}, operation_id="contacts_opt_out_delete"
)
@requires(Perm.MANAGE_CONTACTS)
def delete_opt_out(request: ScopedRequest, opt_out_id: int) -> Status[Any]:
    """Opt the number back in (only with the person's consent)."""
    scope = request.scope
    row = get_scoped(scope, OptOut, pk=opt_out_id)
    services.opt_in(_account(scope), row.phone, actor=actor_of(request))
    return Status(204, None)
