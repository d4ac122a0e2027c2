"""Contact pages: phonebooks, their contacts (search, sort, pages, CSV export), contact forms with one
field per custom column, CSV import with its report, and the account's opt-out list."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.contacts import bulk as bulk_contacts
from kontor.contacts import selectors, services
from kontor.contacts.filters import ContactFilter, OptOutFilter, describe_selection, select_contacts
from kontor.contacts.forms import FILTER_PREFIX, BulkContactsForm, ContactForm, OptOutForm, PhonebookForm
from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.contacts.tables import OptOutTable, PhonebookTable, contact_table
from kontor.core.bulk import PlanChanged, plan, preview
from kontor.core.errors import DomainError, NotFound
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account
from kontor.web.bulk import preview_page
from kontor.web.decorators import customer_view
from kontor.web.lists import Action, export_csv, form_errors_from, list_page

READ = (Perm.VIEW_CONTACTS, Perm.MANAGE_CONTACTS)


def _scope(request: HttpRequest) -> Scope:
    return request.scope  # type: ignore[attr-defined,no-any-return]


def _account(request: HttpRequest) -> Account:
    account = _scope(request).account
    assert account is not None  # customer_view guarantees a current account
    return account


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _phonebook(request: HttpRequest, pk: int) -> Phonebook:
    return get_scoped(_scope(request), Phonebook, pk=pk)


def _form_page(request: HttpRequest, form: object, *, title: str, cancel_url: str, **extra: object) -> HttpResponse:
    return render(request, "web/form.html", {"form": form, "title": title, "cancel_url": cancel_url, **extra})


def _confirm(
    request: HttpRequest, *, title: str, question: str, cancel_url: str, label: str, details=()
) -> HttpResponse:  # type: ignore[no-untyped-def]
    context = {
        "title": title,
        "question": question,
        "details": list(details),
        "cancel_url": cancel_url,
        "confirm_label": label,
    }
    return render(request, "web/confirm.html", context)


# --- phonebooks ----------------------------------------------------------------------------------


@customer_view(any_of=READ)
def phonebooks(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    actions = [Action("Add phonebook", reverse("contacts:phonebook_add"))] if scope.has(Perm.MANAGE_CONTACTS) else []
    actions.append(Action("Opt-outs", reverse("contacts:opt_outs")))
    return list_page(
        request,
        title="Phonebooks",
        queryset=selectors.phonebooks(scope),
        table_class=PhonebookTable,
        actions=actions,
        intro="Phonebooks of this account. Their contacts are not visible from any other account.",
    )


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_add(request: HttpRequest) -> HttpResponse:
    form = PhonebookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            book = services.create_phonebook(
                _account(request),
                actor=_user(request),
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Phonebook “{book.name}” created.")
            return redirect("contacts:phonebook_detail", pk=book.pk)
    return _form_page(request, form, title="Add phonebook", cancel_url=reverse("contacts:phonebooks"))


@customer_view(any_of=READ)
def phonebook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    book = _phonebook(request, pk)
    columns = selectors.columns(scope)
    actions: list[Action] = []
    manage = scope.has(Perm.MANAGE_CONTACTS)
    if manage:
        actions = [
            Action("Add contact", reverse("contacts:phonebook_contact_add", args=[book.pk])),
            Action("Import CSV", reverse("contacts:phonebook_import", args=[book.pk])),
            Action("Rename", reverse("contacts:phonebook_edit", args=[book.pk])),
            Action("Delete", reverse("contacts:phonebook_delete", args=[book.pk])),
        ]
    actions.append(Action("All phonebooks", reverse("contacts:phonebooks")))
    extra: dict[str, object] = {}
    if manage:
        # The bulk form sits after the list; the ticked rows belong to it through their form="…" attribute.
        extra = {
            "bulk_form": BulkContactsForm(targets=_bulk_targets(scope, book)),
            "bulk_url": reverse("contacts:phonebook_bulk", args=[book.pk]),
            "filter_carry": _filter_carry(request.GET),
        }
    return list_page(
        request,
        title=f"Phonebook: {book.name}",
        queryset=selectors.contacts(scope, book, columns),
        table_class=contact_table(columns, selectable=manage),
        filterset_class=ContactFilter,
        actions=actions,
        export_url=reverse("contacts:phonebook_export", args=[book.pk]),
        intro=book.description,
        template="contacts/phonebook_detail.html" if manage else "web/list.html",
        extra=extra,
    )


def _value(contact: Contact, key: str) -> str:
    return str((contact.values or {}).get(key, ""))


@customer_view(any_of=READ)
def phonebook_export(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    book = _phonebook(request, pk)
    columns = selectors.columns(scope)
    getters: list[tuple[str, Callable[[Contact], str]]] = [("phone", lambda c: c.phone)]
    for column in columns:
        getters.append((column.name, partial(_value, key=str(column.pk))))
    return export_csv(  # type: ignore[return-value]
        request,
        queryset=scoped(scope, Contact).filter(phonebook=book).order_by("phone"),
        filterset_class=ContactFilter,
        filename=f"{slugify(book.name) or 'phonebook'}.csv",
        columns=getters,
    )


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    book = _phonebook(request, pk)
    form = PhonebookForm(request.POST or None, initial={"name": book.name, "description": book.description})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_phonebook(
                book, actor=_user(request), name=form.cleaned_data["name"], description=form.cleaned_data["description"]
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Phonebook “{book.name}” saved.")
            return redirect("contacts:phonebook_detail", pk=book.pk)
    return _form_page(
        request, form, title=f"Rename {book.name}", cancel_url=reverse("contacts:phonebook_detail", args=[book.pk])
    )


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    book = _phonebook(request, pk)
    if request.method == "POST":
        try:
            count = services.delete_phonebook(book, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("contacts:phonebook_detail", pk=book.pk)
        messages.success(request, f"Phonebook “{book.name}” and its {count} contacts were deleted.")
        return redirect("contacts:phonebooks")
    count = scoped(_scope(request), Contact).filter(phonebook=book).count()
    return _confirm(
        request,
        title=f"Delete {book.name}",
        question=f"Delete the phonebook “{book.name}” and its {count} contacts? This cannot be undone.",
        details=["Opt-outs are kept: they belong to the account, not to a phonebook."],
        cancel_url=reverse("contacts:phonebook_detail", args=[book.pk]),
        label="Delete phonebook",
    )


# --- bulk changes --------------------------------------------------------------------------------


def _bulk_targets(scope: Scope, book: Phonebook) -> list[tuple[int, str]]:
    return list(scoped(scope, Phonebook).exclude(pk=book.pk).order_by("name").values_list("pk", "name"))


def _filter_carry(data: QueryDict) -> list[tuple[str, str]]:
    """The list's filter parameters, renamed for the bulk form (a filter named like a bulk field must
    not change the bulk choice)."""
    names = set(ContactFilter.base_filters)
    return [(FILTER_PREFIX + k, str(v)) for k, v in data.items() if k in names and v]


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete, move or copy the ticked contacts, or all matching the list's filter: the first POST shows
    the preview, the second (with `confirm` and the preview's fingerprint) applies it, or shows a fresh
    preview if anything changed meanwhile."""
    scope = _scope(request)
    book = _phonebook(request, pk)
    back = reverse("contacts:phonebook_detail", args=[book.pk])
    if request.method != "POST":
        return redirect(back)
    form = BulkContactsForm(request.POST, targets=_bulk_targets(scope, book))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    kind, everything = form.cleaned_data["action"], form.cleaned_data["selection"] == "all"
    ids = None if everything else BulkContactsForm.ids(request.POST)
    filter_data = BulkContactsForm.filter_data(request.POST) if everything else None
    confirming = "confirm" in request.POST
    try:
        target_pk = form.cleaned_data["target"]
        target = get_scoped(scope, Phonebook, pk=target_pk) if target_pk is not None else None
        action = bulk_contacts.action_for(book, kind, target)
        selection, filterset = select_contacts(scope, book, ids=ids, data=filter_data, must_exist=not confirming)
    except NotFound:
        raise  # a foreign or missing id is the 404 page, as everywhere
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    in_words = describe_selection(filterset, len(ids or ()))
    carry = [(name, str(value)) for name, value in form.cleaned_data.items() if value is not None]
    carry += [("ids", str(i)) for i in ids or ()] + [(FILTER_PREFIX + k, v) for k, v in (filter_data or {}).items()]
    error = ""
    if confirming:
        try:
            applied = bulk_contacts.apply_bulk(
                action,
                selection,
                request.POST.get("fingerprint", ""),
                actor=_user(request),
                selected={"filter": filter_data} if everything else {"ids": len(ids or ())},
            )
        except PlanChanged as exc:
            fresh, error = exc.plan, exc.message
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(back)
        else:
            message = action.done(applied.count)
            skipped = len(applied.plan.refused)
            if skipped:
                message += " " + ngettext("%(count)d was skipped.", "%(count)d were skipped.", skipped) % {
                    "count": skipped
                }
            messages.success(request, message)
            return redirect(back)
    else:
        fresh = plan(action, selection)
    return preview_page(
        request,
        title=_("Preview: %(phonebook)s") % {"phonebook": book.name},
        preview=preview(action, fresh, filters=[]),
        selection=in_words,
        carry=carry,
        action_url=reverse("contacts:phonebook_bulk", args=[book.pk]),
        cancel_url=back,
        confirm_label=_("Confirm"),
        labels=bulk_contacts.LABELS,
        error=error,
        status=409 if error else 200,
    )


