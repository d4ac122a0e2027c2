"""Customer pages: Send SMS (with a live counter), the transaction search of manual 003 (Support: by
mobile number only), a message's details with its status history, and the CSV export."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.core.validation import e164
from kontor.ledger.posting import InsufficientCredits
from kontor.ledger.services import sending_wallet
from kontor.messaging import adapters
from kontor.messaging.bulk import groupcommit
from kontor.messaging.filters import MessageFilter, MobileOnlyFilter
from kontor.messaging.forms.messages import SendForm, clean_key
from kontor.messaging.models import Message
from kontor.messaging.rules import encoding
from kontor.messaging.rules import ratecard as rates
from kontor.messaging.rules import sendrate as throttle
from kontor.messaging.services import messages as services
from kontor.messaging.tables import MessageTable, MobileSearchTable
from kontor.web.decorators import customer_view
from kontor.web.lists import export_csv, form_errors_from, list_page


def _sender(request: ScopedRequest) -> User:
    user = request.user
    if not isinstance(user, User) or user.customer_id is None:
        raise Forbidden("Only users of a customer send SMS.")
    return user


# --- Send SMS ------------------------------------------------------------------------------------


@customer_view(Perm.SEND_SMS)
def send(request: ScopedRequest) -> HttpResponse:
    scope, user = request.scope, _sender(request)
    account = scope.account
    assert account is not None
    customer = scope.customer
    form_kw: dict[str, Any] = {"office_hours_only": account.office_hours_only, "time_zone": customer.time_zone}
    form = SendForm(request.POST if request.method == "POST" else None, **form_kw)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            message = services.send_message(
                account,
                actor=user,
                to=data["to"],
                text=data["text"],
                schedule_at=data.get("schedule_at"),
                office_hours=data.get("office_hours") or "refuse",
                idempotency_key=clean_key(data.get("idempotency_key")),
            )
        except InsufficientCredits as exc:
            form.add_error(None, exc.message)
        except DomainError as exc:
            form_errors_from(form, exc)
        except groupcommit.NotConfirmed as exc:  # it may still be written; the form keeps its idempotency key
            form.add_error(None, str(exc))
        else:
            return redirect("messaging:sent", pk=message.pk)
    wallet_balance: int | None
    try:
        wallet_balance = sending_wallet(user, account).balance
    except DomainError:
        wallet_balance = None
    context = {
        "form": form,
        "sender": adapters.sender_for(account),
        "account": account,
        "wallet_balance": wallet_balance,
        "counter": _counter(scope, request.POST.get("to", ""), request.POST.get("text", "")),
        "max_segments": services.max_segments(),
        "send_rate": throttle.rate_for(account),
    }
    return render(request, "messaging/send.html", context)


def _counter(scope: Scope, to: str, text: str) -> dict[str, Any]:
    info = encoding.analyse(text)
    credits: int | None = None
    destination = ""
    try:
        number = e164(to, region=scope.customer.country, field="to")
        credits, entry = rates.price(number, info.segments)
        destination = str(entry)
    except DomainError:
        pass
    return {
        "info": info,
        "credits": credits,
        "destination": destination,
        "too_long": info.segments > services.max_segments(),
        "max_segments": services.max_segments(),
    }


@customer_view(Perm.SEND_SMS)
def counter(request: ScopedRequest) -> HttpResponse:
    """The live character / segment / encoding / credits counter (an htmx partial)."""
    to = request.GET.get("to", "")[:40]
    text = request.GET.get("text", "")[: services.MAX_TEXT + 1]
    return render(request, "messaging/_counter.html", {"counter": _counter(request.scope, to, text)})


@customer_view(Perm.SEND_SMS)
def sent(request: ScopedRequest, pk: int) -> HttpResponse:
    """The result of sending: the sender sees their own message's status."""
    qs = scoped(request.scope, Message).filter(user=_sender(request))
    message = get_scoped(request.scope, qs, pk=pk)
    return render(request, "messaging/sent.html", {"message": message, "tz": request.scope.customer.time_zone})


# --- Transactions ---------------------------------------------------------------------------------


def _messages(request: ScopedRequest) -> QuerySet[Message]:
    return scoped(request.scope, Message).select_related("user").order_by("-created_at", "-id")


def _mobile_only(scope: Scope) -> bool:
    return not scope.has(Perm.SEARCH_TRANSACTIONS)


@customer_view(any_of=(Perm.SEARCH_TRANSACTIONS, Perm.SEARCH_BY_MOBILE))
def transactions(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    mobile_only = _mobile_only(scope)
    can_export = scope.has(Perm.EXPORT_TRANSACTIONS)
    return list_page(
        request,
        title="Transactions",
        queryset=_messages(request),
        table_class=MobileSearchTable if mobile_only else MessageTable,
        filterset_class=MobileOnlyFilter if mobile_only else MessageFilter,
        export_url=reverse("messaging:export") if can_export else None,
        intro=(
            "Enter a mobile number to see its messages."
            if mobile_only
            else "Every message sent from or received by this account, searched in real time. Times in UTC."
        ),
    )


# Exporting is its own permission (manual 003); what is exported is what the caller may search.
@customer_view(Perm.EXPORT_TRANSACTIONS, any_of=(Perm.SEARCH_TRANSACTIONS, Perm.SEARCH_BY_MOBILE))
def export(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=_messages(request),
        filterset_class=MobileOnlyFilter if _mobile_only(scope) else MessageFilter,
        table_class=MessageTable,
        filename=f"transactions-{stamp}.csv",
    )


@customer_view(any_of=(Perm.SEARCH_TRANSACTIONS, Perm.TROUBLESHOOT_TRANSACTIONS))
def message(request: ScopedRequest, pk: int) -> HttpResponse:
    scope = request.scope
    msg = get_scoped(scope, _messages(request), pk=pk)
    technical = scope.has(Perm.TROUBLESHOOT_TRANSACTIONS)
    context = {
        "message": msg,
        "technical": technical,
        "events": list(msg.events.all()) if technical else [],
        "tz": scope.customer.time_zone,
    }
    return render(request, "messaging/message.html", context)
