"""Customer pages: Numbers & keywords of the current account (MO number, keywords, Manage Unmatched,
keyword orders on shared short codes)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from kontor.access.models import User
from kontor.access.perms import Perm
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
from kontor.web.lists import form_errors_from, list_page

NUMBER_PERMS = (Perm.TECHNICAL_SETTINGS, Perm.MANAGE_SERVICES)


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _scope(request: HttpRequest) -> Scope:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    return scope


def _account(scope: Scope) -> Account:
    assert scope.account is not None
    return scope.account


def _page(request: HttpRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    scope = _scope(request)
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
def index(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def mo_number(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    form = MoNumberForm(request.POST, numbers=customer_numbers(scope))
    if form.is_valid():
        try:
            services.set_account_number(_account(scope), form.cleaned_data["number"], actor=_actor(request))
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
def keyword_claim(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    form = KeywordForm(request.POST)
    if form.is_valid():
        try:
            keyword = services.claim_keyword(_account(scope), form.cleaned_data["word"], actor=_actor(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"The keyword {keyword.word} is yours on {keyword.number.value}.")
            return redirect("numbers:index")
    return _page(request, keyword_form=form, status=422)


@customer_view(any_of=NUMBER_PERMS)
def keyword_release(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    keyword = get_scoped(scope, scoped(scope, Keyword).select_related("number"), pk=pk)
    if request.method == "POST":
        services.release_keyword(keyword, actor=_actor(request))
        messages.success(request, f"The keyword {keyword.word} was released.")
        return redirect("numbers:index")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Release keyword",
            "question": f"Release the keyword {keyword.word} on {keyword.number.value}? Messages starting "
            "with it will no longer come to this account, and another account may claim it.",
            "confirm_label": "Release",
            "cancel_url": reverse("numbers:index"),
        },
    )


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def unmatched_set(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    number = get_scoped(scope, customer_numbers(scope), pk=pk)
    uses = numbers_in_use(scope, [number])[0]
    form = UnmatchedForm(request.POST, accounts=uses.accounts, prefix=f"n{number.pk}")
    if form.is_valid():
        account = next(a for a in uses.accounts if a.pk == form.cleaned_data["account"])
        try:
            services.set_unmatched_owner(number, account, actor=_actor(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Unmatched messages on {number.value} now go to {account.name}.")
            return redirect("numbers:index")
    return _page(request, status=422, **{f"unmatched_{number.pk}": form})


@require_POST
@customer_view(any_of=NUMBER_PERMS)
def keyword_order(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    form = KeywordForm(request.POST, prefix="order")
    number: Number | None = current_number(scope)
    if form.is_valid():
        if number is None:
            form.add_error(None, "This account has no MO number; choose one first.")
        else:
            try:
                order = services.order_keyword(
                    _account(scope), number, form.cleaned_data["word"], actor=_actor(request)
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
def orders(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    return list_page(
        request,
        title="Keyword orders",
        queryset=scoped(scope, KeywordOrder).select_related("number").order_by("-created_at", "-id"),
        table_class=KeywordOrderTable,
        intro="Keywords this account ordered on shared short codes; the provider approves or rejects them.",
    )
