"""Customer pages: Numbers & keywords of the current account (MO number, keywords, Manage Unmatched,
keyword orders on shared short codes)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.core.errors import DomainError
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.numbers import services
from kontor.numbers.forms import KeywordForm, MoNumberForm, UnmatchedForm
from kontor.numbers.models import Keyword, KeywordOrder, Number
from kontor.numbers.routing import DEFAULT_CANNOT_RECEIVE, default_sender
from kontor.numbers.selectors import current_number, customer_numbers, numbers_in_use
from kontor.numbers.tables import KeywordOrderTable
from kontor.tenancy.models import Account
from kontor.web.decorators import customer_view
from kontor.web.generic import ConfirmView, ListView
from kontor.web.lists import form_errors_from

NUMBER_PERMS = (Perm.TECHNICAL_SETTINGS, Perm.MANAGE_SERVICES)


def _account(scope: Scope) -> Account:
    assert scope.account is not None
    return scope.account


def _page(request: ScopedRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    scope = request.scope
    numbers = customer_numbers(scope)
    mine = current_number(scope)
    uses = numbers_in_use(scope, list(numbers))
    shared = [u for u in uses if u.shared]
    for use in shared:
        initial = {"account": use.unmatched_account.pk if use.unmatched_account else None}
        use.form = forms.get(f"unmatched_{use.number.pk}") or UnmatchedForm(  # type: ignore[attr-defined]
            initial=initial, accounts=use.accounts, prefix=f"n{use.number.pk}"
        )
    context = {
        "title": "Numbers & keywords",
        "account": _account(scope),
        "number": mine,
        "can_receive": bool(mine and mine.two_way),
        "default_sender": default_sender(),
        "cannot_receive": DEFAULT_CANNOT_RECEIVE,
        "mo_form": forms.get("mo_form") or MoNumberForm(initial={"number": mine.pk if mine else None}, numbers=numbers),
        "keywords": scoped(scope, Keyword).filter(number=mine).order_by("word") if mine else [],
        "keyword_form": forms.get("keyword_form") or KeywordForm(),
        "order_form": forms.get("order_form") or KeywordForm(prefix="order"),
        "shared": shared,
        "orders": scoped(scope, KeywordOrder).select_related("number").order_by("-created_at")[:10],
    }
    return render(request, "numbers/index.html", context, status=status)


@customer_view(any_of=NUMBER_PERMS)
def index(request: ScopedRequest) -> HttpResponse:
    return _page(request)


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def mo_number(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    form = MoNumberForm(request.POST, numbers=customer_numbers(scope))
    if form.is_valid():
        try:
            services.set_account_number(_account(scope), form.cleaned_data["number"], actor=actor_of(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            chosen = form.cleaned_data["number"]
            messages.success(
                request,
                f"The MO number is now {chosen.value}." if chosen else "The account now uses the default number.",
            )
            return redirect("numbers:index")
    return _page(request, mo_form=form, status=422)


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def keyword_claim(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    form = KeywordForm(request.POST)
    if form.is_valid():
        try:
            keyword = services.claim_keyword(_account(scope), form.cleaned_data["word"], actor=actor_of(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"The keyword {keyword.word} is yours on {keyword.number.value}.")
            return redirect("numbers:index")
    return _page(request, keyword_form=form, status=422)


@customer_view(any_of=NUMBER_PERMS)
class KeywordRelease(ConfirmView[Keyword]):
    title = _("Release keyword")
    question = _(
        "Release the keyword %(word)s on %(number.value)s? Messages starting with it will no longer come to "
        "this account, and another account may claim it."
    )
    confirm_label = _("Release")
    done_message = _("The keyword %(word)s was released.")
    done_url = "numbers:index"

    def get_object(self) -> Keyword:
        scope = self.scope
        return get_scoped(scope, scoped(scope, Keyword).select_related("number"), pk=self.kwargs["pk"])

    def act(self, keyword: Keyword) -> None:
        services.release_keyword(keyword, actor=self.actor)


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def unmatched_set(request: ScopedRequest, pk: int) -> HttpResponse:
    scope = request.scope
    number = get_scoped(scope, customer_numbers(scope), pk=pk)
    uses = numbers_in_use(scope, [number])[0]
    form = UnmatchedForm(request.POST, accounts=uses.accounts, prefix=f"n{number.pk}")
    if form.is_valid():
        account = next(a for a in uses.accounts if a.pk == form.cleaned_data["account"])
        try:
            services.set_unmatched_owner(number, account, actor=actor_of(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Unmatched messages on {number.value} now go to {account.name}.")
            return redirect("numbers:index")
    return _page(request, status=422, **{f"unmatched_{number.pk}": form})


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def keyword_order(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    form = KeywordForm(request.POST, prefix="order")
    number: Number | None = current_number(scope)
    if form.is_valid():
        if number is None:
            form.add_error(None, "This account has no MO number; choose one first.")
        else:
            try:
                order = services.order_keyword(
                    _account(scope), number, form.cleaned_data["word"], actor=actor_of(request)
                )
            except DomainError as exc:
                form_errors_from(form, exc)
            else:
                messages.success(
                    request, f"The keyword {order.word} on {number.value} is ordered; the provider decides."
                )
                return redirect("numbers:index")
    return _page(request, order_form=form, status=422)


@customer_view(any_of=NUMBER_PERMS)
class Orders(ListView):
    title = _("Keyword orders")
    table_class = KeywordOrderTable
    intro = _("Keywords this account ordered on shared short codes; the provider approves or rejects them.")

    def get_queryset(self) -> QuerySet[KeywordOrder]:
        return scoped(self.scope, KeywordOrder).select_related("number").order_by("-created_at", "-id")
