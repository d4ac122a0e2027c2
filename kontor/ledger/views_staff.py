"""Provider staff's view of a customer's credits: every wallet and its full history (not only 30 days)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.selectors import staff_scope
from kontor.core.errors import Forbidden
from kontor.core.scope import get_scoped, scoped
from kontor.ledger import selectors
from kontor.ledger.models import Wallet
from kontor.tenancy.models import Customer
from kontor.web.decorators import staff_view
from kontor.web.lists import stream_csv

PER_PAGE = 50


def _allowed(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    have = {p.value for p in user.staff_perms}
    if not have & {Perm.STAFF_VIEW_AUDIT.value, Perm.STAFF_MANAGE_BILLING.value}:
        raise Forbidden("You need the staff audit or billing permission to see credit histories.")
    return user


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def wallets(request: HttpRequest, customer_pk: int) -> HttpResponse:
    user = _allowed(request)
    customer = get_object_or_404(Customer, pk=customer_pk)
    rows = [
        (wallet, selectors.wallet_label(wallet, wallet.user, wallet.account))
        for wallet in scoped(staff_scope(user, customer), Wallet)
        .select_related("user", "account")
        .order_by("kind", "id")
    ]
    return render(request, "ledger/staff_wallets.html", {"customer": customer, "rows": rows})


def _wallet(request: HttpRequest, customer_pk: int, pk: int) -> tuple[Customer, Wallet, User]:
    user = _allowed(request)
    customer = get_object_or_404(Customer, pk=customer_pk)
    return customer, get_scoped(staff_scope(user, customer), Wallet, pk=pk), user


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def log(request: HttpRequest, customer_pk: int, pk: int) -> HttpResponse:
    customer, wallet, user = _wallet(request, customer_pk, pk)
    paginator = Paginator(selectors.log_postings(wallet, since=None), PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    entries = selectors.log_rows(page.object_list, wallet, user.time_zone)
    label = selectors.wallet_label(wallet, wallet.user, wallet.account)
    return render(
        request,
        "ledger/staff_log.html",
        {"customer": customer, "wallet": wallet, "label": label, "page": page, "entries": entries},
    )


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def log_csv(request: HttpRequest, customer_pk: int, pk: int) -> HttpResponseBase:
    customer, wallet, user = _wallet(request, customer_pk, pk)
    rows = (selectors.log_csv_row(row) for row in selectors.iter_log_rows(wallet, since=None, tz_name=user.time_zone))
    response: StreamingHttpResponse = stream_csv(
        f"{customer.subscriber_id}-wallet-{wallet.pk}-history.csv", selectors.LOG_CSV_HEADER, rows
    )
    return response
