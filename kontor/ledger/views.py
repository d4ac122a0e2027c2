"""'Manage SMS Credits' (manual 001): the wallets a person may manage with their actions, transfers and
the low-balance threshold. The 30-day log is in views_log.py; purchases are billing's (billing/views_purchase.py).

Every wallet id from a request goes through selectors.wallet_row (scoped lookup, then visibility), and
every change through a service that checks the rules again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from kontor.access.models import User
from kontor.access.requests import ScopedRequest
from kontor.core.errors import DomainError, ErrorCode, Forbidden, NotFound
from kontor.core.idempotency import clean_key, new_idempotency_key
from kontor.ledger import rules, selectors, services
from kontor.ledger.forms import ThresholdForm, TransferForm
from kontor.ledger.rules import CREDIT_PERMS
from kontor.ledger.selectors import THRESHOLD, TRANSFER_FROM, TRANSFER_TO, WalletRow
from kontor.web.decorators import customer_view
from kontor.web.lists import form_errors_from


def viewer_of(request: ScopedRequest) -> User:
    return rules.credit_user(request.user)


@customer_view(any_of=CREDIT_PERMS)
def manage(request: ScopedRequest) -> HttpResponse:
    viewer = viewer_of(request)
    overview = selectors.credit_overview(request.scope, viewer)
    return render(request, "ledger/manage.html", {"overview": overview, "threshold_form": ThresholdForm()})


# --- transfer ------------------------------------------------------------------------------------


def _fixed_side(request: ScopedRequest) -> tuple[str, str]:
    source = request.GET.get("from") or request.POST.get("from")
    target = request.GET.get("to") or request.POST.get("to")
    if source and not target:
        return "from", source
    if target and not source:
        return "to", target
    raise NotFound("wallet")


@customer_view(any_of=CREDIT_PERMS)
def transfer(request: ScopedRequest) -> HttpResponse:
    """Transfer SMS credits from (?from=) or to (?to=) one wallet; the other side is chosen."""
    scope, viewer = request.scope, viewer_of(request)
    side, wallet_id = _fixed_side(request)
    overview = selectors.credit_overview(scope, viewer)
    fixed = selectors.wallet_row(scope, viewer, wallet_id, overview=overview)
    needed = TRANSFER_FROM if side == "from" else TRANSFER_TO
    others = selectors.transfer_counterparts(overview, fixed, side)
    if not fixed.can(needed) or not others:
        if side == "to" and not fixed.usable:
            raise Forbidden(f"{fixed.name} cannot receive credits: credits only go to users who can send SMS.")
        raise Forbidden(f"You may not transfer credits {side} {fixed.name}.")
    choices = [(str(r.pk), f"{r.name} — balance {r.wallet.balance}") for r in others]
    if request.method == "POST":
        form = TransferForm(request.POST, choices=choices, side=side)
    else:
        form = TransferForm(initial={"idempotency_key": new_idempotency_key()}, choices=choices, side=side)
    if request.method == "POST" and form.is_valid():
        other = overview.get(form.cleaned_data["other"])
        assert other is not None  # the choices are rows of the overview
        source, target = (fixed, other) if side == "from" else (other, fixed)
        try:
            journal = services.transfer(
                source.wallet,
                target.wallet,
                form.cleaned_data["amount"],
                actor=viewer,
                reason=form.cleaned_data["reason"],
                idempotency_key=clean_key(form.cleaned_data["idempotency_key"]),
            )
        except DomainError as exc:
            if exc.code != ErrorCode.IDEMPOTENCY_MISMATCH:
                form_errors_from(form, exc)
            else:
                form = _reused_form(request, choices, side)
        else:
            moved = {p.wallet_id: p.amount for p in journal.postings.all()}
            if moved.get(source.pk) != form.cleaned_data["amount"] or target.pk not in moved:
                # The key of this form was used already (back button, resubmitted with other values):
                # the earlier transfer stands and nothing new happened.
                form = _reused_form(request, choices, side)
            else:
                source.wallet.refresh_from_db()
                target.wallet.refresh_from_db()
                context = {"journal": journal, "source": source, "target": target, "amount": moved[source.pk]}
                return render(request, "ledger/transfer_done.html", context)
    return render(
        request,
        "ledger/transfer.html",
        {"form": form, "fixed": fixed, "side": side, "overview": overview},
    )


# --- low-balance threshold -----------------------------------------------------------------------


def _threshold_row(request: ScopedRequest, pk: int) -> WalletRow:
    row = selectors.wallet_row(request.scope, viewer_of(request), pk)
    if not row.can(THRESHOLD):
        raise Forbidden("Only master users set alerts on other people's credits; you can set your own.")
    return row


@customer_view(any_of=CREDIT_PERMS)
def threshold(request: ScopedRequest, pk: int) -> HttpResponse:
    row = _threshold_row(request, pk)
    form = ThresholdForm(request.POST or None, initial={"threshold": row.wallet.low_balance_threshold})
    if request.method == "POST" and form.is_valid():
        try:
            services.set_low_balance_threshold(row.wallet, form.cleaned_data["threshold"], actor=viewer_of(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            value = form.cleaned_data["threshold"]
            messages.success(
                request,
                f"Low-balance alert for {row.name} set to {value}."
                if value is not None
                else f"Low-balance alert for {row.name} switched off.",
            )
            return redirect("ledger:manage")
    return render(request, "ledger/threshold.html", {"form": form, "row": row})


def _reused_form(request: ScopedRequest, choices: Any, side: str) -> TransferForm:
    """The form's key was used already (back button, resubmitted with other values): the earlier
    transfer stands, nothing new happened, and a fresh form is offered."""
    data = request.POST.copy()
    data["idempotency_key"] = new_idempotency_key()
    form = TransferForm(data, choices=choices, side=side)
    form.is_valid()
    form.add_error(None, "This form was already used for an earlier transfer; check and send it again.")
    return form
