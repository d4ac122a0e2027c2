"""Purchase SMS Credits (manual 001): quantity and billing details → the price → payment → credits
applied at once and a tax invoice / receipt to download.

The confirmation page carries an idempotency key made when it is shown, so paying twice (a double
click, a reload) buys once and shows the same receipt. Card numbers are never echoed back into a page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kontor.access.models import User
from kontor.access.requests import ScopedRequest
from kontor.billing.forms import CardForm, PurchaseForm
from kontor.billing.invoices import clean_billing_details
from kontor.billing.payments import PROVIDERS, PaymentDeclined
from kontor.billing.pricing import Quote, quote
from kontor.billing.purchase import purchase as buy
from kontor.core.errors import DomainError, Forbidden, Invalid
from kontor.core.idempotency import clean_key, new_idempotency_key
from kontor.ledger import rules, selectors
from kontor.ledger.models import Wallet
from kontor.ledger.selectors import PURCHASE, CreditOverview, WalletRow
from kontor.web.decorators import customer_view
from kontor.web.lists import form_errors_from

CARD_FIELDS = ("card_number", "expiry", "cvc")
TEST_CARD = "test_card"


def viewer_of(request: ScopedRequest) -> User:
    return rules.credit_user(request.user)


def _targets(overview: CreditOverview) -> list[WalletRow]:
    return [row for row in overview.rows if row.can(PURCHASE)]


def _initial(request: ScopedRequest, viewer: User, targets: list[WalletRow]) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "company": viewer.customer.name if viewer.customer else "",
        "contact_name": viewer.full_name,
        "email": viewer.email,
        "payment_method": "invoice",
    }
    wanted = request.GET.get("wallet")
    if wanted:
        row = selectors.wallet_row(request.scope, viewer, wanted)
        if row.pk not in {t.pk for t in targets}:
            raise Forbidden(f"You may not purchase credits for {row.name}.")
        initial["target"] = str(row.pk)
    else:
        own = next((t for t in targets if t.user is not None and t.user.pk == viewer.pk), None)
        initial["target"] = str((own or targets[0]).pk)
    return initial


def _card_form(data: Any = None) -> CardForm:
    """A card form that keeps the expiry but never the number or the CVC."""
    if data is None:
        return CardForm()
    form = CardForm({"expiry": data.get("expiry", "")})
    form.is_valid()
    return form


@customer_view(any_of=rules.CREDIT_PERMS)
def purchase(request: ScopedRequest) -> HttpResponse:
    scope, viewer = request.scope, viewer_of(request)
    overview = selectors.credit_overview(scope, viewer)
    targets = _targets(overview)
    if not targets:
        raise Forbidden(
            "Credits belong to accounts in this organisation; only master users buy them (as system credits)."
            if overview.pool_mode
            else "You may not purchase SMS credits for anyone."
        )
    choices = [(str(row.pk), row.name) for row in targets]
    if request.method != "POST":
        form = PurchaseForm(initial=_initial(request, viewer, targets), targets=choices)
        return _step1(request, form, overview)

    action = request.POST.get("action", "proceed")
    form = PurchaseForm(request.POST, targets=choices)
    if action == "back" or not form.is_valid():
        return _step1(request, form, overview)
    row = overview.get(form.cleaned_data["target"])
    assert row is not None  # the choices are rows of the overview
    try:
        clean_billing_details(form.details())
        price = quote(scope.customer, form.cleaned_data["quantity"])
    except DomainError as exc:
        form_errors_from(form, exc)
        return _step1(request, form, overview)
    if action != "pay":
        return _confirm(request, form, row, price, key=new_idempotency_key(), card=CardForm())

    key = clean_key(request.POST.get("idempotency_key"))
    if key is None:
        return _confirm(
            request, form, row, price, key=new_idempotency_key(), card=CardForm(), error="Please confirm again."
        )
    card = CardForm(request.POST)
    card.is_valid()
    method = form.cleaned_data["payment_method"]
    try:
        result = buy(
            scope.customer,
            actor=viewer,
            quantity=form.cleaned_data["quantity"],
            for_user=row.user if row.wallet.kind == Wallet.Kind.USER else None,
            payment_method=method,
            billing_details=form.details(),
            payment_details=card.details() if method == TEST_CARD else {},
            idempotency_key=key,
        )
    except PaymentDeclined as exc:
        # A decline is that key's final answer (a retry with it gets the decline again); another
        # attempt, e.g. with another card, is a new purchase with a new key.
        return _confirm(request, form, row, price, key=new_idempotency_key(), card=CardForm(), declined=exc.message)
    except Invalid as exc:
        if set(exc.fields) & set(CARD_FIELDS):
            card = _card_form(request.POST)
            form_errors_from(card, exc)
            return _confirm(request, form, row, price, key=key, card=card)
        form_errors_from(form, exc)
        return _step1(request, form, overview)
    except DomainError as exc:
        return _confirm(request, form, row, price, key=key, card=CardForm(), error=exc.message)
    credited = result.journal.postings.filter(direction="in").first()
    if credited is not None and credited.wallet_id != row.pk:
        # A resubmitted confirmation page: show the purchase its key made, wherever it went.
        row = overview.get(credited.wallet_id) or row
    row.wallet.refresh_from_db()
    context = {
        "result": result,
        "invoice": result.invoice,
        "row": row,
        "quantity": credited.amount if credited is not None else form.cleaned_data["quantity"],
        "replayed": not result.created,
    }
    return render(request, "billing/purchase_done.html", context)


def _step1(request: ScopedRequest, form: PurchaseForm, overview: CreditOverview) -> HttpResponse:
    return render(request, "billing/purchase.html", {"form": form, "overview": overview})


def _confirm(
    request: HttpRequest,
    form: PurchaseForm,
    row: WalletRow,
    price: Quote,
    *,
    key: str,
    card: CardForm,
    declined: str = "",
    error: str = "",
) -> HttpResponse:
    method = form.cleaned_data["payment_method"]
    provider = PROVIDERS.get(method)
    return render(
        request,
        "billing/purchase_confirm.html",
        {
            "form": form,
            "row": row,
            "quote": price,
            "key": key,
            "card": card,
            "needs_card": method == TEST_CARD,
            "method_label": provider.label if provider else method,
            "billing": [(form.fields[n].label, form.cleaned_data.get(n)) for n in form.billing_names()],
            "declined": declined,
            "error": error,
        },
    )