# --- contacts ------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_contact_add(request: HttpRequest, pk: int) -> HttpResponse:
    book = _phonebook(request, pk)
    columns = selectors.columns(_scope(request))
    form = ContactForm(request.POST or None, columns=columns)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.add_contact(
                book, actor=_user(request), phone=form.cleaned_data["phone"], values=form.column_values()
            )
        except DomainError as exc:
            form_errors_from(form, form.field_errors(exc))
        else:
            messages.success(request, f"{contact.phone} added to “{book.name}”.")
            if "add_another" in request.POST:
                return redirect("contacts:phonebook_contact_add", pk=book.pk)
            return redirect("contacts:phonebook_detail", pk=book.pk)
    return _form_page(
        request,
        form,
        title=f"Add contact to {book.name}",
        cancel_url=reverse("contacts:phonebook_detail", args=[book.pk]),
        intro="" if columns else "This account has no custom columns; your Technical Account Manager sets them up.",
    )


@customer_view(Perm.MANAGE_CONTACTS)
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    contact = get_scoped(scope, scoped(scope, Contact).select_related("phonebook"), pk=pk)
    columns = selectors.columns(scope)
    initial = ContactForm.initial_for(contact.phone, contact.values or {}, columns)
    form = ContactForm(request.POST or None, initial=initial, columns=columns)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_contact(
                contact, actor=_user(request), phone=form.cleaned_data["phone"], values=form.column_values()
            )
        except DomainError as exc:
            form_errors_from(form, form.field_errors(exc))
        else:
            messages.success(request, f"{contact.phone} saved.")
            return redirect("contacts:phonebook_detail", pk=contact.phonebook_id)
    return _form_page(
        request,
        form,
        title=f"Edit {contact.phone}",
        cancel_url=reverse("contacts:phonebook_detail", args=[contact.phonebook_id]),
    )


