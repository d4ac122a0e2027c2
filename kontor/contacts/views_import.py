"""The CSV import page. A file with bad rows imports nothing and shows every bad row; the upload is
then kept in a server-side temporary file under a random token remembered in the session, so
"Import only the N valid rows" re-submits the same file without uploading it again."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.contacts.csvimport import ImportReport, import_contacts
from kontor.contacts.forms import ImportForm
from kontor.contacts.models import Phonebook
from kontor.core.errors import DomainError
from kontor.core.scope import get_scoped
from kontor.web.decorators import customer_view
from kontor.web.lists import form_errors_from

SESSION_KEY = "contacts_imports"
KEEP_SECONDS = 24 * 3600
SHOW_ERRORS = 1000
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def upload_dir() -> Path:
    configured = getattr(settings, "KONTOR_IMPORT_UPLOAD_DIR", None)
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "kontor-contact-imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _sweep_old(directory: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for old in directory.glob("*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def _keep(request: HttpRequest, book: Phonebook, upload: Any) -> str:
    directory = upload_dir()
    _sweep_old(directory)
    token = secrets.token_urlsafe(24)
    upload.seek(0)
    with open(directory / f"{token}.csv", "wb") as out:
        shutil.copyfileobj(upload, out)
    kept = dict(request.session.get(SESSION_KEY, {}))
    # A session remembers a few uploads at most; older ones are simply forgotten (and swept later).
    for stale in list(kept)[:-4]:
        _forget(request, kept, stale)
    kept[token] = {"phonebook": book.pk, "name": str(getattr(upload, "name", ""))[:200]}
    request.session[SESSION_KEY] = kept
    return token


def _forget(request: HttpRequest, kept: dict[str, Any], token: str) -> None:
    kept.pop(token, None)
    if _TOKEN.match(token):
        (upload_dir() / f"{token}.csv").unlink(missing_ok=True)
    request.session[SESSION_KEY] = kept


def _kept(request: HttpRequest, book: Phonebook, token: str) -> tuple[Path, str] | None:
    kept = request.session.get(SESSION_KEY, {})
    entry = kept.get(token) if _TOKEN.match(token or "") else None
    if not entry or entry.get("phonebook") != book.pk:
        return None
    path = upload_dir() / f"{token}.csv"
    return (path, entry.get("name", "")) if path.exists() else None


def _page(request: HttpRequest, book: Phonebook, form: ImportForm, **extra: Any) -> HttpResponse:
    report: ImportReport | None = extra.get("report")
    context = {
        "title": f"Import contacts into {book.name}",
        "phonebook": book,
        "form": form,
        "shown_errors": report.errors[:SHOW_ERRORS] if report else [],
        "hidden_errors": max(0, len(report.errors) - SHOW_ERRORS) if report else 0,
        **extra,
    }
    return render(request, "contacts/import.html", context)


def _done(request: HttpRequest, book: Phonebook, report: ImportReport) -> HttpResponse:
    note = f" {report.invalid} rows were left out." if report.has_errors else ""
    messages.success(
        request,
        f"Imported into “{book.name}”: {report.created} added, {report.updated} updated, "
        f"{report.unchanged} unchanged.{note}",
    )
    return redirect("contacts:phonebook_detail", pk=book.pk)


@customer_view(Perm.MANAGE_CONTACTS)
def phonebook_import(request: HttpRequest, pk: int) -> HttpResponse:
    book = get_scoped(request.scope, Phonebook, pk=pk)  # type: ignore[attr-defined]
    user: User = request.user  # type: ignore[assignment]
    if request.method != "POST":
        return _page(request, book, ImportForm())
    token = request.POST.get("token", "")
    if token:
        found = _kept(request, book, token)
        if found is None:
            messages.error(request, "That upload is no longer available; please upload the file again.")
            return redirect("contacts:phonebook_import", pk=book.pk)
        path, name = found
        try:
            with open(path, "rb") as handle:
                report = import_contacts(book, handle, actor=user, only_valid=True)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("contacts:phonebook_import", pk=book.pk)
        _forget(request, dict(request.session.get(SESSION_KEY, {})), token)
        if report.applied:
            return _done(request, book, report)
        return _page(request, book, ImportForm(), report=report, file_name=name)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, book, form)
    upload = form.cleaned_data["file"]
    try:
        report = import_contacts(book, upload, actor=user, only_valid=form.cleaned_data["only_valid"])
    except DomainError as exc:
        form_errors_from(form, exc)
        return _page(request, book, form)
    if report.applied:
        return _done(request, book, report)
    kept = _keep(request, book, upload) if report.valid else ""
    return _page(request, book, ImportForm(), report=report, token=kept, file_name=upload.name)
