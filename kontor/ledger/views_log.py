"""View Last 30 Days Logs (manual 001): every posting of a wallet the viewer may manage, with the
running balance, as a page, a streamed CSV and a print-friendly report. Staff and auditors may ask for
the full history (?full=1)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from kontor.access.requests import ScopedRequest
from kontor.billing.models import Invoice
from kontor.core.scope import Scope, scoped
from kontor.ledger import selectors
from kontor.ledger.rules import CREDIT_PERMS
from kontor.ledger.selectors import LOG_CSV_HEADER, LOG_DAYS, LogRow, WalletRow
from kontor.ledger.views import viewer_of
from kontor.web.decorators import customer_view
from kontor.web.lists import stream_csv

PER_PAGE = 50


def _window(request: ScopedRequest, pk: int) -> tuple[WalletRow, bool, dt.datetime | None]:
    scope = request.scope
    row = selectors.wallet_row(scope, viewer_of(request), pk)
    full = request.GET.get("full") == "1" and selectors.sees_full_history(scope)
    return row, full, None if full else selectors.log_since()


def _invoices(scope: Scope, rows: list[LogRow]) -> dict[uuid.UUID, Invoice]:
    ids = [r.journal_id for r in rows if r.kind == "purchase"]
    if not ids:
        return {}
    found = scoped(scope, Invoice).filter(journal_id__in=ids)
    return {inv.journal_id: inv for inv in found if inv.journal_id is not None}


def _context(request: ScopedRequest, row: WalletRow, full: bool) -> dict[str, Any]:
    return {
        "row": row,
        "full": full,
        "can_full": selectors.sees_full_history(request.scope),
        "days": LOG_DAYS,
        "tz": viewer_of(request).time_zone,
        "query": "?full=1" if full else "",
        "now": timezone.now(),
    }


@customer_view(any_of=CREDIT_PERMS)
def log(request: ScopedRequest, pk: int) -> HttpResponse:
    row, full, since = _window(request, pk)
    paginator = Paginator(selectors.log_postings(row.wallet, since=since), PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = selectors.log_rows(page.object_list, row.wallet, viewer_of(request).time_zone)
    context = _context(request, row, full)
    invoices = _invoices(request.scope, rows)
    context.update({"page": page, "entries": [(r, invoices.get(r.journal_id)) for r in rows]})
    return render(request, "ledger/log.html", context)


@customer_view(any_of=CREDIT_PERMS)
def log_csv(request: ScopedRequest, pk: int) -> StreamingHttpResponse:
    row, full, since = _window(request, pk)
    rows = selectors.iter_log_rows(row.wallet, since=since, tz_name=viewer_of(request).time_zone)
    stamp = timezone.now().strftime("%Y%m%d")
    return stream_csv(
        f"sms-credits-{row.pk}-{'all' if full else f'{LOG_DAYS}d'}-{stamp}.csv",
        LOG_CSV_HEADER,
        (selectors.log_csv_row(r) for r in rows),
    )


@customer_view(any_of=CREDIT_PERMS)
def log_print(request: ScopedRequest, pk: int) -> HttpResponse:
    row, full, since = _window(request, pk)
    rows = list(selectors.iter_log_rows(row.wallet, since=since, tz_name=viewer_of(request).time_zone))
    context = _context(request, row, full)
    context.update({"rows": rows, "viewer": viewer_of(request)})
    return render(request, "ledger/log_print.html", context)