@customer_view(Perm.MANAGE_CONTACTS)
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    contact = get_scoped(scope, scoped(scope, Contact).select_related("phonebook"), pk=pk)
    back = reverse("contacts:phonebook_detail", args=[contact.phonebook_id])
    if request.method == "POST":
        try:
            services.delete_contact(contact, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{contact.phone} was removed from “{contact.phonebook.name}”.")
        return redirect(back)
    return _confirm(
        request,
        title=f"Delete {contact.phone}",
        question=f"Remove {contact.phone} from the phonebook “{contact.phonebook.name}”?",
        cancel_url=back,
        label="Delete contact",
    )


# --- opt-outs ------------------------------------------------------------------------------------


@customer_view(any_of=READ)
def opt_outs(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    actions = [Action("Add opt-out", reverse("contacts:opt_out_add"))] if scope.has(Perm.MANAGE_CONTACTS) else []
    actions.append(Action("Phonebooks", reverse("contacts:phonebooks")))
    return list_page(
        request,
        title="Opt-outs",
        queryset=scoped(scope, OptOut).order_by("-created_at", "-pk"),
        table_class=OptOutTable,
        filterset_class=OptOutFilter,
        actions=actions,
        intro="Numbers this account never messages, whatever phonebook or list they are in. A STOP reply "
        "opts a number out of the account it reached only.",
    )


@customer_view(Perm.MANAGE_CONTACTS)
def opt_out_add(request: HttpRequest) -> HttpResponse:
    form = OptOutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = services.opt_out(
                _account(request),
                form.cleaned_data["phone"],
                source=OptOut.Source.MANUAL,
                actor=_user(request),
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{row.phone} is opted out: this account will not message it.")
            return redirect("contacts:opt_outs")
    return _form_page(request, form, title="Add opt-out", cancel_url=reverse("contacts:opt_outs"))


@customer_view(Perm.MANAGE_CONTACTS)
def opt_out_remove(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_scoped(_scope(request), OptOut, pk=pk)
    if request.method == "POST":
        try:
            services.opt_in(_account(request), row.phone, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{row.phone} is opted back in.")
        return redirect("contacts:opt_outs")
    return _confirm(
        request,
        title=f"Opt {row.phone} back in",
        question=f"Allow this account to message {row.phone} again? It opted out on "
        f"{row.created_at:%Y-%m-%d} ({row.get_source_display()}). Only do this with the person's consent.",
        cancel_url=reverse("contacts:opt_outs"),
        label="Opt back in",
    )
